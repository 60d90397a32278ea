"""The segmenter loader and Segment Image nodes in-process (ComfyUI imported on CPU, the pack
loaded by ComfyUI's own loader), with the tiny random Segformer; and Match Text's masked crops."""

from __future__ import annotations

import pytest
import torch
from node_calls import assert_house_error, error_of, pack_module, run, ui_dict

LOAD = "Load Segmenter (Pinpoint)"
SEGMENT = "Segment Image (Pinpoint)"
MATCH = "Match Text to Regions (Pinpoint)"
TINY = "tiny-random-segformer"


@pytest.fixture(scope="module")
def loader(comfyui, tmp_path_factory):
    from pinpoint.tiny.segformer import build_tiny_segformer

    folder = tmp_path_factory.mktemp("segmenter-models") / "pinpoint_segmenters"
    build_tiny_segformer(folder / TINY)
    comfyui.folder_paths.add_model_folder_path("pinpoint_segmenters", str(folder))
    return comfyui.node("PinpointLoadSegmenter")


@pytest.fixture(scope="module")
def segment_node(comfyui):
    return comfyui.node("PinpointSegment")


@pytest.fixture(scope="module")
def segmenter(loader):
    return run(loader, model_name=TINY, precision="auto")[0]


def segment_inputs(segmenter, image, **overrides) -> dict:
    inputs = dict(
        segmenter=segmenter,
        image=image,
        labels="",
        min_area=0.0,
        split_instances=False,
        max_regions=20,
        if_nothing_found="error",
    )
    return inputs | overrides


def test_match_crop_input_offers_box_and_masked(comfyui):
    crop = next(
        item for item in comfyui.node("PinpointMatchText").GET_SCHEMA().inputs if item.id == "crop"
    )
    assert crop.options == ["box", "masked"] and crop.default == "box"


def test_loader_lists_the_folder_and_loads_on_the_offload_device(comfyui, loader, segmenter):
    models = pack_module(comfyui, "pinpoint.loading.models")
    assert TINY in loader.GET_SCHEMA().inputs[0].options
    assert isinstance(segmenter, models.Segmenter) and segmenter.name == TINY
    assert models.module_device(segmenter.model) == comfyui.mm.unet_offload_device()
    message = error_of(loader, model_name="segformer-b0-finetuned-ade-512-512", precision="auto")
    assert_house_error(
        message,
        LOAD,
        "'segformer-b0-finetuned-ade-512-512' was not found",
        "pinpoint_segmenters",
        "download nvidia/segformer-b0-finetuned-ade-512-512",
    )


def test_segment_gives_masked_regions_and_a_preview(comfyui, segment_node, segmenter):
    torch.manual_seed(0)
    image = torch.rand(2, 48, 80, 3)
    output = run(segment_node, **segment_inputs(segmenter, image))
    regions, preview = output.result
    assert regions.batch_size == 2
    labels = set(segmenter.labels.values())
    for found in regions:
        assert (found.width, found.height) == (80, 48) and found.regions
        covered = torch.zeros(48, 80)
        for region in found.regions:
            assert region.label in labels and region.source == f"segmenter:{TINY}"
            assert region.mask.shape == (48, 80) and region.mask.device.type == "cpu"
            covered += region.mask
        assert torch.equal(covered, torch.ones(48, 80))  # every pixel in exactly one segment
        assert len(found.regions) == len({region.label for region in found.regions})
    split = run(segment_node, **segment_inputs(segmenter, image, split_instances=True))
    for one_per_class, pieces in zip(regions, split.result[0], strict=True):
        assert len(pieces.regions) >= len(one_per_class.regions)
    assert tuple(preview.shape) == (2, 48, 80, 3) and preview.dtype == torch.float32
    assert preview.device == comfyui.mm.intermediate_device()
    assert not torch.equal(preview, image)
    assert len(ui_dict(output)["images"]) == 2


def test_masked_match_on_segments_returns_the_segment_as_the_mask(comfyui, segment_node, segmenter):
    match_node = comfyui.node("PinpointMatchText")
    clip = run(
        comfyui.node("PinpointLoadCLIP"),
        model_name=comfyui.models["clip"].name,
        precision="auto",
    )[0]
    image = torch.rand(1, 48, 80, 3)
    regions = run(segment_node, **segment_inputs(segmenter, image)).result[0]
    matched = run(
        match_node,
        clip=clip,
        image=image,
        regions=regions,
        text="the road",
        pick="best",
        top_k=1,
        context_pad=0.1,
        crop="masked",
        confidence_weight=0.0,
        min_probability=0.0,
        if_nothing_found="error",
    )
    chosen, mask, scores, _ = matched.result
    (region,) = chosen[0].regions
    assert torch.equal(mask[0].cpu(), region.mask)
    assert "p=" in scores
    refused = error_of(
        match_node,
        clip=clip,
        image=image,
        regions=regions,
        text="the road",
        pick="best",
        top_k=1,
        context_pad=0.1,
        crop="tight",
        confidence_weight=0.0,
        min_probability=0.0,
        if_nothing_found="error",
    )
    assert_house_error(refused, MATCH, "crop is 'tight'", "'masked'")


def test_segment_errors_name_the_node_and_say_how_to_fix(segment_node, segmenter):
    image = torch.rand(1, 48, 80, 3)
    cases = [
        (dict(labels="car, zebra"), "no class named 'zebra'"),
        (dict(labels="sky", min_area=1.0), "no segment among sky covers at least 100%"),
        (dict(min_area=1.0), "no segment covers at least 100%"),
        (dict(if_nothing_found="skip"), "if_nothing_found"),
        (dict(image=torch.rand(1, 48, 80, 4)), "RGB"),
    ]
    for overrides, fragment in cases:
        message = error_of(segment_node, **(segment_inputs(segmenter, image) | overrides))
        assert_house_error(message, SEGMENT, fragment)
    whole = run(
        segment_node,
        **segment_inputs(segmenter, image, min_area=1.0, if_nothing_found="whole image"),
    )
    assert [r.label for r in whole.result[0][0].regions] == ["whole image"]
