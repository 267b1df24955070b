"""Every evaluation default is defined once, in ``mt_eval.settings``, and every place agrees with it.

The checks read each place's defaults programmatically (typer option defaults, ``evaluate()``'s
signature, the ``RunConfig`` and ``GatePolicy`` fields, the statistics functions) and, as a net for
places not listed here, scan the package's source for the default values written as literals.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import BaseModel

import mt_eval
from mt_eval import settings
from mt_eval.config import RunConfig, load_config
from mt_eval.errors import MtEvalError
from mt_eval.gate.policy import GateOptions, GatePolicy, apply_overrides, load_policy
from mt_eval.settings import EVAL_DEFAULTS, VERDICT_DEFAULTS, EvalSettings, VerdictSettings

PACKAGE = Path(mt_eval.__file__).parent


def _field_default(model: type[BaseModel], name: str) -> Any:
    return model.model_fields[name].get_default(call_default_factory=True)


def test_run_config_takes_every_evaluation_default_from_the_settings_model() -> None:
    assert issubclass(RunConfig, EvalSettings)
    for name in EvalSettings.model_fields:
        assert _field_default(RunConfig, name) == getattr(EVAL_DEFAULTS, name), name
    assert RunConfig().metrics == list(settings.DEFAULT_METRICS)
    # the executor keys of the scale-out work stay
    assert {"executor", "ray_address"} <= set(RunConfig.model_fields)


def test_gate_policy_takes_every_verdict_default_from_the_settings_model() -> None:
    assert issubclass(GatePolicy, VerdictSettings)
    policy = GatePolicy()
    for name in VerdictSettings.model_fields:
        assert getattr(policy, name) == getattr(VERDICT_DEFAULTS, name), name
    # the settings a run and the gate share have one default
    for name in ("alpha", "seed", "method"):
        assert getattr(VERDICT_DEFAULTS, name) == getattr(EVAL_DEFAULTS, name), name
    assert policy.resamples() == settings.RESAMPLES
    assert policy.resamples("ar") == settings.AR_TRIALS
    assert (policy.alpha, policy.seed, policy.correction) == (settings.ALPHA, settings.SEED, "holm")


def test_evaluate_and_statistics_signatures_use_the_settings() -> None:
    from mt_eval.evaluate import evaluate, significance
    from mt_eval.meta import MetaSettings
    from mt_eval.stats.bootstrap import bootstrap_ci, bootstrap_scores
    from mt_eval.stats.significance import approximate_randomization, paired_bootstrap

    expected = {"resamples": settings.RESAMPLES, "confidence": settings.CONFIDENCE, "seed": settings.SEED,
                "alpha": settings.ALPHA, "method": None, "all_pairs": False, "baseline": None}
    # evaluate() and significance() take the one settings object; their default is the settings' defaults
    params = inspect.signature(evaluate).parameters
    for name, value in expected.items():
        assert getattr(params["settings"].default, name) == value, f"evaluate(settings.{name})"
    assert params["metrics"].default is None  # None: settings.metrics
    assert tuple(params["settings"].default.metrics) == settings.DEFAULT_METRICS
    sig = inspect.signature(significance).parameters
    for name in ("resamples", "seed", "alpha", "method", "all_pairs"):
        assert getattr(sig["settings"].default, name) == expected[name], f"significance(settings.{name})"
    for func in (bootstrap_ci, bootstrap_scores, paired_bootstrap):
        p = inspect.signature(func).parameters
        assert p["n_resamples"].default == settings.RESAMPLES and p["seed"].default == settings.SEED
    assert inspect.signature(bootstrap_ci).parameters["confidence"].default == settings.CONFIDENCE
    ar_params = inspect.signature(approximate_randomization).parameters
    assert ar_params["n_resamples"].default == settings.AR_TRIALS
    meta = MetaSettings()
    assert (meta.n_resamples, meta.confidence, meta.seed) == (settings.RESAMPLES, settings.CONFIDENCE,
                                                              settings.SEED)


def _commands(app: typer.Typer, prefix: str = "") -> list[tuple[str, Any]]:
    found = [(f"{prefix}{c.name or getattr(c.callback, '__name__', '?')}", c.callback)
             for c in app.registered_commands]
    for group in app.registered_groups:
        if group.typer_instance is not None:
            found += _commands(group.typer_instance, f"{prefix}{group.name} ")
    return found


# option name -> the value its default must have when it is not None (resolved from settings later)
_CLI_DEFAULTS = {"seed": settings.SEED, "resamples": settings.RESAMPLES, "alpha": settings.ALPHA,
                 "confidence": settings.CONFIDENCE, "method": None, "workers": settings.WORKERS,
                 "metric": None, "baseline": None, "all_pairs": False}


def test_command_line_defaults_are_none_or_the_settings_value() -> None:
    from mt_eval.cli import app

    commands = _commands(app)
    assert {"run", "score", "compare", "gate", "meta"} <= {name for name, _ in commands}
    checked = 0
    for name, callback in commands:
        for param in inspect.signature(callback).parameters.values():
            if param.name not in _CLI_DEFAULTS or param.default is inspect.Parameter.empty:
                continue
            checked += 1
            if param.default is None:  # filled in from the config / settings / the run
                continue
            assert param.default == _CLI_DEFAULTS[param.name], f"mt-eval {name} --{param.name}"
    assert checked >= 20


def _field_value(expr: ast.expr) -> list[ast.expr]:
    """The default inside ``Field(default, ge=..., le=...)`` (bounds are not defaults), else ``expr``."""
    if isinstance(expr, ast.Call) and getattr(expr.func, "id", getattr(expr.func, "attr", "")) == "Field":
        return expr.args[:1] + [k.value for k in expr.keywords if k.arg == "default"]
    return [expr]


def _default_expressions(tree: ast.AST) -> list[ast.expr]:
    """Function defaults, class-body field values and ``default=`` keywords."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            found += [d for d in [*node.args.defaults, *node.args.kw_defaults] if d is not None]
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
                    found += _field_value(statement.value)
        elif isinstance(node, ast.keyword) and node.arg == "default":
            found.append(node.value)
    return found


def _literals(node: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and not isinstance(n.value, bool)]


def test_no_default_is_written_twice_in_the_package() -> None:
    """12345 and 0.95 appear only in settings.py; 1000/10000/0.05 and method names never as a default."""
    anywhere = {settings.SEED, settings.CONFIDENCE}
    as_default = {settings.RESAMPLES, settings.AR_TRIALS, settings.ALPHA, *settings.METHODS}
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "settings.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(PACKAGE.parent)
        for const in _literals(tree):
            if isinstance(const.value, (int, float)) and const.value in anywhere:
                offenders.append(f"{where}:{const.lineno}: {const.value!r}")
        for expr in _default_expressions(tree):
            for const in _literals(expr):
                if isinstance(const.value, (int, float, str)) and const.value in as_default:
                    offenders.append(f"{where}:{const.lineno}: default {const.value!r}")
    assert not offenders, "defaults written outside mt_eval/settings.py:\n" + "\n".join(offenders)


@pytest.mark.parametrize(("given", "canonical"), [("bootstrap", "paired-bs"), ("bs", "paired-bs"),
                                                  ("paired-bs", "paired-bs"), ("ar", "paired-ar"),
                                                  ("AR", "paired-ar"), ("paired-ar", "paired-ar")])
def test_one_method_vocabulary_with_old_aliases(given: str, canonical: str, tmp_path: Path) -> None:
    from mt_eval.stats.significance import canonical_method, choose_method

    assert settings.canonical_method(given) == canonical == canonical_method(given)
    assert choose_method(500, given)[0] == canonical
    assert RunConfig(method=given).method == canonical  # type: ignore[arg-type]
    assert GatePolicy(method=given).method == canonical  # type: ignore[arg-type]
    assert apply_overrides(GatePolicy(), GateOptions(method=given)).method == canonical
    config = tmp_path / "old.toml"
    config.write_text(f'method = "{given}"\nsystems = ["copy"]\n', encoding="utf-8")
    assert load_config(config).method == canonical
    policy = tmp_path / "gate.toml"
    policy.write_text(f'[gate]\nmethod = "{given}"\n', encoding="utf-8")
    assert load_policy(policy).method == canonical


def test_unknown_method_is_a_one_line_error_naming_the_field(tmp_path: Path) -> None:
    from mt_eval.stats.significance import canonical_method

    with pytest.raises(MtEvalError, match="unknown significance method 'bogus'"):
        canonical_method("bogus")
    config = tmp_path / "bad.toml"
    config.write_text('method = "bogus"\n', encoding="utf-8")
    with pytest.raises(MtEvalError, match=r"bad.toml: method: .*unknown significance method"):
        load_config(config)
    policy = tmp_path / "gate.toml"
    policy.write_text('[gate]\nmethod = "bogus"\n', encoding="utf-8")
    with pytest.raises(MtEvalError, match=r"invalid gate policy field method"):
        load_policy(policy)


def test_settings_bounds_and_workers() -> None:
    assert EvalSettings(workers=4).workers == 4
    assert EvalSettings(workers="auto").workers == "auto"
    bad: dict[str, Any]
    for bad in ({"workers": 0}, {"workers": "many"}, {"resamples": 0}, {"alpha": 1.0}, {"confidence": 0},
                {"seed": -1}, {"metrics": []}):
        with pytest.raises(ValueError):
            EvalSettings(**bad)
    with pytest.raises(ValueError):
        VerdictSettings(min_human_agreement=40)
    assert settings.default_resamples(None) == settings.RESAMPLES
    assert settings.default_resamples("bootstrap") == settings.RESAMPLES
    assert settings.default_resamples("ar") == settings.AR_TRIALS


def test_settings_module_is_light() -> None:
    import subprocess
    import sys

    code = ("import sys, mt_eval.settings; "
            "print(sorted(m for m in ('numpy', 'torch', 'sacrebleu', 'typer') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
