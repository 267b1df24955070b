"""COMET and BERTScore, used only when the user has installed the package.

Neither package is a core dependency of mt-eval: building the metric checks the import and raises
:class:`MtEvalError` naming what to install. BERTScore models are loaded from the Hugging Face cache
only. COMET takes a local checkpoint (a path), or a hub id that is read from the Hugging Face cache
or, as for the ``marian`` translator, downloaded when the machine is online and ``HF_HUB_OFFLINE`` is
not set. Per segment the statistics are ``[segment score, 1]`` (float64), so the corpus score is the
mean segment score (×100) and bootstrap/paired tests work unchanged.

COMET checkpoints are pickled Lightning checkpoints; they are read with ``torch.load(weights_only=True)``
(tensors and plain data only), never COMET's own ``load_from_checkpoint``, which unpickles anything.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mt_eval.errors import MtEvalError
from mt_eval.fsio import check_input_file, read_input_text
from mt_eval.metrics.base import MeanOfSegmentsMetric, SegmentDetail
from mt_eval.plugins import usable
from mt_eval.spans import SEVERITIES, Span, make_span
from mt_eval.translators.base import file_sha256, hub_snapshot, library_version


def _version(package: str) -> str:
    return library_version(package) or "unknown"


class _MeanMetric(MeanOfSegmentsMetric):
    """Segment-score metrics from an optional package: stats ``[score, 1]``, corpus score 100 × mean."""

    install_hint: ClassVar[str] = ""  # what to pip install, when a module of probe_modules is missing
    probe_modules: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: Any) -> None:
        if not usable(type(self)):
            raise MtEvalError(f"metric {self.name} needs the {self.install_hint} package and a local model: "
                              f"pip install {self.install_hint}")
        super().__init__(**options)

    def _record_refs(self, refs: Sequence[Sequence[str]], n_hyps: int) -> list[list[str]]:
        out = [[r] if isinstance(r, str) else list(r) for r in refs]
        if len(out) != n_hyps:
            raise MtEvalError(f"metric {self.name}: {n_hyps} hypotheses but {len(out)} reference lists")
        return out


# ------------------------------------------------------------------------------------------------ COMET
# unbabel-comet 2.2.7 (the current release) pins numpy<2, transformers<5 and huggingface-hub<1, which
# would downgrade mt-eval's stack; it runs on the newer one with the two adaptations below, so it is
# installed without its pins: ``pip install "mt-eval[comet]"`` (its real run-time dependencies), then
# ``pip install unbabel-comet==2.2.7 --no-deps``.
COMET_PACKAGE = "unbabel-comet"
COMET_TESTED_VERSION = "2.2.7"
COMET_INSTALL = (f"pip install {COMET_PACKAGE}=={COMET_TESTED_VERSION} --no-deps, after mt-eval's comet "
                 "extra (pip install \"mt-eval[comet]\") for its run-time dependencies")
# files of an encoder folder that COMET reads (tokenizer and config; the weights come from the checkpoint)
_ENCODER_FILES = ("*.json", "*.model", "*.txt", "*.spm")
_hash_memo: dict[tuple[str, int, int], str] = {}


def _file_hash(path: Path) -> str:
    """sha256 of a checkpoint, memoised per (path, size, mtime): a 2 GB file is read once per process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _hash_memo:
        _hash_memo[key] = file_sha256(path)
    return _hash_memo[key]


def _hub_snapshot(repo: str, revision: str | None, patterns: list[str], what: str) -> Path:
    """A hub repository's files from the local cache, or downloaded when the machine is online."""
    return hub_snapshot(repo, revision, patterns, f"metric comet: {what} {repo!r} is not in the local Hugging"
                        f" Face cache; on a machine with network run `hf download {repo}` (or pass a local"
                        " checkpoint path)", MtEvalError)


def _snapshot_id(folder: Path) -> str | None:
    return folder.name if folder.parent.name == "snapshots" else None


@dataclass(frozen=True)
class _Checkpoint:
    """A resolved COMET checkpoint: where it is, what it is, and its identity for the signature."""

    path: Path
    identity: str  # "sha256:<checkpoint file>" or "hub:<repo>@<commit>"
    class_identifier: str
    hparams: dict[str, Any]  # hparams.yaml
    encoder: Path  # folder with the encoder's tokenizer and config
    encoder_name: str  # pretrained_model as named in hparams.yaml
    encoder_identity: str


def _check_file(path: Path, what: str) -> None:
    """A regular file, else one line naming it (a FIFO would block ``torch.load`` and the hash)."""
    try:
        check_input_file(path, what)
    except MtEvalError as exc:
        raise MtEvalError(f"metric comet: {exc}") from None


def _looks_like_path(model: str) -> bool:
    return (model.startswith((".", "/", "~")) or model.endswith(".ckpt") or model.count("/") > 1
            or "\\" in model or Path(model).expanduser().exists())


def resolve_comet_checkpoint(model: str, revision: str | None = None) -> _Checkpoint:
    """``model``: a ``.ckpt`` file, a folder with ``checkpoints/model.ckpt``, or a hub id.

    As COMET itself, the checkpoint's ``hparams.yaml`` is read from two folders up
    (``MODEL/hparams.yaml`` for ``MODEL/checkpoints/model.ckpt``). It is read with ``yaml.safe_load``.
    """
    import yaml

    local = Path(model).expanduser()
    if _looks_like_path(model):
        if revision is not None:
            raise MtEvalError(f"metric comet: revision= is for hub ids, not the local checkpoint {model}")
        ckpt = local / "checkpoints" / "model.ckpt" if local.is_dir() else local
        if not ckpt.exists():
            raise MtEvalError(f"metric comet: checkpoint {ckpt} not found (model= takes a .ckpt file, a "
                              "folder with checkpoints/model.ckpt and hparams.yaml, or a hub id)")
        _check_file(ckpt, "COMET checkpoint")  # a FIFO or a folder: refused at once, never read
        with open(ckpt, "rb") as handle:
            head = handle.read(64)
        if not head:
            raise MtEvalError(f"metric comet: checkpoint {ckpt} is empty (0 bytes)")
        if head.startswith(b"version https://git-lfs"):
            raise MtEvalError(f"metric comet: cannot read checkpoint {ckpt} (a Git LFS pointer, not the file:"
                              " fetch it with git lfs pull)")
        identity = "sha256:" + _file_hash(ckpt)
    else:
        folder = _hub_snapshot(model, revision, ["checkpoints/model.ckpt", "hparams.yaml"], "model")
        ckpt = folder / "checkpoints" / "model.ckpt"
        if not ckpt.is_file():
            raise MtEvalError(f"metric comet: hub model {model!r} has no checkpoints/model.ckpt")
        snapshot = _snapshot_id(folder)
        identity = f"hub:{model}@{snapshot}" if snapshot else "sha256:" + _file_hash(ckpt)
    hparams_file = ckpt.resolve().parents[1] / "hparams.yaml" if len(ckpt.resolve().parents) > 1 else None
    if hparams_file is None or not hparams_file.exists():
        raise MtEvalError(f"metric comet: {hparams_file or ckpt.parent / 'hparams.yaml'} not found "
                          f"(COMET reads a checkpoint's hparams.yaml from two folders above {ckpt.name})")
    try:
        hparams = yaml.safe_load(read_input_text(hparams_file, "hparams.yaml"))
    except MtEvalError as exc:
        raise MtEvalError(f"metric comet: {exc}") from None
    except yaml.YAMLError as exc:
        raise MtEvalError(f"metric comet: {hparams_file}: not readable YAML ({type(exc).__name__})") from None
    if not isinstance(hparams, dict) or not isinstance(hparams.get("class_identifier"), str):
        raise MtEvalError(f"metric comet: {hparams_file}: no class_identifier")
    name = hparams.get("pretrained_model")
    if not isinstance(name, str) or not name:
        raise MtEvalError(f"metric comet: {hparams_file}: no pretrained_model (the encoder)")
    encoder_dir = Path(name).expanduser()
    if encoder_dir.is_dir():
        encoder, encoder_identity = encoder_dir, "sha256:" + _encoder_hash(encoder_dir)
    elif _looks_like_path(name):
        raise MtEvalError(f"metric comet: encoder folder {name} (pretrained_model in {hparams_file}) "
                          "not found")
    else:
        encoder = _hub_snapshot(name, None, list(_ENCODER_FILES), "encoder")
        snapshot = _snapshot_id(encoder)
        encoder_identity = f"hub:{snapshot}" if snapshot else "sha256:" + _encoder_hash(encoder)
    return _Checkpoint(path=ckpt, identity=identity, class_identifier=hparams["class_identifier"],
                       hparams=hparams, encoder=encoder, encoder_name=name, encoder_identity=encoder_identity)


def _encoder_hash(folder: Path) -> str:
    """Hash of the encoder files COMET reads (tokenizer, config), not of any weights in the folder."""
    import hashlib

    digest = hashlib.sha256()
    files = sorted({p for pattern in _ENCODER_FILES for p in folder.glob(pattern) if p.is_file()})
    for path in files:
        digest.update(path.name.encode("utf-8") + b"\0" + _file_hash(path).encode("ascii") + b"\n")
    return digest.hexdigest()


def _fill_the_pooler_slot(module: Any, args: Any, output: Any) -> Any:
    """transformers 5 drops ``None`` from ``return_dict=False`` tuples, so an XLM-R encoder built
    without a pooler returns ``(last, hidden_states)``; COMET unpacks ``(last, pooler, hidden_states)``."""
    if isinstance(output, tuple) and len(output) == 2 and isinstance(output[1], tuple):
        return (output[0], None, output[1])
    return output


def _adapt_to_this_stack(model: Any) -> None:
    """What COMET 2.2.7 needs from transformers 4 and transformers 5 no longer has; no COMET file changed."""
    encoder = model.encoder
    encoder.model.register_forward_hook(_fill_the_pooler_slot)
    tokenizer = encoder.tokenizer
    if not hasattr(tokenizer, "build_inputs_with_special_tokens"):
        # transformers 5 tokenizers lost this method, which COMET's concat_sequences (unified models,
        # xCOMET) calls; XLM-R: <s> A </s></s> B </s>, BERT-style: [CLS] A [SEP] B [SEP]
        cls, sep, width = tokenizer.cls_token_id, tokenizer.sep_token_id, encoder.size_separator

        def build_inputs_with_special_tokens(first: list[int], second: list[int] | None = None) -> list[int]:
            ids = [cls, *first, sep]
            return ids if second is None else [*ids, *([sep] * (width - 1)), *second, sep]

        object.__setattr__(tokenizer, "build_inputs_with_special_tokens", build_inputs_with_special_tokens)


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    """COMET's predict runs a Lightning Trainer, which logs banners (GPU available, tips) at INFO."""
    names = ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric", "comet")
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore",
                                    module=r"(pytorch_lightning|lightning|lightning_fabric|torchmetrics)\b")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def load_comet_model(checkpoint: _Checkpoint, *, trust_checkpoint: bool = False) -> Any:
    """COMET's own model class for the checkpoint, loaded without running code from the file.

    A Lightning checkpoint is a pickle; ``torch.load(weights_only=True)`` only rebuilds tensors and plain
    data. ``trust_checkpoint`` lifts that for checkpoints that hold other pickled objects: loading such a
    file runs code it contains, so only do it for files from a source you trust.
    """
    import pickle

    import torch
    from comet.models import str2model

    cls = str2model.get(checkpoint.class_identifier)
    if cls is None:
        raise MtEvalError(f"metric comet: unknown class_identifier {checkpoint.class_identifier!r} "
                          f"(this COMET knows: {', '.join(sorted(str2model))})")
    try:
        with _quiet_lightning():
            state = torch.load(str(checkpoint.path), map_location="cpu", weights_only=not trust_checkpoint)
    except pickle.UnpicklingError as exc:
        # "Unsupported global: GLOBAL print …", "… unsupported GLOBAL posix.system whose module … is blocked"
        if "unsupported global" not in str(exc).lower():  # garbage, not a pickle of forbidden objects
            raise MtEvalError(f"metric comet: cannot read checkpoint {checkpoint.path} "
                              f"({_not_a_checkpoint(checkpoint.path, exc)})") from None
        lines = str(exc).splitlines()
        detail = next((line.strip() for line in lines if "unsupported global" in line.lower()), "")
        raise MtEvalError(
            f"metric comet: {checkpoint.path} is a torch checkpoint with unsafe globals (pickled objects"
            f" besides weights{': ' + detail[:200] if detail else ''}); loading it would run code from the"
            " file; if you trust its source, pass trust_checkpoint=true") from None
    except Exception as exc:
        raise MtEvalError(f"metric comet: cannot read checkpoint {checkpoint.path} "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise MtEvalError(f"metric comet: {checkpoint.path} is not a COMET (Lightning) checkpoint")
    hparams = dict(state.get("hyper_parameters") or checkpoint.hparams)
    # as comet.load_from_checkpoint: the encoder comes from its config (weights from the checkpoint),
    # read from the resolved local folder only
    hparams.update(load_pretrained_weights=False, local_files_only=True,
                   pretrained_model=str(checkpoint.encoder))
    if checkpoint.hparams.get("layer_transformation") == "sparsemax_patch":
        hparams["layer_transformation"] = "softmax"  # COMET >= 2.2.4's fix for its issue #244
    accepted = inspect.signature(cls.__init__).parameters
    try:
        with _quiet_lightning():
            model = cls(**{k: v for k, v in hparams.items() if k in accepted})
            result = model.load_state_dict(state["state_dict"], strict=False)
    except Exception as exc:
        raise MtEvalError(f"metric comet: cannot build {cls.__name__} from {checkpoint.path} "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if result.missing_keys:
        # COMET loads with strict=False (older checkpoints carry buffers newer transformers dropped); a
        # weight the checkpoint lacks would silently stay random, so that is refused
        raise MtEvalError(f"metric comet: {checkpoint.path} lacks {len(result.missing_keys)} weights of "
                          f"{cls.__name__} (first: {result.missing_keys[0]})")
    model.eval()
    _adapt_to_this_stack(model)
    return model


def _not_a_checkpoint(path: Path, exc: Exception) -> str:
    with open(path, "rb") as handle:
        head = handle.read(64)
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the file: fetch it with git lfs pull"
    lines = [line.strip() for line in str(exc).splitlines()[1:]]
    problem = next((line for line in lines if line.startswith("Unsupported")), type(exc).__name__)
    return f"not a torch checkpoint: {problem}"


class COMETOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # a .ckpt file, a folder with checkpoints/model.ckpt + hparams.yaml, or a hub id (cache, or online)
    model: str = "Unbabel/wmt22-comet-da"
    revision: str | None = Field(None, description="hub revision of a hub-id model")
    batch_size: int = Field(16, ge=1, le=100_000)
    gpus: int = Field(0, ge=0, le=1, description="0: CPU, 1: one GPU (COMET's multi-GPU mode forks)")
    threads: int | None = Field(None, ge=1, le=1024, description="torch CPU threads (default: all cores)")
    # allow a checkpoint that holds pickled objects besides weights (loading it runs code from it)
    trust_checkpoint: bool = False


class COMET(_MeanMetric):
    """COMET (unbabel-comet): segment scores from COMET's own model classes; xCOMET's error spans.

    Needs sources: ``segment_stats(hyps, refs, sources=...)``. With several references a segment gets its
    best score (and the error spans of that reference). Spans (xCOMET, unified models trained with word
    tags) are reported per segment in ``self.details``, with offsets in code points of the hypothesis.
    """

    name = "comet"
    needs_sources = True
    install_hint = COMET_PACKAGE
    probe_modules = ("comet",)
    options_model = COMETOptions
    run_only_options = frozenset({"batch_size", "gpus", "threads", "trust_checkpoint"})
    gate_family_default = False
    reports_details = True
    batch_invariant = False  # padded transformer batches: float results shift with the batch
    config: COMETOptions

    def __init__(self, **options: Any) -> None:
        for module, package in (("comet", COMET_PACKAGE), ("pytorch_lightning", "pytorch-lightning"),
                                ("entmax", "entmax"), ("torchmetrics", "torchmetrics")):
            if importlib.util.find_spec(module) is None:
                raise MtEvalError(f"metric comet needs the {package} package: {COMET_INSTALL}")
        MeanOfSegmentsMetric.__init__(self, **options)
        self._checkpoint: _Checkpoint | None = None
        self._model: Any = None

    def checkpoint(self) -> _Checkpoint:
        if self._checkpoint is None:
            self._checkpoint = resolve_comet_checkpoint(self.config.model, self.config.revision)
        return self._checkpoint

    def _loaded(self) -> Any:
        if self._model is None:
            self._model = load_comet_model(self.checkpoint(), trust_checkpoint=self.config.trust_checkpoint)
        return self._model

    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                      *, sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        if sources is None:
            raise MtEvalError("metric comet needs the source sentences (sources=...)")
        if len(sources) != len(hypotheses):
            raise MtEvalError(f"metric comet: {len(hypotheses)} hypotheses but {len(sources)} sources")
        refs = self._record_refs(references, len(hypotheses))
        n = len(hypotheses)
        best = np.full(n, -np.inf)
        spans: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        if n:
            import torch

            model = self._loaded()
            threads = torch.get_num_threads()
            torch.set_num_threads(self.config.threads or os.cpu_count() or 1)
            try:
                for k in range(max(len(r) for r in refs)):
                    rows = [i for i, r in enumerate(refs) if k < len(r)]
                    data = [{"src": sources[i], "mt": hypotheses[i], "ref": refs[i][k]} for i in rows]
                    with _quiet_lightning():
                        out = model.predict(data, batch_size=self.config.batch_size, gpus=self.config.gpus,
                                            progress_bar=False, num_workers=0,
                                            accelerator="gpu" if self.config.gpus else "cpu")
                    scores = np.asarray(out.scores, dtype=np.float64)
                    metadata = out.get("metadata") or {}
                    found = metadata.get("error_spans") if hasattr(metadata, "get") else None
                    for j, i in enumerate(rows):
                        if scores[j] > best[i]:
                            best[i] = scores[j]
                            spans[i] = list(found[j]) if found is not None else []
            finally:
                torch.set_num_threads(threads)
        self.details = [SegmentDetail(spans=comet_spans(raw, hyp, segment=str(i)))
                        for i, (raw, hyp) in enumerate(zip(spans, hypotheses, strict=True))]
        return np.stack([best, np.ones(n)], axis=1) if n else np.zeros((0, 2))

    def signature(self) -> dict[str, str]:
        ck = self.checkpoint()
        return {"nrefs": "?", "model": self.config.model, "model_hash": ck.identity,
                "class": ck.class_identifier, "encoder": f"{ck.encoder_name}@{ck.encoder_identity}",
                "pool": "max-ref", "version": _version(COMET_PACKAGE),
                "transformers": _version("transformers"), "metric": "COMET"}


def comet_spans(raw: Sequence[Any], hypothesis: str, *, segment: str = "") -> list[Span]:
    """COMET's decoded error spans → mt-eval spans, located by COMET's own character offsets.

    COMET's offsets come from the tokenizer's offset mapping of the hypothesis string (code points).
    Its ``text`` is re-decoded from sub-words (with ``<s>``/``<unk>`` in it), so the span text is taken
    from the hypothesis instead. A span that covers no character (only the opening ``<s>``, offsets
    ``(0, 0)``) is left out, as is a severity outside minor/major/critical. (COMET 2.2.7 itself drops a
    span still open at the closing ``</s>``, so the last tokens of a hypothesis are never in a span.)
    """
    out: list[Span] = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        severity = str(item.get("severity", "")).strip().lower()
        if severity not in SEVERITIES:
            continue
        try:
            start, end = int(item["start"]), int(item["end"])
        except (KeyError, TypeError, ValueError):
            continue
        start, end = max(0, start), min(end, len(hypothesis))
        if start >= end:
            continue
        out.append(make_span({"segment_id": segment, "system": "", "start": start, "end": end,
                              "severity": severity, "source": "", "text": hypothesis[start:end]}))
    return out


class BERTScoreOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lang: str = "en"
    model_type: str | None = None  # default model for ``lang``; must be in the HF cache
    rescale_with_baseline: bool = False
    batch_size: int = 64


class BERTScore(_MeanMetric):
    """BERTScore F1 (bert-score); several references: the best F1 (as ``bert_score.score`` does)."""

    name = "bertscore"
    install_hint = "bert-score"
    probe_modules = ("bert_score",)
    options_model = BERTScoreOptions
    run_only_options = frozenset({"batch_size"})
    gate_family_default = False
    config: BERTScoreOptions

    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], *,
                      sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        refs = self._record_refs(references, len(hypotheses))
        try:
            import bert_score

            _, _, f1 = bert_score.score(list(hypotheses), refs, lang=self.config.lang,
                                        model_type=self.config.model_type,
                                        rescale_with_baseline=self.config.rescale_with_baseline,
                                        batch_size=self.config.batch_size, verbose=False)
        except Exception as exc:
            raise MtEvalError(f"metric bertscore: model for lang={self.config.lang!r} "
                              f"({self.config.model_type or 'default'}) is not usable here "
                              f"({type(exc).__name__}: {exc})") from None
        values = np.asarray(f1.numpy() if hasattr(f1, "numpy") else f1, dtype=np.float64)
        return np.stack([values, np.ones(len(values))], axis=1)

    def signature(self) -> dict[str, str]:
        model = self.config.model_type or f"default-{self.config.lang}"
        return {"nrefs": "?", "model": model,
                "rescale": "yes" if self.config.rescale_with_baseline else "no",
                "version": _version("bert-score"), "metric": "BERTScore"}
