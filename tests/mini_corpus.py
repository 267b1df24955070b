"""A six-segment Arabic→English corpus and an in-process CLI runner shared by run/score/report tests."""

from __future__ import annotations

import pytest

from mt_eval.cli import main

SOURCES = ["ذهب الولد إلى المدرسة صباحا.", "القطة تنام على الحصيرة.", "الطقس جميل اليوم في المدينة.",
           "قرأت كتابا عن التاريخ.", "نحن نحب السفر.", "افتح النافذة من فضلك."]
REFS = ["The boy went to school in the morning.", "The cat sleeps on the mat.",
        "The weather is nice today in the city.", "I read a book about history.", "We love travelling.",
        "Please open the window."]
GOOD = ["The boy went to school in the morning.", "The cat is sleeping on the mat.",
        "Weather is beautiful today in the city.", "I read a history book.", "We love to travel.",
        "Open the window please."]


def run_cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run ``mt-eval`` in this process; returns (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
