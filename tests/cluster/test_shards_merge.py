"""``--shard i/N`` + ``mt-eval merge`` equals the unsharded run; every bad merge exits 2 naming the part.

Systems: ``copy``, two ``file:`` systems and an ``openai`` system on a fake loopback server (the
translating path: only the slice's segments reach the server, through the cache). 120 segments with
one two-reference segment (so ``nrefs`` is ``var`` in shard 0 and ``1`` in the others) and several
documents: the shards (40 segments) pick exact approximate randomisation, the whole test set the paired
bootstrap, so the merge must recompute the method choice, not copy it.
"""

from __future__ import annotations

import itertools
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS, TESTS / "translators"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from fake_openai import FaultyServer  # noqa: E402
from helpers.cli import run_cli  # noqa: E402

from mt_eval.cli import main  # noqa: E402
from mt_eval.cluster.shards import RULE, Shard, parse_shard  # noqa: E402
from mt_eval.data.testset import Segment, TestSet  # noqa: E402
from mt_eval.errors import MtEvalError  # noqa: E402
from mt_eval.testing.corpora import synthetic_corpus  # noqa: E402

N_SEGMENTS = 120
METRICS = ("-m", "bleu", "-m", "chrf", "-m", "ter")
IGNORED = {"created"}  # results.json keys that may differ; systems' throughput/environment checked apart


def _cli(*args: object) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _testset(refs_changed: bool = False) -> TestSet:
    corpus = synthetic_corpus(N_SEGMENTS, seed=7)
    segments = []
    for i, (source, ref) in enumerate(zip(corpus["A"], corpus["refs"], strict=True)):
        refs = (ref, corpus["C"][i]) if i == 0 else (ref + (" x" if refs_changed and i == 70 else ""),)
        segments.append(Segment(id=f"s{i}", source=source, references=refs, doc_id=f"doc{i // 25}",
                                meta={"n": i}))
    return TestSet(segments=tuple(segments), source_lang="de", target_lang="en", name="syn",
                   provenance={"made_by": "test"})


class Runs:
    """Every run folder the tests look at, made once."""

    def __init__(self, root: Path, server: FaultyServer) -> None:
        self.root = root
        self.server = server
        corpus = synthetic_corpus(N_SEGMENTS, seed=7)
        _testset().save(root / "ts")
        _testset(refs_changed=True).save(root / "ts-other")
        for name in ("B", "C"):
            (root / f"{name}.txt").write_text("\n".join(corpus[name]) + "\n", encoding="utf-8")
        (root / "changed").mkdir()  # same system name (the file name), other content
        changed = [*corpus["B"][:-1], "changed"]
        (root / "changed" / "B.txt").write_text("\n".join(changed) + "\n", encoding="utf-8")
        self.openai = f"openai:{server.url}?model=m&concurrency=2"

    def systems(self, b: str = "B.txt", c: bool = True) -> list[str]:
        out = ["-s", "copy", "-s", f"file:{self.root / b}", "-s", self.openai]
        return out + (["-s", f"file:{self.root / 'C.txt'}"] if c else [])

    def run(self, out: str, *extra: object, testset: str = "ts", cache: str = "shards.sqlite",
            systems: list[str] | None = None, metrics: tuple[str, ...] = METRICS) -> Path:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MT_EVAL_CACHE", str(self.root / cache))
            code = _cli("run", "--testset", self.root / testset, *(systems or self.systems()), *metrics,
                        "--resamples", "200", "--name", "syn", "-o", self.root / out, *extra)
        assert code == 0, out
        return self.root / out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    with FaultyServer() as server:
        r = Runs(tmp_path_factory.mktemp("shards"), server)
        r.run("full", cache="full.sqlite")
        r.full_requests = len(server.requests)  # type: ignore[attr-defined]
        for i in range(3):
            r.run(f"part{i}", "--shard", f"{i}/3")
        r.shard_requests = len(server.requests) - r.full_requests  # type: ignore[attr-defined]
        parts = [r.root / f"part{i}" for i in (2, 0, 1)]  # any order
        assert _cli("merge", *parts, "-o", r.root / "merged") == 0
        yield r


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _results(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "results.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------- the cut
def test_the_rule_cuts_contiguous_balanced_non_empty_slices() -> None:
    for n in (1, 2, 7, 10, 120, 1001):
        for count in range(1, min(n, 13) + 1):
            bounds = [Shard(i, count).bounds(n) for i in range(count)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))  # contiguous, no gap
            sizes = [stop - start for start, stop in bounds]
            assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
            assert bounds == [(i * n // count, (i + 1) * n // count) for i in range(count)]  # the rule
    assert "floor(i*n/N)" in RULE


@pytest.mark.parametrize(("text", "fragment"), [
    ("3/3", "i must be below N"), ("0/0", "N must be at least 1"), ("x", "expected i/N"),
    ("1", "expected i/N"), ("-1/3", "expected i/N"), ("1/3/4", "expected i/N"), ("a/3", "expected i/N"),
])
def test_bad_shard_texts_are_one_line_errors(text: str, fragment: str) -> None:
    with pytest.raises(MtEvalError, match=fragment):
        parse_shard(text)
    assert parse_shard(" 2/5 ") == Shard(2, 5)


@pytest.mark.parametrize("command", ["run", "score", "translate"])
@pytest.mark.parametrize(("text", "fragment"), [
    ("3/3", "i must be below N"), ("0/0", "N must be at least 1"), ("x", "expected i/N"),
    ("0/121", "121 shards for a test set of 120"),
])
def test_bad_shard_option_exits_2_with_one_line_and_writes_nothing(runs: Runs, capsys, command: str,
                                                                   text: str, fragment: str) -> None:
    out = runs.root / f"bad-{command}"
    args: dict[str, list[object]] = {
        "run": ["run", "--testset", runs.root / "ts", "-s", "copy", "-m", "bleu"],
        "score": ["score", "--testset", runs.root / "ts", "--hyp", runs.root / "B.txt", "-m", "bleu"],
        "translate": ["translate", "-t", runs.root / "ts", "-s", "copy"],
    }
    code, _, err = run_cli(capsys, *args[command], "-o", out, "--shard", text)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


# ---------------------------------------------------------------------------------------- equality
def test_merge_of_three_shards_equals_the_unsharded_run(runs: Runs) -> None:
    full, merged = _files(runs.root / "full"), _files(runs.root / "merged")
    for name in sorted(full):
        if name.startswith(("outputs/", "stats/")) or name == "segments.jsonl":
            assert merged.get(name) == full[name], f"{name} differs"
    assert {n for n in merged if n.startswith(("outputs/", "stats/"))} == \
        {n for n in full if n.startswith(("outputs/", "stats/"))}
    a, b = _results(runs.root / "full"), _results(runs.root / "merged")
    assert set(a) == set(b)
    for key in set(a) - IGNORED - {"systems", "environment"}:
        assert a[key] == b[key], f"results.json {key} differs"
    for name, info in a["systems"].items():
        other = b["systems"][name]
        for key in set(info) - {"throughput", "environment"}:
            assert info[key] == other[key], (name, key)
        assert other["throughput"]["segments"] == N_SEGMENTS and other["throughput"]["shards"] == 3
    # what does not decompose was recomputed: the shards chose exact AR, the whole set the bootstrap
    assert _results(runs.root / "part0")["significance"]["method"] == "paired-ar"
    assert b["significance"]["method"] == a["significance"]["method"] == "paired-bs"
    assert a["metrics"]["bleu"]["signature"]["nrefs"] == "var" == b["metrics"]["bleu"]["signature"]["nrefs"]
    assert _results(runs.root / "part1")["metrics"]["bleu"]["signature"]["nrefs"] == "1"
    assert "shard" not in b["config"] and b["config"] == a["config"]


def test_shards_translate_only_their_slice_once(runs: Runs) -> None:
    assert runs.full_requests == N_SEGMENTS  # type: ignore[attr-defined]
    assert runs.shard_requests == N_SEGMENTS  # type: ignore[attr-defined]  # each segment once, no more
    sizes = [_results(runs.root / f"part{i}")["testset"]["num_segments"] for i in range(3)]
    assert sizes == [40, 40, 40]
    record = _results(runs.root / "part1")["config"]["shard"]
    assert (record["index"], record["count"], record["start"], record["stop"]) == (1, 3, 40, 80)
    assert record["testset"]["hash"] == _testset().content_hash


def test_partial_run_folders_are_complete_run_folders_of_their_slice(runs: Runs, capsys) -> None:
    code, _, err = run_cli(capsys, "report", runs.root / "part1")
    assert code == 0, err
    assert _results(runs.root / "part1")["testset"]["hash"] == Shard(1, 3).testset(_testset()).content_hash


def test_without_o_each_shard_gets_its_own_folder(runs: Runs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(runs.root)
    monkeypatch.setenv("MT_EVAL_CACHE", str(runs.root / "shards.sqlite"))
    for i in range(2):
        assert _cli("run", "--testset", "ts", "-s", "copy", "-m", "bleu", "--name", "dflt",
                    "--shard", f"{i}/2") == 0
    assert _cli("merge", "results/dflt-shard-0-of-2", "results/dflt-shard-1-of-2", "-o", "results/dflt") == 0
    assert _results(runs.root / "results" / "dflt")["testset"]["num_segments"] == N_SEGMENTS


def test_translate_shards_concatenate_to_the_unsharded_files(runs: Runs) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MT_EVAL_CACHE", str(runs.root / "shards.sqlite"))
        assert _cli("translate", "-t", runs.root / "ts", "-s", "copy", "-s", runs.openai, "-q",
                    "-o", runs.root / "tr-full") == 0
        for i in range(2):
            assert _cli("translate", "-t", runs.root / "ts", "-s", "copy", "-s", runs.openai, "-q",
                        "--shard", f"{i}/2", "-o", runs.root / f"tr{i}") == 0
    for file in (runs.root / "tr-full").glob("*.txt"):
        joined = b"".join((runs.root / f"tr{i}" / file.name).read_bytes() for i in range(2))
        assert joined == file.read_bytes(), file.name
    summary = json.loads((runs.root / "tr1" / "translations.json").read_text(encoding="utf-8"))
    assert summary["shard"]["index"] == 1 and summary["shard"]["testset"]["num_segments"] == N_SEGMENTS


def test_score_shards_merge_to_the_unsharded_score(runs: Runs) -> None:
    hyps = ["--hyp", runs.root / "B.txt", "--hyp", runs.root / "C.txt", "-m", "bleu", "-m", "ter",
            "--resamples", "100", "--name", "sc"]
    assert _cli("score", "--testset", runs.root / "ts", *hyps, "-o", runs.root / "sc-full") == 0
    for i in range(4):
        assert _cli("score", "--testset", runs.root / "ts", *hyps, "--shard", f"{i}/4",
                    "-o", runs.root / f"sc{i}") == 0
    assert _cli("merge", *[runs.root / f"sc{i}" for i in range(4)], "-o", runs.root / "sc-merged") == 0
    full, merged = _files(runs.root / "sc-full"), _files(runs.root / "sc-merged")
    for name in full:
        if name.startswith(("outputs/", "stats/")) or name == "segments.jsonl":
            assert merged[name] == full[name], name
    a, b = _results(runs.root / "sc-full"), _results(runs.root / "sc-merged")
    for key in ("scores", "significance", "flags", "metrics", "testset", "bootstrap", "config", "run_name"):
        assert a[key] == b[key], key


# ---------------------------------------------------------------------------------------- bad merges
def _tamper_signature(runs: Runs) -> Path:
    target = runs.root / "tampered-sig"
    if not target.exists():
        shutil.copytree(runs.root / "part2", target)
        data = _results(target)
        data["metrics"]["chrf"]["signature"]["version"] = "0.0.1"
        (target / "results.json").write_text(json.dumps(data), encoding="utf-8")
    return target


def _tamper_segments(runs: Runs) -> Path:
    target = runs.root / "tampered-seg"
    if not target.exists():
        shutil.copytree(runs.root / "part1", target)
        lines = (target / "segments.jsonl").read_text(encoding="utf-8").splitlines()
        record = json.loads(lines[3])
        record["source"] += " edited"
        lines[3] = json.dumps(record, ensure_ascii=False)
        (target / "segments.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _not_a_run(runs: Runs) -> Path:
    target = runs.root / "empty-folder"
    target.mkdir(exist_ok=True)
    return target


# name -> (parts, message fragment); a part is a folder name, or a callable making one
BAD: dict[str, tuple[list[Any], str]] = {
    "missing shard": (["part0", "part2"], "shard 1/3 missing"),
    "two missing": (["part1"], "shards 0/3, 2/3 missing"),
    "duplicate shard": (["part0", "part1", "part1", "part2"], "shard 1/3 given twice"),
    "overlapping split": (["part0", "part1", "part2", "half0"], "2-way split"),
    "another test set": (["part0", "other1", "part2"], "another test set"),
    "different systems": (["part0", "part1", "fewer2"], "different systems"),
    "changed hypothesis file": (["part0", "part1", "changed2"], "another signature"),
    "different metrics": (["part0", "part1", "metrics2"], "different metrics"),
    "different metric signature": (["part0", "part1", _tamper_signature], "signature differs"),
    "different settings": (["part0", "part1", "resamples2"], "evaluation setting 'resamples'"),
    "unsharded run": (["part0", "part1", "part2", "full"], "not a partial run folder"),
    "not a run folder": (["part0", "part1", _not_a_run], "not a run folder"),
    "absent folder": (["part0", "part1", "nowhere"], "not found"),
    "edited segments": (["part0", _tamper_segments, "part2"], "hash to"),
    "output is a part": (["part0", "part1", "part2"], "-o must not be one of the parts"),
}


# the extra parts some cases need, each made on first use (a run each: those cases are marked slow)
EXTRA: dict[str, dict[str, Any]] = {
    "half0": {"shard": "0/2"},
    "other1": {"shard": "1/3", "testset": "ts-other"},
    "fewer2": {"shard": "2/3", "systems": {"c": False}},
    "changed2": {"shard": "2/3", "systems": {"b": "changed/B.txt"}},
    "metrics2": {"shard": "2/3", "metrics": ("-m", "bleu", "-m", "chrf")},
    "resamples2": {"shard": "2/3", "resamples": "100"},
}


def _part(runs: Runs, name: str) -> Path:
    spec = EXTRA.get(name)
    if spec is None or (runs.root / name).exists():
        return runs.root / name
    extra: list[object] = ["--shard", spec["shard"]]
    if "resamples" in spec:
        extra += ["--resamples", spec["resamples"]]  # the later --resamples wins
    return runs.run(name, *extra, testset=spec.get("testset", "ts"),
                    systems=runs.systems(**spec.get("systems", {})), metrics=spec.get("metrics", METRICS))


def _cases() -> list[Any]:
    return [pytest.param(case, marks=[pytest.mark.slow] if any(p in EXTRA for p in BAD[case][0]) else [])
            for case in BAD]


@pytest.mark.parametrize("case", _cases())
def test_bad_merge_exits_2_naming_the_part_and_writes_nothing(runs: Runs, capsys, case: str) -> None:
    names, fragment = BAD[case]
    parts = [p(runs) if callable(p) else _part(runs, p) for p in names]
    out = parts[1] if case == "output is a part" else runs.root / f"merged-{case.replace(' ', '-')}"
    before = _files(out) if out.exists() else None
    capsys.readouterr()  # the runs that made extra parts
    code, _, err = run_cli(capsys, "merge", *parts, "-o", out)
    assert code == 2, err
    assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert (_files(out) if out.exists() else None) == before  # nothing written


def test_merge_recomputes_batch_dependent_metrics_over_the_whole_test_set(runs: Runs) -> None:
    """``semantic`` embeds in batches whose float32 results shift with the batch: merge recomputes it
    from the joined outputs, so the merged statistics are byte-identical to the unsharded run's."""
    from mt_eval.metrics.registry import load_metric_class

    assert load_metric_class("semantic").batch_invariant is False
    assert load_metric_class("bleu").batch_invariant is True
    hyps = ["--hyp", runs.root / "C.txt", "-m", "semantic", "-m", "bleu", "--resamples", "50",
            "--name", "sem"]
    assert _cli("score", "--testset", runs.root / "ts", *hyps, "-o", runs.root / "sem-full") == 0
    for i in range(3):
        assert _cli("score", "--testset", runs.root / "ts", *hyps, "--shard", f"{i}/3",
                    "-o", runs.root / f"sem{i}") == 0
    assert _cli("merge", *[runs.root / f"sem{i}" for i in range(3)], "-o", runs.root / "sem-merged") == 0
    full, merged = _files(runs.root / "sem-full"), _files(runs.root / "sem-merged")
    stats = [name for name in full if name.startswith("stats/") and name.endswith(".npy")]
    assert any("semantic" in name for name in stats)
    for name in [*stats, "segments.jsonl"]:
        assert merged[name] == full[name], name
    assert _results(runs.root / "sem-full")["scores"] == _results(runs.root / "sem-merged")["scores"]
