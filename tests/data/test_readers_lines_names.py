"""One line reader (``\\n`` only), readers moved out of the CLI, and test sets named after their folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.corpora import REFS, SOURCES

from mt_eval.data.readers import import_plain, load_testset, read_hypotheses, read_plain_testset
from mt_eval.data.testset import TestSet
from mt_eval.errors import MtEvalError


def test_hypotheses_split_on_newline_only(tmp_path: Path) -> None:
    path = tmp_path / "h.txt"
    path.write_bytes("a\u2028b\nc\u0085d\ne\rf\r\ng\x0ch\n\n".encode())
    assert read_hypotheses(path) == ["a\u2028b", "c\u0085d", "e\rf", "g\x0ch", ""]
    path.write_bytes(b"no final newline")
    assert read_hypotheses(path) == ["no final newline"]
    path.write_bytes(b"")
    assert read_hypotheses(path) == []


def test_hypothesis_reader_refuses_special_files_and_bad_bytes(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(MtEvalError, match="FIFO"):
        read_hypotheses(tmp_path / "fifo")  # returns at once: the FIFO is never opened for reading
    with pytest.raises(MtEvalError, match="is a folder"):
        read_hypotheses(tmp_path)
    (tmp_path / "bad.txt").write_bytes(b"ok\nok\n\xe2\x82\n")
    with pytest.raises(MtEvalError, match=r"bad.txt:3: not valid UTF-8 \(byte 0xe2 at offset 6\)"):
        read_hypotheses(tmp_path / "bad.txt")


def test_plain_folder_testset_is_named_after_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "flores-dev"
    folder.mkdir()
    (folder / "source.ara").write_text("\n".join(SOURCES) + "\n", encoding="utf-8")
    (folder / "reference.eng").write_text("\n".join(REFS) + "\n", encoding="utf-8")
    ts = load_testset(folder)
    assert (ts.name, ts.source_lang, ts.target_lang, len(ts)) == ("flores-dev", "ar", "en", 6)
    assert read_plain_testset(folder).content_hash == ts.content_hash
    saved = ts.save(tmp_path / "saved")
    assert load_testset(saved).content_hash == ts.content_hash


def test_import_names_the_testset_after_the_output_folder(capsys, tmp_path: Path) -> None:
    (tmp_path / "q.ar").write_text("\n".join(SOURCES) + "\n", encoding="utf-8")
    (tmp_path / "q.en2").write_text("\n".join(REFS) + "\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "testset", "import", "--source", tmp_path / "q.ar", "--reference",
                           tmp_path / "q.en2", "-o", tmp_path / "ts-quran")
    assert code == 0, err
    assert TestSet.load(tmp_path / "ts-quran").name == "ts-quran"
    code, _, err = run_cli(capsys, "testset", "import", "--source", tmp_path / "q.ar", "--reference",
                           tmp_path / "q.en2", "-o", tmp_path / "other", "--name", "quran-v2")
    assert code == 0, err
    assert TestSet.load(tmp_path / "other").name == "quran-v2"
    # the Python API keeps naming after the source file unless told otherwise
    assert import_plain(tmp_path / "q.ar", [tmp_path / "q.en2"]).testset.name == "q"


def test_import_refuses_blank_nul_and_wrong_script_with_the_line(tmp_path: Path) -> None:
    src, ref = tmp_path / "s.ar", tmp_path / "r.en"
    ref.write_text("\n".join(REFS) + "\n", encoding="utf-8")
    src.write_text("\n".join([*SOURCES[:4], "", SOURCES[5]]) + "\n", encoding="utf-8")
    with pytest.raises(MtEvalError, match=r"s\.ar:5: blank source line"):
        import_plain(src, [ref])
    src.write_text("\n".join(REFS) + "\n", encoding="utf-8")
    with pytest.raises(MtEvalError, match="the source is not Arabic"):
        import_plain(src, [ref])
    assert import_plain(src, [ref], source_lang="en", target_lang="en").testset.source_lang == "en"
    head, tail = ("\n".join(SOURCES[:3]) + "\n").encode(), ("\n".join(SOURCES[4:]) + "\n").encode()
    src.write_bytes(head + b"\x00\n" + tail)
    with pytest.raises(MtEvalError, match=r"s\.ar:4: NUL byte"):
        import_plain(src, [ref])


def test_saving_over_a_folder_that_is_not_a_testset_is_refused_even_with_force(tmp_path: Path) -> None:
    ts = TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                            target_lang="en")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "precious.py").write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(MtEvalError, match="is not a test set folder"):
        ts.save(tmp_path / "project", force=True)
    assert (tmp_path / "project" / "precious.py").is_file()
