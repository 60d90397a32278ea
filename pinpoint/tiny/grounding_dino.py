"""A tiny random Grounding DINO in the layout of IDEA-Research/grounding-dino-tiny."""

from __future__ import annotations

import string
from pathlib import Path

from ._build import build

PUNCTUATION_ID = 999  # "!" in bert-base-uncased; the ASCII symbols follow in order


def bert_vocab() -> list[str]:
    """A vocab.txt with bert-base-uncased's ids for [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102,
    [MASK] 103 and the ASCII symbols from 999 on ("." 1012, "?" 1029): Grounding DINO splits the
    text into phrases at those four ids, hard-coded. Letters and digits follow as single
    characters and "##" pieces, so every lower-case word tokenizes without [UNK]."""
    vocab = ["[PAD]", *(f"[unused{index}]" for index in range(99))]
    vocab += ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += [f"[unused{index}]" for index in range(99, 99 + PUNCTUATION_ID - len(vocab))]
    vocab += [chr(code) for code in range(ord("!"), ord("~") + 1) if not chr(code).isupper()]
    vocab += [f"##{char}" for char in string.ascii_lowercase + string.digits]
    return vocab


def build_tiny_grounding_dino(folder: Path) -> Path:
    """A random ``GroundingDinoForObjectDetection`` (tiny Swin backbone, tiny BERT text tower)
    with a ``GroundingDinoProcessor`` (a BERT tokenizer, see :func:`bert_vocab`; images resized
    to a shortest edge of 64, longest 96) in ``folder``.

    The folder holds what a download of IDEA-Research/grounding-dino-tiny holds: config.json,
    model.safetensors, preprocessor_config.json, vocab.txt and tokenizer files.
    """
    return build(Path(folder), {"builder": "grounding-dino"}, _write)


def _write(target: Path) -> None:
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        SwinConfig,
    )

    vocab = bert_vocab()
    (target / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    backbone = SwinConfig(
        embed_dim=8,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 1, 1],
        window_size=7,
        out_features=["stage2", "stage3", "stage4"],
    )
    text = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    )
    config = GroundingDinoConfig(
        backbone_config=backbone,
        text_config=text,
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,  # transformers 5.23 cannot tie the box heads of a 1-layer decoder
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_queries=10,
        num_feature_levels=3,
        encoder_n_points=2,
        decoder_n_points=2,
        max_text_len=64,
    )
    GroundingDinoForObjectDetection(config).save_pretrained(target)
    GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(
        target
    )
    BertTokenizer.from_pretrained(target, local_files_only=True).save_pretrained(target)
