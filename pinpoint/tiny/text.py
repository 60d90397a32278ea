"""A tiny byte-level CLIP tokenizer and text tower config, shared by the tiny CLIP-family models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# A tiny CLIP text tower: 256 byte tokens, 256 end-of-word byte tokens, <|startoftext|>,
# <|endoftext|> (the ids real CLIP uses are 49406/49407; here 512/513).
TEXT_CONFIG: dict[str, Any] = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    vocab_size=514,
    max_position_embeddings=77,
    bos_token_id=512,
    eos_token_id=513,
    pad_token_id=513,
)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable character table (256 entries)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in codes), strict=True))


def write_byte_vocab(folder: Path) -> None:
    """vocab.json (bytes, bytes + '</w>', the two special tokens) and an empty merges.txt."""
    characters = list(bytes_to_unicode().values())
    vocab = {character: index for index, character in enumerate(characters)}
    vocab.update({character + "</w>": 256 + index for index, character in enumerate(characters)})
    vocab["<|startoftext|>"] = 512
    vocab["<|endoftext|>"] = 513
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")


def tiny_tokenizer(vocab_dir: Path) -> Any:
    from transformers import CLIPTokenizer

    # model_max_length as in real CLIP, so truncation=True keeps prompts inside 77 positions.
    return CLIPTokenizer.from_pretrained(vocab_dir, model_max_length=77, local_files_only=True)
