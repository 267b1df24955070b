"""A metric's identity: the sacrebleu-style signature a score carries, one value type for every user.

``MetricSignature`` is built from a metric (:meth:`MetricSignature.of`) or from what a file recorded
(:meth:`MetricSignature.recorded`: ``results.json``, ``stats/index.json``, a baseline), formats the
compact ``key:value|...`` string (``str()``), and compares two signatures field by field with the
fields to ignore (:meth:`MetricSignature.differences`). A run, ``mt-eval merge``, the CI gate and the
run folder all go through it, so a field a metric adds shows up everywhere at once.

``nrefs`` belongs to the test set, not to the metric: a metric's own signature says ``?`` and the
run fills in the number of references per segment (``var`` when they differ) with :func:`nrefs`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mt_eval.errors import IncompatibleError

if TYPE_CHECKING:
    from mt_eval.metrics.base import Metric

NREFS = "nrefs"
UNKNOWN = "?"  # a field not known yet (before the test set, or the judge cannot be reached)
ABSENT = "<absent>"


def nrefs(references: Sequence[Sequence[str]]) -> str:
    """sacrebleu's ``nrefs`` of a test set: the references per segment, ``var`` when segments differ."""
    counts = {len(refs) for refs in references}
    if not counts:
        return UNKNOWN
    return str(counts.pop()) if len(counts) == 1 else "var"


@dataclass(frozen=True)
class MetricSignature:
    """The ordered ``field -> value`` pairs (values as text) that identify how a score was computed."""

    fields: tuple[tuple[str, str], ...]

    @classmethod
    def recorded(cls, fields: Mapping[str, Any]) -> MetricSignature:
        """A signature as a file recorded it (values turned to text, order kept)."""
        return cls(tuple((str(k), str(v)) for k, v in fields.items()))

    @classmethod
    def of(cls, metric: Metric, nrefs: str | None = None) -> MetricSignature:
        """The metric's signature; with the test set's ``nrefs`` (:func:`nrefs`) filled in."""
        signature = cls.recorded(metric.signature())
        return signature if nrefs is None else signature.with_nrefs(nrefs)

    def with_nrefs(self, value: str) -> MetricSignature:
        """``nrefs`` (where the metric has that field) set to the test set's (:func:`nrefs`)."""
        return MetricSignature(tuple((k, value if k == NREFS else v) for k, v in self.fields))

    def without(self, names: Iterable[str]) -> MetricSignature:
        drop = set(names)
        return MetricSignature(tuple((k, v) for k, v in self.fields if k not in drop))

    def as_dict(self) -> dict[str, str]:
        return dict(self.fields)

    def __str__(self) -> str:
        """The compact form shown in tables and recorded as ``signature_string``."""
        return "|".join(f"{k}:{v}" for k, v in self.fields)

    def differences(self, other: MetricSignature, ignore: Iterable[str] = (), *,
                    known_only: bool = False) -> list[tuple[str, str, str]]:
        """``(field, mine, theirs)`` for each field that differs (``<absent>`` on the side that lacks it).

        ``known_only``: only fields both sides know are compared (absent or ``?`` agrees with anything).
        """
        skip = set(ignore)
        mine, theirs = self.as_dict(), other.as_dict()
        out = []
        for name in [*mine, *(k for k in theirs if k not in mine)]:
            a, b = mine.get(name, ABSENT), theirs.get(name, ABSENT)
            if name in skip or a == b or (known_only and {a, b} & {ABSENT, UNKNOWN}):
                continue
            out.append((name, a, b))
        return out

    def check_matches(self, current: MetricSignature, key: str, *, where: str) -> None:
        """Refuse to combine scores when a field known on both sides differs (``self``: the recorded one)."""
        for name, a, b in self.differences(current, known_only=True)[:1]:
            raise IncompatibleError(f"metric {key}: signature field {name} differs ({a} in the run,"
                                    f" {b} in {where}); scores cannot be combined")
