"""Load SAM 3 / Florence-2 and Segment by Text in-process: ComfyUI imported on CPU, the pack loaded
by ComfyUI's own loader, copies of the tiny SAM 3 and Florence-2 loaded through the loader node
and rigged to known answers (the shared rigs of the unit tests)."""

from __future__ import annotations

import shutil

import pytest
import torch
from node_calls import assert_house_error, error_of, run
from rigs import INSTANCES, RIGGED_SIZE, points, rig_sam3, script_florence

TITLE = "Segment by Text (Pinpoint)"
LOADER = "Load SAM 3 / Florence-2 (Pinpoint)"
WIDTH, HEIGHT = RIGGED_SIZE


@pytest.fixture(scope="module")
def node(comfyui):
    return comfyui.node("PinpointSegmentByText")


@pytest.fixture(scope="module")
def root(comfyui, tmp_path_factory):
    """A ``pinpoint_text_segmenters`` folder of this module's own, registered with ComfyUI."""
    folder = tmp_path_factory.mktemp("text-segmenters") / "pinpoint_text_segmenters"
    folder.mkdir()
    comfyui.folder_paths.add_model_folder_path("pinpoint_text_segmenters", str(folder))
    return folder


@pytest.fixture(scope="module")
def segmenters(comfyui, tiny_models, root):
    """``{"sam3": rigged SAM 3, "florence": Florence-2}`` through the loader node, from copies
    of the tiny models (the rig must not reach the shared ones)."""
    for key, name in (("text_segmenter", "rigged-sam3"), ("florence", "scripted-florence2")):
        shutil.copytree(tiny_models[key], root / name)
    loader = comfyui.node("PinpointLoadTextSegmenter")
    loaded = {
        key: run(loader, model_name=name, precision="auto")[0]
        for key, name in (("sam3", "rigged-sam3"), ("florence", "scripted-florence2"))
    }
    rig_sam3(loaded["sam3"])
    return loaded


def inputs(segmenter, image, **overrides) -> dict:
    settings = dict(
        segmenter=segmenter,
        image=image,
        text="cat",
        threshold=0.5,
        max_regions=20,
        florence_task="referring segmentation",
        if_nothing_found="error",
    )
    return settings | overrides


@pytest.fixture
def image() -> torch.Tensor:
    return torch.rand(1, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(1))


def test_the_loader_lists_both_families_and_the_node_takes_its_socket(comfyui, segmenters):
    schema = comfyui.node("PinpointLoadTextSegmenter").GET_SCHEMA()
    (model_name,) = [widget for widget in schema.inputs if widget.id == "model_name"]
    assert {"rigged-sam3", "scripted-florence2"} <= set(model_name.options)
    (socket,) = [w for w in comfyui.node("PinpointSegmentByText").GET_SCHEMA().inputs][:1]
    assert socket.get_io_type() == schema.outputs[0].get_io_type() == "PINPOINT_TEXT_SEGMENTER"


def test_sam3_instances_come_out_as_masked_regions_with_a_preview(segmenters, node, image):
    regions, preview = run(node, **inputs(segmenters["sam3"], image, text="cat, dog"))
    found = regions[0].regions
    assert [(r.label, round(r.score, 4)) for r in found] == [
        ("cat", 0.9),
        ("dog", 0.8),
        ("cat", 0.6),
    ]
    best = INSTANCES["cat"][1][1]
    assert found[0].box == pytest.approx(best, abs=1e-3)
    assert int(found[0].mask.sum()) == (best[2] - best[0]) * (best[3] - best[1])
    assert preview.shape == image.shape and not torch.equal(preview, image)


def test_sam3_regions_go_into_match_with_masked_crops(comfyui, segmenters, node, image):
    regions = run(node, **inputs(segmenters["sam3"], image, text="cat, dog"))[0]
    match = comfyui.node("PinpointMatchText")
    schema = match.GET_SCHEMA()
    settings = {w.id: w.default for w in schema.inputs if getattr(w, "default", None) is not None}
    clip = run(
        comfyui.node("PinpointLoadCLIP"), model_name=comfyui.models["clip"].name, precision="auto"
    )[0]
    chosen, mask, _, _ = run(
        match,
        **settings
        | dict(
            clip=clip, image=image, regions=regions, text="a dog", crop="masked", pick="all matches"
        ),
    )
    assert len(chosen[0].regions) == 3 and mask.shape == (1, HEIGHT, WIDTH)


def test_florence_outline_through_the_node(segmenters, node, image, monkeypatch):
    script_florence(segmenters["florence"], monkeypatch, [points(24, 16, 72, 16, 72, 48, 24, 48)])
    regions, _ = run(node, **inputs(segmenters["florence"], image, text="the red car"))
    (region,) = regions[0].regions
    assert region.box == (24.0, 16.0, 73.0, 49.0) and region.label == "the red car"


def test_errors_name_the_node_and_say_how_to_fix(segmenters, node, image):
    message = error_of(node, **inputs(segmenters["sam3"], image, text="zebra"))
    assert_house_error(
        message, TITLE, "SAM 3 found no 'zebra' above threshold 0.50", "lower the threshold"
    )
    message = error_of(node, **inputs(segmenters["sam3"], image, text="the red car " * 8))
    assert_house_error(message, TITLE, "tokens long but", "reads at most 30")


def test_a_box_refiner_folder_is_refused_by_the_loader(comfyui, tiny_models, root):
    shutil.copytree(tiny_models["sam_folder"], root / "sam2-in-the-wrong-place")
    message = error_of(
        comfyui.node("PinpointLoadTextSegmenter"),
        model_name="sam2-in-the-wrong-place",
        precision="auto",
    )
    assert_house_error(message, LOADER, "not a text segmenter", "goes in models/pinpoint_sam")
