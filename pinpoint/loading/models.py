"""The loaded-model objects carried between stages (and on ComfyUI sockets, wrapped)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .sam_folder import ENGINES
from .text_segmenter import FAMILIES


@dataclass(eq=False)
class TransformersModel:
    """A transformers model in eval mode with its processor, as loaded from a folder.

    Attributes:
        model: the model; its parameters' device/dtype are where inputs go.
        processor: the matching processor (image processor, or tokenizer + image processor).
        name: folder name shown to users, e.g. ``"detr-resnet-50"``.
        path: the model folder.
    """

    model: torch.nn.Module
    processor: Any
    name: str
    path: Path

    @property
    def labels(self) -> dict[int, str]:
        """Class id → class name, from the model config's ``id2label``."""
        return {int(k): str(v) for k, v in self.model.config.id2label.items()}


@dataclass(eq=False)
class Detector(TransformersModel):
    """An object detector (``AutoModelForObjectDetection``, or with ``open_vocabulary`` an
    ``AutoModelForZeroShotObjectDetection``: OWL-ViT, OWLv2, Grounding DINO, which take text
    queries instead of a fixed class list)."""

    open_vocabulary: bool = False


@dataclass(eq=False)
class ClipMatcher(TransformersModel):
    """A ``CLIPModel`` with its processor (tokenizer + image processor)."""


@dataclass(eq=False)
class Segmenter(TransformersModel):
    """A semantic-segmentation model (``AutoModelForSemanticSegmentation``, e.g. Segformer)."""


@dataclass(eq=False)
class ClipSeg(TransformersModel):
    """A ``CLIPSegForImageSegmentation`` with its processor (text → heatmap)."""


@dataclass(eq=False)
class Dino(TransformersModel):
    """A self-supervised ViT (DINO / DINOv2, ``AutoModel``) whose last-layer attention gives
    anchor points, with its image processor."""


@dataclass(eq=False)
class VitMatte(TransformersModel):
    """A ``VitMatteForImageMatting`` with its ``VitMatteImageProcessor``: an image and a trimap
    in, an alpha matte out."""


@dataclass(eq=False)
class SamModel:
    """A ``segment_anything`` ``Sam`` model built from a single checkpoint file.

    Attributes:
        model: the ``segment_anything.modeling.Sam`` in eval mode.
        name: the checkpoint's file name, e.g. ``"sam_vit_b_01ec64.pth"``.
        path: the checkpoint file.
        variant: ``"vit_b"``, ``"vit_l"``, ``"vit_h"`` (detected from the state dict), or a
            description of a non-standard encoder.
    """

    model: torch.nn.Module
    name: str
    path: Path
    variant: str


@dataclass(eq=False)
class PerceptualNet:
    """A perceptual network read from one PyTorch weights file: an LPIPS backbone (AlexNet,
    VGG16, SqueezeNet 1.1) or the Inception of FID.

    Attributes:
        name: the file's name, e.g. ``"alexnet-owt-7be5be79.pth"``.
        path: the weights file.
        network: which entry of :data:`pinpoint.loading.perceptual.NETWORKS` it is
            (``"alexnet"``, ``"vgg16"``, ``"squeezenet1_1"``, ``"inception_fid"``), read off the
            weights, not the file name.
        model: what the metrics run, in eval mode with gradients off: the torchvision
            network's ``features`` for an LPIPS backbone (its classifier is not used), the
            whole Inception for FID (always float32; uint8 ``[N, 3, H, W]`` in, ``[N, 2048]``
            features out).
    """

    name: str
    path: Path
    network: str
    model: torch.nn.Module


@dataclass(eq=False)
class SamFolder(TransformersModel):
    """A Segment Anything model in the transformers layout (``Sam2Model``, ``SamHQModel`` or
    ``SamModel``) with its processor: another engine of the same box and point prompts as
    :class:`SamModel`."""

    @property
    def engine(self) -> str:
        """``"SAM 2"``, ``"SAM-HQ"`` or ``"SAM"``."""
        return ENGINES[self.model.config.model_type]


@dataclass(eq=False)
class TextSegmenter(TransformersModel):
    """A model that finds what a text names: ``Sam3Model`` (instance masks and boxes with
    scores) or ``Florence2ForConditionalGeneration`` (boxes by phrase grounding, outlines by
    referring-expression segmentation), with its processor."""

    @property
    def family(self) -> str:
        """``"SAM 3"`` or ``"Florence-2"``."""
        return FAMILIES[self.model.config.model_type]


@dataclass(eq=False)
class InpaintPipe:
    """A diffusers inpainting pipeline of a family of :mod:`pinpoint.diffusers_families`.

    Attributes:
        pipe: the pipeline; its components live on the same device.
        native_size: the resolution the model was trained at, in pixels (512 for SD 1.5),
            e.g. ``unet.config.sample_size * vae_scale_factor``.
        multiple: crop sizes are rounded to this many pixels (the VAE scale factor, times 2
            for a model reading 2x2 patches; at least 8).
        family: the key of its family (``"sd"``, ``"sdxl"``, ``"flux-fill"`` ...), which the
            loader reads off model_index.json.
    """

    pipe: Any
    name: str
    path: Path
    native_size: int
    multiple: int
    family: str = "sd"

    @property
    def modules(self) -> list[torch.nn.Module]:
        """The pipeline's torch modules (UNet, VAE, text encoders), for device management."""
        return pipeline_modules(self.pipe)

    @property
    def device(self) -> torch.device:
        """Where the pipeline runs (its modules share one device)."""
        return module_device(self.modules[0])

    @property
    def dtype(self) -> torch.dtype:
        """The pipeline's floating dtype (its modules share one)."""
        return module_dtype(self.modules[0])


def pipeline_modules(pipe: Any) -> list[torch.nn.Module]:
    """The torch modules among a diffusers pipeline's components."""
    return [m for m in pipe.components.values() if isinstance(m, torch.nn.Module)]


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (CPU for a parameter-less module)."""
    for parameter in module.parameters():
        return parameter.device
    return torch.device("cpu")


def module_dtype(module: torch.nn.Module) -> torch.dtype:
    """The floating dtype of ``module``'s first floating parameter (float32 if none)."""
    for parameter in module.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def to_module(module: torch.nn.Module, inputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """A processor's tensors on ``module``'s device, floating ones in its dtype (ids and masks
    keep theirs); entries that are not tensors are left out."""
    device, dtype = module_device(module), module_dtype(module)
    return {
        key: value.to(device, dtype) if value.is_floating_point() else value.to(device)
        for key, value in inputs.items()
        if isinstance(value, torch.Tensor)
    }
