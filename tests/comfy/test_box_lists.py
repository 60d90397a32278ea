"""'Boxes to Regions' and 'Regions to Boxes' with ComfyUI's own box nodes (RT-DETR on a random
checkpoint, the box canvas, Draw BBoxes, Crop Image), their bad inputs, and the pack on a
ComfyUI without the ``BOUNDING_BOX`` type (0.3.64): loaded, the two nodes left out and said so."""

from __future__ import annotations

import importlib
import logging

import pytest
import torch
from node_calls import assert_house_error, error_of, pack_module, run, ui_dict

FROM_BOXES = "PinpointBoxesToRegions"
TO_BOXES = "PinpointRegionsToBoxes"
HEIGHT, WIDTH = 48, 64


@pytest.fixture
def boxes_type(comfyui):
    """Skip on a ComfyUI without the ``BOUNDING_BOX`` type."""
    from comfy_api.latest import io

    if not hasattr(io, "BoundingBox"):
        pytest.skip("this ComfyUI has no BOUNDING_BOX type (0.33 and later have it)")


def stock(name: str):
    """A node class of ComfyUI's ``comfy_extras`` (not loaded in-process), e.g.
    ``"rtdetr.RTDETR_detect"``."""
    module, cls = name.split(".")
    return getattr(importlib.import_module(f"comfy_extras.nodes_{module}"), cls)


def to_regions(comfyui, image, bboxes, **settings):
    defaults = dict(label="box", if_nothing_found="error")
    return run(comfyui.node(FROM_BOXES), image=image, bboxes=bboxes, **defaults | settings)


def test_box_nodes_are_listed_only_where_comfyui_has_the_type(comfyui, facts, caplog):
    from comfy_api.latest import io

    nodes = pack_module(comfyui, "nodes")
    registered = {FROM_BOXES, TO_BOXES} & set(comfyui.nodes.NODE_CLASS_MAPPINGS)
    if hasattr(io, "BoundingBox"):
        assert registered == {FROM_BOXES, TO_BOXES} and not facts.left_out
        assert [node.GET_SCHEMA().node_id for node in nodes.box_nodes()] == [FROM_BOXES, TO_BOXES]
        return
    assert registered == set() and facts.left_out == {FROM_BOXES, TO_BOXES}
    assert len(nodes.NODES) == len(
        set(comfyui.nodes.NODE_CLASS_MAPPINGS) & {node.GET_SCHEMA().node_id for node in nodes.NODES}
    )  # the pack loaded every other node
    with caplog.at_level(logging.WARNING, logger="pinpoint"):
        assert nodes.box_nodes() == []
    assert (
        "left out 'Boxes to Regions (Pinpoint)' and 'Regions to Boxes (Pinpoint)': this ComfyUI "
        "has no BOUNDING_BOX type"
    ) in caplog.text


def test_rtdetr_boxes_to_match_to_boxes_for_draw_and_crop(comfyui, boxes_type, request):
    """Core RT-DETR (random weights) → Boxes to Regions → Match (tiny CLIP) → Regions to Boxes
    → core Draw BBoxes and Crop Image."""
    checkpoint = request.getfixturevalue("rtdetr_checkpoint")  # after the skip: a 0.33 module
    (model,) = comfyui.node("UNETLoader")().load_unet(checkpoint.name, "default")
    image = torch.rand(1, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(0))
    (bboxes,) = run(
        stock("rtdetr.RTDETR_detect"),
        model=model,
        image=image,
        threshold=0.0,
        class_name="all",
        max_detections=5,
    )
    assert len(bboxes) == 1 and len(bboxes[0]) == 5
    regions, preview = to_regions(comfyui, image, bboxes)
    found = regions[0]
    assert [(r.label, r.score) for r in found.regions] == [
        (box["label"], pytest.approx(box["score"])) for box in bboxes[0]
    ]
    for region, box in zip(found.regions, bboxes[0], strict=True):
        x0, y0, x1, y1 = region.box
        assert 0 <= x0 < x1 <= WIDTH and 0 <= y0 < y1 <= HEIGHT
        assert x0 == pytest.approx(min(max(box["x"], 0), WIDTH))
    outside = [
        box
        for box in bboxes[0]
        if box["x"] < 0
        or box["y"] < 0
        or box["x"] + box["width"] > WIDTH
        or box["y"] + box["height"] > HEIGHT
    ]
    assert ("clipped to it" in found.note) == bool(outside)
    assert preview.shape == image.shape

    (clip,) = run(
        comfyui.node("PinpointLoadCLIP"), model_name=comfyui.models["clip"].name, precision="auto"
    )
    schema = comfyui.node("PinpointMatchText").GET_SCHEMA()
    settings = {w.id: w.default for w in schema.inputs if getattr(w, "default", None) is not None}
    chosen = run(
        comfyui.node("PinpointMatchText"),
        **settings | dict(clip=clip, image=image, regions=regions, text="a dog"),
    )[0]
    picked = chosen[0].regions[0]
    bboxes_out, box = run(comfyui.node(TO_BOXES), regions=chosen)
    x, y, w, h = (box[key] for key in ("x", "y", "width", "height"))
    assert bboxes_out == [[dict(box, label=picked.label, score=pytest.approx(picked.score))]]
    assert (x, y) == (int(picked.box[0]), int(picked.box[1])) and w > 0 and h > 0
    (drawn,) = run(stock("rtdetr.DrawBBoxes"), bboxes=bboxes_out, image=image)
    assert drawn.shape == image.shape and not torch.equal(drawn, image)
    (cropped,) = run(stock("images.ImageCropV2"), image=image, crop_region=box)
    assert torch.equal(cropped, image[:, y : y + h, x : x + w])


def test_canvas_and_primitive_boxes_become_regions(comfyui, boxes_type):
    image = torch.rand(2, HEIGHT, WIDTH, 3)
    drawn = [{"x": 4, "y": 6, "width": 20, "height": 10, "metadata": {"type": "obj"}}]
    canvas = run(
        stock("bounding_boxes.CreateBoundingBoxes"), width=WIDTH, height=HEIGHT, editor_state=drawn
    )
    regions, _ = to_regions(comfyui, image, canvas[1], label="sign")
    assert [[(r.box, r.label, r.score) for r in item.regions] for item in regions] == [
        [((4.0, 6.0, 24.0, 16.0), "sign", 1.0)]
    ] * 2  # one frame of boxes: every image
    (primitive,) = run(stock("images.BoundingBox"), x=1, y=2, width=3, height=4)
    regions, _ = to_regions(comfyui, image, primitive)
    assert [item.regions[0].box for item in regions] == [(1.0, 2.0, 4.0, 6.0)] * 2


def test_bad_boxes_are_house_errors_or_noted(comfyui, boxes_type):
    image = torch.rand(1, HEIGHT, WIDTH, 3)
    title = comfyui.node(FROM_BOXES).GET_SCHEMA().display_name
    far = [[{"x": 500, "y": 10, "width": 40, "height": 40}]]
    assert_house_error(
        error_of(
            comfyui.node(FROM_BOXES), image=image, bboxes=far, label="box", if_nothing_found="error"
        ),
        title,
        "box 1 (x=500, y=10, 40x40) lies wholly outside the 64x48 image",
        "boxes carry no image size",
    )
    assert_house_error(
        error_of(
            comfyui.node(FROM_BOXES), image=image, bboxes=[], label="box", if_nothing_found="error"
        ),
        title,
        "no bounding box for this image",
        "if_nothing_found",
    )
    regions, _ = to_regions(comfyui, image, [[]], if_nothing_found="empty mask")
    assert len(regions[0]) == 0
    output = run(comfyui.node(TO_BOXES), regions=regions)
    assert output.result == ([[]], {"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT})
    assert "image 1 has no region" in ui_dict(output)["text"][0]
