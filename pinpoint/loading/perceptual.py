"""The perceptual networks of the image metrics, each read from the one weights file users
download: the LPIPS backbones (AlexNet, VGG16, SqueezeNet 1.1 from torchvision) and the Inception
of FID (torch-fidelity's). Nothing is downloaded at run time.

A network is one entry of :data:`NETWORKS`. A file is recognised by its tensors' names and
shapes, not by its name: the architecture is built on the meta device (no memory, no random
init) and the file's tensors are assigned into it strictly (:mod:`.perceptual_loader`).
:func:`lpips_module` turns an LPIPS backbone into torchmetrics' LPIPS (its own bundled linear
layers on the loaded backbone).
"""

from __future__ import annotations

import functools
import io
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import PinpointError
from .checkpoint import describe_keys
from .models import PerceptualNet, module_device, module_dtype

LPIPS = "LPIPS"
FID = "FID"
OPTIONAL_KEYS = ("num_batches_tracked",)
"""Batch-norm counters: not in every converted file, filled in when missing, never compared."""


@dataclass(frozen=True)
class Network:
    """One accepted perceptual network.

    Attributes:
        name: its id, the :attr:`PerceptualNet.network` of a loaded file (``"alexnet"``).
        file: the canonical weights file's name.
        url: where that file is downloaded from.
        use: what it measures, :data:`LPIPS` or :data:`FID`.
        build: the randomly initialised architecture (called on the meta device to load).
        lpips: an LPIPS backbone's name in torchmetrics (``"alex"``, ``"vgg"``, ``"squeeze"``).
        part: the sub-module the metric runs (``"features"``); empty for the whole network.
        float32: loaded in float32 whatever dtype is asked (FID's statistics need the
            precision, and the antialiased resize before it has no half-precision CPU kernel).
    """

    name: str
    file: str
    url: str
    use: str
    build: Callable[[], torch.nn.Module]
    lpips: str = ""
    part: str = ""
    float32: bool = False

    def command(self, folder: Path) -> str:
        """The shell command that downloads the file into ``folder``."""
        return f"curl -L --create-dirs -o {folder / self.file} {self.url}"


def _torchvision(name: str) -> torch.nn.Module:
    import torchvision

    return getattr(torchvision.models, name)(weights=None)


@functools.cache
def _inception_class() -> type[torch.nn.Module]:
    """torchmetrics' ``NoTrainInceptionV3`` (torch-fidelity's FID Inception, never training),
    adapted to be built without a weights file."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    class FidInception(NoTrainInceptionV3):
        num_features = 2048  # read by FrechetInceptionDistance instead of running a test image

        def load_state_dict(
            self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
        ) -> Any:
            if state_dict is None:  # the constructor's own load (_fid_inception): keep the init
                return None
            return super().load_state_dict(state_dict, strict, assign)

    return FidInception


def _fid_inception() -> torch.nn.Module:
    """The FID Inception, randomly initialised, returning the 2048 pooled features.

    Its convolutions are He-initialised: through PyTorch's default init the features of its 94
    convolutions shrink to about 1e-8, and a random file would give all images one feature.
    """
    nothing = io.BytesIO()  # the constructor reads a weights "file": give it no weights
    torch.save(None, nothing)
    nothing.seek(0)
    try:
        module = _inception_class()(
            name="inception-v3-compat",
            features_list=["2048"],
            feature_extractor_weights_path=nothing,
        )
    except ModuleNotFoundError as err:
        raise PinpointError(
            "the FID Inception needs the torch-fidelity package, which is not installed",
            "install it into the Python that runs Pinpoint: pip install torch-fidelity",
        ) from err
    for layer in module.modules():
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    return module


_TORCHVISION = "https://download.pytorch.org/models/"
NETWORKS = {
    network.name: network
    for network in (
        Network(
            "alexnet",
            "alexnet-owt-7be5be79.pth",
            _TORCHVISION + "alexnet-owt-7be5be79.pth",
            LPIPS,
            functools.partial(_torchvision, "alexnet"),
            lpips="alex",
            part="features",
        ),
        Network(
            "vgg16",
            "vgg16-397923af.pth",
            _TORCHVISION + "vgg16-397923af.pth",
            LPIPS,
            functools.partial(_torchvision, "vgg16"),
            lpips="vgg",
            part="features",
        ),
        Network(
            "squeezenet1_1",
            "squeezenet1_1-b8a52dc0.pth",
            _TORCHVISION + "squeezenet1_1-b8a52dc0.pth",
            LPIPS,
            functools.partial(_torchvision, "squeezenet1_1"),
            lpips="squeeze",
            part="features",
        ),
        Network(
            "inception_fid",
            "weights-inception-2015-12-05-6726825d.pth",
            "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
            "weights-inception-2015-12-05-6726825d.pth",
            FID,
            _fid_inception,
            float32=True,
        ),
    )
}
"""Every network Pinpoint reads, by name: LPIPS backbones first (AlexNet is LPIPS's default)."""

EXPECTED_FILES = "one PyTorch weights file: " + "; ".join(
    ", ".join(network.file for network in NETWORKS.values() if network.use == use) + f" for {use}"
    for use in (LPIPS, FID)
)
"""The accepted files, as told to users (the kind's ``expected_files``)."""


def accepted_fix(folder: Path, use: str = "") -> str:
    """A fix naming every accepted file (of ``use``, if given) and how to download it into
    ``folder``."""
    chosen = [network for network in NETWORKS.values() if not use or network.use == use]
    commands = "; ".join(
        f"{network.file} ({network.use}): `{network.command(folder)}`" for network in chosen
    )
    return f"use one of the weights files Pinpoint reads, as downloaded: {commands}"


@functools.cache
def _shapes(name: str) -> dict[str, tuple[int, ...]]:
    """The tensor shapes of network ``name``'s state dict (without :data:`OPTIONAL_KEYS`)."""
    with torch.device("meta"):
        module = NETWORKS[name].build()
    return {
        key: tuple(value.shape)
        for key, value in module.state_dict().items()
        if not key.endswith(OPTIONAL_KEYS)
    }


def identify(state: Mapping[str, torch.Tensor], path: Path) -> Network:
    """The network whose weights ``state`` holds: the one with the largest share of its tensors
    found in ``state`` under the same name and shape (more than half).

    Only names and shapes are read, so meta tensors work. A file with missing or extra tensors
    is still named here and refused by the strict load.

    Raises:
        PinpointError: the tensors are none of :data:`NETWORKS`.
    """
    best, best_share, unavailable = None, 0.5, []
    for network in NETWORKS.values():
        try:
            expected = _shapes(network.name)
        except PinpointError as err:  # a missing package: the other networks still load
            unavailable.append(f"{network.name}: {err.problem}")
            continue
        found = sum(
            1
            for key, shape in expected.items()
            if key in state and tuple(state[key].shape) == shape
        )
        if found / len(expected) > best_share:
            best, best_share = network, found / len(expected)
    if best is None:
        names = ", ".join(NETWORKS)
        note = f"; not checked: {'; '.join(unavailable)}" if unavailable else ""
        raise PinpointError(
            f"'{path.name}' is none of the perceptual networks Pinpoint reads ({names}; "
            f"{describe_keys(state)}){note}",
            accepted_fix(path.parent),
        )
    return best


def check_use(net: PerceptualNet, use: str, what: str) -> None:
    """Raise unless ``net`` is a network for ``use`` (:data:`LPIPS` or :data:`FID`); ``what``
    names the measure that needs it."""
    found = NETWORKS[net.network]
    if found.use != use:
        raise PinpointError(
            f"{what} needs {'an' if use == LPIPS else 'the'} {use} network, but '{net.name}' "
            f"is {found.name}, the {found.use} network",
            accepted_fix(net.path.parent, use),
        )


_lpips: weakref.WeakKeyDictionary[PerceptualNet, torch.nn.Module] = weakref.WeakKeyDictionary()
_lpips_lock = threading.Lock()


def lpips_module(net: PerceptualNet) -> torch.nn.Module:
    """torchmetrics' LPIPS on ``net``'s backbone, on ``net``'s device and in its dtype.

    Built once per loaded network (kept while ``net`` is alive): torchmetrics' bundled linear
    layers (``lpips_models/<alex|vgg|squeeze>.pth``) over a copy of ``net``'s weights, so no
    backbone is downloaded. Call it as ``lpips(a, b, normalize=True)`` with ``[N, 3, H, W]``
    images in [0, 1] (``normalize=False``: in [-1, 1]); it returns ``[N, 1, 1, 1]`` distances,
    0 for identical images. Eval mode and frozen weights; gradients flow to the inputs.

    Raises:
        PinpointError: ``net`` is not an LPIPS backbone.
    """
    check_use(net, LPIPS, "LPIPS")
    with _lpips_lock:
        module = _lpips.get(net)
        if module is None:
            module = _lpips[net] = _build_lpips(net)
    return module.to(module_device(net.model), module_dtype(net.model))


def _build_lpips(net: PerceptualNet) -> torch.nn.Module:
    from torchmetrics.functional.image.lpips import _NoTrainLpips

    lpips = _NoTrainLpips(net=NETWORKS[net.network].lpips, pretrained=True, pnet_rand=True)
    # torchmetrics slices torchvision's features into Sequentials (slice1..5, or slices.0..6
    # for SqueezeNet) whose children keep their index in features: features.N -> slice*.N.
    for part in lpips.net.modules():
        if isinstance(part, torch.nn.Sequential):
            for index, layer in part.named_children():
                layer.load_state_dict(net.model[int(index)].state_dict())
    return lpips
