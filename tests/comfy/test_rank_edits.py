"""Rank Edits in-process: ComfyUI imported on CPU, the pack loaded by ComfyUI's own loader, the
tiny CLIP through 'Load CLIP Matcher (Pinpoint)' with its text tower rigged onto one candidate."""

from __future__ import annotations

import torch
from node_calls import assert_house_error, error_of, pack_module, run, ui_dict
from rigs import point_texts_at

TITLE = "Rank Edits (Pinpoint)"


def test_the_node_keeps_the_candidate_the_text_is_rigged_onto(comfyui):
    clip = run(
        comfyui.node("PinpointLoadCLIP"), model_name=comfyui.models["clip"].name, precision="auto"
    )[0]
    source = torch.rand(1, 48, 64, 3, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 48, 64)
    mask[0, 10:30, 20:44] = 1.0
    candidates = source.repeat(4, 1, 1, 1)
    candidates[:, 10:30, 20:44] = torch.rand(
        4, 20, 24, 3, generator=torch.Generator().manual_seed(1)
    )
    metrics = pack_module(comfyui, "pinpoint.metrics")
    crops = metrics._masked_crops(clip, candidates, mask.expand(4, -1, -1), 0.1)
    rigged = point_texts_at(clip, {"a red fox": crops[2]})
    node = comfyui.node("PinpointRankEdits")
    settings = dict(
        clip=rigged,
        source=source,
        candidates=candidates,
        mask=mask,
        text="a red fox",
        source_text="",
        alpha=1.0,
        beta=0.0,
        top_k=2,
        context_pad=0.1,
    )
    output = run(node, **settings)
    best, table, preview = output
    assert torch.equal(best[0], candidates[2]) and best.shape[0] == 2
    assert table.splitlines()[1].startswith("*    1          3")
    assert preview.shape == candidates.shape
    assert len(ui_dict(output)["images"]) == 4
    message = error_of(node, **settings | dict(alpha=0.0))
    assert_house_error(message, TITLE, "alpha and beta are both 0", "give at least one a weight")
