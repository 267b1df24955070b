"""Tiny COMET checkpoints built with COMET's own model classes, offline, in a few seconds.

The encoder is an XLM-R-style model (``XLMRobertaConfig``: hidden size 32, 2 layers) with a
SentencePiece tokenizer trained here on the seed article (Arabic and English); COMET's encoders read its
tokenizer and config from the local folder named in the ``pretrained_model`` hyper-parameter, and the
weights from the checkpoint. The COMET heads are randomly initialised under a fixed seed: the scores
mean nothing, but they are exactly what COMET computes for these weights, which is what the tests check.

A checkpoint is written as COMET training writes one: a Lightning ``Trainer.save_checkpoint`` file in
``MODEL/checkpoints/model.ckpt`` and Lightning's ``hparams.yaml`` in ``MODEL/``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

SEED_FILE = Path(__file__).resolve().parents[2] / "seeds" / "000_3f6bb7e6e5b2fcec.txt"


@dataclass(frozen=True)
class TinyComet:
    encoder: Path  # XLM-R-style encoder folder: tokenizer + config.json
    regression: Path  # RegressionMetric (wmt22-comet-da style): MODEL/checkpoints/model.ckpt
    xcomet: Path  # XCOMETMetric (word-level error tags → error spans)


def _train_spm(lines: list[str], vocab_size: int) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size,
                                   model_type="unigram", character_coverage=1.0, num_threads=1,
                                   hard_vocab_limit=False, minloglevel=2)
    return model.getvalue()


def build_encoder(folder: Path) -> Path:
    """SentencePiece + XLM-R tokenizer (converted by transformers, as for the real xlm-roberta) + config."""
    from transformers import XLMRobertaConfig, XLMRobertaTokenizerFast

    lines = [line for line in SEED_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sentencepiece.bpe.model").write_bytes(_train_spm(lines, 300))
    tokenizer = XLMRobertaTokenizerFast.from_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=514, pad_token_id=tokenizer.pad_token_id,
                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                     ).save_pretrained(str(folder))
    return folder


def save_comet_checkpoint(model: object, folder: Path) -> Path:
    """``folder/checkpoints/model.ckpt`` + ``folder/hparams.yaml``, written by Lightning itself."""
    import pytorch_lightning as pl
    from pytorch_lightning.core.saving import save_hparams_to_yaml

    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(model)  # type: ignore[arg-type]
    trainer.save_checkpoint(str(folder / "checkpoints" / "model.ckpt"))
    save_hparams_to_yaml(folder / "hparams.yaml", dict(model.hparams))  # type: ignore[attr-defined]
    return folder


def build_tiny_comet(root: Path) -> TinyComet:
    """An encoder and two COMET checkpoints over it (regression and xCOMET), seeded."""
    import logging

    import torch
    from comet.models import RegressionMetric, XCOMETMetric

    for name in ("pytorch_lightning", "lightning.pytorch", "comet"):
        logging.getLogger(name).setLevel(logging.WARNING)
    torch.set_num_threads(1)
    encoder = build_encoder(root / "encoder")
    common = {"pretrained_model": str(encoder), "load_pretrained_weights": False, "local_files_only": True,
              "hidden_sizes": [16], "dropout": 0.0}
    torch.manual_seed(0)
    regression = RegressionMetric(encoder_model="XLM-RoBERTa", layer_transformation="sparsemax", **common)
    torch.manual_seed(1)
    xcomet = XCOMETMetric(encoder_model="XLM-RoBERTa", word_layer=1, **common)
    return TinyComet(encoder=encoder, regression=save_comet_checkpoint(regression, root / "regression"),
                     xcomet=save_comet_checkpoint(xcomet, root / "xcomet"))
