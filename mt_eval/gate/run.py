"""The CI gate as one call: :func:`run_gate` (Python API and ``mt-eval gate``) and :func:`gate_after_run`.

Whatever happens — a missing or malformed file, another test set, a damaged statistics file, even
a bug — the outcome is a :class:`~mt_eval.gate.verdict.Verdict` whose exit code is 0 (pass),
1 (regression) or 2 (cannot compare); an error is never reported as a regression, and the verdict
files say why a job stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mt_eval.errors import MtEvalError
from mt_eval.fsio import check_output_file, read_input_text
from mt_eval.gate.policy import GateOptions
from mt_eval.gate.verdict import Verdict

log = logging.getLogger(__name__)

Echo = Callable[[str], None]


def parse_system_map(items: Sequence[str]) -> dict[str, str]:
    """``BASELINE_SYSTEM=CANDIDATE_SYSTEM`` items → a mapping."""
    out = {}
    for item in items:
        base, sep, cand = item.partition("=")
        if not sep or not base.strip() or not cand.strip():
            raise MtEvalError(f"--map {item!r}: expected BASELINE_SYSTEM=CANDIDATE_SYSTEM")
        out[base.strip()] = cand.strip()
    return out


@dataclass(frozen=True)
class GateOutputs:
    """Where :func:`run_gate` writes the verdict, besides ``$GITHUB_STEP_SUMMARY`` (``step_summary``)."""

    junit: str | Path | None = None
    markdown: str | Path | None = None
    json: str | Path | None = None
    step_summary: bool = True


def run_gate(baseline: str | Path, candidate: str | Path, *, policy_file: str | Path | None = None,
             options: GateOptions = GateOptions(), outputs: GateOutputs = GateOutputs(),
             echo: Echo | None = None) -> Verdict:
    """Gate ``candidate`` (a run folder or its results.json) against a ``baseline`` file.

    Returns the verdict (``verdict.exit_code``: 0 pass, 1 regression, 2 cannot compare). Every
    outcome, errors included, is written to the requested ``outputs`` and to ``$GITHUB_STEP_SUMMARY``;
    ``echo`` receives the one-screen text verdict.
    """
    from mt_eval.gate.render import render_text, write_outputs

    verdict = Verdict(baseline=str(baseline), candidate=str(candidate))
    try:
        for label, out in (("--junit", outputs.junit), ("--markdown", outputs.markdown),
                           ("--json", outputs.json)):
            if out is not None:
                check_output_file(out, f"{label} file")
    except MtEvalError as exc:
        verdict.errors.append(str(exc))
        outputs = GateOutputs(step_summary=outputs.step_summary)
    else:
        verdict = _compare(verdict, baseline, candidate, policy_file, options)
    if echo is not None:
        echo(render_text(verdict).rstrip("\n"))
    try:
        write_outputs(verdict, junit=outputs.junit, markdown=outputs.markdown, json_path=outputs.json,
                      step_summary=outputs.step_summary)
    except MtEvalError as exc:
        verdict.errors.append(str(exc))
    except OSError as exc:  # $GITHUB_STEP_SUMMARY unwritable
        verdict.errors.append(f"{exc.filename}: cannot write the verdict ({exc.strerror})")
    return verdict


def problems(verdict: Verdict) -> list[str]:
    """Why a verdict is "cannot compare": its errors, then each comparison that could not be made."""
    return [*verdict.errors, *(c.reason for c in verdict.comparisons if c.status == "cannot-compare")]


def _compare(verdict: Verdict, baseline: str | Path, candidate: str | Path,
             policy_file: str | Path | None, options: GateOptions) -> Verdict:
    from mt_eval.gate.baseline import load_baseline
    from mt_eval.gate.policy import GatePolicy, apply_overrides, load_policy
    from mt_eval.gate.verdict import compare
    from mt_eval.reports.run_folder import RunFolder

    try:
        if policy_file:
            read_input_text(policy_file, "policy file")  # a FIFO, folder, bad UTF-8: one clear line
        policy = apply_overrides(load_policy(policy_file) if policy_file else GatePolicy(), options)
        verdict.policy = {**policy.model_dump(mode="json"), "n_resamples": policy.resamples()}
        pairs = parse_system_map(options.system_map)
        base = load_baseline(baseline)
        folder = RunFolder.open(candidate)
        results = folder.results()
        return compare(base, results, folder.root, policy, baseline_path=str(baseline),
                       candidate_path=str(candidate), system_map=pairs)
    except MtEvalError as exc:
        verdict.errors.append(str(exc))
    except Exception as exc:  # a bug must still not read as "regression" (exit 1) or "pass"
        log.debug("gate failed", exc_info=True)
        verdict.errors.append(f"internal error ({type(exc).__name__}: {exc}); this is a bug in mt-eval")
    return verdict


def gate_after_run(run_dir: str | Path, baseline: str | Path, *, policy_file: str | Path | None = None,
                   options: GateOptions = GateOptions(), echo: Echo | None = None,
                   warn: Echo | None = None) -> int:
    """``mt-eval run ... --gate B.json``: gate the run folder just written; returns the exit code.

    The verdict files replace ``<run>/gate/`` (``verdict.json``, ``verdict.md``, ``junit.xml``) in
    one swap so a CI job uploads one consistent folder. ``warn`` receives each error line.
    """
    from mt_eval.fsio import dumps_json
    from mt_eval.gate.render import render_junit, render_markdown
    from mt_eval.reports.run_folder import RunFolder

    verdict = run_gate(baseline, run_dir, policy_file=policy_file, options=options, echo=echo)
    try:
        RunFolder(run_dir).write_gate({"junit.xml": render_junit(verdict),
                                       "verdict.md": render_markdown(verdict),
                                       "verdict.json": dumps_json(verdict.to_dict())})
    except MtEvalError as exc:
        verdict.errors.append(str(exc))
    if warn is not None:
        for problem in problems(verdict):
            warn(f"mt-eval: error: {problem}")
    return verdict.exit_code
