"""What a run no longer imports at start-up, and that nothing is lost by it (each in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mt_eval.metrics import fast_ter


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.mark.skipif(not fast_ter.available(), reason="numba is not importable here")
def test_numba_starts_without_scipy_linalg_and_keeps_its_blas_flag():
    out = _run(
        "import sys\n"
        "from mt_eval.metrics import fast_ter\n"
        "print(fast_ter.edit_counts([(['a', 'b', 'c'], ['b', 'c', 'a'])]).tolist())\n"
        "import numba.np.arraymath as arraymath\n"
        "print('scipy.linalg' in sys.modules, 'scipy.linalg.cython_blas' in sys.modules,"
        " arraymath._HAVE_BLAS)\n"
        "import numba, numpy as np\n"
        "print(numba.njit(lambda x: np.dot(x, x))(np.ones(3)))\n")  # numba's BLAS still works, scipy then
    assert out.splitlines() == ["[1]", "False False True", "3.0"]


def test_language_identification_does_not_import_the_downloader():
    out = _run(
        "import sys\n"
        "from mt_eval.data import langid\n"
        "print(langid.is_language_many(['This sentence is written in plain English words.',"
        " 'Dieser Satz ist ganz und gar auf Deutsch geschrieben.'], 'en'))\n"
        "print(langid._fasttext_detect() is not None, 'robust_downloader' in sys.modules,"
        " 'requests' in sys.modules)\n"
        "import robust_downloader\n"
        "print(robust_downloader.download.__module__)\n")
    assert out.splitlines() == ["[True, False]", "True False False", "robust_downloader.downloader"]
