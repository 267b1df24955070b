"""The template corpus the tiny MarianMT is trained on (a plain module, importable from any test)."""

from __future__ import annotations

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
