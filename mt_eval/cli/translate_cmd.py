"""``mt-eval translate`` (a test set with one or more systems) and ``mt-eval convert`` (to CTranslate2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mt_eval.errors import MtEvalError, SystemUnavailable

TRANSLATIONS_FILE = "translations.json"


def _filter_options(backend_fields: dict[str, set[str]],
                    options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``--opt`` applies to every system whose backend knows the key; a key no system knows is an error."""
    for key in options:
        if not any(key in fields for fields in backend_fields.values()):
            raise MtEvalError(f"--opt {key}: no selected system has this option")
    return {spec: {k: v for k, v in options.items() if k in fields}
            for spec, fields in backend_fields.items()}


def translate_command(testset: Path, systems: list[str], output: Path, opts: list[str],
                      cache: Path | None, no_cache: bool, strict: bool, quiet: bool) -> dict[str, Any]:
    from mt_eval.data.testset import TestSet
    from mt_eval.fsio import atomic_write_json, write_lines
    from mt_eval.reports.layout import slug
    from mt_eval.translators.registry import load_backend, parse_options, parse_spec
    from mt_eval.translators.runner import translate_testset

    if not systems:
        raise MtEvalError("translate: give at least one --system")
    ts = TestSet.load(testset)
    options = parse_options(opts)
    fields = {spec: set(load_backend(parse_spec(spec).backend).Options.model_fields) for spec in systems}
    per_system = _filter_options(fields, options)
    cache_arg: Any = False if no_cache else (cache if cache is not None else None)
    summary: dict[str, Any] = {
        "testset": {"name": ts.name, "hash": ts.content_hash, "num_segments": len(ts),
                    "source_lang": ts.source_lang, "target_lang": ts.target_lang},
        "systems": {},
    }
    used: set[str] = set()
    for spec in systems:
        try:
            run = translate_testset(ts, spec, options=per_system[spec], cache=cache_arg, progress=not quiet)
        except SystemUnavailable as exc:
            if strict:
                raise
            typer.echo(f"mt-eval: skipped {spec}: {exc}", err=True)
            summary["systems"][spec] = {"spec": spec, "status": "skipped", "reason": str(exc)}
            continue
        name = slug(run.name)
        if name in used:
            raise MtEvalError(f"translate: system {spec!r} given twice")
        used.add(name)
        write_lines(output / f"{name}.txt", [" ".join(o.splitlines()) for o in run.outputs])
        summary["systems"][run.name] = {"spec": spec, "status": "ok", "file": f"{name}.txt",
                                        "signature": run.signature, "throughput": run.throughput}
        tp = run.throughput
        typer.echo(f"{spec}: {len(run.outputs)} segments -> {output / (name + '.txt')} "
                   f"({tp.get('cached_segments', 0)} from cache, {tp.get('segments_per_s')} seg/s)", err=True)
    atomic_write_json(output / TRANSLATIONS_FILE, summary)
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
        strict: Annotated[bool, typer.Option("--strict", help="Fail when a system is unavailable.")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    ) -> None:
        """Translate a test set with each system: one hypothesis file per system plus translations.json."""
        if cache is not None and no_cache:
            raise MtEvalError("translate: --cache and --no-cache exclude each other")
        translate_command(testset, system, output, opt or [], cache, no_cache, strict, quiet)

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
