"""Detect by Text in-process: ComfyUI imported on CPU, the pack loaded by ComfyUI's own loader,
the node's ``execute`` called with a tiny OWL-ViT loaded through 'Load Detector (Pinpoint)'."""

from __future__ import annotations

import pytest
import torch
from node_calls import assert_house_error, error_of, run

TITLE = "Detect by Text (Pinpoint)"
DETECT = "Detect Objects (Pinpoint)"
RIGGED = "tiny-rigged-owlvit"
QUERIES = "a red car, a dog"


@pytest.fixture(scope="module")
def node(comfyui):
    return comfyui.node("PinpointDetectByText")


@pytest.fixture(scope="module")
def detectors(comfyui, facts, tmp_path_factory):
    """The rigged tiny OWL-ViT and the rigged DETR of conftest, through the loader node.

    The OWL-ViT's box head adds nothing to its patch-grid prior and its class head scores every
    query sigmoid(10) on every patch, so each image yields the 16 cells of its 4x4 grid.
    """
    from pinpoint.loading import load_model
    from pinpoint.loading.kinds import DETECTOR
    from pinpoint.tiny.owlvit import build_tiny_owlvit

    root = tmp_path_factory.mktemp("owl-models") / "pinpoint_detectors"
    folder = build_tiny_owlvit(root / RIGGED)
    model = load_model(DETECTOR, folder).model
    with torch.no_grad():
        for layer in (model.box_head.dense2, model.class_head.dense0, model.class_head.logit_shift):
            layer.weight.zero_()
            layer.bias.zero_()
        model.class_head.logit_shift.bias.fill_(1.0)
        model.class_head.logit_scale.weight.zero_()
        model.class_head.logit_scale.bias.fill_(9.0)  # elu(9) + 1 = 10
    model.save_pretrained(folder)
    comfyui.folder_paths.add_model_folder_path("pinpoint_detectors", str(root))
    loader = comfyui.node("PinpointLoadDetector")
    return {
        "owlvit": run(loader, model_name=RIGGED, precision="auto")[0],
        "detr": run(loader, model_name=facts.rigged_detector, precision="auto")[0],
    }


def text_inputs(detectors, image, **overrides) -> dict:
    inputs = dict(
        detector=detectors["owlvit"],
        image=image,
        queries=QUERIES,
        threshold=0.1,
        max_detections=16,
        if_nothing_found="error",
    )
    return inputs | overrides


def test_queries_input_explains_how_queries_are_split(node):
    inputs = node.GET_SCHEMA().inputs
    queries = next(item for item in inputs if item.id == "queries")
    assert queries.multiline and queries.placeholder == "a red car, a dog"
    assert "comma or a new line" in queries.tooltip


def test_regions_preview_and_device(comfyui, node, detectors):
    assert detectors["owlvit"].open_vocabulary
    image = torch.rand(2, 60, 150, 3)
    out = run(node, **text_inputs(detectors, image))
    regions, preview = out.result
    assert regions.batch_size == 2
    for item in regions:
        assert (item.width, item.height) == (150, 60) and len(item.regions) == 16
        for region in item.regions:
            assert region.label in ("a red car", "a dog")
            assert region.source == f"open-vocabulary:{RIGGED}"
            assert region.score == pytest.approx(1 / (1 + torch.e**-10), rel=1e-5)
        # the cell of patch (row 0, column 0): centre (1/4, 1/4), size 1/4 of the image
        boxes = [region.box for region in item.regions]
        assert pytest.approx((18.75, 7.5, 56.25, 22.5), abs=0.05) in boxes
    assert tuple(preview.shape) == (2, 60, 150, 3) and preview.dtype == torch.float32
    assert preview.device == comfyui.mm.intermediate_device()
    assert 0.0 <= float(preview.min()) and float(preview.max()) <= 1.0
    shown = out.ui if isinstance(out.ui, dict) else out.ui.as_dict()
    assert len(shown["images"]) == 2


def test_errors_name_the_node_and_say_how_to_fix(node, detectors):
    image = torch.rand(1, 48, 64, 3)
    cases = [
        (dict(queries=" , \n"), "the queries are empty"),
        (dict(threshold=1.0), "nothing matching 'a red car', 'a dog'"),
        (dict(if_nothing_found="skip"), "if_nothing_found"),
        (dict(image=torch.rand(1, 48, 64, 4)), "RGB"),
        (dict(detector=detectors["detr"]), "closed-set detector"),
    ]
    for overrides, fragment in cases:
        message = error_of(node, **(text_inputs(detectors, image) | overrides))
        assert_house_error(message, TITLE, fragment)
    assert "use it to detect objects of its classes" in error_of(
        node, **text_inputs(detectors, image, detector=detectors["detr"])
    )


def test_detect_objects_refuses_an_open_vocabulary_detector(comfyui, detectors):
    message = error_of(
        comfyui.node("PinpointDetect"),
        detector=detectors["owlvit"],
        image=torch.rand(1, 48, 64, 3),
        threshold=0.5,
        max_detections=3,
        labels="",
        if_nothing_found="error",
    )
    assert_house_error(message, DETECT, "open-vocabulary detector", "use it to detect by text")
