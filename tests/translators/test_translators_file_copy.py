"""The ``copy`` baseline and precomputed ``file`` outputs (text and JSONL, with mismatch errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.corpora import make_testset

from mt_eval.errors import MtEvalError
from mt_eval.translators.runner import translate_testset


def test_copy_returns_sources_and_is_not_cached(tmp_path: Path) -> None:
    ts = make_testset(5)
    run = translate_testset(ts, "copy", cache=tmp_path / "c.sqlite", progress=False)
    assert run.outputs == ts.sources
    assert run.signature == {"backend": "copy"}
    assert not (tmp_path / "c.sqlite").exists()


def test_file_text_in_order_and_count_mismatch(tmp_path: Path) -> None:
    ts = make_testset(4)
    path = tmp_path / "sys.txt"
    path.write_text("".join(f"out {i}\n" for i in range(4)), encoding="utf-8")
    run = translate_testset(ts, f"file:{path}", cache=False, progress=False)
    assert run.outputs == [f"out {i}" for i in range(4)]
    assert len(run.signature["sha256"]) == 64
    path.write_text("one\ntwo\nthree\n", encoding="utf-8")
    with pytest.raises(MtEvalError, match=r"sys.txt: 3 lines but the test set has 4 segments"):
        translate_testset(ts, f"file:{path}", cache=False, progress=False)


def test_file_jsonl_keyed_by_id(tmp_path: Path) -> None:
    ts = make_testset(3)
    path = tmp_path / "sys.jsonl"
    rows = [{"id": "3", "hypothesis": "c"}, {"id": "1", "hypothesis": "a"}, {"id": "2", "translation": "b"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert translate_testset(ts, f"file:{path}", cache=False, progress=False).outputs == ["a", "b", "c"]
    path.write_text("".join(json.dumps(r) + "\n" for r in [rows[0], rows[1], {"id": "9", "output": "z"}]),
                    encoding="utf-8")
    with pytest.raises(MtEvalError, match=r"1 test-set ids missing \(first: '2'\); 1 ids not in"):
        translate_testset(ts, f"file:{path}", cache=False, progress=False)


def test_file_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MtEvalError, match="not found"):
        translate_testset(make_testset(2), f"file:{tmp_path / 'absent.txt'}", cache=False, progress=False)


@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_files_split_on_newline_only_not_on_unicode_line_separators(tmp_path: Path, suffix: str) -> None:
    ts = make_testset(3)
    outputs = ["one\u2028still one", "two\u0085still two\x0cand\x1cthis", "three\r"]
    path = tmp_path / f"sys{suffix}"
    if suffix == ".txt":
        path.write_bytes("".join(f"{o}\r\n" for o in outputs).encode("utf-8"))
    else:
        path.write_text("".join(json.dumps({"id": str(i + 1), "hyp": o}, ensure_ascii=False) + "\n"
                                for i, o in enumerate(outputs)).replace("\\u2028", "\u2028")
                        .replace("\\u0085", "\u0085"), encoding="utf-8")
    run = translate_testset(ts, f"file:{path}", cache=False, progress=False)
    assert run.outputs == outputs


def test_file_that_is_a_folder_or_fifo_is_an_error_not_a_hang(tmp_path: Path) -> None:
    import os
    import threading

    ts = make_testset(2)
    with pytest.raises(MtEvalError, match="not a regular file"):
        translate_testset(ts, f"file:{tmp_path}", cache=False, progress=False)
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            translate_testset(ts, f"file:{fifo}", cache=False, progress=False)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # unblock the reader so the test process can exit
        with open(fifo, "w", encoding="utf-8"):
            pass
        pytest.fail("reading a FIFO hung")
    assert len(errors) == 1 and isinstance(errors[0], MtEvalError) and "not a regular file" in str(errors[0])


@pytest.mark.parametrize("value", ["null", "42", "[\"a\"]"])
def test_jsonl_output_that_is_not_text_is_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "sys.jsonl"
    path.write_text(f'{{"id": "1", "hyp": "a"}}\n{{"id": "2", "hyp": {value}}}\n', encoding="utf-8")
    with pytest.raises(MtEvalError, match=r"sys.jsonl:2: the output of id '2' is .*, not text"):
        translate_testset(make_testset(2), f"file:{path}", cache=False, progress=False)
