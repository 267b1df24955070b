"""``mt-eval testset``: build, import, show and export test sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mt_eval.cli.output import FormatOpt
from mt_eval.errors import MtEvalError

testset_app = typer.Typer(
    name="testset",
    help="Build a test set from bilingual documents, import one, show it or export it.",
    no_args_is_help=True,
)

OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="Test-set folder to write.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace a folder that holds a different test set.")]
SourceLangOpt = Annotated[str, typer.Option("--source-lang", help="Source language code.")]
TargetLangOpt = Annotated[str, typer.Option("--target-lang", help="Target language code.")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Test-set name (default: the output folder's"
                                             " name for import, the inputs' names for build).")]


@testset_app.command("build")
def build(
    paths: Annotated[list[Path], typer.Argument(help="Bilingual document files or folders of *.txt files.")],
    output: OutputOpt,
    source_lang: SourceLangOpt = "ar",
    target_lang: TargetLangOpt = "en",
    granularity: Annotated[str, typer.Option(help="paragraph (default) or sentence.")] = "paragraph",
    name: NameOpt = None,
    force: ForceOpt = False,
) -> None:
    """Find the source and target blocks, align them, reject unusable pairs, and save the test set."""
    from mt_eval.data.build import build_testset
    from mt_eval.fsio import check_output_folder

    check_output_folder(output, "-o folder")
    result = build_testset(paths, source_lang=source_lang, target_lang=target_lang,
                           granularity=granularity, name=name)
    result.save(output, force=force)
    ts = result.testset
    typer.echo(f"{output}: {len(ts)} segments, {len(result.rejects)} rejected,"
               f" {ts.source_lang}->{ts.target_lang}, hash {ts.short_hash}")


@testset_app.command("import")
def import_(
    output: OutputOpt,
    source: Annotated[Path | None, typer.Option(
        "--source", help="Plain source file, one segment a line.")] = None,
    reference: Annotated[list[Path] | None, typer.Option(
        "--reference", help="Plain reference file; repeat for several references.")] = None,
    tsv: Annotated[Path | None, typer.Option("--tsv", help="source<TAB>reference[<TAB>…] file.")] = None,
    tsv_header: Annotated[bool, typer.Option(
        "--tsv-header", help="The TSV's first line is a header.")] = False,
    jsonl: Annotated[Path | None, typer.Option("--jsonl", help="JSON Lines file.")] = None,
    source_field: Annotated[str | None, typer.Option(
        "--source-field", help="JSONL/dataset source field (default: source).")] = None,
    reference_field: Annotated[list[str] | None, typer.Option(
        "--reference-field",
        help="JSONL/dataset reference field(s) (default: references/reference/target).")] = None,
    id_field: Annotated[str | None, typer.Option("--id-field", help="Field holding segment ids.")] = None,
    doc_field: Annotated[str | None, typer.Option("--doc-field", help="Field holding document ids.")] = None,
    hf: Annotated[str | None, typer.Option("--hf", help="save_to_disk folder or hub id (online).")] = None,
    split: Annotated[str | None, typer.Option("--split", help="Dataset split.")] = None,
    config: Annotated[str | None, typer.Option("--config", help="Hub dataset configuration.")] = None,
    sacrebleu_name: Annotated[str | None, typer.Option(
        "--sacrebleu", help="sacrebleu test set (online).")] = None,
    langpair: Annotated[str | None, typer.Option(
        "--langpair", help="sacrebleu language pair, e.g. ar-en.")] = None,
    normalize: Annotated[bool, typer.Option(
        "--normalize", help="Apply text normalisation (default: keep the text as published, record what "
        "normalisation would change).")] = False,
    source_lang: SourceLangOpt = "ar",
    target_lang: TargetLangOpt = "en",
    name: NameOpt = None,
    force: ForceOpt = False,
) -> None:
    """Import a test set from plain files, TSV, JSONL, a datasets dataset or a sacrebleu test set."""
    from mt_eval.data import readers
    from mt_eval.fsio import check_output_folder

    chosen = [flag for flag, value in (("--source", source), ("--tsv", tsv), ("--jsonl", jsonl),
                                       ("--hf", hf), ("--sacrebleu", sacrebleu_name)) if value]
    if len(chosen) != 1:
        raise MtEvalError("testset import: give exactly one of --source/--tsv/--jsonl/--hf/--sacrebleu"
                          + (f" (got {', '.join(chosen)})" if chosen else ""))
    if reference and source is None:
        raise MtEvalError("--reference needs --source")
    check_output_folder(output, "-o folder")
    # A test set is named after the folder it lives in (``-o testsets/quran`` -> "quran"), not after
    # whichever input file happened to be read; --name overrides.
    name = name or output.resolve().name
    langs: dict[str, Any] = {"source_lang": source_lang, "target_lang": target_lang, "normalize": normalize}
    fields = readers.RecordFields(source=source_field, references=reference_field, id=id_field, doc=doc_field)
    if source is not None:
        result = readers.import_plain(source, reference or [], name=name, **langs)
    elif tsv is not None:
        result = readers.import_tsv(tsv, header=tsv_header, name=name, **langs)
    elif jsonl is not None:
        result = readers.import_jsonl(jsonl, fields, name=name, **langs)
    elif hf is not None:
        result = readers.import_hf(hf, split=split, config=config, fields=fields, name=name, **langs)
    elif sacrebleu_name is not None:
        result = readers.import_sacrebleu(sacrebleu_name, langpair=langpair, testset_name=name, **langs)
    else:  # pragma: no cover - excluded by the exactly-one check above
        raise MtEvalError("testset import: nothing to import")
    result.save(output, force=force)
    ts = result.testset
    typer.echo(f"{output}: {len(ts)} segments, {ts.num_refs} reference(s) each,"
               f" {ts.source_lang}->{ts.target_lang}, hash {ts.short_hash}")


def _clip(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@testset_app.command("show")
def show(
    directory: Annotated[Path, typer.Argument(help="Test-set folder.")],
    segments: Annotated[int, typer.Option("--segments", "-n", min=0, help="How many segments to print.")] = 3,
    fmt: FormatOpt = None,
) -> None:
    """Summary table: counts, hash, languages, rejects with reasons, and the first few segments."""
    from mt_eval.cli.output import Table, emit, resolve
    from mt_eval.data.testset import TestSet

    shown = resolve(fmt)
    ts = TestSet.load(directory)
    manifest = TestSet.read_manifest(directory)
    rejects = [r for r in manifest.get("rejects") or [] if isinstance(r, dict)]
    blocks = [Table(f"test set {ts.name or directory}", ["field", "value"], _summary_rows(ts, manifest),
                    header=shown != "table")]
    clip = _clip if shown == "table" else (lambda text, width=0: text)  # whole texts in a log
    if rejects:
        rows = [[*(str(r.get(k, "")) for k in ("id", "reason")),
                 *(clip(str(r.get(k, "")), 30) for k in ("source", "reference"))] for r in rejects]
        blocks.append(Table("rejected pairs", ["id", "reason", "source", "reference"], rows,
                            no_wrap=frozenset(["id", "reason"])))
    if segments > 0:
        blocks.append(Table(f"first {min(segments, len(ts))} segments", ["id", "source", "reference"],
                            [[seg.id, clip(seg.source), clip(seg.references[0])]
                             for seg in ts.segments[:segments]], no_wrap=frozenset(["id"])))
    emit(blocks, shown)


def _summary_rows(ts: Any, manifest: dict[str, Any]) -> list[list[str]]:
    counts = manifest.get("counts") or {}
    rows = [["hash", ts.content_hash], ["languages", f"{ts.source_lang} -> {ts.target_lang}"],
            ["segments", str(len(ts))],
            ["documents", str(counts.get("documents", len({s.doc_id for s in ts})))],
            ["references per segment", str(ts.num_refs)],
            ["rejected", str(len([r for r in manifest.get("rejects") or [] if isinstance(r, dict)]))]]
    if manifest.get("granularity"):
        rows.append(["granularity", str(manifest["granularity"])])
    norm = manifest.get("normalisation") or {}
    total: dict[str, Any] = norm["total"] if isinstance(norm.get("total"), dict) else {}
    found = ", ".join(f"{k} {v}" for k, v in total.items())
    if norm.get("applied", True):
        rows.append(["normalised", found or "nothing to normalise"])
    else:
        rows.append(["normalised", f"no, kept as published (would change: {found})" if found
                     else "no, kept as published (nothing to change)"])
    kind = str((manifest.get("provenance") or {}).get("kind", ""))
    if kind:
        rows.append(["provenance", kind])
    return rows


@testset_app.command("export")
def export(
    directory: Annotated[Path, typer.Argument(help="Test-set folder.")],
    hf: Annotated[Path, typer.Option("--hf", help="Folder to write with datasets' save_to_disk.")],
    force: ForceOpt = False,
) -> None:
    """Export a test set as a Hugging Face datasets dataset (reload it with load_from_disk or --hf)."""
    from mt_eval.data.readers import export_hf
    from mt_eval.data.testset import TestSet
    from mt_eval.fsio import check_output_folder

    check_output_folder(hf, "--hf folder")
    ts = TestSet.load(directory)
    export_hf(ts, hf, force=force)
    typer.echo(f"{hf}: {len(ts)} segments exported (hash {ts.short_hash})")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.add_typer(testset_app, name="testset")
