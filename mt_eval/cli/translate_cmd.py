"""``mt-eval translate`` (a test set with one or more systems) and ``mt-eval convert`` (to CTranslate2)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mt_eval.cli.cache_cmd import CacheOpt
from mt_eval.cli.run_cmd import RayAddressOpt, RayConnectOpt
from mt_eval.errors import MtEvalError

if TYPE_CHECKING:
    from mt_eval.translators.base import SystemRun


def _report(run: SystemRun) -> None:
    if run.status != "ok":
        typer.echo(f"mt-eval: {run.status} {run.spec}: {run.reason}", err=True)
        return
    tp, cut = run.throughput, run.truncated_count()
    typer.echo(f"{run.spec}: {len(run.outputs)} segments translated "
               f"({tp.get('cached_segments', 0)} from cache, {tp.get('segments_per_s')} seg/s"
               f"{f', {cut} truncated' if cut else ''})", err=True)


def register(app: typer.Typer) -> None:
    """Add ``translate`` and ``convert`` to the top-level app."""

    @app.command("translate")
    def translate(
        testset: Annotated[Path, typer.Option("--testset", "-t", help="Test-set folder.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the hypothesis files.")],
        system: Annotated[list[str], typer.Option(
            "--system", "-s", help="System spec, e.g. llama-cpp:default, copy, marian:MODEL (repeatable).")],
        opt: Annotated[list[str] | None, typer.Option(
            "--opt", help="Backend option key=value for every system that has it (repeatable).")] = None,
        cache: CacheOpt = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use the cache.")] = False,
        strict: Annotated[bool, typer.Option(
            "--strict", help="Fail when a system is unavailable here.")] = False,
        allow_skip: Annotated[bool, typer.Option(
            "--allow-skip", help="Record a system that fails while running (server errors after all retries,"
                                 " a crashed backend) as failed and go on, instead of exiting 2.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
        shard: Annotated[str | None, typer.Option(
            "--shard", help="i/N: translate only shard i (0-based) of N contiguous slices of the test set;"
            " the N folders' files concatenated in shard order are the whole test set's.")] = None,
        executor: Annotated[str | None, typer.Option(
            "--executor", help="Where to translate: local (this process, default) or ray (a Ray cluster;"
            " needs mt-eval's ray extra).")] = None,
        ray_address: RayAddressOpt = None,
        ray_connect_timeout: RayConnectOpt = None,
    ) -> None:
        """Translate a test set with each system: one hypothesis file per system plus translations.json."""
        from mt_eval.cluster.executor import get_executor
        from mt_eval.cluster.shards import parse_shard, testset_for_translate  # --shard i/N (issue 12)
        from mt_eval.data.testset import TestSet
        from mt_eval.pipeline import check_distinct_systems, options_per_system
        from mt_eval.translators.outputs import (
            TranslateRules,
            check_output_folder,
            translate_systems,
            write_translations,
        )
        from mt_eval.translators.registry import parse_options

        if cache is not None and no_cache:
            raise MtEvalError("translate: --cache and --no-cache exclude each other")
        if not system:
            raise MtEvalError("translate: give at least one --system")
        part = parse_shard(shard) if shard is not None else None
        check_output_folder(output)  # before spending minutes translating
        check_distinct_systems(system)
        ts = TestSet.load(testset)
        ts, sharded = testset_for_translate(part, ts, system) if part is not None else (ts, {})
        per_system = options_per_system(system, parse_options(opt or []))
        rules = TranslateRules(cache=False if no_cache else cache, strict=strict, allow_skip=allow_skip,
                               progress=not quiet,
                               # Ray missing or no Ray head at the address: exit 2 before any work
                               executor=get_executor(executor, ray_address, ray_connect_timeout))
        runs = translate_systems(ts, system, rules, options=per_system, on_run=_report)
        summary = write_translations(output, ts, runs, extra=sharded)
        for info in summary["systems"].values():
            if "file" in info:
                typer.echo(f"{info['spec']} -> {output / info['file']}", err=True)

    @app.command("convert")
    def convert(
        model: Annotated[str, typer.Argument(help="transformers model folder or cached hub id.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="CTranslate2 model folder to write.")],
        quantization: Annotated[str | None, typer.Option(
            help="int8, int8_float16, float16, ... (default: keep float32).")] = None,
        force: Annotated[bool, typer.Option("--force", help="Overwrite a non-empty output folder.")] = False,
    ) -> None:
        """Convert a transformers translation model to CTranslate2 (use it as ct2:OUTPUT)."""
        from mt_eval.translators.ct2 import convert_model

        out = convert_model(model, output, quantization=quantization, force=force)
        typer.echo(f"{out}: converted; use --system ct2:{out}")
