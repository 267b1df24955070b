"""The CI regression gate: baseline files, policy, verdicts, exit codes, Markdown/JUnit output."""

from mt_eval.gate.baseline import Baseline, baseline_from_run, load_baseline, save_baseline
from mt_eval.gate.flags import FlagComparison
from mt_eval.gate.policy import GateOptions, GatePolicy, MetricPolicy, apply_overrides, load_policy
from mt_eval.gate.run import GateOutputs, gate_after_run, run_gate
from mt_eval.gate.verdict import EXIT_CANNOT_COMPARE, EXIT_PASS, EXIT_REGRESSION, Comparison, Verdict, compare

__all__ = ["EXIT_CANNOT_COMPARE", "EXIT_PASS", "EXIT_REGRESSION", "Baseline", "Comparison", "FlagComparison",
           "GateOptions", "GateOutputs", "GatePolicy", "MetricPolicy", "Verdict", "apply_overrides",
           "baseline_from_run", "compare", "gate_after_run", "load_baseline", "load_policy", "run_gate",
           "save_baseline"]
