"""The diffusers route's requests as the tests build them: flat settings split between the
sampler (steps, cfg, strength, scheduler, distilled) and the loop (everything else), as the
diffusers node and the CLI split them."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pinpoint.diffusers_sampler import DiffusersSampler
from pinpoint.progress import Progress, no_progress
from pinpoint.repaint import Layer, RepaintRequest, RepaintResult, repaint, single_edit

SAMPLER_SETTINGS = ("steps", "cfg", "strength", "scheduler", "distilled")


def _sampler(pipe, settings: dict) -> DiffusersSampler:
    return DiffusersSampler(pipe, **{k: settings.pop(k) for k in SAMPLER_SETTINGS if k in settings})


def diffusers_edit(
    pipe, images, masks, prompt, negative_prompt: str = "", guidance=None, **settings
) -> RepaintRequest:
    """One edit on the diffusers route: each crop sampled alone (the diffusers node's)."""
    sampler = _sampler(pipe, settings)
    return single_edit(
        sampler, images, masks, prompt, negative_prompt, guidance=guidance, **settings
    )


def diffusers_layers(
    pipe, images, masks: Sequence[torch.Tensor], prompts: Sequence[str], guidance=None, **settings
) -> RepaintRequest:
    """One edit per mask and prompt, batched (an edit list's)."""
    sampler = _sampler(pipe, settings)
    layers = tuple(
        Layer(mask, prompt, guidance=guidance) for mask, prompt in zip(masks, prompts, strict=True)
    )
    return RepaintRequest(sampler, images, layers, **settings)


def inpaint(
    pipe, images, masks, prompt, progress: Progress = no_progress, **settings
) -> RepaintResult:
    """Build the checked request of one edit and run it, as the diffusers node does."""
    return repaint(diffusers_edit(pipe, images, masks, prompt, **settings), progress)
