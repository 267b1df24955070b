"""Hostile-input battery: every command × every kind of bad input → exit 2, one line, nothing written.

Each case is (id, preparation, arguments, expected exit code, fragment of the error line). The
preparation damages a fresh copy of a small workspace (a test set, hypothesis files, a scored run
folder and a baseline made from it). The checks after each case: the exit code, exactly one
``mt-eval: error:`` line naming the problem, no traceback, and no temporary or half-written file
left anywhere in the workspace. FIFOs are opened in-process under a watchdog that unblocks a
reader stuck on one, so a hang fails the test instead of freezing it.

Decisions the battery pins down (documented in the README):

- blank lines, NUL bytes and a source in the wrong script are refused on import with the file and
  line (not recorded as rejects): line ``i`` of every file is segment ``i``, and dropping a line would
  shift every later one against outputs made from that file;
- a run ``name`` is a plain folder name (``../../x`` is refused; ``-o`` chooses any folder);
- an output path through a symlink writes to the link's target and keeps the link.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from helpers.corpora import GOOD, REFS, SOURCES
from hostile_guard import run_guarded, scored_workspace, setup_cli, temporaries

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_3f6bb7e6e5b2fcec.txt"
STATS = "run/stats/good/bleu.npy"


# ------------------------------------------------------------------------------------ workspace
@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once: test set, hypotheses, a scored run folder and a baseline made from it."""
    root = tmp_path_factory.mktemp("pristine")
    scored_workspace(root, resamples=50)
    (root / "src.ar").write_text("\n".join(SOURCES) + "\n", encoding="utf-8")
    (root / "ref.en").write_text("\n".join(REFS) + "\n", encoding="utf-8")
    setup_cli("baseline", "save", root / "run", "-o", root / "baseline.json")
    return root


@pytest.fixture
def ws(pristine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the workspace, plus files every case may point at."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", "")
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    root = tmp_path / "ws"
    shutil.copytree(pristine, root)
    os.mkfifo(root / "fifo")
    (root / "cwd" / "sub").mkdir(parents=True)
    monkeypatch.chdir(root / "cwd" / "sub")  # results/../../x would land in cwd/x
    (root / "folder").mkdir()
    (root / "folder" / "keep.txt").write_text("not a run\n", encoding="utf-8")
    (root / "afile").write_text("a regular file\n", encoding="utf-8")
    (root / "badutf8.txt").write_bytes("\n".join(GOOD[:3]).encode() + b"\n\xff\xfe broken\n" + b"x\n" * 2)
    (root / "nul.txt").write_bytes("\n".join(GOOD[:4]).encode() + b"\nWe lo\x00ve.\nOpen.\n")
    (root / "empty.txt").write_bytes(b"")
    (root / "notobj.json").write_text("[1, 2, 3]\n", encoding="utf-8")
    (root / "trunc.json").write_text('{"schema_version": 1, "run_name": "x", "cre', encoding="utf-8")
    return root


# -------------------------------------------------------------------------------- preparations
Prep = Callable[[Path], None]


def nothing(_: Path) -> None:
    return None


def fifo(rel: str) -> Prep:
    def prep(root: Path) -> None:
        path = root / rel
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        os.mkfifo(path)
    return prep


def write(rel: str, data: bytes | str) -> Prep:
    def prep(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return prep


def truncate(rel: str, keep: int | Callable[[int], int]) -> Prep:
    def prep(root: Path) -> None:
        data = (root / rel).read_bytes()
        (root / rel).write_bytes(data[:keep(len(data)) if callable(keep) else keep])
    return prep


def npy(rel: str, make: Callable[[np.ndarray], np.ndarray]) -> Prep:
    def prep(root: Path) -> None:
        path = root / rel
        arr = np.load(path, allow_pickle=False)
        np.save(path, make(arr), allow_pickle=False)
    return prep


def edit_json(rel: str, change: Callable[[dict], None]) -> Prep:
    def prep(root: Path) -> None:
        path = root / rel
        obj = json.loads(path.read_text(encoding="utf-8"))
        change(obj)
        path.write_text(json.dumps(obj), encoding="utf-8")
    return prep


def lines_file(rel: str, lines: Sequence[str]) -> Prep:
    return write(rel, "".join(f"{x}\n" for x in lines))


def both(*preps: Prep) -> Prep:
    def prep(root: Path) -> None:
        for p in preps:
            p(root)
    return prep


def _negate(arr: np.ndarray) -> np.ndarray:
    out = arr.copy()
    out[2, 0] = -3
    return out


def _contradict(obj: dict) -> None:
    obj["systems"]["good"]["metrics"]["bleu"]["score"] += 7.5


def _bump_score(obj: dict) -> None:
    obj["scores"]["good"]["bleu"]["score"] += 7.5


def _negative_baseline(obj: dict) -> None:
    obj["systems"]["good"]["metrics"]["bleu"]["stats"][1][0] = -4


def _drop_field(field: str) -> Callable[[dict], None]:
    def change(obj: dict) -> None:
        del obj[field]
    return change


# ------------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    id: str
    prep: Prep
    args: tuple[str, ...]
    fragment: str
    code: int = 2
    absent: tuple[str, ...] = ()  # paths (relative to the workspace) that must not exist afterwards


def case(id: str, prep: Prep, args: str, fragment: str, *, code: int = 2, absent: str = "") -> Case:
    return Case(id, prep, tuple(args.split()), fragment, code, tuple(absent.split()))


SCORE = "score --testset {ws}/ts --hyp {ws}/good.txt --hyp {ws}/weak.txt -m bleu --resamples 20"
GATE = "gate -b {ws}/baseline.json -c {ws}/run --json {ws}/verdict.json"
IMPORT = "testset import --source {ws}/src.ar --reference {ws}/ref.en"

CASES: list[Case] = [
    # --------------------------------------------------------------- testset build
    case("build/missing", nothing, "testset build {ws}/nope.txt -o {ws}/out", "nope.txt: no such file",
         absent="out"),
    case("build/fifo", nothing, "testset build {ws}/fifo -o {ws}/out", "FIFO", absent="out"),
    case("build/invalid-utf8", nothing, "testset build {ws}/badutf8.txt -o {ws}/out", "not valid UTF-8",
         absent="out"),
    case("build/nul", nothing, "testset build {ws}/nul.txt -o {ws}/out", "NUL byte", absent="out"),
    case("build/output-is-file", nothing, f"testset build {SEED} -o {{ws}}/afile",
         "afile: exists and is not"),
    case("build/output-under-file", nothing, f"testset build {SEED} -o {{ws}}/afile/ts", "is not a folder"),
    case("build/output-non-testset-folder", nothing, f"testset build {SEED} -o {{ws}}/folder --force",
         "is not a test set folder"),
    # --------------------------------------------------------------- testset import
    case("import/missing-source", nothing, "testset import --source {ws}/nope.ar --reference {ws}/ref.en"
         " -o {ws}/out", "nope.ar: file not found", absent="out"),
    case("import/source-is-folder", nothing, "testset import --source {ws}/folder --reference {ws}/ref.en"
         " -o {ws}/out", "is a folder", absent="out"),
    case("import/fifo-source", nothing, "testset import --source {ws}/fifo --reference {ws}/ref.en"
         " -o {ws}/out", "FIFO", absent="out"),
    case("import/fifo-reference", nothing, "testset import --source {ws}/src.ar --reference {ws}/fifo"
         " -o {ws}/out", "FIFO", absent="out"),
    case("import/invalid-utf8", write("ref.en", "\n".join(REFS[:2]).encode() + b"\n\xc3\x28\n" + b"x\n" * 3),
         IMPORT + " -o {ws}/out", "ref.en:3: not valid UTF-8", absent="out"),
    case("import/nul", write("src.ar", "\n".join(SOURCES[:5]).encode() + b"\n\xd8\xa7\x00\n"),
         IMPORT + " -o {ws}/out", "src.ar:6: NUL byte", absent="out"),
    case("import/blank-line", lines_file("src.ar", [*SOURCES[:2], "  ", *SOURCES[3:]]),
         IMPORT + " -o {ws}/out", "src.ar:3: blank source line", absent="out"),
    case("import/english-source", lines_file("src.ar", REFS), IMPORT + " -o {ws}/out",
         "the source is not Arabic", absent="out"),
    case("import/empty-source", write("src.ar", b""), IMPORT + " -o {ws}/out", "file is empty",
         absent="out"),
    case("import/tsv-fifo", nothing, "testset import --tsv {ws}/fifo -o {ws}/out", "FIFO", absent="out"),
    case("import/tsv-blank-field",
         write("p.tsv", "".join(f"{s}\t{r}\n" for s, r in
                                [*zip(SOURCES[:2], REFS[:2], strict=True), ("ذهب", " ")])),
         "testset import --tsv {ws}/p.tsv -o {ws}/out", "p.tsv:3: reference field 2 is blank", absent="out"),
    case("import/jsonl-not-object", write("d.jsonl", '{"source": "س", "reference": "x"}\n[1]\n'),
         "testset import --jsonl {ws}/d.jsonl -o {ws}/out", "d.jsonl:2: expected a JSON object",
         absent="out"),
    case("import/jsonl-truncated", write("d.jsonl", '{"source": "س", "reference": "x"}\n{"source": "س'),
         "testset import --jsonl {ws}/d.jsonl -o {ws}/out", "d.jsonl:2: not valid JSON", absent="out"),
    case("import/output-is-file", nothing, IMPORT + " -o {ws}/afile", "afile: exists and is not a folder"),
    case("import/output-under-file", nothing, IMPORT + " -o {ws}/afile/x", "afile is not a folder"),
    case("import/output-non-testset-folder", nothing, IMPORT + " -o {ws}/folder --force",
         "is not a test set folder"),
    case("import/output-other-testset", lines_file("ref.en", ["Another reference.", *REFS[1:]]),
         IMPORT + " -o {ws}/ts", "already holds a different test set"),
    # --------------------------------------------------------------- testset show / export
    case("show/missing", nothing, "testset show {ws}/nope", "nope: test set folder not found"),
    case("show/file-for-folder", nothing, "testset show {ws}/afile", "is a file, expected a test set folder"),
    case("show/fifo-for-folder", nothing, "testset show {ws}/fifo", "FIFO"),
    case("show/manifest-not-object", write("ts/manifest.json", "[1]"), "testset show {ws}/ts",
         "manifest.json: malformed manifest (not a JSON object)"),
    case("show/manifest-missing-field", edit_json("ts/manifest.json", _drop_field("source_lang")),
         "testset show {ws}/ts", "field 'source_lang' missing"),
    case("show/manifest-truncated", truncate("ts/manifest.json", 40), "testset show {ws}/ts",
         "manifest.json: malformed JSON"),
    case("show/manifest-fifo", fifo("ts/manifest.json"), "testset show {ws}/ts", "FIFO"),
    case("show/manifest-invalid-utf8", write("ts/manifest.json", b'{"name": "\xff"}'), "testset show {ws}/ts",
         "not valid UTF-8"),
    case("show/testset-invalid-utf8", write("ts/testset.jsonl", b'{"id": "1", "source": "\xff"}\n'),
         "testset show {ws}/ts", "testset.jsonl:1: not valid UTF-8"),
    case("show/testset-truncated", truncate("ts/testset.jsonl", lambda n: n - 30), "testset show {ws}/ts",
         "testset.jsonl:6: malformed segment"),
    case("show/testset-nul", write("ts/testset.jsonl", b'{"id": "1", "source": "\x00"}\n'),
         "testset show {ws}/ts", "NUL byte"),
    case("show/testset-wrong-types",
         write("ts/testset.jsonl", '{"id": 1, "source": 5, "references": ["x"]}\n'),
         "testset show {ws}/ts", "testset.jsonl:1: malformed segment"),
    case("show/negative-count", nothing, "testset show {ws}/ts -n -1", "--segments"),
    case("export/output-is-file", nothing, "testset export {ws}/ts --hf {ws}/afile",
         "exists and is not a folder"),
    case("export/output-non-dataset-folder", nothing, "testset export {ws}/ts --hf {ws}/folder --force",
         "not a saved dataset"),
    # --------------------------------------------------------------- translate (input side)
    case("translate/testset-missing", nothing, "translate -t {ws}/nope -s copy -o {ws}/out",
         "nope: test set folder not found", absent="out"),
    case("translate/testset-fifo", nothing, "translate -t {ws}/fifo -s copy -o {ws}/out", "FIFO",
         absent="out"),
    case("translate/manifest-not-object", write("ts/manifest.json", '"x"'),
         "translate -t {ws}/ts -s copy -o {ws}/out", "not a JSON object", absent="out"),
    case("translate/testset-invalid-utf8", write("ts/testset.jsonl", b"\xff\n"),
         "translate -t {ws}/ts -s copy -o {ws}/out", "not valid UTF-8", absent="out"),
    # --------------------------------------------------------------- run
    case("run/config-missing", nothing, "run -s copy --testset {ws}/ts {ws}/nope.toml -o {ws}/out",
         "nope.toml: config file not found",
         absent="out"),
    case("run/config-is-folder", nothing, "run -s copy --testset {ws}/ts {ws}/folder -o {ws}/out",
         "is a folder", absent="out"),
    case("run/config-fifo", nothing, "run -s copy --testset {ws}/ts {ws}/fifo -o {ws}/out", "FIFO",
         absent="out"),
    case("run/config-invalid-utf8", write("c.toml", b'name = "\xff"\n'),
         "run -s copy --testset {ws}/ts {ws}/c.toml -o {ws}/out",
         "c.toml:1: not valid UTF-8", absent="out"),
    case("run/config-nul", write("c.toml", b'name = "a"\n\x00\n'),
         "run -s copy --testset {ws}/ts {ws}/c.toml -o {ws}/out",
         "c.toml:2: NUL byte", absent="out"),
    case("run/name-traversal", write("c.toml", 'name = "../../x"\nsystems = ["copy"]\n'),
         "run -s copy --testset {ws}/ts {ws}/c.toml",
         "a run name must be a plain folder name",
         absent="cwd/x cwd/sub/x cwd/sub/results"),
    case("run/cli-name-traversal", nothing, "run -s copy --testset {ws}/ts --name ../x",
         "a run name must be a plain folder name",
         absent="cwd/x cwd/sub/x cwd/sub/results"),
    case("run/config-negative-resamples", write("c.toml", "resamples = -5\n"),
         "run -s copy --testset {ws}/ts {ws}/c.toml -o {ws}/out",
         "resamples", absent="out"),
    case("run/config-negative-seed", write("c.toml", "seed = -1\n"),
         "run -s copy --testset {ws}/ts {ws}/c.toml -o {ws}/out", "seed",
         absent="out"),
    case("run/zero-resamples", nothing, "run -s copy --testset {ws}/ts --resamples 0 -o {ws}/out",
         "--resamples", absent="out"),
    case("run/negative-seed", nothing, "run -s copy --testset {ws}/ts --seed -1 -o {ws}/out", "--seed",
         absent="out"),
    case("run/zero-workers", nothing, "run -s copy --testset {ws}/ts --workers 0 -o {ws}/out", "--workers",
         absent="out"),
    case("run/bad-method", nothing, "run -s copy --testset {ws}/ts --method nope -o {ws}/out", "method",
         absent="out"),
    case("run/output-is-file", nothing, "run -s copy --testset {ws}/ts -o {ws}/afile",
         "exists and is not a folder"),
    case("run/output-non-run-folder", nothing, "run -s copy --testset {ws}/ts -o {ws}/folder",
         "is not a run folder"),
    case("run/output-under-file", nothing, "run -s copy --testset {ws}/ts -o {ws}/afile/run",
         "is not a folder"),
    case("run/testset-fifo", nothing, "run -s copy --testset {ws}/fifo -o {ws}/out", "FIFO", absent="out"),
    case("run/testset-is-file", nothing, "run -s copy --testset {ws}/afile -o {ws}/out", "is a file",
         absent="out"),
    case("run/gate-fifo", nothing, "run -s copy --testset {ws}/ts --gate {ws}/fifo -o {ws}/out", "FIFO",
         absent="out"),
    case("run/gate-folder", nothing, "run -s copy --testset {ws}/ts --gate {ws}/folder -o {ws}/out",
         "is a folder", absent="out"),
    # --------------------------------------------------------------- score
    case("score/hyp-missing", nothing, "score --testset {ws}/ts --hyp {ws}/nope.txt -o {ws}/out",
         "nope.txt: hypothesis file not found", absent="out"),
    case("score/hyp-folder", nothing, "score --testset {ws}/ts --hyp {ws}/folder -o {ws}/out", "is a folder",
         absent="out"),
    case("score/hyp-fifo", nothing, "score --testset {ws}/ts --hyp {ws}/fifo -o {ws}/out", "FIFO",
         absent="out"),
    case("score/hyp-invalid-utf8", nothing, "score --testset {ws}/ts --hyp {ws}/badutf8.txt -o {ws}/out",
         "badutf8.txt:4: not valid UTF-8", absent="out"),
    case("score/hyp-nul", nothing, "score --testset {ws}/ts --hyp {ws}/nul.txt -o {ws}/out",
         "nul.txt:5: NUL byte", absent="out"),
    case("score/hyp-empty", nothing, "score --testset {ws}/ts --hyp {ws}/empty.txt -o {ws}/out",
         "0 lines but the test set has 6", absent="out"),
    case("score/testset-is-file", nothing, "score --testset {ws}/afile --hyp {ws}/good.txt -o {ws}/out",
         "is a file", absent="out"),
    case("score/manifest-not-object", write("ts/manifest.json", "null"),
         "score --testset {ws}/ts --hyp {ws}/good.txt -o {ws}/out", "not a JSON object", absent="out"),
    case("score/testset-hash-mismatch", lines_file("ts/testset.jsonl", [json.dumps(
        {"id": "1", "source": "س", "references": ["x"]})]),
         "score --testset {ws}/ts --hyp {ws}/good.txt -o {ws}/out", "does not match manifest", absent="out"),
    case("score/output-is-file", nothing, SCORE + " -o {ws}/afile", "exists and is not a folder"),
    case("score/output-non-run-folder", nothing, SCORE + " -o {ws}/folder", "is not a run folder"),
    case("score/output-under-file", nothing, SCORE + " -o {ws}/afile/run", "afile is not a folder"),
    case("score/zero-resamples", nothing, SCORE + " --resamples 0 -o {ws}/out", "--resamples", absent="out"),
    case("score/negative-seed", nothing, SCORE + " --seed -5 -o {ws}/out", "--seed", absent="out"),
    case("score/name-traversal", nothing, SCORE + " --name ../../x -o {ws}/out", "plain folder name",
         absent="out"),
    # --------------------------------------------------------------- compare
    case("compare/missing", nothing, "compare {ws}/nope --baseline good", "nope: not found"),
    case("compare/file-for-folder", nothing, "compare {ws}/afile --baseline good", "is a file"),
    case("compare/fifo-for-folder", nothing, "compare {ws}/fifo --baseline good", "FIFO"),
    case("compare/results-truncated", truncate("run/results.json", 100), "compare {ws}/run --baseline good",
         "results.json:"),
    case("compare/results-not-object", write("run/results.json", "[]"), "compare {ws}/run --baseline good",
         "malformed results (not a JSON object)"),
    case("compare/results-missing-field", edit_json("run/results.json", _drop_field("testset")),
         "compare {ws}/run --baseline good", "field testset"),
    case("compare/results-invalid-utf8", write("run/results.json", b"{\xff}"),
         "compare {ws}/run --baseline good",
         "not valid UTF-8"),
    case("compare/results-fifo", fifo("run/results.json"), "compare {ws}/run --baseline good", "FIFO"),
    case("compare/npy-zero-bytes", write(STATS, b""), "compare {ws}/run --baseline good --resamples 20",
         "bleu.npy: empty statistics file"),
    case("compare/npy-truncated", truncate(STATS, lambda n: n - 9), "compare {ws}/run --baseline good",
         "bleu.npy: unreadable statistics"),
    case("compare/npy-negative", npy(STATS, _negate), "compare {ws}/run --baseline good",
         "bleu.npy: negative count in row 3"),
    case("compare/npy-wrong-rows", npy(STATS, lambda a: a[:4]), "compare {ws}/run --baseline good",
         "bleu.npy: 4 statistics rows for 6 segments"),
    case("compare/npy-object-dtype", write(STATS, b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order':"
                                                    b" False, 'shape': (6, 2), }" + b" " * 50 + b"\n"),
         "compare {ws}/run --baseline good", "bleu.npy: unreadable statistics"),
    case("compare/npy-fifo", fifo(STATS), "compare {ws}/run --baseline good", "FIFO"),
    case("compare/npy-missing", lambda r: (r / STATS).unlink(), "compare {ws}/run --baseline good",
         "statistics file not found"),
    case("compare/segments-truncated", truncate("run/segments.jsonl", lambda n: n - 40),
         "compare {ws}/run --baseline good --save", "segments.jsonl:6: malformed JSON"),
    case("compare/segments-missing-line", lines_file("run/segments.jsonl", []),
         "compare {ws}/run --baseline good",
         "0 segment records for 6 segments"),
    case("compare/with-fifo", nothing, "compare {ws}/run --baseline good --with {ws}/fifo", "FIFO"),
    case("compare/zero-resamples", nothing, "compare {ws}/run --baseline good --resamples 0", "--resamples"),
    case("compare/negative-seed", nothing, "compare {ws}/run --baseline good --seed -1", "--seed"),
    case("compare/unknown-baseline", nothing, "compare {ws}/run --baseline nope", "baseline 'nope'"),
    case("compare/bad-method", nothing, "compare {ws}/run --baseline good --method x", "method 'x'"),
    # --------------------------------------------------------------- report
    case("report/missing", nothing, "report {ws}/nope", "nope: not found"),
    case("report/not-a-run", nothing, "report {ws}/folder", "not a run folder"),
    case("report/results-truncated", truncate("run/results.json", 10), "report {ws}/run", "malformed JSON"),
    case("report/segments-truncated", truncate("run/segments.jsonl", lambda n: n - 5), "report {ws}/run",
         "segments.jsonl:6"),
    case("report/segments-invalid-utf8", write("run/segments.jsonl", b'{"a": "\xff"}\n'), "report {ws}/run",
         "not valid UTF-8"),
    case("report/segments-not-records", lines_file("run/segments.jsonl", ["[1]"] * 6), "report {ws}/run",
         "segments.jsonl:1: not a segment record"),
    case("report/segments-fifo", fifo("run/segments.jsonl"), "report {ws}/run", "FIFO"),
    # --------------------------------------------------------------- baseline save
    case("baseline/run-missing", nothing, "baseline save {ws}/nope -o {ws}/b.json", "nope: not found",
         absent="b.json"),
    case("baseline/output-is-folder", nothing, "baseline save {ws}/run -o {ws}/folder", "is a folder"),
    case("baseline/output-under-file", nothing, "baseline save {ws}/run -o {ws}/afile/b.json",
         "afile is not a folder"),
    case("baseline/output-fifo", nothing, "baseline save {ws}/run -o {ws}/fifo", "FIFO"),
    case("baseline/npy-zero-bytes", write(STATS, b""), "baseline save {ws}/run -o {ws}/b.json",
         "empty statistics file", absent="b.json"),
    case("baseline/npy-negative", npy(STATS, _negate), "baseline save {ws}/run -o {ws}/b.json",
         "negative count", absent="b.json"),
    case("baseline/score-contradicts-stats", edit_json("run/results.json", _bump_score),
         "baseline save {ws}/run -o {ws}/b.json", "results.json says", absent="b.json"),
    case("baseline/results-truncated", truncate("run/results.json", 50),
         "baseline save {ws}/run -o {ws}/b.json",
         "malformed JSON", absent="b.json"),
    # --------------------------------------------------------------- gate
    case("gate/baseline-missing", nothing, "gate -b {ws}/nope.json -c {ws}/run",
         "nope.json: baseline file not found"),
    case("gate/baseline-fifo", nothing, "gate -b {ws}/fifo -c {ws}/run", "FIFO"),
    case("gate/baseline-folder", nothing, "gate -b {ws}/folder -c {ws}/run", "is a folder"),
    case("gate/baseline-invalid-utf8", write("baseline.json", b'{"kind": "\xff"}'), GATE, "not valid UTF-8"),
    case("gate/baseline-truncated", truncate("baseline.json", 200), GATE, "malformed baseline (not JSON"),
    case("gate/baseline-not-object", write("baseline.json", "[1]"), GATE, "not a JSON object"),
    case("gate/baseline-negative-stats", edit_json("baseline.json", _negative_baseline), GATE,
         "negative count"),
    case("gate/baseline-contradicts-stats", edit_json("baseline.json", _contradict), GATE,
         "the baseline's statistics give"),
    case("gate/candidate-npy-zero-bytes", write(STATS, b""), GATE, "empty statistics file"),
    case("gate/candidate-npy-truncated", truncate(STATS, lambda n: n // 2), GATE, "unreadable statistics"),
    case("gate/candidate-npy-negative", npy(STATS, _negate), GATE, "negative count"),
    case("gate/candidate-npy-fifo", fifo(STATS), GATE, "FIFO"),
    case("gate/candidate-results-fifo", fifo("run/results.json"), GATE, "FIFO"),
    case("gate/candidate-missing", nothing, "gate -b {ws}/baseline.json -c {ws}/nope", "nope: not found"),
    case("gate/policy-fifo", nothing, GATE + " --policy {ws}/fifo", "FIFO"),
    case("gate/policy-folder", nothing, GATE + " --policy {ws}/folder", "is a folder"),
    case("gate/policy-invalid-utf8", write("p.toml", b"alpha = 0.1 # \xff\n"), GATE + " --policy {ws}/p.toml",
         "not valid UTF-8"),
    case("gate/junit-under-file", nothing, "gate -b {ws}/baseline.json -c {ws}/run --junit {ws}/afile/j.xml",
         "afile is not a folder"),
    case("gate/zero-resamples", nothing, GATE + " --resamples 0", "--resamples"),
    case("gate/negative-seed", nothing, GATE + " --seed -1", "--seed"),
    # --------------------------------------------------------------- cache
    case("cache/fifo", nothing, "cache stats --cache {ws}/fifo", "not a translation cache file"),
    case("cache/folder", nothing, "cache stats --cache {ws}/folder", "not a translation cache file"),
    case("cache/not-sqlite", nothing, "cache stats --cache {ws}/afile", "afile"),
]


# ------------------------------------------------------------------------------------ the checks
@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_hostile_input(c: Case, ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c.prep(ws)
    args = [a.replace("{ws}", str(ws)) for a in c.args]
    before = set(temporaries(ws))
    code, out, err, hung = run_guarded(capsys, ws, args)
    assert not hung, f"{c.id}: blocked reading a FIFO"
    assert "Traceback" not in err and "Traceback" not in out, err
    assert code == c.code, f"{c.id}: exit {code}, expected {c.code}\nstderr: {err}"
    if c.code == 2:
        errors = [line for line in err.splitlines() if not line.startswith("…") and line.strip()]
        assert len(errors) == 1, f"{c.id}: expected one error line, got {errors}"
        assert errors[0].startswith("mt-eval: error: "), errors
        assert c.fragment in errors[0], f"{c.id}: {c.fragment!r} not in {errors[0]!r}"
        assert "internal error" not in errors[0]
    assert set(temporaries(ws)) <= before, f"{c.id}: left {set(temporaries(ws)) - before}"
    for rel in c.absent:
        assert not (ws / rel).exists(), f"{c.id}: {rel} was written"
    if c.id.startswith("gate/") and (ws / "verdict.json").exists():
        verdict = json.loads((ws / "verdict.json").read_text(encoding="utf-8"))
        assert verdict["exit_code"] == 2 and verdict["outcome"] == "cannot-compare", verdict


def test_battery_covers_every_command() -> None:
    commands = {c.id.split("/")[0] for c in CASES}
    assert commands >= {"build", "import", "show", "export", "translate", "run", "score", "compare", "report",
                        "baseline", "gate", "cache"}
    assert len(CASES) >= 100
