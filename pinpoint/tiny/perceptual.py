"""A random-weight perceptual network file in the layout users download (a plain state dict).

These networks cannot be shrunk (LPIPS and FID read fixed layers), so the file has the real
architecture: SqueezeNet 1.1 is about 5 MB, AlexNet 244 MB, VGG16 553 MB, the FID Inception
96 MB. The default, SqueezeNet, is the one cheap enough for the tiny model set.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import PinpointError
from ..loading.perceptual import NETWORKS
from ._build import build_file

TINY_PERCEPTUAL_FILE = "tiny-random-squeezenet1_1.pth"


def build_tiny_perceptual(target: Path, network: str = "squeezenet1_1") -> Path:
    """A random ``network`` (a name of :data:`pinpoint.loading.perceptual.NETWORKS`) at the
    file ``target``, which :func:`pinpoint.loading.load_model` identifies as that network.

    Deterministic (fixed seed, the caller's RNG untouched) and idempotent (a matching stamp
    leaves the file alone).

    Raises:
        PinpointError: an unknown ``network``, or ``target`` exists but is not a Pinpoint tiny
        build (no stamp).
    """
    if network not in NETWORKS:
        raise PinpointError(
            f"there is no perceptual network {network!r}", f"use one of {', '.join(NETWORKS)}"
        )
    build = NETWORKS[network].build
    return build_file(
        target, {"builder": "perceptual", "network": network}, lambda: build().state_dict()
    )
