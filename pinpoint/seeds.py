"""Seeds: one rule for every sampling route, so a result never depends on its batch."""

from __future__ import annotations

SEED_MODULUS = 2**64
"""Seeds wrap around here: the largest seed a node accepts is ``SEED_MODULUS - 1``."""


def image_seed(seed: int, image_index: int) -> int:
    """The seed of every crop of image ``image_index`` (0-based) of a batch: ``seed + index``.

    Image *b* is sampled as it would be alone with seed ``seed + b``, whatever else is in the
    batch and however many crops it has.
    """
    return (seed + image_index) % SEED_MODULUS
