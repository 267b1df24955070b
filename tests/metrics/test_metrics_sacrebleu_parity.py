"""mt-eval's sacrebleu metrics against sacrebleu itself: API, CLI, published FLORES numbers, edge cases."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sacrebleu

from mt_eval.errors import MtEvalError
from mt_eval.metrics.registry import get_metric
from mt_eval.metrics.signature import MetricSignature, nrefs
from mt_eval.testing.corpora import synthetic_corpus

logging.getLogger("sacrebleu").setLevel(logging.ERROR)

FLORES = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "flores-ara-eng"
SYSTEMS = ["opus-mt-tc-big-ar-en", "opus-mt-ara-eng-2021-02-23", "opus-mt-ar-en"]
needs_flores = pytest.mark.skipif(
    not (FLORES / "published.json").is_file(),
    reason=f"FLORES validation data absent ({FLORES}); it is not shipped in the repo",
)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def flores() -> dict:
    refs = _lines(FLORES / "reference.eng")
    systems = {name: _lines(FLORES / "systems" / f"{name}.eng") for name in SYSTEMS}
    return {
        "refs": refs,
        "systems": systems,
        "published": json.loads((FLORES / "published.json").read_text()),
    }


def _sacrebleu_of(key: str, options: dict):
    """The sacrebleu object our metric claims to reproduce (built independently of our code)."""
    opts = {k: v for k, v in options.items()}
    if key == "bleu":
        return sacrebleu.BLEU(**opts)
    if key == "chrf":
        return sacrebleu.CHRF(**opts)
    if key == "chrf++":
        return sacrebleu.CHRF(**{"word_order": 2, **opts})
    return sacrebleu.TER(**opts)


def _streams(refs: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's layout for per-segment reference lists: missing references are None."""
    k = max(len(r) for r in refs)
    return [[r[j] if j < len(r) else None for r in refs] for j in range(k)]


# ------------------------------------------------------------------ published numbers
@needs_flores
@pytest.mark.parametrize("system", SYSTEMS)
def test_reproduces_published_flores_scores(flores, system):
    published = flores["published"]["systems"][system]
    hyps, refs = flores["systems"][system], [[r] for r in flores["refs"]]
    bleu = get_metric("bleu")
    stats = bleu.segment_stats(hyps, refs)
    assert f"{bleu.corpus_score(stats):.1f}" == f"{published['bleu']:.1f}"
    # the verbose part: precisions, BP and lengths come from our summed statistics
    total = stats.sum(axis=0)
    hyp_len, ref_len = int(total[0]), int(total[1])
    precisions = "/".join(f"{100 * c / t:.1f}" for c, t in zip(total[2:6], total[6:10], strict=True))
    expected_detail = published["bleu_detail"]
    assert expected_detail.startswith(precisions)
    assert f"hyp_len = {hyp_len} ref_len = {ref_len}" in expected_detail
    assert f"ratio = {hyp_len / ref_len:.3f}" in expected_detail
    # sacrebleu 2.0.0 signature, same fields in the same order (only the version differs)
    sig = MetricSignature.of(bleu, nrefs(refs))
    assert (
        str(sig.without(["version", "metric"]))
        == published["bleu_signature"].rsplit("|version", 1)[0]
    )
    chrf = get_metric("chrf")
    assert round(chrf.corpus_score(chrf.segment_stats(hyps, refs)) / 100, 5) == pytest.approx(
        published["chrf"]
    )
    if "chrf++" in published:
        chrfpp = get_metric("chrf++")
        assert round(chrfpp.corpus_score(chrfpp.segment_stats(hyps, refs)) / 100, 5) == pytest.approx(
            published["chrf++"]
        )


# ------------------------------------------------------------------ every option vs the API
OPTION_TABLE = [
    ("bleu", {}),
    ("bleu", {"tokenize": "intl"}),
    ("bleu", {"tokenize": "char"}),
    ("bleu", {"tokenize": "none"}),
    ("bleu", {"tokenize": "zh"}),
    ("bleu", {"lowercase": True}),
    ("bleu", {"smooth_method": "floor"}),
    ("bleu", {"smooth_method": "floor", "smooth_value": 0.3}),
    ("bleu", {"smooth_method": "add-k"}),
    ("bleu", {"smooth_method": "add-k", "smooth_value": 2}),
    ("bleu", {"smooth_method": "none"}),
    ("bleu", {"max_ngram_order": 2}),
    ("bleu", {"max_ngram_order": 6}),
    ("bleu", {"effective_order": True}),
    ("bleu", {"effective_order": True, "smooth_method": "none", "lowercase": True}),
    ("chrf", {}),
    ("chrf", {"char_order": 4}),
    ("chrf", {"word_order": 1}),
    ("chrf", {"beta": 1}),
    ("chrf", {"beta": 3}),
    ("chrf", {"lowercase": True}),
    ("chrf", {"whitespace": True}),
    ("chrf", {"eps_smoothing": True}),
    ("chrf", {"char_order": 3, "word_order": 3, "eps_smoothing": True}),
    ("chrf++", {}),
    ("chrf++", {"lowercase": True, "whitespace": True}),
    ("ter", {}),
    ("ter", {"normalized": True}),
    ("ter", {"no_punct": True}),
    ("ter", {"normalized": True, "asian_support": True}),
    ("ter", {"case_sensitive": True}),
]


def _assert_parity(key, options, hyps, refs):
    ours = get_metric(key, **options)
    stats = ours.segment_stats(hyps, refs)
    theirs = _sacrebleu_of(key, options)
    corpus = theirs.corpus_score(hyps, _streams(refs))
    assert ours.corpus_score(stats) == corpus.score  # exact, not approximate
    sentence = np.array(
        [_sacrebleu_of(key, options).sentence_score(h, r).score for h, r in zip(hyps, refs, strict=True)]
    )
    np.testing.assert_array_equal(ours.sentence_scores(stats), sentence)
    # the vectorised formula used by bootstrap agrees to the last few ulps
    np.testing.assert_allclose(ours.score_from_stats(stats), sentence, rtol=1e-12, atol=1e-9)
    # sacrebleu's signature is a prefix of ours, field for field
    assert str(MetricSignature.of(ours, nrefs(refs))).startswith(str(theirs.get_signature()))
    return stats


@needs_flores
@pytest.mark.parametrize(("key", "options"), OPTION_TABLE, ids=[f"{k}-{o}" for k, o in OPTION_TABLE])
def test_every_option_matches_sacrebleu_on_flores(flores, key, options):
    n = 40 if key == "ter" else 150
    hyps = flores["systems"]["opus-mt-ar-en"][:n]
    refs = [[r] for r in flores["refs"][:n]]
    _assert_parity(key, options, hyps, refs)


@pytest.mark.parametrize(("key", "options"), OPTION_TABLE, ids=[f"{k}-{o}" for k, o in OPTION_TABLE])
def test_every_option_matches_sacrebleu_on_synthetic_corpus(key, options):
    """The same table on a seeded FLORES-like corpus, so a clone without ../shared checks it too."""
    corpus = synthetic_corpus(40 if key == "ter" else 150)
    _assert_parity(key, options, corpus["A"], [[r] for r in corpus["refs"]])


ADVERSARIAL_HYPS = [
    "",
    "   ",
    "The cat sat on the mat.",
    "",
    "x",
    "Ünïcödé façade — naïve café ﬁ ligature",
    "مَرْحَبًا بِكُمْ فِي الْمَدِينَةِ",
    "zero\u200bwidth\u200djoiner and\u00a0nbsp",
    "🙂🙂 emoji 👍🏽 test",
    "日本語のテキストです。",
    "repeat repeat repeat repeat repeat",
    "a",
    "Tab\tseparated\ttext .",
    "e\u0301 vs é",
]
ADVERSARIAL_REFS = [
    ["Something"],
    [""],
    ["The cat sat on the mat.", "A cat was sitting on the mat."],
    [""],
    ["", "x"],
    ["Unicode facade - naive cafe fi ligature"],
    ["مرحبا بكم في المدينة"],
    ["zero width joiner and nbsp"],
    ["🙂 emoji 👍 test", "emoji test"],
    ["日本語のテキスト。"],
    ["repeat"],
    ["a", "b", "c"],
    ["Tab separated text."],
    ["é vs é"],
]


@pytest.mark.parametrize(("key", "options"), OPTION_TABLE, ids=[f"{k}-{o}" for k, o in OPTION_TABLE])
def test_every_option_matches_sacrebleu_on_adversarial_inputs(key, options):
    """Empty hypotheses, empty references, Unicode oddities, 1-3 references per segment."""
    _assert_parity(key, options, ADVERSARIAL_HYPS, ADVERSARIAL_REFS)


@pytest.mark.parametrize("key", ["bleu", "chrf", "chrf++", "ter"])
def test_all_empty_corpus_and_single_segment(key):
    _assert_parity(key, {}, ["", ""], [[""], [""]])
    _assert_parity(key, {}, ["only one"], [["only one"]])


def test_num_refs_in_signature():
    """nrefs is the test set's: the metric alone does not know it, the run fills it in."""
    bleu = get_metric("bleu")
    assert bleu.signature()["nrefs"] == "?"
    bleu.segment_stats(["a", "b"], [["a", "x"], ["b", "y"]])
    assert bleu.signature()["nrefs"] == "?"  # computing statistics has no side effect on the signature
    assert MetricSignature.of(bleu, nrefs([["a", "x"], ["b", "y"]])).as_dict()["nrefs"] == "2"
    assert MetricSignature.of(bleu, nrefs([["a"], ["b", "y"]])).as_dict()["nrefs"] == "var"


def test_workers_give_identical_statistics():
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "."]
    hyps = [" ".join(rng.choice(words, size=12)) for _ in range(2500)]
    refs = [[" ".join(rng.choice(words, size=11))] for _ in range(2500)]
    metric = get_metric("chrf")
    np.testing.assert_array_equal(
        metric.segment_stats(hyps, refs, workers=2), metric.segment_stats(hyps, refs)
    )


def test_stats_dtypes():
    hyps, refs = ["a b c"], [["a b d"]]
    assert get_metric("bleu").segment_stats(hyps, refs).dtype == np.int64
    assert get_metric("chrf").segment_stats(hyps, refs).dtype == np.int64
    assert get_metric("ter").segment_stats(hyps, refs).dtype == np.float64


def test_bad_inputs_raise_one_line_errors():
    bleu = get_metric("bleu")
    with pytest.raises(MtEvalError, match="2 hypotheses but 1 reference lists"):
        bleu.segment_stats(["a", "b"], [["a"]])
    with pytest.raises(MtEvalError, match="segment 1 has no reference"):
        bleu.segment_stats(["a"], [[]])
    with pytest.raises(MtEvalError, match="hypothesis 1 is NoneType"):
        bleu.segment_stats([None], [["a"]])  # type: ignore[list-item]
    with pytest.raises(MtEvalError, match="bad option smooth_method"):
        get_metric("bleu", smooth_method="magic")
    with pytest.raises(MtEvalError, match="unknown tokenize"):
        get_metric("bleu", tokenize="nope")


# ------------------------------------------------------------------ the sacrebleu command line
def _cli_scores(ref: Path, hyp: Path, *args: str) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "sacrebleu", str(ref), "-i", str(hyp), "-f", "json", "-w", "6", "-q", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    return data if isinstance(data, list) else [data]


@pytest.mark.parametrize(
    ("cli_args", "specs"),
    [
        (["-m", "bleu", "chrf", "ter"], [("bleu", {}), ("chrf", {}), ("ter", {})]),
        (
            ["-m", "bleu", "chrf", "-tok", "intl", "-lc", "--chrf-word-order", "2"],
            [("bleu", {"tokenize": "intl", "lowercase": True}), ("chrf", {"word_order": 2})],
        ),
    ],
)
def test_matches_sacrebleu_cli(tmp_path, cli_args, specs):
    hyps = [*ADVERSARIAL_HYPS[2:], "The dog ran on the mat.", "Nothing here ."]
    refs = [r[0] if r[0] else "fallback" for r in ADVERSARIAL_REFS[2:]] + ["The dog ran.", "Nothing here."]
    hyp_file, ref_file = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp_file.write_text("".join(f"{h}\n" for h in hyps), encoding="utf-8")
    ref_file.write_text("".join(f"{r}\n" for r in refs), encoding="utf-8")
    printed = _cli_scores(ref_file, hyp_file, *cli_args)
    assert len(printed) == len(specs)
    for (key, options), row in zip(specs, printed, strict=True):
        metric = get_metric(key, **options)
        score = metric.corpus_score(metric.segment_stats(hyps, [[r] for r in refs]))
        decimals = len(str(row["score"]).split(".")[1]) if "." in str(row["score"]) else 0
        assert abs(score - row["score"]) <= 0.5 * 10**-decimals + 1e-12
        assert str(MetricSignature.of(metric, nrefs([[r] for r in refs]))).startswith(row["signature"])
