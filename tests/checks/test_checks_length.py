"""The length rule of the output checks: marks ignored, band relative to the test set, unfinished endings."""

from __future__ import annotations

import random
import unicodedata

import pytest

from mt_eval import checks
from mt_eval.checks import (
    FLAGS,
    CheckConfig,
    LengthCalibration,
    calibrate,
    check_outputs,
    check_segment,
    ending,
    make_config,
    text_lengths,
    without_marks,
)
from mt_eval.data.build import default_testset
from mt_eval.errors import MtEvalError

FATHA, SHADDA, TATWEEL, ZWJ = "\u064e", "\u0651", "\u0640", "\u200d"
LENGTH_ONLY = {"enabled": ("length_ratio",)}


def vocalise(text: str) -> str:
    """Every Arabic letter followed by shadda + fatha: a text three times as long in code points."""
    return "".join(c + SHADDA + FATHA if unicodedata.name(c, "").startswith("ARABIC LETTER") else c
                   for c in text)


def test_length_ignores_diacritics_tatweel_and_format_characters() -> None:
    texts = ["كتب الولد", "كَتَبَ الوَلَدُ", "كـــتـب الـولـد", f"ك{ZWJ}تب ال{ZWJ}ولد", vocalise("كتب الولد"),
             "  كتب \t الولد  ", "كتب الولد ۚ"]  # ۚ: a Quranic pause mark alone between spaces is no word
    chars, words = text_lengths(texts)
    assert chars.tolist() == [8.0] * len(texts)
    assert words.tolist() == [2.0] * len(texts)
    raw_chars, raw_words = text_lengths(texts, ignore_marks=False)
    assert raw_chars.tolist()[:3] == [8, 14, 14] and raw_words.tolist()[-1] == 3
    assert without_marks(texts[:5]) == ["كتب الولد"] * 3 + [texts[3].replace(ZWJ, ""), "كتب الولد"]


@pytest.mark.parametrize("block", [10_000, 7])  # 7: the texts measured in blocks, as a long test set is
def test_lengths_equal_a_per_text_count(monkeypatch, block: int) -> None:
    monkeypatch.setattr(checks, "_BLOCK", block)
    rng = random.Random(4)
    alphabet = [*"ab Z.,-", "ك", "ت", FATHA, SHADDA, TATWEEL, ZWJ, "\u200c", " ", "\t", "۩", "ۚ", "7", "٣"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(500)]

    def counted(c: str) -> bool:
        return not c.isspace() and unicodedata.category(c) not in ("Mn", "Cf") and c != TATWEEL

    chars, words = text_lengths(texts)
    assert chars.tolist() == [sum(map(counted, t)) for t in texts]
    assert words.tolist() == [sum(any(counted(c) and c.isalnum() for c in w) for w in t.split())
                              for t in texts]
    raw_chars, raw_words = text_lengths(texts, ignore_marks=False)
    assert raw_chars.tolist() == [len("".join(t.split())) for t in texts]
    assert raw_words.tolist() == [len(t.split()) for t in texts]


def test_a_vocalised_human_translation_is_not_flagged_as_too_long() -> None:
    """English→Arabic on the seed article: the Arabic, fully vocalised, is a correct output."""
    testset = default_testset()
    sources = [r[0] for r in testset.references]
    bare = list(testset.sources)
    vocalised = [vocalise(t) for t in bare]
    refs = [[t] for t in vocalised]
    for outputs in (bare, vocalised, [t.replace("ال", f"ا{TATWEEL}{TATWEEL}ل") for t in bare]):
        assert check_outputs(sources, outputs, target_lang="ar", references=refs).flags == [[]] * len(bare)
    # with a band to 2.0, counting every code point flags them all (what issue 17 reported); not now
    tight = {"enabled": ["length_ratio"], "max_length_ratio": 2.0}
    old_rule = {**tight, "length_unit": "chars", "ignore_marks": False, "length_scale": "none"}
    assert check_outputs(sources, vocalised, target_lang="ar", references=refs,
                         config=old_rule).counts == {"length_ratio": len(bare)}
    assert check_outputs(sources, vocalised, target_lang="ar", references=refs,
                         config=tight).counts == {"length_ratio": 0}


def test_band_is_relative_to_the_test_sets_median_ratio() -> None:
    sources = [f"source sentence number {i} is here" for i in range(20)]
    refs = [[s + " " + s] for s in sources]  # the references are twice as long as their sources
    cal = calibrate(sources, refs)
    assert cal.scale == pytest.approx(2.0, rel=0.01)
    as_long = check_outputs(sources, [r[0] for r in refs], target_lang="", references=refs,
                            config=LENGTH_ONLY)
    assert as_long.counts == {"length_ratio": 0}
    as_source = check_outputs(sources, sources, target_lang="", references=refs, config=LENGTH_ONLY)
    assert as_source.counts == {"length_ratio": 20}  # half of what this test set says is normal: 0.5 < 0.6
    assert check_outputs(sources, sources, target_lang="", references=refs,
                         config={**LENGTH_ONLY, "min_length_ratio": 0.4}).counts == {"length_ratio": 0}
    # no references: the band is absolute, as before
    assert check_outputs(sources, sources, target_lang="", config=LENGTH_ONLY).counts == {"length_ratio": 0}
    assert calibrate(sources, None) == LengthCalibration()
    assert calibrate(sources, refs, {"length_scale": "none"}).scale == 1.0


def test_unfinished_output_needs_a_higher_ratio() -> None:
    sources = [f"the source sentence number {i} has these eight words." for i in range(12)]
    refs = [[f"the reference sentence number {i} has these eight words."] for i in range(12)]
    cal = calibrate(sources, refs)
    assert cal.endings == {"term": {"term": 1.0}}
    cut = "the reference sentence number 0 has"  # 0.67 of normal (in the band), ends mid-sentence
    stopped = cut + "."
    flags = check_outputs(sources[:2], [cut, stopped], target_lang="", references=refs[:2],
                          config=LENGTH_ONLY, calibration=cal).flags
    assert flags == [["length_ratio"], []]
    assert check_segment(sources[0], cut, target_lang="", config=CheckConfig(**LENGTH_ONLY),
                         calibration=cal) == ["length_ratio"]
    no_calibration = check_segment(sources[0], cut, target_lang="", config=CheckConfig(**LENGTH_ONLY))
    assert no_calibration == []
    # too little support (fewer than 10 segments end like this source): no rule
    assert calibrate(sources[:9], refs[:9]).endings == {}
    off = {**LENGTH_ONLY, "unfinished_min_length_ratio": 0.0}
    assert check_outputs(sources, [cut] * 12, target_lang="", references=refs, config=off).counts == {
        "length_ratio": 0}


def test_endings() -> None:
    assert [ending(t) for t in ["Done.", "He said “yes.”  ", "a list,", "قال، ", "open word", "٣",
                                "sign ۩", "", "(bracketed)", "سؤال؟"]] == [
        "term", "term", "pause", "pause", "open", "open", "other", "none", "open", "term"]


def test_one_segment_equals_the_vectorised_checks() -> None:
    testset = default_testset()
    sources, refs = list(testset.sources), [list(r) for r in testset.references]
    rng = random.Random(2)
    outputs = [rng.choice([r[0], r[0][: len(r[0]) // 2], "", s, r[0] + " 1999", (r[0] + " ") * 3])
               for s, r in zip(sources, refs, strict=True)] * 3
    sources, refs = sources * 3, refs * 3
    result = check_outputs(sources, outputs, target_lang="en", references=refs)
    assert result.flagged > 0
    for i, out in enumerate(outputs):
        assert check_segment(sources[i], out, target_lang="en", references=refs[i],
                             calibration=result.calibration) == result.flags[i]


def test_old_recorded_configs_still_read() -> None:
    # the check settings results.json recorded before issue 17 (the committed default run of that time)
    old = {"enabled": ["empty", "copy_of_source", "wrong_language", "length_ratio", "repetition"],
           "length_unit": "chars", "length_against": "source", "min_length_ratio": 0.5,
           "max_length_ratio": 2.5, "min_length": 10, "repeat_max_n": 8, "repeat_min_count": 3,
           "repeat_unigram_min_count": 4, "language_min_share": 0.5}
    cfg = make_config(old)
    assert "number_mismatch" not in cfg.enabled  # a config that lists its checks keeps them
    assert make_config({}).enabled == FLAGS


def test_a_run_learns_the_length_calibration_once_for_all_its_systems(monkeypatch) -> None:
    """Calibration reads every source and reference (seconds at 100k segments): once per test set and
    check settings, not once per system; the flags are those of a per-system calibration."""
    import mt_eval.checks as checks
    from mt_eval import evaluate as core
    from mt_eval.data.testset import TestSet

    pairs = [(f"جملة رقم {i} في النص الطويل هنا", [f"Sentence number {i} in the long text here."])
             for i in range(40)]
    testset = TestSet.from_pairs(pairs, source_lang="ar", target_lang="en", name="calibrate-once")
    outputs = {"a": [r[0] for _, r in pairs], "b": [r[0][: len(r[0]) // 2] for _, r in pairs]}
    expected = {k: checks.check_outputs(testset.sources, v, target_lang="en",
                                        references=testset.references).flags for k, v in outputs.items()}
    calls = []
    real = checks.calibrate
    monkeypatch.setattr(checks, "calibrate", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(core, "_CALIBRATIONS", {})
    got = {k: core.run_checks(testset, v)[0] for k, v in outputs.items()}
    assert len(calls) == 1
    assert got == {k: [list(f) for f in v] for k, v in expected.items()}
    assert any("length_ratio" in f for f in got["b"])  # the half-cut outputs are flagged


def _spread_testset(n: int = 600, seed: int = 5) -> tuple[list[str], list[list[str]]]:
    """Sources of 2–100 words; references as long times exp(N(0, 0.005 + 2 / L)), L the source characters
    (wide for short segments, narrow for long ones, as in a real test set)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sources, refs = [], []
    for i in range(n):
        words = int(rng.integers(2, 101))
        source = " ".join(f"w{(i + k) % 97:02d}x" for k in range(words))
        chars = len(source.replace(" ", ""))
        ratio = float(np.exp(rng.normal(0.0, np.sqrt(0.005 + 2.0 / chars))))
        refs.append([" ".join(["abcd"] * max(1, round(ratio * chars / 4)))])
        sources.append(source)
    return sources, refs


def test_fit_spread_recovers_a_variance_that_falls_with_length() -> None:
    import numpy as np

    from mt_eval.checks import fit_spread

    rng = np.random.default_rng(1)
    units = rng.integers(10, 400, size=5000).astype(float)
    a, b = fit_spread(rng.normal(0.0, np.sqrt(0.01 + 1.5 / units)), units)
    assert a == pytest.approx(0.01, abs=0.004) and b == pytest.approx(1.5, rel=0.15)
    a, b = fit_spread(np.zeros(500), units[:500])  # every reference with one ratio: no spread at all
    assert (a, b) == (0.0, 0.0)


def test_spread_band_is_strict_for_long_segments_and_lenient_for_short_ones() -> None:
    sources, refs = _spread_testset()
    chars = {**LENGTH_ONLY, "length_unit": "chars"}
    cal = calibrate(sources, refs, chars)
    assert cal.spread is not None and cal.spread[0] > 0 and cal.spread[1] > 0
    size = [len(s.replace(" ", "")) for s in sources]
    long_i = max(range(len(sources)), key=size.__getitem__)
    short_i = min((i for i in range(len(sources)) if size[i] >= 20), key=size.__getitem__)

    def output(i: int, ratio: float) -> str:
        return "a" * round(size[i] * cal.scale * ratio)

    idx = [long_i, short_i, long_i]
    outs = [output(long_i, 0.66), output(short_i, 0.55), output(long_i, 0.9)]

    def flags(config: dict, calibration: LengthCalibration) -> list[list[str]]:
        return check_outputs([sources[i] for i in idx], outs, target_lang="",
                             references=[refs[i] for i in idx], config=config, calibration=calibration).flags

    # two thirds of a long segment is out of its band; 0.55 of a short one is within its wider band
    assert flags(chars, cal) == [["length_ratio"], [], []]
    fixed = {**chars, "length_band": "fixed"}
    assert calibrate(sources, refs, fixed).spread is None
    assert flags(fixed, calibrate(sources, refs, fixed)) == [[], ["length_ratio"], []]
    assert cal.to_dict()["spread"] == list(cal.spread)


def test_spread_needs_enough_segments_and_never_asks_more_than_its_cap() -> None:
    sources, refs = _spread_testset(n=299)
    assert calibrate(sources, refs).spread is None  # too few judged segments: the fixed band
    assert calibrate(*_spread_testset(), {"length_scale": "none"}).spread is None
    # every reference exactly twice its source: no spread, the bound is the cap (0.7), not 1
    sources = [f"source sentence number {i} " + "word " * (i % 30) for i in range(400)]
    refs = [[s + " " + s] for s in sources]
    cal = calibrate(sources, refs)
    assert cal.spread == (0.0, 0.0)
    ref = refs[-1][0].split()
    outs = [" ".join(ref[: round(len(ref) * r)]) for r in (0.8, 0.65)]
    assert check_outputs([sources[-1]] * 2, outs, target_lang="", references=[refs[-1]] * 2,
                         config=LENGTH_ONLY, calibration=cal).flags == [[], ["length_ratio"]]
    fixed = {**LENGTH_ONLY, "length_band": "fixed"}  # 0.65 is within the fixed band (0.6)
    assert check_outputs([sources[-1]] * 2, outs, target_lang="", references=[refs[-1]] * 2,
                         config=fixed).flags == [[], []]
    with pytest.raises(MtEvalError, match="spread"):
        make_config({"spread_sigmas": 0})
