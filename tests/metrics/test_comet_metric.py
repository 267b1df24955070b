"""The ``comet`` metric on tiny COMET checkpoints built by COMET's own classes (no download, no hub).

What is checked: scores equal those of COMET's own loader and ``predict`` on the same checkpoint; the
xCOMET error spans are COMET's, located in the hypothesis by code point (Arabic, emoji); loading never
unpickles code unless the user says so; the signature carries the checkpoint's content hash.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from comet_fixture import TinyComet
from helpers.corpora import GOOD, REFS, SOURCES

from mt_eval.errors import MtEvalError
from mt_eval.metrics.registry import get_metric, parse_metric_spec
from mt_eval.metrics.signature import MetricSignature, nrefs

pytestmark = pytest.mark.slow  # imports COMET and Lightning (seconds) and runs the tiny models

HYPS = [*GOOD[:4], "القطة تنام على الحصيرة 😀 yes.", "We love 🚂🚃 travelling by train, 👩‍👩‍👧 too."]
REFS_1 = [[r] for r in REFS]


def _comets_own(path: Path, hyps: list[str], refs: list[str], srcs: list[str]) -> object:
    """COMET's own ``load_from_checkpoint`` + ``predict`` (with mt-eval's two transformers-5 adaptations)."""
    from comet import load_from_checkpoint

    from mt_eval.metrics.optional import _adapt_to_this_stack, _quiet_lightning

    with _quiet_lightning():
        model = load_from_checkpoint(str(path / "checkpoints" / "model.ckpt"), local_files_only=True)
        _adapt_to_this_stack(model)
        data = [{"src": s, "mt": h, "ref": r} for s, h, r in zip(srcs, hyps, refs, strict=True)]
        return model.predict(data, batch_size=4, gpus=0, progress_bar=False, num_workers=0)


@pytest.mark.parametrize("kind", ["regression", "xcomet"])
def test_scores_equal_comets_own_loader_and_predict(tiny_comet: TinyComet, kind: str) -> None:
    path = getattr(tiny_comet, kind)
    metric = get_metric("comet", model=str(path), batch_size=4, threads=1)
    stats = metric.segment_stats(HYPS, REFS_1, sources=SOURCES)
    expected = np.asarray(_comets_own(path, HYPS, REFS, SOURCES).scores)  # type: ignore[attr-defined]
    assert stats.shape == (6, 2) and stats.dtype == np.float64
    np.testing.assert_array_equal(stats[:, 0], expected)
    np.testing.assert_array_equal(stats[:, 1], np.ones(6))
    assert len(set(np.round(expected, 6))) == 6  # the tiny model does tell segments apart
    assert metric.corpus_score(stats) == pytest.approx(100 * expected.mean())
    assert MetricSignature.of(metric, nrefs(REFS_1)).as_dict()["nrefs"] == "1"


def test_several_references_take_the_best_score(tiny_comet: TinyComet) -> None:
    metric = get_metric("comet", model=str(tiny_comet.regression), threads=1)
    other = ["A boy went to school.", "The cat is on the mat.", "Nice weather today.", "A book on history.",
             "We like to travel.", "Open the window."]
    both = metric.segment_stats(HYPS, [[a, b] for a, b in zip(REFS, other, strict=True)], sources=SOURCES)
    first = metric.segment_stats(HYPS, [[a] for a in REFS], sources=SOURCES)[:, 0]
    second = metric.segment_stats(HYPS, [[b] for b in other], sources=SOURCES)[:, 0]
    np.testing.assert_array_equal(both[:, 0], np.maximum(first, second))
    assert (first != second).all()
    varied_refs = [[REFS[0], other[0]], [REFS[1]]]
    varied = metric.segment_stats(HYPS[:2], varied_refs, sources=SOURCES[:2])
    # a batch of another shape pads differently, which moves float32 results by ~1e-7 (COMET is not
    # batch-invariant); the best reference of each segment is still the one chosen
    np.testing.assert_allclose(varied[:, 0], [max(first[0], second[0]), first[1]], rtol=0, atol=1e-6)
    assert abs(first[0] - second[0]) > 1e-4  # so the tolerance cannot hide the wrong reference
    assert MetricSignature.of(metric, nrefs(varied_refs)).as_dict()["nrefs"] == "var"


def test_batch_size_and_threads_do_not_change_scores(tiny_comet: TinyComet) -> None:
    one = get_metric("comet", model=str(tiny_comet.regression), batch_size=1, threads=1)
    many = get_metric("comet", model=str(tiny_comet.regression), batch_size=6, threads=2)
    np.testing.assert_allclose(one.segment_stats(HYPS, REFS_1, sources=SOURCES),
                               many.segment_stats(HYPS, REFS_1, sources=SOURCES), rtol=0, atol=1e-5)
    assert one.identity_spec() == many.identity_spec()
    assert one.spec() != many.spec()


def test_xcomet_spans_are_comets_located_in_code_points(tiny_comet: TinyComet) -> None:
    metric = get_metric("comet", model=str(tiny_comet.xcomet), batch_size=4, threads=1)
    assert metric.reports_details
    metric.segment_stats(HYPS, REFS_1, sources=SOURCES)
    raw = _comets_own(tiny_comet.xcomet, HYPS, REFS, SOURCES).metadata.error_spans  # type: ignore[attr-defined]
    assert metric.details is not None and len(metric.details) == len(HYPS)
    total = 0
    for hyp, detail, comet_spans in zip(HYPS, metric.details, raw, strict=True):
        ours = [(s.start, s.end, s.severity) for s in detail.spans]
        theirs = [(s["start"], s["end"], s["severity"]) for s in comet_spans if s["end"] > s["start"]]
        assert ours == theirs
        for span in detail.spans:
            assert span.start is not None and span.end is not None
            assert 0 <= span.start < span.end <= len(hyp)
            assert span.text == hyp[span.start:span.end]
            assert span.check(hyp) == span
        total += len(ours)
    assert total >= 6
    # spans over astral characters: offsets count code points, not UTF-16 units or bytes
    emoji = [s for d, h in zip(metric.details, HYPS, strict=True) for s in d.spans
             if any(ord(c) > 0xFFFF for c in h[s.start:s.end])]  # type: ignore[misc]
    arabic = [s for s in metric.details[4].spans if any("\u0600" <= c <= "\u06ff" for c in s.text or "")]
    assert emoji and arabic


def test_a_regression_model_reports_no_spans(tiny_comet: TinyComet) -> None:
    metric = get_metric("comet", model=str(tiny_comet.regression), threads=1)
    metric.segment_stats(HYPS, REFS_1, sources=SOURCES)
    assert metric.details is not None and len(metric.details) == 6
    assert all(d.spans == [] and d.failure is None for d in metric.details)


def test_signature_carries_the_checkpoint_hash(tiny_comet: TinyComet, tmp_path: Path) -> None:
    ckpt = tiny_comet.regression / "checkpoints" / "model.ckpt"
    sha = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    for model in (str(tiny_comet.regression), str(ckpt)):
        sig = get_metric("comet", model=model).signature()
        assert sig["model_hash"] == f"sha256:{sha}"
        assert sig["class"] == "regression_metric" and sig["metric"] == "COMET"
        assert sig["version"] == "2.2.7" and sig["encoder"].startswith(f"{tiny_comet.encoder}@sha256:")
    xsig = get_metric("comet", model=str(tiny_comet.xcomet)).signature()
    assert xsig["class"] == "xcomet_metric" and xsig["model_hash"] != f"sha256:{sha}"
    # the same checkpoint under another path has the same hash; changed weights change it
    copy = tmp_path / "copy"
    shutil.copytree(tiny_comet.regression, copy)
    assert get_metric("comet", model=str(copy)).signature()["model_hash"] == f"sha256:{sha}"
    import torch

    state = torch.load(copy / "checkpoints" / "model.ckpt", weights_only=True)
    name = next(k for k in state["state_dict"] if k.startswith("estimator."))
    state["state_dict"][name] = state["state_dict"][name] + 1.0
    torch.save(state, copy / "checkpoints" / "model.ckpt")
    assert get_metric("comet", model=str(copy)).signature()["model_hash"] != f"sha256:{sha}"


def test_options_identity_and_gate_family(tiny_comet: TinyComet) -> None:
    metric = get_metric("comet", model=str(tiny_comet.regression), batch_size=3, threads=2)
    assert metric.identity_spec() == {"name": "comet", "options": {"model": str(tiny_comet.regression),
                                                                   "revision": None}}
    assert not type(metric).gate_family_default
    assert parse_metric_spec(f"comet:model={tiny_comet.regression},batch_size=8") == (
        "comet", {"model": str(tiny_comet.regression), "batch_size": 8})
    with pytest.raises(MtEvalError, match="bad option gpus"):
        get_metric("comet", model=str(tiny_comet.regression), gpus=2)


class _Payload:
    """Unpickling this writes a file: what a hostile checkpoint could do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_with_pickled_code_is_refused_unless_trusted(tiny_comet: TinyComet,
                                                                 tmp_path: Path) -> None:
    import torch

    bad = tmp_path / "bad"
    shutil.copytree(tiny_comet.regression, bad)
    marker = tmp_path / "code-ran"
    state = torch.load(bad / "checkpoints" / "model.ckpt", weights_only=True)
    state["callbacks"] = {"payload": _Payload(marker)}
    torch.save(state, bad / "checkpoints" / "model.ckpt")
    metric = get_metric("comet", model=str(bad), threads=1)
    with pytest.raises(MtEvalError, match="trust_checkpoint=true") as err:
        metric.segment_stats(HYPS[:2], REFS_1[:2], sources=SOURCES[:2])
    assert "\n" not in str(err.value) and "open" in str(err.value)
    assert not marker.exists()  # nothing from the file ran
    # trusted, it loads, and the file's code does run: the risk the option names is real
    trusted = get_metric("comet", model=str(bad), threads=1, trust_checkpoint=True)
    scores = trusted.segment_stats(HYPS[:2], REFS_1[:2], sources=SOURCES[:2])
    assert marker.exists()
    plain = get_metric("comet", model=str(tiny_comet.regression), threads=1)
    np.testing.assert_array_equal(scores, plain.segment_stats(HYPS[:2], REFS_1[:2], sources=SOURCES[:2]))
    assert trusted.identity_spec() == metric.identity_spec()  # trust_checkpoint is a run-only option


def test_a_checkpoint_missing_weights_is_refused(tiny_comet: TinyComet, tmp_path: Path) -> None:
    import torch

    short = tmp_path / "short"
    shutil.copytree(tiny_comet.regression, short)
    state = torch.load(short / "checkpoints" / "model.ckpt", weights_only=True)
    del state["state_dict"]["estimator.ff.0.weight"]
    torch.save(state, short / "checkpoints" / "model.ckpt")
    with pytest.raises(MtEvalError, match=r"lacks 1 weights .*estimator\.ff\.0\.weight"):
        get_metric("comet", model=str(short)).segment_stats(HYPS[:1], REFS_1[:1], sources=SOURCES[:1])


def test_user_errors_are_one_line(tiny_comet: TinyComet, tmp_path: Path) -> None:
    cases = {
        str(tmp_path / "nowhere"): "not found",
        str(tmp_path / "nowhere.ckpt"): "not found",
    }
    no_hparams = tmp_path / "no-hparams"
    shutil.copytree(tiny_comet.regression, no_hparams)
    (no_hparams / "hparams.yaml").unlink()
    cases[str(no_hparams)] = "hparams.yaml not found"
    not_a_ckpt = tmp_path / "junk"
    shutil.copytree(tiny_comet.regression, not_a_ckpt)
    (not_a_ckpt / "checkpoints" / "model.ckpt").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    for model, message in cases.items():
        with pytest.raises(MtEvalError, match=message) as err:
            get_metric("comet", model=model).signature()
        assert "\n" not in str(err.value)
    with pytest.raises(MtEvalError, match=r"cannot read checkpoint .*Git LFS pointer") as err:
        get_metric("comet", model=str(not_a_ckpt)).segment_stats(["a"], [["b"]], sources=["c"])
    assert "\n" not in str(err.value)
    with pytest.raises(MtEvalError, match="revision= is for hub ids"):
        get_metric("comet", model=str(tiny_comet.regression), revision="main").signature()
    with pytest.raises(MtEvalError, match="needs the source"):
        get_metric("comet", model=str(tiny_comet.regression)).segment_stats(["a"], [["b"]])


def test_the_transformers_5_adaptation_matches_the_tokenizers_own_pairs(tiny_comet: TinyComet) -> None:
    from mt_eval.metrics.optional import load_comet_model, resolve_comet_checkpoint

    model = load_comet_model(resolve_comet_checkpoint(str(tiny_comet.xcomet)))
    tok = model.encoder.tokenizer
    a, b = tok("القطة تنام 😀").input_ids, tok("The cat sleeps.").input_ids
    pair = tok("القطة تنام 😀", "The cat sleeps.").input_ids
    assert tok.build_inputs_with_special_tokens(a[1:-1], b[1:-1]) == pair
    assert tok.build_inputs_with_special_tokens(a[1:-1]) == a


def test_without_unbabel_comet_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "comet" else real(name, *args))
    with pytest.raises(MtEvalError, match=r"pip install unbabel-comet==2\.2\.7 --no-deps") as err:
        get_metric("comet", model="/models/x")
    assert "comet extra" in str(err.value) and "\n" not in str(err.value)


def test_a_numeric_hub_revision_stays_a_string() -> None:
    assert parse_metric_spec("comet:model=Unbabel/wmt22-comet-da,revision=1234567") == (
        "comet", {"model": "Unbabel/wmt22-comet-da", "revision": "1234567"})
