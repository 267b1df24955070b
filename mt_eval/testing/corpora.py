"""Small corpora for tests and benchmarks.

* :func:`synthetic_corpus`: a seeded, FLORES-like synthetic English corpus — references plus three systems
  of decreasing quality — so that a plain clone (without ``../shared``) still checks mt-eval against
  sacrebleu on realistic-length segments: punctuation, numbers, casing, quotes, non-ASCII names, and
  systems that drop, replace, reorder and re-case words at different rates;
* :func:`tiny_pairs`: the template sentence pairs the tiny MarianMT (:mod:`mt_eval.testing.marian`) learns.
"""

from __future__ import annotations

import numpy as np

# the synthetic corpus
_VOCABULARY = ("the a of to and in is was for on that with as by at from it be this which are an has have "
         "government people year city river report said new first two three would more their about "
         "after also its over into than other some could many been most only time world state "
         "country president minister water energy health school market company research study "
         "university science climate island border police court election vote team season game "
         "village bridge museum")
WORDS = tuple(_VOCABULARY.split())
NAMES = ("Cairo", "Beirut", "Zürich", "São Paulo", "Kraków", "Müller", "Ahmed", "O'Neill", "Nuñez")
PUNCT = (",", ";", ":", "—", "(", ")", "\"", "'s", "%")


def _sentence(rng: np.random.Generator) -> list[str]:
    n = int(rng.integers(8, 32))
    out: list[str] = []
    for i in range(n):
        r = rng.random()
        if r < 0.06:
            out.append(str(NAMES[int(rng.integers(len(NAMES)))]))
        elif r < 0.10:
            number = int(rng.integers(1, 3000))
            out.append(f"{number:,}" if rng.random() < 0.5 else f"{rng.random() * 100:.1f}")
        elif r < 0.16 and i:
            out.append(str(PUNCT[int(rng.integers(len(PUNCT)))]))
        else:
            out.append(str(WORDS[int(rng.integers(len(WORDS)))]))
    out[0] = out[0].capitalize()
    return out


def _system(rng: np.random.Generator, ref: list[str], noise: float) -> str:
    words = list(ref)
    out = []
    for w in words:
        r = rng.random()
        if r < noise * 0.3:
            continue  # dropped
        if r < noise * 0.8:
            out.append(str(WORDS[int(rng.integers(len(WORDS)))]))  # replaced
        elif r < noise * 0.9:
            out.append(w.upper() if rng.random() < 0.5 else w.lower())  # re-cased
        else:
            out.append(w)
    if len(out) > 3 and rng.random() < noise:
        i = int(rng.integers(len(out) - 1))
        out[i], out[i + 1] = out[i + 1], out[i]
    return " ".join(out) + ("." if rng.random() < 0.9 else "")


def synthetic_corpus(n: int = 250, seed: int = 20240601) -> dict[str, list[str]]:
    """``{"refs": [...], "A": [...], "B": [...], "C": [...]}``: systems of noise 0.45, 0.35, 0.25."""
    rng = np.random.default_rng(seed)
    refs_tokens = [_sentence(rng) for _ in range(n)]
    corpus = {"refs": [" ".join(t) + "." for t in refs_tokens]}
    for name, noise in (("A", 0.45), ("B", 0.35), ("C", 0.25)):
        corpus[name] = [_system(rng, t, noise) for t in refs_tokens]
    return corpus


_SUBJECTS = [("الولد", "the boy"), ("البنت", "the girl"), ("الرجل", "the man"), ("المعلم", "the teacher"),
             ("الطبيب", "the doctor"), ("الوزير", "the minister")]
_VERBS = [("يقرأ", "reads"), ("يكتب", "writes"), ("يرى", "sees"), ("يحب", "loves"), ("يشتري", "buys")]
_OBJECTS = [("الكتاب", "the book"), ("الرسالة", "the letter"), ("البيت", "the house"),
            ("السيارة", "the car"), ("الخبز", "the bread"), ("القلم", "the pen"),
            ("الصحيفة", "the newspaper")]
_TIMES = [("", ""), (" اليوم", " today"), (" غدا", " tomorrow")]


def tiny_pairs() -> list[tuple[str, str]]:
    """A few hundred template sentence pairs: a mapping small enough to learn in seconds."""
    pairs = []
    for s_ar, s_en in _SUBJECTS:
        for v_ar, v_en in _VERBS:
            for o_ar, o_en in _OBJECTS:
                for t_ar, t_en in _TIMES:
                    english = f"{s_en.capitalize()} {v_en} {o_en}{t_en}."
                    pairs.append((f"{s_ar} {v_ar} {o_ar}{t_ar}.", english))
    return pairs
