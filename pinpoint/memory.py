"""Activation memory estimates: what each stage needs on the device besides its weights.

A ComfyUI node hands the estimate of its request to ComfyUI's model management before the
model moves to the GPU, so other models are offloaded first when room is short. Estimates err
large; none depends on weight values.
"""

from __future__ import annotations

import torch

from .anchors import AnchorRequest, patch_grid, register_tokens
from .detect import DetectRequest, TextDetectRequest
from .heatmap import MAX_PAIRS_PER_FORWARD, HeatmapRequest
from .images import IMAGES_PER_PASS
from .loading.models import SamFolder, module_dtype
from .loading.sam import GRID_SIZE
from .match import MatchRequest
from .matte import MatteRequest
from .refine import PROMPTS_PER_CALL, RefineRequest
from .segments import SegmentRequest
from .text_segments import TextSegmentRequest

MB = 1024 * 1024

DETECT_MB_PER_IMAGE = 192
"""Detectors resize to about 800x1333, where a ResNet-50 DETR needs well under 200 MB in fp32."""

TEXT_DETECT_MB_PER_IMAGE = 1024
"""OWLv2 runs a ViT-B/16 on 960x960 (3600 patches, every query per image) and Grounding DINO a
Swin-T at 800x1333 with a text tower: about 1 GB in fp32."""

SEGMENT_MB_PER_IMAGE = 512
"""Segformer-B5 at 640x640 concatenates four 768-channel maps at 160x160 in its decode head
(about 320 MB in fp32)."""

SAM3_MB_PER_IMAGE = 3072
"""SAM 3 runs a ViT-L on 1008x1008 (72x72 tokens, global attention in four of 32 blocks) and
keeps 200 queries' 288x288 mask logits: about 3 GB in fp32."""

FLORENCE_MB_PER_PAIR = 1024
"""Florence-2 encodes 768x768 images (577 tokens) with a DaViT and decodes with beam search
(3 beams, up to 1024 tokens, each with its cache): about 1 GB per image and query for -large in
fp32."""

MATCH_MB = 256
"""CLIP sees 224x224 crops; a ViT-B/L batch of a few dozen crops stays well under 256 MB."""

HEATMAP_MB = 256
"""CLIPSeg sees 352x352 inputs; a ViT-B/16 pass over a few pairs stays well under 256 MB."""

SAM_DECODER_MB_PER_PROMPT = 32
"""SAM's mask decoder repeats the image embedding for every prompt: about 30 MB per prompt in
fp32 (measured)."""


def _images_per_pass(images: torch.Tensor) -> int:
    return min(int(images.shape[0]), IMAGES_PER_PASS)


def detect_bytes(request: DetectRequest | TextDetectRequest) -> int:
    """One forward pass of the detector over :data:`IMAGES_PER_PASS` images."""
    open_vocabulary = request.detector.open_vocabulary
    per_image = TEXT_DETECT_MB_PER_IMAGE if open_vocabulary else DETECT_MB_PER_IMAGE
    return per_image * MB * _images_per_pass(request.images)


def segment_bytes(request: SegmentRequest) -> int:
    """One forward pass of the segmenter over :data:`IMAGES_PER_PASS` images."""
    return SEGMENT_MB_PER_IMAGE * MB * _images_per_pass(request.images)


def text_segment_bytes(request: TextSegmentRequest) -> int:
    """SAM 3: one vision pass over :data:`IMAGES_PER_PASS` images; Florence-2: one generation
    over every (image, query) pair of such a chunk."""
    images = _images_per_pass(request.images)
    if request.segmenter.family == "SAM 3":
        return SAM3_MB_PER_IMAGE * MB * images
    return FLORENCE_MB_PER_PAIR * MB * images * len(request.text)


def match_bytes(request: MatchRequest) -> int:
    """CLIP over one chunk of crops."""
    return MATCH_MB * MB


def metrics_bytes() -> int:
    """CLIP over candidates' and their sources' masked crops, one chunk at a time as Match
    (whatever the number of candidates)."""
    return MATCH_MB * MB


def heatmap_bytes(request: HeatmapRequest) -> int:
    """A CLIPSeg pass, plus its heatmaps at the images' size (sigmoid and resize, float32)."""
    pixels = int(request.images.shape[1]) * int(request.images.shape[2])
    return HEATMAP_MB * MB + MAX_PAIRS_PER_FORWARD * pixels * 8


def anchors_bytes(request: AnchorRequest) -> int:
    """Every layer's fp32 attention weights for one forward pass (``output_attentions``)."""
    dino, images = request.dino, request.images
    rows, cols = patch_grid(dino, int(images.shape[1]), int(images.shape[2]))
    tokens = rows * cols + 1 + register_tokens(dino)
    config = dino.model.config
    layers, heads = int(config.num_hidden_layers), int(config.num_attention_heads)
    return 4 * layers * heads * tokens * tokens * _images_per_pass(images)


SAM2_ENCODER_MB = 1024
"""SAM 2's Hiera encoder attends globally only in its third stage, on a 64x64 token grid
(windows elsewhere): well under 1 GB for Hiera-L at 1024 px in fp32."""


def refine_bytes(request: RefineRequest) -> int:
    """The larger of one image embedding and one mask-decoder call.

    A ViT global-attention block (SAM, SAM-HQ) holds its scores, their softmax and the
    relative-position sum, each heads x tokens x tokens (vit_h at 64x64 tokens in fp16: about
    1.6 GB); SAM 2 needs :data:`SAM2_ENCODER_MB`; a decoder call holds
    :data:`~pinpoint.refine.PROMPTS_PER_CALL` prompts (about 0.5 GB).
    """
    sam = request.sam
    if isinstance(sam, SamFolder) and sam.engine == "SAM 2":
        encoder = SAM2_ENCODER_MB * MB
    else:
        if isinstance(sam, SamFolder):
            vision = sam.model.config.vision_config
            heads, grid = int(vision.num_attention_heads), vision.image_size // vision.patch_size
        else:
            heads, grid = int(sam.model.image_encoder.blocks[0].attn.num_heads), GRID_SIZE
        element = torch.finfo(module_dtype(sam.model)).bits // 8
        encoder = 3 * heads * (grid * grid) ** 2 * element
    return max(encoder, PROMPTS_PER_CALL * SAM_DECODER_MB_PER_PROMPT * MB) + 64 * MB


MATTE_BYTES_PER_PIXEL = 1024
"""ViTMatte's detail decoder keeps a few dozen feature maps at full and half resolution: about
1 KB per input pixel in fp32 (generous)."""


def matte_bytes(request: MatteRequest) -> int:
    """One ViTMatte pass over a whole image (the window it reads is never larger): the
    backbone's global-attention scores, their softmax and relative-position sum (heads x
    tokens x tokens each) beside the decoder's full-resolution maps."""
    backbone = request.model.model.config.backbone_config
    height, width = int(request.images.shape[1]), int(request.images.shape[2])
    patch = int(backbone.patch_size)
    tokens = -(-height // patch) * -(-width // patch)
    element = torch.finfo(module_dtype(request.model.model)).bits // 8
    encoder = 3 * int(backbone.num_attention_heads) * tokens * tokens * element
    return encoder + height * width * MATTE_BYTES_PER_PIXEL + 64 * MB
