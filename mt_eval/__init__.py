"""mt-eval: a machine-translation evaluation harness.

Importing the package is cheap: it never imports torch, transformers, ctranslate2 or llama_cpp.
Heavy backends are loaded lazily by name through :mod:`mt_eval.translators.registry`.
"""

from mt_eval.data.testset import Segment, TestSet
from mt_eval.errors import MtEvalError

__version__ = "0.1.0"

__all__ = ["MtEvalError", "Segment", "TestSet", "__version__"]
