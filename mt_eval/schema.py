"""Versioned JSON documents (``results.json``, baseline files): version check and validation.

A reader accepts its own and older schema versions and refuses newer ones with a hint to upgrade;
every problem becomes one :class:`~mt_eval.errors.MtEvalError` line naming the file and the field.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mt_eval.errors import MtEvalError, first_validation_problem

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_versioned(model: type[ModelT], obj: Any, *, where: str, what: str, current_version: int) -> ModelT:
    """Validate a decoded JSON document of kind ``what`` against ``model``."""
    if not isinstance(obj, dict):
        raise MtEvalError(f"{where}: malformed {what} (not a JSON object)")
    version = obj.get("schema_version")
    if not isinstance(version, int):
        raise MtEvalError(f"{where}: malformed {what} (missing or invalid schema_version)")
    if version > current_version:
        raise MtEvalError(f"{where}: {what} schema_version {version} is newer than this mt-eval reads"
                          f" ({current_version}); upgrade mt-eval")
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        loc, msg = first_validation_problem(exc)
        raise MtEvalError(f"{where}: malformed {what}: field {loc}: {msg}"
                          f" ({exc.error_count()} problem(s))") from None
