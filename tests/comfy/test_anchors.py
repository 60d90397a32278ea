"""The DINO loader and Attention Anchors nodes in-process: ComfyUI imported on CPU, the pack
loaded by ComfyUI's own loader, each node's ``execute`` called with the tiny random DINO."""

from __future__ import annotations

import pytest
import torch
from node_calls import assert_house_error, error_of, pack_module, run

LOAD = "Load DINO (Pinpoint)"
ANCHORS = "Attention Anchors · DINO (Pinpoint)"
TINY = "tiny-random-dino"


@pytest.fixture(scope="module")
def loader(comfyui, tmp_path_factory):
    from pinpoint.tiny.dino import build_tiny_dino

    folder = tmp_path_factory.mktemp("dino-models") / "pinpoint_dino"
    build_tiny_dino(folder / TINY)
    comfyui.folder_paths.add_model_folder_path("pinpoint_dino", str(folder))
    return comfyui.node("PinpointLoadDINO")


@pytest.fixture(scope="module")
def anchors_node(comfyui):
    return comfyui.node("PinpointAttentionAnchors")


@pytest.fixture(scope="module")
def dino(loader):
    return run(loader, model_name=TINY, precision="auto")[0]


def anchor_inputs(dino, image, **overrides) -> dict:
    inputs = dict(dino=dino, image=image, anchors=5, box_sizes="0.15, 0.3, 0.5", min_distance=2)
    return inputs | overrides


def test_loader_lists_the_tiny_model(loader):
    assert TINY in loader.GET_SCHEMA().inputs[0].options


def test_loader_returns_a_managed_dino(comfyui, dino):
    managed = pack_module(comfyui, "nodes.managed").managed
    assert type(dino).__name__ == "Dino" and dino.name == TINY
    assert dino.model.config._attn_implementation == "eager"
    wrapper = managed(dino)
    assert managed(dino) is wrapper


def test_loader_errors(loader):
    message = error_of(loader, model_name="dino-vits16", precision="auto")
    assert_house_error(message, LOAD, "'dino-vits16' was not found", "facebook/dino-vits16")
    message = error_of(loader, model_name=TINY, precision="fp8")
    assert_house_error(message, LOAD, "precision", "'fp8'")


def test_anchors_node_outputs(comfyui, anchors_node, dino):
    torch.manual_seed(0)
    image = torch.rand(2, 40, 96, 3)
    out = run(anchors_node, **anchor_inputs(dino, image))
    regions, attention, preview = out.result
    device = comfyui.mm.intermediate_device()
    assert regions.batch_size == 2
    for found in regions:
        assert (found.width, found.height) == (96, 40) and len(found.regions) == 15
        assert found.regions[0].label == "anchor 1 · 15%"
        assert found.regions[0].source == f"dino:{TINY}"
        for region in found.regions:
            x0, y0, x1, y1 = region.box
            assert x1 - x0 == y1 - y0 and 0 <= x0 and x1 <= 96 and 0 <= y0 and y1 <= 40
    assert tuple(attention.shape) == (2, 40, 96) and attention.dtype == torch.float32
    assert attention.device == device
    assert 0.0 <= float(attention.min()) and float(attention.max()) <= 1.0
    assert tuple(preview.shape) == (2, 40, 96, 3) and preview.dtype == torch.float32
    assert preview.device == device
    assert 0.0 <= float(preview.min()) and float(preview.max()) <= 1.0
    shown = out.ui if isinstance(out.ui, dict) else out.ui.as_dict()
    assert len(shown["images"]) == 2


def test_full_size_boxes_span_the_shorter_side(anchors_node, dino):
    image = torch.rand(1, 64, 48, 3)
    regions = run(anchors_node, **anchor_inputs(dino, image, anchors=2, box_sizes="1")).result[0]
    regions.check_matches(image)  # what 'Match Text to Regions' checks
    assert len(regions[0].regions) == 2
    for region in regions[0].regions:
        x0, y0, x1, y1 = region.box
        assert (x0, x1) == (0.0, 48.0) and y1 - y0 == 48.0 and 0.0 <= y0 <= 16.0


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"box_sizes": "0.2, 2"}, ("box size '2' is outside (0, 1]",)),
        ({"box_sizes": ""}, ("box_sizes is empty",)),
        ({"anchors": 0}, ("anchors is 0",)),
        ({"min_distance": -1}, ("min_distance is -1",)),
        ({"image": torch.rand(1, 32, 32, 4)}, ("RGBA",)),
    ],
)
def test_anchors_node_errors(anchors_node, dino, overrides, fragments):
    inputs = anchor_inputs(dino, torch.rand(1, 32, 32, 3)) | overrides
    assert_house_error(error_of(anchors_node, **inputs), ANCHORS, *fragments)
