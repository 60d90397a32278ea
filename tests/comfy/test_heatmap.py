"""The CLIPSeg loader and Text to Heatmap nodes in-process: ComfyUI imported on CPU, the pack
loaded by ComfyUI's own loader, each node's ``execute`` called with the tiny random CLIPSeg."""

from __future__ import annotations

import pytest
import torch
from node_calls import assert_house_error, error_of, pack_module, run

LOAD = "Load CLIPSeg (Pinpoint)"
HEATMAP = "Text to Heatmap · CLIPSeg (Pinpoint)"
TINY = "tiny-random-clipseg"


@pytest.fixture(scope="module")
def loader(comfyui, tmp_path_factory):
    from pinpoint.tiny.clipseg import build_tiny_clipseg

    folder = tmp_path_factory.mktemp("clipseg-models") / "pinpoint_clipseg"
    build_tiny_clipseg(folder / TINY)
    comfyui.folder_paths.add_model_folder_path("pinpoint_clipseg", str(folder))
    return comfyui.node("PinpointLoadCLIPSeg")


@pytest.fixture(scope="module")
def heatmap_node(comfyui):
    return comfyui.node("PinpointTextHeatmap")


@pytest.fixture(scope="module")
def clipseg(loader):
    return run(loader, model_name=TINY, precision="auto")[0]


def heatmap_inputs(clipseg, image, **overrides) -> dict:
    inputs = dict(
        clipseg=clipseg,
        image=image,
        text="a car | a bus",
        threshold=0.4,
        min_area=0.0,
        max_regions=8,
        use_regions="rescore",
        heat_weight=0.5,
        if_nothing_found="error",
    )
    return inputs | overrides


def two_boxes(comfyui, width: int, height: int, batch: int):
    """A RegionBatch with a left and a right half box per image, as a detector would give."""
    regions = pack_module(comfyui, "pinpoint.regions")
    half = width / 2
    boxes = (
        regions.Region((0.0, 0.0, half, float(height)), "left", 0.9, "detector", score=0.9),
        regions.Region(
            (half, 0.0, float(width), float(height)), "right", 0.1, "detector", score=0.1
        ),
    )
    return regions.RegionBatch(
        tuple(regions.ImageRegions(width, height, boxes) for _ in range(batch))
    )


def test_regions_input_is_optional_and_the_loader_lists_the_tiny_model(loader, heatmap_node):
    assert heatmap_node.GET_NODE_INFO_V1()["input_order"]["optional"] == ["regions"]
    assert TINY in loader.GET_SCHEMA().inputs[0].options


def test_loader_returns_a_managed_clipseg(comfyui, clipseg):
    managed = pack_module(comfyui, "nodes.managed").managed
    module_device = pack_module(comfyui, "pinpoint.loading.models").module_device
    assert type(clipseg).__name__ == "ClipSeg" and clipseg.name == TINY
    wrapper = managed(clipseg)
    assert managed(clipseg) is wrapper
    wrapper.acquire(0)
    assert module_device(clipseg.model) == comfyui.mm.get_torch_device()


def test_loader_errors(loader):
    message = error_of(loader, model_name="clipseg-rd64-refined", precision="auto")
    assert_house_error(
        message,
        LOAD,
        "'clipseg-rd64-refined' was not found",
        "pinpoint_clipseg",
        "hf download CIDAS/clipseg-rd64-refined",
    )
    assert_house_error(error_of(loader, model_name=TINY, precision="fp8"), LOAD, "'fp8'")


def test_heatmap_without_regions(comfyui, heatmap_node, clipseg):
    torch.manual_seed(0)
    image = torch.rand(2, 40, 96, 3)
    out = run(heatmap_node, **heatmap_inputs(clipseg, image))
    regions, mask, heat, preview = out.result
    device = comfyui.mm.intermediate_device()
    for tensor, shape in ((mask, (2, 40, 96)), (heat, (2, 40, 96)), (preview, (2, 40, 96, 3))):
        assert tuple(tensor.shape) == shape and tensor.dtype == torch.float32
        assert tensor.device == device
        assert 0.0 <= float(tensor.min()) and float(tensor.max()) <= 1.0
    assert torch.equal(mask, (heat >= 0.4).float())  # min_area 0 keeps every piece
    assert regions.batch_size == 2
    for index, found in enumerate(regions):
        assert (found.width, found.height) == (96, 40) and 1 <= len(found.regions) <= 8
        scores = [region.score for region in found.regions]
        assert scores == sorted(scores, reverse=True)
        for region in found.regions:
            assert region.label == "a car | a bus" and region.source == f"clipseg:{TINY}"
            assert region.mask.device == torch.device("cpu")
            assert bool((region.mask <= mask[index].cpu()).all())  # every piece lies in the mask
    shown = out.ui if isinstance(out.ui, dict) else out.ui.as_dict()
    assert len(shown["images"]) == 2


def test_connected_regions_are_rescored_or_intersected(comfyui, heatmap_node, clipseg):
    torch.manual_seed(1)
    image = torch.rand(1, 40, 96, 3)
    boxes = two_boxes(comfyui, 96, 40, batch=1)
    inputs = heatmap_inputs(clipseg, image, regions=boxes)
    rescored, mask, heat, _ = run(heatmap_node, **inputs | {"heat_weight": 1.0}).result
    mean_heat = {"left": float(heat[0, :, :48].mean()), "right": float(heat[0, :, 48:].mean())}
    ranked = rescored[0].regions
    assert [region.label for region in ranked] == sorted(mean_heat, key=mean_heat.get)[::-1]
    for region in ranked:
        assert region.score == pytest.approx(mean_heat[region.label], abs=1e-5)
    unchanged = run(heatmap_node, **inputs | {"heat_weight": 0.0}).result[0]
    assert [region.label for region in unchanged[0].regions] == ["left", "right"]

    cut = run(heatmap_node, **inputs | {"use_regions": "intersect"}).result[0]
    assert 1 <= len(cut[0].regions) <= 2
    for region in cut[0].regions:
        assert bool((region.mask <= mask[0].cpu()).all()) and region.mask.sum() > 0
        x0, _, x1, _ = region.box
        assert (0 <= x0 and x1 <= 48) if region.label == "left" else (48 <= x0 and x1 <= 96)


def test_nothing_found(comfyui, heatmap_node, clipseg):
    image = torch.rand(1, 40, 96, 3)
    inputs = heatmap_inputs(clipseg, image, threshold=1.01)  # above any heat
    message = error_of(heatmap_node, **inputs)
    assert_house_error(message, HEATMAP, "no heat above threshold 1.01 for 'a car | a bus'")
    empty = run(heatmap_node, **inputs | {"if_nothing_found": "empty mask"})
    regions, mask, _, preview = empty.result
    assert regions[0].regions == () and float(mask.sum()) == 0.0
    assert tuple(preview.shape) == (1, 40, 96, 3)
    whole = run(heatmap_node, **inputs | {"if_nothing_found": "whole image"}).result[0]
    assert [region.box for region in whole[0].regions] == [(0.0, 0.0, 96.0, 40.0)]


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"text": " | "}, ("the text", "a car | a bus")),
        ({"text": ""}, ("the text is empty",)),
        ({"use_regions": "merge"}, ("use_regions is 'merge'", "'rescore'")),
        ({"if_nothing_found": "skip"}, ("if_nothing_found is 'skip'",)),
        ({"image": torch.rand(1, 40, 96, 4)}, ("RGBA",)),
    ],
)
def test_heatmap_input_errors(heatmap_node, clipseg, overrides, fragments):
    inputs = heatmap_inputs(clipseg, torch.rand(1, 40, 96, 3)) | overrides
    assert_house_error(error_of(heatmap_node, **inputs), HEATMAP, *fragments)


def test_regions_of_another_image_are_refused(comfyui, heatmap_node, clipseg):
    inputs = heatmap_inputs(
        clipseg, torch.rand(1, 40, 96, 3), regions=two_boxes(comfyui, 96, 40, 2)
    )
    assert_house_error(
        error_of(heatmap_node, **inputs),
        HEATMAP,
        "the image batch has 1 image(s) but the regions cover 2",
    )
