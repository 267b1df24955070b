"""A tiny MarianMT trained in seconds (SentencePiece + one layer each side), for translator tests and
the translation benchmarks: its greedy output reproduces :func:`mt_eval.testing.corpora.tiny_pairs`.
Needs torch, transformers and sentencepiece (``mt-eval[hf]``), imported when a model is built.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

from mt_eval.data.build import seeds_dir
from mt_eval.testing.corpora import tiny_pairs

SEED_FILE = seeds_dir() / "000_3f6bb7e6e5b2fcec.txt"


def _train_spm(lines: list[str], vocab_size: int) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size,
                                   model_type="unigram", character_coverage=1.0, num_threads=1,
                                   hard_vocab_limit=False, bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0,
                                   minloglevel=2)
    return model.getvalue()


def build_tiny_marian(folder: Path, *, steps: int = 300) -> Path:
    """Train SentencePiece + a 1-layer MarianMT on the template pairs; greedy output then reproduces them."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    random.seed(0)
    pairs = tiny_pairs()
    seed_lines = [line for line in SEED_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    src_lines = [a for a, _ in pairs] + seed_lines[:8]
    tgt_lines = [b for _, b in pairs] + seed_lines[8:]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "source.spm").write_bytes(_train_spm(src_lines, 160))
    (folder / "target.spm").write_bytes(_train_spm(tgt_lines, 160))
    pieces: list[str] = []
    for name in ("source.spm", "target.spm"):
        sp = spm.SentencePieceProcessor(model_file=str(folder / name))
        pieces += [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    vocab: dict[str, int] = {"</s>": 0, "<unk>": 1}
    for piece in pieces:
        vocab.setdefault(piece, len(vocab))
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = MarianTokenizer(source_spm=str(folder / "source.spm"), target_spm=str(folder / "target.spm"),
                                vocab=str(folder / "vocab.json"), source_lang="ar", target_lang="en")
    pad = vocab["<pad>"]
    config = MarianConfig(vocab_size=len(vocab), d_model=64, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128,
                          decoder_ffn_dim=128, max_position_embeddings=64, pad_token_id=pad, eos_token_id=0,
                          decoder_start_token_id=pad, forced_eos_token_id=0, activation_function="swish",
                          dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, scale_embedding=True,
                          share_encoder_decoder_embeddings=True, tie_word_embeddings=True)
    model = MarianMTModel(config)
    with torch.no_grad():
        model.model.shared.weight[pad].zero_()
    batch = tokenizer([a for a, _ in pairs], text_target=[b for _, b in pairs], return_tensors="pt",
                      padding=True)
    labels = batch["labels"].masked_fill(batch["labels"] == pad, -100)
    optim = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    n = len(pairs)
    for _ in range(steps):
        idx = torch.randint(0, n, (64,))
        out = model(input_ids=batch["input_ids"][idx], attention_mask=batch["attention_mask"][idx],
                    labels=labels[idx])
        optim.zero_grad()
        out.loss.backward()
        optim.step()
        with torch.no_grad():
            model.model.shared.weight[pad].zero_()
    model.eval()
    model.generation_config.num_beams = 1
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
