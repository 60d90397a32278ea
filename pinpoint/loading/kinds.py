"""The model kinds Pinpoint loads, described once each: the table that drives model folders, the
loaders, the CLI's ``models`` listing and ComfyUI's loader nodes.

A new kind of an existing format is one :class:`ModelKind` entry here (plus its tiny builder in
:mod:`pinpoint.tiny`); a transformers kind needs no loader code of its own: the shared loader
(:mod:`pinpoint.loading.transformers_folder`) checks and loads it from the entry. Nothing here
imports transformers, diffusers or segment_anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import clipseg, detector, perceptual, sam_folder, text_segmenter
from .checks import auto_model_types
from .model_kind import Config, Format, ModelKind, Transformers
from .models import (
    ClipMatcher,
    ClipSeg,
    Detector,
    Dino,
    InpaintPipe,
    PerceptualNet,
    SamFolder,
    SamModel,
    Segmenter,
    TextSegmenter,
    VitMatte,
)

TOKENIZER_FILES = "tokenizer files (vocab.json, merges.txt or tokenizer.json)"
DINO_MODEL_TYPES = ("vit", "dinov2", "dinov2_with_registers")
"""facebook/dino-vits16, dino-vitb8 (``vit``), facebook/dinov2-small (``dinov2``) and
facebook/dinov2-with-registers-small."""


def _classes(table: Mapping[str, tuple[str, str]], config: Config) -> tuple[str, str]:
    """(model class, processor class) of a checked config, from a kind's ``model_type`` table."""
    return table[str(config["model_type"])]


def _dino(config: Config) -> Transformers:
    # eager attention: output_attentions needs it (SDPA and flash attention do not compute the
    # weights). DINO checkpoints were converted without ViT's pooler; building one would only
    # add randomly initialised weights (and a warning about them).
    kwargs: dict[str, Any] = {"attn_implementation": "eager"}
    if config.get("model_type") == "vit":
        kwargs["add_pooling_layer"] = False
    return Transformers("AutoModel", model_kwargs=kwargs)


_CLOSED_SET_DETECTOR = Transformers(
    "AutoModelForObjectDetection", prepare_config=detector.no_backbone_download
)
_OPEN_VOCABULARY_DETECTOR = Transformers(
    "AutoModelForZeroShotObjectDetection",
    "AutoProcessor",
    ("preprocessor_config.json", "processor_config.json"),
    tokenizer=True,
    wordpiece=True,
    result_fields={"open_vocabulary": True},
)

DETECTOR = ModelKind(
    key="detector",
    title="object detector",
    folder="pinpoint_detectors",
    format=Format.TRANSFORMERS,
    result=Detector,
    expected_files="config.json, model.safetensors, preprocessor_config.json",
    example_repo="facebook/detr-resnet-50",
    example_dir="detr-resnet-50",
    model_types=detector.model_types,
    pick=f"pick a folder with {detector.KINDS_HINT}; ",
    transformers=lambda config: (
        _OPEN_VOCABULARY_DETECTOR if detector.is_open_vocabulary(config) else _CLOSED_SET_DETECTOR
    ),
    check_config=detector.check_config,
)

CLIP = ModelKind(
    key="clip",
    title="CLIP model",
    folder="pinpoint_clip",
    format=Format.TRANSFORMERS,
    result=ClipMatcher,
    expected_files=f"config.json, model.safetensors, preprocessor_config.json, {TOKENIZER_FILES}",
    example_repo="openai/clip-vit-base-patch32",
    example_dir="clip-vit-base-patch32",
    model_types=lambda: {"clip"},
    requirement=" (config.json model_type must be 'clip')",
    pick="pick a folder with a full CLIP model (text and image towers); ",
    transformers=lambda config: Transformers(
        "CLIPModel",
        "AutoProcessor",
        ("preprocessor_config.json", "processor_config.json"),
        tokenizer=True,
    ),
)

INPAINT = ModelKind(
    key="inpaint",
    title="diffusers inpainting pipeline",
    folder="pinpoint_inpaint",
    format=Format.DIFFUSERS,
    result=InpaintPipe,
    expected_files=(
        "model_index.json and the folders it lists (unet/ or transformer/, vae/, text_encoder/, "
        "tokenizer/, scheduler/ ...)"
    ),
    example_repo="stable-diffusion-v1-5/stable-diffusion-inpainting",
    example_dir="stable-diffusion-inpainting",
    extra_folders=("diffusers",),
    marker="model_index.json",
)

SEGMENTER = ModelKind(
    key="segmenter",
    title="semantic segmentation model",
    folder="pinpoint_segmenters",
    format=Format.TRANSFORMERS,
    result=Segmenter,
    expected_files="config.json, model.safetensors, preprocessor_config.json",
    example_repo="nvidia/segformer-b0-finetuned-ade-512-512",
    example_dir="segformer-b0-finetuned-ade-512-512",
    model_types=lambda: auto_model_types("MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES"),
    pick="pick a folder with a semantic-segmentation model (Segformer, BEiT, DPT, UperNet, ...); ",
    transformers=lambda config: Transformers("AutoModelForSemanticSegmentation"),
)

CLIPSEG = ModelKind(
    key="clipseg",
    title="CLIPSeg model",
    folder="pinpoint_clipseg",
    format=Format.TRANSFORMERS,
    result=ClipSeg,
    expected_files=f"config.json, model.safetensors, preprocessor_config.json, {TOKENIZER_FILES}",
    example_repo="CIDAS/clipseg-rd64-refined",
    example_dir="clipseg-rd64-refined",
    model_types=lambda: {"clipseg"},
    requirement=" (config.json model_type must be 'clipseg')",
    transformers=lambda config: Transformers(
        clipseg.ARCHITECTURE,
        "AutoProcessor",
        ("preprocessor_config.json", "processor_config.json"),
        tokenizer=True,
        complete_weights=True,
    ),
    check_config=clipseg.check_config,
    check_processor=clipseg.check_processor,
)

DINO = ModelKind(
    key="dino",
    title="self-supervised ViT (DINO)",
    folder="pinpoint_dino",
    format=Format.TRANSFORMERS,
    result=Dino,
    expected_files="config.json, model.safetensors, preprocessor_config.json",
    example_repo="facebook/dino-vits16",
    example_dir="dino-vits16",
    model_types=lambda: DINO_MODEL_TYPES,
    requirement=" (config.json model_type must be one of "
    + ", ".join(repr(name) for name in DINO_MODEL_TYPES)
    + ")",
    pick="pick a folder with a DINO or DINOv2 backbone (e.g. facebook/dino-vits16, "
    "facebook/dinov2-small); ",
    transformers=_dino,
)

SAM = ModelKind(
    key="sam",
    title="Segment Anything (SAM) checkpoint",
    folder="sams",  # shared with other packs (Impact Pack, ReActor ...)
    format=Format.SAM_CHECKPOINT,
    result=SamModel,
    expected_files=(
        "one original SAM checkpoint file: sam_vit_b_01ec64.pth, sam_vit_l_0b3195.pth or "
        "sam_vit_h_4b8939.pth"
    ),
    example_repo="",
    example_dir="sam_vit_b_01ec64.pth",
    marker="",
    suffixes=(".pth", ".safetensors"),
    download_url=(
        "https://huggingface.co/ybelkada/segment-anything/resolve/main/checkpoints/"
        "sam_vit_b_01ec64.pth"
    ),
)

SAM_FOLDER = ModelKind(
    key="sam_folder",
    title="Segment Anything model (SAM 2, SAM-HQ or SAM, transformers layout)",
    folder="pinpoint_sam",
    format=Format.TRANSFORMERS,
    result=SamFolder,
    expected_files="config.json, model.safetensors, preprocessor_config.json",
    example_repo="facebook/sam2.1-hiera-small",
    example_dir="sam2.1-hiera-small",
    model_types=lambda: sam_folder.CLASSES,
    pick=f"pick a folder with {sam_folder.KINDS_HINT}; ",
    transformers=lambda config: Transformers(
        *_classes(sam_folder.CLASSES, config),
        ("preprocessor_config.json", "processor_config.json"),
        complete_weights=True,
    ),
)

TEXT_SEGMENTER = ModelKind(
    key="text_segmenter",
    title="text segmenter (SAM 3 or Florence-2)",
    folder="pinpoint_text_segmenters",
    format=Format.TRANSFORMERS,
    result=TextSegmenter,
    expected_files=f"config.json, model.safetensors, processor_config.json, {TOKENIZER_FILES}",
    example_repo="facebook/sam3",
    example_dir="sam3",
    model_types=lambda: text_segmenter.CLASSES,
    pick=f"pick a folder with {text_segmenter.KINDS_HINT}; ",
    transformers=lambda config: Transformers(
        *_classes(text_segmenter.CLASSES, config),
        ("processor_config.json", "preprocessor_config.json"),
        tokenizer=True,
        complete_weights=True,
    ),
)

MATTE = ModelKind(
    key="matte",
    title="image matting model (ViTMatte)",
    folder="pinpoint_matting",
    format=Format.TRANSFORMERS,
    result=VitMatte,
    expected_files="config.json, model.safetensors, preprocessor_config.json",
    example_repo="hustvl/vitmatte-small-composition-1k",
    example_dir="vitmatte-small-composition-1k",
    model_types=lambda: {"vitmatte"},
    requirement=" (config.json model_type must be 'vitmatte')",
    pick="pick a ViTMatte folder (e.g. hustvl/vitmatte-small-composition-1k); ",
    transformers=lambda config: Transformers("VitMatteForImageMatting", complete_weights=True),
)

PERCEPTUAL = ModelKind(
    key="perceptual",
    title="perceptual network weights (LPIPS backbone, FID Inception)",
    folder="pinpoint_perceptual",
    format=Format.TORCH_WEIGHTS,
    result=PerceptualNet,
    expected_files=perceptual.EXPECTED_FILES,
    example_repo="",
    example_dir=perceptual.NETWORKS["alexnet"].file,
    marker="",
    suffixes=(".pth", ".safetensors"),
    download_url=perceptual.NETWORKS["alexnet"].url,
)

KINDS = (
    DETECTOR,
    CLIP,
    INPAINT,
    SEGMENTER,
    CLIPSEG,
    DINO,
    SAM,
    SAM_FOLDER,
    TEXT_SEGMENTER,
    MATTE,
    PERCEPTUAL,
)
"""Every kind, in the order the CLI lists them."""
