"""The TOML run configuration of ``mt-eval run config.toml``.

Example::

    name = "ar-en-demo"            # run name (folder results/<name>/ unless output is set)
    testset = "data/seed"          # a test-set folder; omit for the built-in seed test set
    metrics = ["bleu", "chrf", "chrf++", "ter", "semantic"]   # registry specs, e.g. "bleu:tokenize=intl"
    baseline = "copy"
    resamples = 1000
    seed = 12345
    method = "paired-bs"           # or "paired-ar" (aliases "bootstrap", "ar"); default by test-set size
    workers = "auto"               # or a number of processes for statistics extraction
    all_pairs = false
    output = "results/ar-en-demo"
    canaries = true                # also run the metric canaries (canaries.json, report section)
    analysis_corpus = "train.en"   # word frequencies of the analysis (default: the references);
                                   # analysis = false turns the analysis off
    log = ["mlflow=./mlruns"]      # experiment trackers: mlflow[=URI or folder], wandb[=[ENTITY/]PROJECT]

    [[systems]]
    spec = "file:outputs/gemma.txt"
    name = "gemma"

    [[systems]]
    spec = "marian:Helsinki-NLP/opus-mt-ar-en"
    options = { batch_size = 8 }

    [checks]
    min_length_ratio = 0.5

Relative paths (``testset``, ``output``, ``file:`` targets, a ``log`` MLflow folder,
``analysis_corpus``) are resolved against the config file's folder, so a config is portable together
with its data.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mt_eval.errors import MtEvalError, first_validation_problem
from mt_eval.fsio import read_input_text
from mt_eval.settings import EvalSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["RunConfig", "SystemConfig", "check_run_name", "load_config", "run_config", "validated"]

M = TypeVar("M", bound=BaseModel)


class SystemConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: str
    name: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class RunConfig(EvalSettings):
    """Everything that defines a run; unknown keys are an error (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid")

    # metrics, baseline, resamples, confidence, seed, method, alpha, all_pairs, workers, checks: from
    # EvalSettings (mt_eval/settings.py), where every default is defined once
    name: str | None = None
    testset: str | None = None
    systems: list[SystemConfig] | None = None
    output: str | None = None
    # where translation and scoring run: this process ("local") or a Ray cluster ("ray"; the
    # ``mt-eval[ray]`` extra); ``ray_address`` as for ``ray.init`` (None: RAY_ADDRESS or a local cluster)
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    # seconds an address may take to answer as a Ray head before the run stops (None: the
    # MT_EVAL_RAY_CONNECT_S environment variable, else 10)
    ray_connect_timeout: float | None = Field(default=None, gt=0, le=3600)
    # after evaluation, run the metric canaries (mt_eval.canaries) on the test set with the baseline
    # system's outputs (else the first system that is not ``copy``) and write canaries.json
    canaries: bool = False
    # experiment trackers the finished run is logged to (mt_eval.trackers): "mlflow", "mlflow=URI or
    # folder", "wandb", "wandb=[ENTITY/]PROJECT"; not recorded in results.json (where a run is logged
    # does not change what it is)
    log: list[str] = Field(default_factory=list)

    @field_validator("log")
    @classmethod
    def _known_trackers(cls, value: list[str]) -> list[str]:
        from mt_eval.trackers.spec import parse_log_spec

        return [str(parse_log_spec(item)) for item in value]

    @field_validator("systems", mode="before")
    @classmethod
    def _systems_as_strings(cls, value: Any) -> Any:
        """``systems = ["copy", "file:x.txt"]`` is shorthand for tables with only ``spec``."""
        if isinstance(value, list):
            return [{"spec": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None:
            check_run_name(value, "name", error=ValueError)
        return value


def check_run_name(name: str, where: str = "name", *, error: type[Exception] = MtEvalError) -> str:
    """A run name becomes ``results/<name>/``: it must be one plain folder name, never a path
    (``../../x`` would write outside ``results/``). Use ``-o``/``output`` to choose a folder elsewhere."""
    bad = (not name.strip() or name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name
           or "\x00" in name or any(ord(ch) < 32 for ch in name))
    if bad:
        raise error(f"{where} {name!r}: a run name must be a plain folder name (no '/', '\\', leading '.'"
                    " or control characters); choose the folder with -o instead")
    return name


def validated(model: type[M], data: Any, *, where: str, strict: bool = False) -> M:
    """``model`` (:class:`RunConfig`, :class:`EvalSettings`) from a mapping; a problem is one line naming
    ``where`` and the field. ``strict``: no coercion (a file's ``all_pairs = "yes"`` or ``alpha = "0.05"``
    is an error, as ``resamples = "many"`` is; an integer still serves for a float)."""
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as exc:
        loc, msg = first_validation_problem(exc, root="(top level)")
        raise MtEvalError(f"{where}: {loc}: {msg}") from None


def run_config(path: str | Path | None, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """The config file (none: the built-in run ``default``) with the command line's ``overrides`` (keys
    of :class:`RunConfig`; ``None`` values are not given). A field the file or the command line set is in
    ``model_fields_set`` (so the default metrics can be told from metrics asked for)."""
    config = load_config(path) if path is not None else RunConfig(name="default")
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    if not given:
        return config
    return validated(RunConfig, {**config.model_dump(exclude_unset=True), **given}, where="command line")


def _resolve_file_spec(spec: str, base: Path) -> str:
    """``file:relative.txt`` → ``file:/abs/relative.txt`` (relative to the config's folder)."""
    backend, sep, rest = spec.partition(":")
    if backend != "file" or not sep:
        return spec
    target, qsep, query = rest.partition("?")
    path = Path(target)
    if not path.is_absolute():
        path = base / path
    return f"file:{path}" + (f"?{query}" if qsep else "")


def _resolve_log_folder(item: str, base: Path) -> str:
    """``mlflow=./mlruns`` → ``mlflow=/abs/mlruns`` (a local MLflow store, relative to the config)."""
    from mt_eval.trackers.spec import is_local_mlflow_target, parse_log_spec

    spec = parse_log_spec(item)
    if spec.name != "mlflow" or spec.target is None or spec.target.startswith("file:") \
            or not is_local_mlflow_target(spec.target):
        return item
    path = Path(spec.target).expanduser()
    return f"mlflow={path if path.is_absolute() else base / path}"


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a run config; one-line :class:`MtEvalError` on anything wrong."""
    file = Path(path)
    text = read_input_text(file, "config file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MtEvalError(f"{file}: invalid TOML ({exc})") from None
    config = validated(RunConfig, data, where=str(file), strict=True)
    base = file.resolve().parent
    updates: dict[str, Any] = {}
    if config.testset is not None and not Path(config.testset).is_absolute():
        updates["testset"] = str(base / config.testset)
    if config.output is not None and not Path(config.output).is_absolute():
        updates["output"] = str(base / config.output)
    if config.analysis_corpus is not None and not Path(config.analysis_corpus).is_absolute():
        updates["analysis_corpus"] = str(base / config.analysis_corpus)
    if config.log:
        updates["log"] = [_resolve_log_folder(item, base) for item in config.log]
    if config.systems is not None:
        updates["systems"] = [s.model_copy(update={"spec": _resolve_file_spec(s.spec, base)})
                              for s in config.systems]
    if config.name is None:
        updates["name"] = check_run_name(file.stem, f"{file}: name (from the file name)")
    return config.model_copy(update=updates)
