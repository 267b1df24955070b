"""``mt-eval gate`` and ``mt-eval baseline save``: the CI regression gate on the command line.

Exit codes: 0 pass, 1 regression (or a score floor broken), 2 cannot compare (another test set,
another metric signature, a missing or malformed file, or nothing compared at all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mt_eval.cli.output import format_option
from mt_eval.settings import ALPHA, SEED

baseline_app = typer.Typer(help="Baseline files for the CI gate.", no_args_is_help=True)


def gate(
    baseline: Annotated[Path, typer.Option(
        "--baseline", "-b", help="Baseline file (mt-eval baseline save).")],
    candidate: Annotated[Path, typer.Option("--candidate", "-c", help="Run folder or its results.json.")],
    policy: Annotated[Path | None, typer.Option(
        "--policy", help="TOML policy (tolerances, α, floors).")] = None,
    alpha: Annotated[float | None, typer.Option("--alpha",
                                                help=f"Significance level (default {ALPHA}).")] = None,
    tolerance: Annotated[list[str] | None, typer.Option(
        "--tolerance", help="METRIC=POINTS, METRIC=PCT% or POINTS for all metrics; repeatable.")] = None,
    min_score: Annotated[list[str] | None, typer.Option(
        "--min-score", help="METRIC=FLOOR: fail below it; repeatable.")] = None,
    max_score: Annotated[list[str] | None, typer.Option(
        "--max-score", help="METRIC=CEILING for lower-is-better metrics (TER); repeatable.")] = None,
    method: Annotated[str | None, typer.Option("--method", help="paired-bs (default) or paired-ar.")] = None,
    resamples: Annotated[int | None, typer.Option("--resamples", min=1, help="Resamples / trials.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help=f"Random seed (default {SEED}).")] = None,
    system: Annotated[list[str] | None, typer.Option("--system", help="Only this baseline system.")] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", help="Only this metric key.")] = None,
    system_map: Annotated[list[str] | None, typer.Option(
        "--map", help="BASELINE_SYSTEM=CANDIDATE_SYSTEM when names differ; repeatable.")] = None,
    primary_metric: Annotated[str | None, typer.Option(
        "--primary-metric", help="Only this metric can fail the gate; the others are reported.")] = None,
    min_human_agreement: Annotated[float | None, typer.Option(
        "--min-human-agreement", help="A regression must also be a difference humans would notice at "
        "least this often (%, Kocmi et al. 2024); metrics without a curve cannot fail.")] = None,
    require_same_environment: Annotated[bool, typer.Option(
        "--require-same-environment", help="Exit 2 when outputs changed under the same system signature "
        "on a machine with another fingerprint (CPU, SIMD, libraries).")] = False,
    require_canaries: Annotated[bool, typer.Option(
        "--require-canaries", help="Exit 2 unless each metric of the gate's family passes its critical"
        " canaries in the candidate's canaries.json (mt-eval run --canaries).")] = False,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write Markdown here.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON verdict here.")] = None,
    fmt: Annotated[str | None, format_option(
        "The verdict on stdout: table (the plain-text verdict, whole, on a terminal or not: the default),"
        " markdown (as --markdown writes) or json (as --json writes).")] = None,
) -> None:
    """Fail CI on a significant quality regression: exit 0 pass, 1 regression, 2 cannot compare."""
    from mt_eval.gate.policy import GateOptions
    from mt_eval.gate.render import render_markdown
    from mt_eval.gate.run import GateOutputs, problems, run_gate

    options = GateOptions(alpha=alpha, method=method, n_resamples=resamples, seed=seed,
                          tolerances=tolerance or (), min_scores=min_score or (), max_scores=max_score or (),
                          systems=system or (), metrics=metric or (), system_map=system_map or (),
                          primary_metric=primary_metric, min_human_agreement=min_human_agreement,
                          require_same_environment=require_same_environment,
                          require_canaries=require_canaries)
    shown = "table" if fmt is None else fmt.lower()  # the text verdict is already whole in a log
    verdict = run_gate(baseline, candidate, policy_file=policy, options=options,
                       outputs=GateOutputs(junit=junit, markdown=markdown, json=json_out),
                       echo=typer.echo if shown == "table" else None)
    if shown == "markdown":
        typer.echo(render_markdown(verdict), nl=False)
    elif shown == "json":
        from mt_eval.cli.output import emit

        emit([], "json", document=verdict.to_dict())
    for error in problems(verdict):
        typer.echo(f"mt-eval: error: {error}", err=True)
    raise typer.Exit(verdict.exit_code)


@baseline_app.command("save")
def baseline_save(
    run: Annotated[Path, typer.Argument(help="Run folder (or its results.json).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Baseline file to write.")],
    system: Annotated[list[str] | None, typer.Option(
        "--system", help="Only this system; repeatable.")] = None,
    metric: Annotated[list[str] | None, typer.Option(
        "--metric", help="Only this metric; repeatable.")] = None,
    policy: Annotated[Path | None, typer.Option(
        "--policy", help="Gate policy: metrics its primary_metric/family names are kept.")] = None,
    all_metrics: Annotated[bool, typer.Option(
        "--all-metrics", help="Keep judges, human and COMET scores too (not in the gate's default"
        " family).")] = False,
) -> None:
    """Save a run's scores and per-segment statistics as a baseline file to commit, and print the smallest
    drop the gate can see on it (per metric of the gate's family, at the policy's Holm-adjusted α)."""
    from mt_eval.errors import MtEvalError
    from mt_eval.gate.baseline import baseline_mde, mde_lines, save_baseline
    from mt_eval.gate.policy import GatePolicy, load_policy

    loaded = load_policy(policy) if policy is not None else None
    saved = save_baseline(run, output, systems=system or None, metrics=metric or None, policy=loaded,
                          all_metrics=all_metrics)
    size = output.stat().st_size
    pairs = sum(len(s.metrics) for s in saved.systems.values())
    typer.echo(f"wrote {output} ({size / 1024:.1f} KiB): {len(saved.systems)} system(s), {pairs} "
               f"system × metric scores on test set {saved.testset.name or '<unnamed>'} "
               f"({saved.testset.hash[:12]}, {saved.testset.num_segments} segments)")
    if saved.left_out:
        typer.echo(f"left out {', '.join(saved.left_out)}: not in the gate's default family (judges, human"
                   " scores, COMET); keep them with --metric KEY, a --policy family naming them, or"
                   " --all-metrics")
    try:
        lines = mde_lines(baseline_mde(saved, loaded or GatePolicy()))
    except MtEvalError as exc:
        lines = [f"smallest detectable drop not computed: {exc}"]
    for line in lines:
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add ``gate`` and ``baseline save`` to the top-level app."""
    app.command("gate")(gate)
    app.add_typer(baseline_app, name="baseline")
