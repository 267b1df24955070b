"""Small corpora for the tests.

* ``SOURCES``/``REFS``/``GOOD``: six Arabic→English segments and a good system's outputs (run, score and
  report tests);
* :func:`make_testset`: a synthetic Arabic test set for the translator, cache and Ray tests.
"""

from __future__ import annotations

from mt_eval.data.testset import TestSet

SOURCES = ["ذهب الولد إلى المدرسة صباحا.", "القطة تنام على الحصيرة.", "الطقس جميل اليوم في المدينة.",
           "قرأت كتابا عن التاريخ.", "نحن نحب السفر.", "افتح النافذة من فضلك."]
REFS = ["The boy went to school in the morning.", "The cat sleeps on the mat.",
        "The weather is nice today in the city.", "I read a book about history.", "We love travelling.",
        "Please open the window."]
GOOD = ["The boy went to school in the morning.", "The cat is sleeping on the mat.",
        "Weather is beautiful today in the city.", "I read a history book.", "We love to travel.",
        "Open the window please."]


def make_testset(n: int = 20, *, repeat: bool = False) -> TestSet:
    """``n`` Arabic sources of growing length (``repeat``: the last one repeats the first)."""
    sources = [f"جملة رقم {i} " + "كلمة " * (i % 7) for i in range(n)]
    if repeat:
        sources[-1] = sources[0]
    return TestSet.from_pairs([(s, [f"sentence {i}"]) for i, s in enumerate(sources)],
                              source_lang="ar", target_lang="en", name="synthetic")
