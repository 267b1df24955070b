"""The library side of ``mt-eval run``, ``score`` and ``compare``: which systems and metrics, and turning
each system into outputs. The command line only parses options and prints; everything it decides
lives here (and scoring in :mod:`mt_eval.evaluate`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mt_eval.errors import MtEvalError, SystemFailed, SystemUnavailable
from mt_eval.settings import ALPHA, RESAMPLES, SEED

if TYPE_CHECKING:
    from mt_eval.config import RunConfig
    from mt_eval.data.testset import TestSet
    from mt_eval.reports.results import Significance
    from mt_eval.translators.base import SystemRun


@dataclass(frozen=True)
class SystemRequest:
    """One system to evaluate: its spec, an optional display name and backend options."""

    spec: str
    name: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def default_systems() -> list[str]:
    """The built-in systems of ``mt-eval run`` without systems (:data:`DEFAULT_SYSTEMS`)."""
    from mt_eval.translators.registry import DEFAULT_SYSTEMS

    return [s if isinstance(s, str) else str(getattr(s, "spec", s)) for s in DEFAULT_SYSTEMS]


def systems_to_run(specs: Sequence[str] | None, config: RunConfig) -> list[SystemRequest]:
    """Systems named on the command line win over the config's; neither: the built-in systems."""
    if specs:
        wanted = [SystemRequest(s) for s in specs]
    elif config.systems is not None:
        wanted = [SystemRequest(s.spec, s.name, dict(s.options)) for s in config.systems]
    else:
        wanted = [SystemRequest(s) for s in default_systems()]
    if not wanted:
        raise MtEvalError("no system to evaluate")
    return wanted


def file_system_name(spec: str) -> str | None:
    """``file:dir/q.en2`` is system ``q.en2``: the whole file name, so ``q.en`` and ``q.en2`` differ."""
    if not spec.startswith("file:"):
        return None
    return Path(spec[5:].split("?")[0]).name or None


def translate_system(testset: TestSet, spec: str, *, name: str | None = None,
                     options: Mapping[str, Any] | None = None, strict: bool = False,
                     allow_skip: bool = False, progress: bool = True, executor: Any = None) -> SystemRun:
    """Translate with one system; an unavailable one becomes a skipped :class:`SystemRun`.

    A system that fails while running (``SystemFailed``) raises, so ``run`` exits 2 naming it, unless
    ``allow_skip`` records it as failed; ``strict`` makes an unavailable system an error too.
    """
    from mt_eval.translators.base import SystemRun
    from mt_eval.translators.runner import translate_testset

    if name is None:
        name = file_system_name(spec)
    try:
        return translate_testset(testset, spec, options=dict(options or {}) or None, name=name,
                                 progress=progress, executor=executor)
    except SystemFailed as exc:
        if not allow_skip:
            raise
        return SystemRun(name=name or spec, spec=spec, outputs=[], signature={}, status="failed",
                         reason=f"failed while running: {exc}")
    except SystemUnavailable as exc:
        if strict:
            raise
        return SystemRun(name=name or spec, spec=spec, outputs=[], signature={}, status="skipped",
                         reason=str(exc))


def usable_default_metrics(metrics: Sequence[str]) -> tuple[list[str], list[str]]:
    """Default metrics whose optional package is installed, and a note for each one left out.

    Only *default* metrics are dropped this way; a metric the user asked for fails with its install hint.
    """
    from mt_eval.metrics.registry import available_metrics, install_hint

    available = available_metrics()
    usable = [m for m in metrics if available.get(m, True)]
    notes = [f"metric {m} left out: its package is not installed (pip install {install_hint(m)})"
             for m in metrics if m not in usable]
    return usable, notes


def split_named(value: str) -> tuple[str | None, Path]:
    """``NAME=PATH`` or ``PATH`` (a path that exists as given wins over the ``=`` reading)."""
    if "=" in value and not Path(value).exists():
        name, _, path = value.partition("=")
        if name and "/" not in name:
            return name, Path(path)
    return None, Path(value)


def hypothesis_system(testset: TestSet, value: str) -> SystemRun:
    """``score --hyp NAME=PATH`` (or ``PATH``, named after the file's stem): the outputs, read by the
    ``file:`` translator, so a scored file and ``run -s file:PATH`` have the same content-hash identity."""
    from mt_eval.translators.precomputed import FileOptions, FileTranslator
    from mt_eval.translators.runner import translate_testset

    name, path = split_named(value)
    translator = FileTranslator(str(path), FileOptions.model_validate({}), source_lang=testset.source_lang,
                                target_lang=testset.target_lang)
    translator.where = str(path)  # messages name the file as the user gave it
    return translate_testset(testset, f"file:{path}", name=name or path.stem or path.name, cache=False,
                             progress=False, translator=translator)


@dataclass(frozen=True)
class ComparisonSettings:
    """Resamples, seed and α of a re-comparison: as asked, else as the run recorded, else the defaults."""

    n_resamples: int
    seed: int | None
    alpha: float


def comparison_settings(previous: Significance | None, *, resamples: int | None = None,
                        seed: int | None = None) -> ComparisonSettings:
    return ComparisonSettings(
        n_resamples=resamples or (previous.n_resamples if previous else RESAMPLES),
        seed=seed if seed is not None else (previous.seed if previous else SEED),
        alpha=previous.alpha if previous else ALPHA)


def check_distinct_systems(specs: Sequence[str]) -> None:
    """Each system gets one hypothesis file (``slug(spec).txt``): a spec given twice, or two specs
    with the same file name, is an error before any work."""
    from mt_eval.reports.layout import slug

    seen: dict[str, str] = {}
    for spec in specs:
        if slug(spec) in seen:
            raise MtEvalError(f"translate: system {spec!r} given twice (or shares a file name with "
                              f"{seen[slug(spec)]!r})")
        seen[slug(spec)] = spec


def options_per_system(specs: Sequence[str], options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``--opt key=value`` goes to every system whose backend has ``key``; a key no system has is an
    error (a typo must not be ignored)."""
    from mt_eval.translators.registry import load_backend, parse_spec

    fields = {spec: set(load_backend(parse_spec(spec).backend).Options.model_fields) for spec in specs}
    for key in options:
        if not any(key in known for known in fields.values()):
            raise MtEvalError(f"--opt {key}: no selected system has this option")
    return {spec: {k: v for k, v in options.items() if k in known} for spec, known in fields.items()}
