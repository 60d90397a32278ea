"""Calling Pinpoint nodes the way ComfyUI's executor does, for the in-process node tests.

Importing this module skips the importing test module unless COMFYUI_DIR is set.
"""

from __future__ import annotations

import importlib
import os

import pytest
import torch

if not os.environ.get("COMFYUI_DIR"):
    pytest.skip(
        "COMFYUI_DIR is not set: these tests import ComfyUI (>= 0.3.64) in-process",
        allow_module_level=True,
    )


def pack_module(comfyui, name: str):
    """A module of the pack as ComfyUI imported it, e.g. ``"nodes.match"``."""
    return importlib.import_module(f"{comfyui.pack.__name__}.{name}")


def run(cls, **inputs):
    """Call a node class as ComfyUI's executor does and return its ``NodeOutput``."""
    cls.GET_SCHEMA()
    return cls.EXECUTE_NORMALIZED(**inputs)


def error_of(cls, **inputs) -> str:
    """The message of the exception a node raises for ``inputs``."""
    with pytest.raises(Exception) as caught:
        run(cls, **inputs)
    return str(caught.value)


def assert_house_error(message: str, title: str, *fragments: str) -> None:
    """``message`` is ``"<title>: <problem>. Fix: <remedy>."`` and holds every fragment."""
    assert message.startswith(f"{title}: "), message
    assert ". Fix: " in message, message
    for fragment in fragments:
        assert fragment in message, message


def ui_dict(output) -> dict:
    """A ``NodeOutput``'s ui payload as the dict ComfyUI sends to the frontend."""
    return output.ui if isinstance(output.ui, dict) else output.ui.as_dict()


def encode(clip, text: str):
    """``text`` through a ComfyUI CLIP, as CLIP Text Encode does."""
    return clip.encode_from_tokens_scheduled(clip.tokenize(text))


def clip_guidance(comfyui, clip, scale: float, **overrides):
    """'CLIP Guidance (Pinpoint)' towards "a red fox" with the region loss alone (every step
    guided, 4 cut-outs): the recipe the inpaint-node tests guide with."""
    settings = dict(
        clip=clip,
        text="a red fox",
        scale=scale,
        start=0.0,
        end=1.0,
        every=1,
        region_weight=1.0,
        mse_weight=0.0,
        lpips_weight=0.0,
        cutouts=4,
    )
    return run(comfyui.node("PinpointCLIPGuidance"), **settings | overrides)[0]


def rank_edits_choice(comfyui, clip, source, candidates, mask, text: str) -> int:
    """The candidate 'Rank Edits (Pinpoint)' keeps with the weights the inpaint nodes rank by
    (alpha 1, beta 0.5): the oracle of their ``candidates`` option."""
    (best, _, _) = run(
        comfyui.node("PinpointRankEdits"),
        clip=clip,
        source=source,
        candidates=candidates,
        mask=mask,
        text=text,
        source_text="",
        alpha=1.0,
        beta=0.5,
        top_k=1,
        context_pad=0.1,
    )
    return next(i for i in range(len(candidates)) if torch.equal(candidates[i], best[0]))


def rig_candidate(comfyui, clip, candidates, mask, text: str, index: int):
    """``clip`` with ``text`` pointing exactly at candidate ``index``'s masked crop."""
    from rigs import point_texts_at

    metrics = pack_module(comfyui, "pinpoint.metrics")
    crops = metrics._masked_crops(clip, candidates, mask.expand(len(candidates), -1, -1), 0.1)
    return point_texts_at(clip, {text: crops[index]})
