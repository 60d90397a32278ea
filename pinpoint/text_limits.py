"""How much of a text a model reads: CLIP's and CLIPSeg's tokenizers cut a text at 77 tokens
(start and end included) without a word, so every place that embeds a user's text says when it
was cut and how much was read (SAM 3 reads 30 and refuses more up front, in
:mod:`pinpoint.text_segments`)."""

from __future__ import annotations

from typing import Any

SHOWN_WORDS = (6, 4)
"""A long read text is shown as its first 6 and last 4 words."""


def cut_note(tokenizer: Any, text: str, reader: str = "CLIP", what: str = "the text") -> str:
    """A note saying how much of ``text`` ``tokenizer`` reads when it cuts it; ``""`` when it
    reads it all.

    Args:
        tokenizer: a transformers tokenizer that truncates at its ``model_max_length`` (CLIP's
            and CLIPSeg's: 77 positions, two of them the start and end tokens).
        reader: the model's name in the note (``"CLIP"``, ``"CLIPSeg"``).
        what: what the text is, e.g. ``"the text"`` or ``"the prompt"``.

    Returns:
        e.g. ``"the text was cut to CLIP's 77 tokens: it read 'a red car parked … by the
        door' (58 of 4,000 words)"``.
    """
    limit = int(tokenizer.model_max_length)
    room = limit - tokenizer.num_special_tokens_to_add()
    words = text.split()

    def fits(count: int) -> bool:
        return len(tokenizer.tokenize(" ".join(words[:count]))) <= room

    if len(words) <= room and fits(len(words)):  # a word is at least one token
        return ""
    low, high = 0, min(len(words), room)  # the whole words read: between low and high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    if fits(high):
        low = high
    head, tail = SHOWN_WORDS
    read = words[:low]
    shown = " ".join(read if len(read) <= head + tail else [*read[:head], "…", *read[-tail:]])
    said = f"'{shown}'" if read else "only part of the first word"
    return (
        f"{what} was cut to {reader}'s {limit} tokens: it read {said} "
        f"({len(read):,} of {len(words):,} words)"
    )
