"""``mt-eval translate`` (a test set with one or more systems) and ``mt-eval convert`` (to CTranslate2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mt_eval.errors import MtEvalError
from mt_eval.translators.outputs import TRANSLATIONS_FILE

__all__ = ["TRANSLATIONS_FILE", "register", "translate_command"]


def _filter_options(backend_fields: dict[str, set[str]],
                    options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``--opt`` applies to every system whose backend knows the key; a key no system knows is an error."""
    for key in options:
        if not any(key in fields for fields in backend_fields.values()):
            raise MtEvalError(f"--opt {key}: no selected system has this option")
    return {spec: {k: v for k, v in options.items() if k in fields}
            for spec, fields in backend_fields.items()}


def translate_command(testset: Path, systems: list[str], output: Path, opts: list[str],
                      cache: Path | None, no_cache: bool, strict: bool, quiet: bool,
                      allow_skip: bool = False) -> dict[str, Any]:
    from mt_eval.data.testset import TestSet
    from mt_eval.reports.layout import slug
    from mt_eval.translators.outputs import (
        SystemOutcome,
        check_output_folder,
        translate_systems,
        write_translations,
    )
    from mt_eval.translators.registry import load_backend, parse_options, parse_spec

    if not systems:
        raise MtEvalError("translate: give at least one --system")
    check_output_folder(output)  # before spending minutes translating
    seen: dict[str, str] = {}
    for spec in systems:
        if slug(spec) in seen:
            raise MtEvalError(f"translate: system {spec!r} given twice (or shares a file name with "
                              f"{seen[slug(spec)]!r})")
        seen[slug(spec)] = spec
    ts = TestSet.load(testset)
    options = parse_options(opts)
    fields = {spec: set(load_backend(parse_spec(spec).backend).Options.model_fields) for spec in systems}
    per_system = _filter_options(fields, options)
    cache_arg: Any = False if no_cache else (cache if cache is not None else None)

    def report(outcome: SystemOutcome) -> None:
        if outcome.run is None:
            typer.echo(f"mt-eval: {outcome.status} {outcome.spec}: {outcome.reason}", err=True)
            return
        tp = outcome.run.throughput
        cut = outcome.run.truncated_count()
        typer.echo(f"{outcome.spec}: {len(outcome.run.outputs)} segments translated "
                   f"({tp.get('cached_segments', 0)} from cache, {tp.get('segments_per_s')} seg/s"
                   f"{f', {cut} truncated' if cut else ''})", err=True)

    outcomes = translate_systems(ts, systems, options=per_system, cache=cache_arg, strict=strict,
                                 allow_skip=allow_skip, progress=not quiet, on_outcome=report)
    summary = write_translations(output, ts, outcomes)
    for outcome in outcomes:
        if outcome.file:
            typer.echo(f"{outcome.spec} -> {output / outcome.file}", err=True)
    return summary


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
        cache: Annotated[Path | None, typer.Option(
            "--cache", help="Cache file (default $MT_EVAL_CACHE or .mt-eval-cache/translations.sqlite).",
        )] = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use the cache.")] = False,
        strict: Annotated[bool, typer.Option(
            "--strict", help="Fail when a system is unavailable here.")] = False,
        allow_skip: Annotated[bool, typer.Option(
            "--allow-skip", help="Record a system that fails while running (server errors after all retries,"
                                 " a crashed backend) as failed and go on, instead of exiting 2.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    ) -> None:
        """Translate a test set with each system: one hypothesis file per system plus translations.json."""
        if cache is not None and no_cache:
            raise MtEvalError("translate: --cache and --no-cache exclude each other")
        translate_command(testset, system, output, opt or [], cache, no_cache, strict, quiet, allow_skip)

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
