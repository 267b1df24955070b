"""``mt-eval gate`` and ``mt-eval baseline save``: the CI regression gate on the command line.

Exit codes: 0 pass, 1 regression (or a score floor broken), 2 cannot compare (another test set,
another metric signature, a missing or malformed file, or nothing compared at all).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from mt_eval.errors import MtEvalError

baseline_app = typer.Typer(help="Baseline files for the CI gate.", no_args_is_help=True)


def _parse_map(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        base, sep, cand = item.partition("=")
        if not sep or not base.strip() or not cand.strip():
            raise MtEvalError(f"--map {item!r}: expected BASELINE_SYSTEM=CANDIDATE_SYSTEM")
        out[base.strip()] = cand.strip()
    return out


def _stderr(line: str) -> None:
    typer.echo(line, err=True)


def run_gate(baseline: str | Path, candidate: str | Path, *, policy_file: str | Path | None = None,
             alpha: float | None = None, tolerance: Sequence[str] = (), min_score: Sequence[str] = (),
             max_score: Sequence[str] = (), method: str | None = None, n_resamples: int | None = None,
             seed: int | None = None, systems: Sequence[str] = (), metrics: Sequence[str] = (),
             system_map: Sequence[str] = (), junit: str | Path | None = None,
             markdown: str | Path | None = None, json_out: str | Path | None = None,
             echo: Callable[[str], None] | None = typer.echo) -> int:
    """Gate ``candidate`` (run folder or its results.json) against ``baseline``; returns the exit code.

    Every outcome, errors included, is rendered to the requested files and to
    ``$GITHUB_STEP_SUMMARY``, so CI shows *why* a job stopped. ``echo`` receives the text verdict.
    """
    from mt_eval.gate.baseline import load_baseline, resolve_run
    from mt_eval.gate.policy import GatePolicy, apply_overrides, load_policy
    from mt_eval.gate.render import render_text, write_outputs
    from mt_eval.gate.verdict import Verdict, compare

    verdict = Verdict(baseline=str(baseline), candidate=str(candidate))
    try:
        policy = load_policy(policy_file) if policy_file else GatePolicy()
        policy = apply_overrides(policy, alpha=alpha, method=method, n_resamples=n_resamples, seed=seed,
                                 tolerances=tolerance, min_scores=min_score, max_scores=max_score,
                                 systems=systems, metrics=metrics)
        verdict.policy = {**policy.model_dump(mode="json"), "n_resamples": policy.resamples()}
        pairs = _parse_map(system_map)
        base = load_baseline(baseline)
        run_dir, results = resolve_run(candidate)
        verdict = compare(base, results, run_dir, policy, baseline_path=str(baseline),
                          candidate_path=str(candidate), system_map=pairs)
    except MtEvalError as exc:
        verdict.errors.append(str(exc))
    if echo is not None:
        echo(render_text(verdict).rstrip("\n"))
    write_outputs(verdict, junit=junit, markdown=markdown, json_path=json_out)
    for error in verdict.errors:
        _stderr(f"mt-eval: error: {error}")
    return verdict.exit_code


GATE_DIR = "gate"  # inside a run folder: verdict.json, verdict.md, junit.xml


def gate_after_run(run_dir: str | Path, baseline: str | Path, *, policy_file: str | Path | None = None,
                   echo: Callable[[str], None] | None = typer.echo, **overrides: Any) -> int:
    """``mt-eval run ... --gate B.json``: gate the run folder just written; returns the exit code.

    The verdict files go to ``<run>/gate/`` (``verdict.json``, ``verdict.md``, ``junit.xml``) so a CI
    job uploads one folder; ``overrides`` are :func:`run_gate`'s keyword arguments (alpha, tolerance, ...).
    """
    out = Path(run_dir) / GATE_DIR
    return run_gate(baseline, run_dir, policy_file=policy_file, junit=out / "junit.xml",
                    markdown=out / "verdict.md", json_out=out / "verdict.json", echo=echo, **overrides)


def gate(
    baseline: Annotated[Path, typer.Option(
        "--baseline", "-b", help="Baseline file (mt-eval baseline save).")],
    candidate: Annotated[Path, typer.Option("--candidate", "-c", help="Run folder or its results.json.")],
    policy: Annotated[Path | None, typer.Option(
        "--policy", help="TOML policy (tolerances, α, floors).")] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="Significance level (default 0.05).")] = None,
    tolerance: Annotated[list[str] | None, typer.Option(
        "--tolerance", help="METRIC=POINTS, METRIC=PCT% or POINTS for all metrics; repeatable.")] = None,
    min_score: Annotated[list[str] | None, typer.Option(
        "--min-score", help="METRIC=FLOOR: fail below it; repeatable.")] = None,
    max_score: Annotated[list[str] | None, typer.Option(
        "--max-score", help="METRIC=CEILING for lower-is-better metrics (TER); repeatable.")] = None,
    method: Annotated[str | None, typer.Option("--method", help="paired-bs (default) or paired-ar.")] = None,
    resamples: Annotated[int | None, typer.Option("--resamples", help="Resamples / trials.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default 12345).")] = None,
    system: Annotated[list[str] | None, typer.Option("--system", help="Only this baseline system.")] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", help="Only this metric key.")] = None,
    system_map: Annotated[list[str] | None, typer.Option(
        "--map", help="BASELINE_SYSTEM=CANDIDATE_SYSTEM when names differ; repeatable.")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write Markdown here.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON verdict here.")] = None,
) -> None:
    """Fail CI on a significant quality regression: exit 0 pass, 1 regression, 2 cannot compare."""
    code = run_gate(baseline, candidate, policy_file=policy, alpha=alpha, tolerance=tolerance or (),
                    min_score=min_score or (), max_score=max_score or (), method=method,
                    n_resamples=resamples, seed=seed, systems=system or (), metrics=metric or (),
                    system_map=system_map or (), junit=junit, markdown=markdown, json_out=json_out)
    raise typer.Exit(code)


@baseline_app.command("save")
def baseline_save(
    run: Annotated[Path, typer.Argument(help="Run folder (or its results.json).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Baseline file to write.")],
    system: Annotated[list[str] | None, typer.Option(
        "--system", help="Only this system; repeatable.")] = None,
    metric: Annotated[list[str] | None, typer.Option(
        "--metric", help="Only this metric; repeatable.")] = None,
) -> None:
    """Save a run's scores and per-segment statistics as a baseline file to commit."""
    from mt_eval.gate.baseline import save_baseline

    saved = save_baseline(run, output, systems=system or None, metrics=metric or None)
    size = output.stat().st_size
    pairs = sum(len(s.metrics) for s in saved.systems.values())
    typer.echo(f"wrote {output} ({size / 1024:.1f} KiB): {len(saved.systems)} system(s), {pairs} "
               f"system × metric scores on test set {saved.testset.name or '<unnamed>'} "
               f"({saved.testset.hash[:12]}, {saved.testset.num_segments} segments)")


def register(app: typer.Typer) -> None:
    """Add ``gate`` and ``baseline save`` to the top-level app."""
    app.command("gate")(gate)
    app.add_typer(baseline_app, name="baseline")
