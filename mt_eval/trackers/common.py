"""What a tracker run holds, how keys are made acceptable to each tracker, and the failure policy.

One tracker run per mt-eval run, built from the run folder alone (``results.json``, ``tables/``,
``report.html``, ``gate/``), so logging never changes what the run wrote:

- **params**: the test set (name, content hash, languages, segments), each system's spec and signature
  string, each metric's signature string, the run's settings, mt-eval's version;
- **metrics**: ``<metric>/<system>/score``, ``…/ci_low``, ``…/ci_high`` for every system × metric, and
  ``<metric>/<A> vs <B>/delta`` (B − A), ``…/p`` and ``…/p_adjusted`` (Holm) for every compared pair
  (A is the baseline side of the test);
- **tags**: the run and test-set names, the git commit (``results.json``'s ``git``) when the run was
  made inside a git repository, the gate's verdict when the command gated the run;
- **artifacts**: ``results.json``, the files of ``tables/``, ``report.html`` and, when gated, ``gate/``.

Keys are tuples of parts (a metric key such as ``chrf++``, a system name) joined by ``/`` after each part
is made acceptable to the tracker (:func:`tracker_key`; the mapping is in the README).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Key = tuple[str, ...]

#: MLflow: letters, digits, ``_ - . : /`` and space; at most 250 characters (mlflow.utils.validation)
MLFLOW_MAX_KEY = 250
_MLFLOW_BAD = re.compile(r"[^A-Za-z0-9_\-. :]")
#: W&B: /^[_a-zA-Z][_a-zA-Z0-9]*$/ per part (GraphQL names: sortable and filterable in its UI)
_WANDB_BAD = re.compile(r"[^A-Za-z0-9_]")
_HASH_CHARS = 6


def _part(text: str, tracker: str) -> str:
    text = text.replace("+", "p")  # chrf++ -> chrfpp (the spelling chrF++ papers use in file names)
    if tracker == "wandb":
        text = _WANDB_BAD.sub("_", text)
        return "_" + text if not text or text[0].isdigit() else text
    text = _MLFLOW_BAD.sub("_", text)
    return "_" if text.strip() in ("", ".", "..") else text


def _digest(raw: Key) -> str:
    return hashlib.sha1("\x1f".join(raw).encode("utf-8")).hexdigest()[:_HASH_CHARS]


def tracker_key(raw: Key, tracker: str) -> str:
    """``("chrf++", "gemma", "score")`` → ``chrfpp/gemma/score``: each part made acceptable to ``tracker``
    (``mlflow`` or ``wandb``), joined by ``/``. A key MLflow would find too long is cut and ends with a
    hash of the whole raw key."""
    key = "/".join(_part(part, tracker) for part in raw)
    if tracker == "mlflow" and len(key) > MLFLOW_MAX_KEY:
        key = key[:MLFLOW_MAX_KEY - _HASH_CHARS - 1] + "_" + _digest(raw)
    return key


def tracker_keys(raws: Iterable[Key], tracker: str) -> dict[Key, str]:
    """:func:`tracker_key` of each raw key, made unique: raw keys that map to one key (``a-b`` and ``a_b``
    for W&B; W&B compares keys case-insensitively) each get ``_`` and a hash of the raw key appended."""
    out = {raw: tracker_key(raw, tracker) for raw in raws}
    seen: dict[str, int] = {}
    for key in out.values():
        folded = key.lower() if tracker == "wandb" else key
        seen[folded] = seen.get(folded, 0) + 1
    for raw, key in out.items():
        if seen[key.lower() if tracker == "wandb" else key] > 1:
            stem = key[:MLFLOW_MAX_KEY - _HASH_CHARS - 1] if tracker == "mlflow" else key
            out[raw] = stem + "_" + _digest(raw)
    return out


@dataclass
class TrackerRun:
    """Everything one tracker run holds (raw keys; each tracker sanitises them)."""

    name: str
    params: dict[Key, str] = field(default_factory=dict)
    metrics: dict[Key, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[tuple[Path, str]] = field(default_factory=list)  # (file, folder in the run; "" = top)

    def config_tree(self) -> dict[str, Any]:
        """The params as nested dicts (W&B's run config): ``{"testset": {"name": ...}, ...}``."""
        tree: dict[str, Any] = {}
        for key, value in self.params.items():
            node = tree
            for part in key[:-1]:
                node = node.setdefault(part, {})
            node[key[-1]] = value
        return tree


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def build_run(folder: str | Path, gate: str | None = None) -> TrackerRun:
    """The tracker run of a run folder (read, never written). ``gate``: the verdict of this command's
    gate (``pass``, ``regression``, ``cannot-compare``), set as a tag; ``None``: no gate ran."""
    from mt_eval import __version__
    from mt_eval.reports.layout import RunLayout
    from mt_eval.reports.run_folder import RunFolder

    results = RunFolder.open(folder).results()
    layout = RunLayout.of(Path(folder))
    run = TrackerRun(name=results.run_name)
    ts = results.testset
    for name in ("name", "hash", "source_lang", "target_lang", "num_segments"):
        run.params["testset", name] = str(getattr(ts, name))
    for system, info in results.systems.items():
        run.params["system", system, "spec"] = info.spec
        run.params["system", system, "signature"] = _text(info.signature)
    for key, metric in results.metrics.items():
        run.params["metric", key, "signature"] = metric.signature_string
    run.params.update({("settings", name): _text(value) for name, value in _settings(results).items()})
    run.params["mt_eval", "version"] = __version__
    run.params["run", "created"] = results.created
    run.metrics = dict(_metrics(results))
    run.tags = {"mt_eval.run": results.run_name, "mt_eval.testset": ts.name or ts.hash[:12],
                "mt_eval.testset_hash": ts.hash}
    if results.git.get("commit"):
        run.tags["git.commit"] = str(results.git["commit"])
        if "dirty" in results.git:
            run.tags["git.dirty"] = str(bool(results.git["dirty"])).lower()
    if gate is not None:
        run.tags["mt_eval.gate"] = gate
    run.artifacts = [(layout.results_json, ""), (layout.report_html, "")]
    for sub in (layout.root / "tables", layout.root / "gate" if gate is not None else None):
        if sub is not None and sub.is_dir():
            run.artifacts += [(p, sub.name) for p in sorted(sub.iterdir()) if p.is_file()]
    run.artifacts = [(p, where) for p, where in run.artifacts if p.is_file()]
    return run


def _settings(results: Any) -> dict[str, Any]:
    """How the run was scored: the bootstrap and paired-test settings it recorded, then the config's
    :class:`~mt_eval.settings.EvalSettings` fields (``mt-eval score`` records fewer of those)."""
    from mt_eval.settings import EvalSettings

    out: dict[str, Any] = {}
    if results.bootstrap is not None:
        out.update(resamples=results.bootstrap.n_resamples, confidence=results.bootstrap.confidence,
                   seed=results.bootstrap.seed)
    sig = results.significance
    if sig is not None:
        out.update(baseline=sig.baseline, paired_test=sig.method, paired_resamples=sig.n_resamples,
                   alpha=sig.alpha, correction=sig.correction)
    out.update({name: results.config[name] for name in EvalSettings.model_fields if name in results.config})
    return out


def _metrics(results: Any) -> Iterator[tuple[Key, float]]:
    for system, scores in results.scores.items():
        for key, entry in scores.items():
            for name in ("score", "ci_low", "ci_high"):
                value = getattr(entry, name)
                if value is not None and math.isfinite(value):
                    yield (key, system, name), float(value)
    sig = results.significance
    if sig is None:
        return
    tests = [(sig.baseline, system, key, entry) for system, by_key in sig.results.items()
             for key, entry in by_key.items() if sig.baseline is not None]
    tests += [(a, b, key, entry) for a, by_b in sig.pairs.items() for b, by_key in by_b.items()
              for key, entry in by_key.items()]
    for a, b, key, entry in tests:
        pair = f"{a} vs {b}"
        for name, value in (("delta", entry.delta), ("p", entry.p_value), ("p_adjusted", entry.p_adjusted)):
            if value is not None and math.isfinite(value):
                yield (key, pair, name), float(value)


# ------------------------------------------------------------------------------- failure policy
class TrackerError(Exception):
    """A tracker could not log the run (the run folder is untouched); its message is one line."""


@dataclass(frozen=True)
class Logged:
    """The outcome of logging to one tracker: ``ok`` with where the run went, or the reason it failed."""

    spec: str
    ok: bool
    message: str


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``TypeName: first line of the message`` (a tracker's exception may span a page)."""
    text = " ".join(str(exc).split()) or "no message"
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return text if isinstance(exc, TrackerError) else f"{type(exc).__name__}: {text}"


@contextmanager
def quiet_loggers(names: Iterable[str]) -> Iterator[None]:
    """Silence a tracker's own logging (MLflow's retries, urllib3's warnings) while it works: a failure
    is reported as one line by the caller, not as a page of retries."""
    loggers = [logging.getLogger(name) for name in names]
    before = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, state in zip(loggers, before, strict=True):
            lg.disabled = state


@contextmanager
def environ(updates: Mapping[str, str]) -> Iterator[None]:
    """Environment variables set for the duration of a tracker call, restored afterwards."""
    import os

    before = {name: os.environ.get(name) for name in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
