"""Loading a plugin's lazy ``"module:Class"`` target: one rule for backends and metrics.

A module that is missing raises what the caller asks for (backends: ``SystemUnavailable``, so a
run skips the system; metrics: an install hint); a module that fails in any other way while
importing (a broken plugin) is a one-line error naming it, never an internal error.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from mt_eval.errors import MtEvalError


def load_target(target: str, what: str, type_: type, missing: Callable[[ImportError], Exception]) -> type:
    """The class named by ``target`` (``"module:Class"``), checked to subclass ``type_``."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise missing(exc) from None
    except Exception as exc:  # a broken plugin module: name it, never an internal error
        raise MtEvalError(f"{what}: importing {module_name} failed ({type(exc).__name__}: {exc})") from None
    cls = getattr(module, attr, None) if attr else None
    if not (isinstance(cls, type) and issubclass(cls, type_)):
        raise MtEvalError(f"{what}: {target!r} is not a {type_.__name__} class")
    return cls
