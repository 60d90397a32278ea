"""CLIP embeddings of texts and pictures, shared by matching, guidance and the edit metrics: the
text tower on strings, the image tower on uint8 crops (through CLIP's processor) or on pixel
tensors (differentiably), and the neutral fill CLIP's normalisation maps to about 0."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .autograd import differentiable
from .loading.models import ClipMatcher, module_device, module_dtype
from .progress import Progress, no_progress
from .text_limits import cut_note

MAX_CROPS_PER_FORWARD = 256
"""Crops per CLIP forward pass; only batches larger than this are split."""


def neutral(clip: ClipMatcher) -> tuple[float, float, float]:
    """The RGB fill in [0, 1] that CLIP's normalisation maps to about 0 (its ``image_mean``):
    what a masked crop shows outside the mask."""
    mean = clip.processor.image_processor.image_mean
    return (float(mean[0]), float(mean[1]), float(mean[2]))


def embed_crops(
    clip: ClipMatcher, crops: list[np.ndarray], progress: Progress = no_progress
) -> tuple[torch.Tensor, float]:
    """``[N, D]`` L2-normalised CLIP image embeddings of uint8 crops (any sizes), in batched
    passes of :data:`MAX_CROPS_PER_FORWARD`, and CLIP's temperature ``exp(logit_scale)``.

    Args:
        progress: called as ``progress(chunks_done, chunks)`` over the forward passes.
    """
    model = clip.model
    device, dtype = module_device(model), module_dtype(model)
    chunks = range(0, len(crops), MAX_CROPS_PER_FORWARD)
    embeddings = []
    with torch.inference_mode():
        for done, start in enumerate(chunks, start=1):
            pixel_values = clip.processor.image_processor(
                images=crops[start : start + MAX_CROPS_PER_FORWARD], return_tensors="pt"
            )["pixel_values"].to(device, dtype)
            vision_out = model.vision_model(pixel_values=pixel_values)
            embeddings.append(model.visual_projection(vision_out.pooler_output).float())
            progress(done, len(chunks))
        scale = float(model.logit_scale.exp().float())
    width = int(model.config.projection_dim)
    stacked = torch.cat(embeddings) if embeddings else torch.zeros(0, width)
    return F.normalize(stacked, dim=-1).cpu(), scale


def embed_texts(clip: ClipMatcher, texts: list[str]) -> torch.Tensor:
    """``[T, D]`` L2-normalised CLIP text embeddings of ``texts``, in one pass."""
    model = clip.model
    device = module_device(model)
    tokens = clip.processor.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        out = model.text_model(
            input_ids=tokens["input_ids"].to(device),
            attention_mask=tokens["attention_mask"].to(device),
        )
        embeddings = model.text_projection(out.pooler_output).float()
    return F.normalize(embeddings, dim=-1).cpu()


def clip_notes(clip: ClipMatcher, text: str, source_text: str = "") -> tuple[str, ...]:
    """How much of ``text`` (and ``source_text``) CLIP reads, for each it cuts (see
    :func:`pinpoint.text_limits.cut_note`); empty when it reads them all."""
    tokenizer = clip.processor.tokenizer
    notes = (cut_note(tokenizer, text), cut_note(tokenizer, source_text, what="the source text"))
    return tuple(note for note in notes if note)


def embed_text(clip: ClipMatcher, text: str) -> torch.Tensor:
    """``[D]`` L2-normalised CLIP text embedding of ``text``."""
    return embed_texts(clip, [text])[0]


def embed_pixels(clip: ClipMatcher, pixels: torch.Tensor) -> torch.Tensor:
    """``[N, D]`` L2-normalised CLIP image embeddings of ``[N, 3, S, S]`` images in [0, 1] at
    CLIP's input size, differentiable (CLIP's normalisation done here, not by its processor)."""
    model, processor = clip.model, clip.processor.image_processor
    device, dtype = module_device(model), module_dtype(model)
    mean = torch.tensor(processor.image_mean, device=device)[None, :, None, None]
    std = torch.tensor(processor.image_std, device=device)[None, :, None, None]
    values = ((pixels.to(device, torch.float32) - mean) / std).to(dtype)
    pooled = differentiable(model.vision_model)(pixel_values=values).pooler_output
    return F.normalize(differentiable(model.visual_projection)(pooled).float(), dim=-1)
