"""Each bad input: one exact line on stderr, exit code 2, and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

from mt_eval.data.testset import TestSet


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_error(cli, args: list[object], message: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = _snapshot(tmp_path)
    code, _out, err = cli(*args)
    assert code == 2
    assert err == f"mt-eval: error: {message}\n"
    assert _snapshot(tmp_path) == before  # nothing written, no staging folder left behind
    assert not list(tmp_path.glob(".*tmp"))


def test_line_count_mismatch_names_both_counts(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "src.ar"
    src.write_text("واحد\nاثنان\nثلاثة\n", encoding="utf-8")
    ref = tmp_path / "ref.en"
    ref.write_text("one\ntwo\n", encoding="utf-8")
    _assert_error(cli, ["testset", "import", "--source", src, "--reference", ref, "-o", tmp_path / "out"],
                  f"{ref}: 2 lines, but source {src} has 3 lines", tmp_path)
    assert not (tmp_path / "out").exists()


def test_empty_file(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    _assert_error(cli, ["testset", "build", empty, "-o", tmp_path / "out"], "empty.txt: file is empty",
                  tmp_path)
    ref = tmp_path / "ref.en"
    ref.write_text("one\n", encoding="utf-8")
    _assert_error(cli, ["testset", "import", "--source", empty, "--reference", ref, "-o", tmp_path / "out"],
                  f"{empty}: file is empty", tmp_path)


def test_undecodable_bytes_name_file_and_offset(tmp_path: Path, cli, paragraphs) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    bad = tmp_path / "latin1.txt"
    head = (ar[0] + "\n").encode("utf-8")
    bad.write_bytes(head + "caf\xe9\n".encode("latin-1") + (en[0] + "\n").encode("utf-8"))
    _assert_error(cli, ["testset", "build", bad, "-o", tmp_path / "out"],
                  f"latin1.txt:2: not valid UTF-8 at byte offset {len(head) + 3} (byte 0xe9)", tmp_path)


def test_no_target_language_block(tmp_path: Path, cli, paragraphs) -> None:  # type: ignore[no-untyped-def]
    ar, _ = paragraphs
    doc = tmp_path / "arabic_only.txt"
    doc.write_text("\n".join(ar) + "\n", encoding="utf-8")
    _assert_error(cli, ["testset", "build", doc, "-o", tmp_path / "out"],
                  "arabic_only.txt: no English (en) block found (7 lines, none in the target language)",
                  tmp_path)


def test_unknown_jsonl_field(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"source": "مرحبا", "reference": "hello"}) + "\n", encoding="utf-8")
    _assert_error(cli, ["testset", "import", "--jsonl", path, "--source-field", "src",
                        "-o", tmp_path / "out"],
                  f"{path}:1: unknown field 'src' (fields: reference, source)", tmp_path)
    _assert_error(cli, ["testset", "import", "--jsonl", path, "--reference-field", "target", "-o",
                        tmp_path / "out"],
                  f"{path}:1: unknown field 'target' (fields: reference, source)", tmp_path)


def test_output_holding_a_different_test_set_needs_force(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    seeds = Path(__file__).resolve().parents[2] / "seeds"
    assert cli("testset", "build", seeds, "-o", out)[0] == 0
    old = TestSet.load(out)
    src = tmp_path / "s.ar"
    src.write_text("مرحبا\n", encoding="utf-8")
    ref = tmp_path / "r.en"
    ref.write_text("hello\n", encoding="utf-8")
    new = TestSet.from_pairs([("مرحبا", ["hello"])], source_lang="ar", target_lang="en")
    args = ["testset", "import", "--source", src, "--reference", ref, "-o", out]
    _assert_error(cli, args, f"{out}: already holds a different test set"
                  f" (hash {old.short_hash} != {new.short_hash}); use --force to replace it", tmp_path)
    code, _, err = cli(*args, "--force")
    assert (code, err) == (0, "")
    assert TestSet.load(out).content_hash == new.content_hash


def test_import_needs_exactly_one_input(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _assert_error(cli, ["testset", "import", "-o", tmp_path / "out"],
                  "testset import: give exactly one of --source/--tsv/--jsonl/--hf/--sacrebleu", tmp_path)


def test_export_and_reimport_through_the_cli(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import pytest

    pytest.importorskip("datasets", reason="the hf extra (datasets) is not installed")
    seeds = Path(__file__).resolve().parents[2] / "seeds"
    assert cli("testset", "build", seeds, "-o", tmp_path / "ts")[0] == 0
    code, out, err = cli("testset", "export", tmp_path / "ts", "--hf", tmp_path / "hf")
    assert (code, err) == (0, "")
    assert out.strip().endswith("7 segments exported (hash e3114df8fac7)")
    code, _out, err = cli("testset", "import", "--hf", tmp_path / "hf", "-o", tmp_path / "back")
    assert (code, err) == (0, "")
    assert TestSet.load(tmp_path / "back").content_hash == TestSet.load(tmp_path / "ts").content_hash
    assert TestSet.load(tmp_path / "back").ids[0] == "000_3f6bb7e6e5b2fcec:1:1"
