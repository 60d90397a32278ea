"""A 20,000-character text through the nodes, as a new user would try it: Match's and Rank Edits'
scores, CLIPSeg's preview regions and the guidance nodes say that CLIP read 77 tokens of it."""

from __future__ import annotations

import pytest
import torch
from node_calls import pack_module, run, ui_dict

LONG = "the green one " + "ab " * 10_000  # the tiny tokenizers' letters: "ab" is two tokens
CUT = "the text was cut to CLIP's 77 tokens: it read 'the green one ab ab ab … ab ab ab ab'"
IMAGE = torch.rand(1, 48, 64, 3, generator=torch.Generator().manual_seed(0))


def defaults(comfyui, node_id: str) -> dict:
    schema = comfyui.node(node_id).GET_SCHEMA()
    return {w.id: w.default for w in schema.inputs if getattr(w, "default", None) is not None}


def load(comfyui, node_id: str, key: str):
    return run(comfyui.node(node_id), model_name=comfyui.models[key].name, precision="auto")[0]


@pytest.fixture(scope="module")
def clip(comfyui):
    return load(comfyui, "PinpointLoadCLIP", "clip")


def test_match_scores_carry_the_note(comfyui, clip):
    regions = pack_module(comfyui, "pinpoint.regions")
    box = regions.Region((10.0, 8.0, 40.0, 30.0), "dog", 0.9, "t", score=0.9)
    found = regions.RegionBatch((regions.ImageRegions(64, 48, (box,)),))
    node = comfyui.node("PinpointMatchText")
    inputs = defaults(comfyui, "PinpointMatchText") | dict(clip=clip, image=IMAGE, regions=found)
    output = run(node, **inputs | dict(text=LONG))
    scores = output[2]
    assert scores.splitlines()[0] == f"note: {CUT} (35 of 10,003 words)"
    assert ui_dict(output)["text"] == [scores]
    assert "note:" not in run(node, **inputs | dict(text="the green one"))[2]


def test_rank_edits_scores_carry_the_note(comfyui, clip):
    mask = torch.zeros(1, 48, 64)
    mask[0, 10:30, 20:44] = 1.0
    settings = defaults(comfyui, "PinpointRankEdits") | dict(
        clip=clip, source=IMAGE, candidates=IMAGE.repeat(2, 1, 1, 1), mask=mask, text=LONG
    )
    table = run(comfyui.node("PinpointRankEdits"), **settings)[1]
    assert table.splitlines()[0].startswith(f"note: {CUT}")


def test_clipseg_preview_regions_carry_the_note(comfyui):
    clipseg = load(comfyui, "PinpointLoadCLIPSeg", "clipseg")
    settings = defaults(comfyui, "PinpointTextHeatmap") | dict(
        clipseg=clipseg, image=IMAGE, text=LONG, if_nothing_found="whole image"
    )
    regions = run(comfyui.node("PinpointTextHeatmap"), **settings)[0]
    assert "the text was cut to CLIPSeg's 77 tokens" in regions[0].note  # the preview's banner


def test_the_guidance_nodes_show_the_note(comfyui, clip):
    settings = defaults(comfyui, "PinpointCLIPGuidance") | dict(clip=clip, text=LONG)
    output = run(comfyui.node("PinpointCLIPGuidance"), **settings)
    assert ui_dict(output)["text"][0].startswith(CUT)
    short = run(comfyui.node("PinpointCLIPGuidance"), **settings | dict(text="a red fox"))
    assert not short.ui
