"""Regions from and to ComfyUI's bounding-box lists (RT-DETR's, SAM 3 Detect's, the box
canvas'), in the shapes those nodes output, and the bad inputs a user can wire."""

from __future__ import annotations

import pytest
import torch

from pinpoint.box_lists import BoxesRequest, boxes_to_regions, first_box, regions_to_boxes
from pinpoint.errors import PinpointError
from pinpoint.regions import ImageRegions, Region, RegionBatch

HEIGHT, WIDTH = 40, 60
RTDETR = [  # one image, as RTDETR_detect outputs it: floats, COCO label, score, best first
    [
        {"x": 10.5, "y": 4.0, "width": 20.0, "height": 12.25, "label": "car", "score": 0.9},
        {"x": 30.0, "y": 20.0, "width": 8.0, "height": 8.0, "label": "dog", "score": 0.6},
    ]
]


def images(batch: int = 1) -> torch.Tensor:
    return torch.rand(batch, HEIGHT, WIDTH, 3)


def convert(boxes, batch: int = 1, **settings) -> RegionBatch:
    return boxes_to_regions(BoxesRequest(images(batch), boxes, **settings))


def test_rtdetr_boxes_become_regions_with_their_labels_and_scores():
    (found,) = convert(RTDETR)
    assert (found.width, found.height, found.note) == (WIDTH, HEIGHT, "")
    car, dog = found.regions
    assert car.box == (10.5, 4.0, 30.5, 16.25) and dog.box == (30.0, 20.0, 38.0, 28.0)
    assert (car.label, car.confidence, car.score, car.source) == ("car", 0.9, 0.9, "boxes")
    assert (dog.label, dog.score, dog.mask) == ("dog", 0.6, None)


def test_regions_ranked_by_score_whatever_the_order_of_the_boxes():
    (found,) = convert([list(reversed(RTDETR[0]))])
    assert [region.label for region in found.regions] == ["car", "dog"]


def test_canvas_boxes_without_label_or_score_get_the_label_and_score_1_in_their_order():
    canvas = [
        [{"x": 0, "y": 0, "width": 5, "height": 5}, {"x": 9, "y": 9, "width": 3, "height": 2}]
    ]
    (found,) = convert(canvas, label="thing")
    assert [(r.label, r.score, r.box) for r in found.regions] == [
        ("thing", 1.0, (0.0, 0.0, 5.0, 5.0)),
        ("thing", 1.0, (9.0, 9.0, 12.0, 11.0)),
    ]


def test_metadata_of_bounding_boxes_gives_label_and_score():
    box = {"x": 1, "y": 2, "width": 3, "height": 4, "metadata": {"label": "cat", "score": 0.4}}
    (found,) = convert([[box]])
    assert (found.regions[0].label, found.regions[0].score) == ("cat", 0.4)


@pytest.mark.parametrize(
    "shape",
    [
        RTDETR[0][0],  # one box: every image
        [RTDETR[0][0]],  # a flat list: every image
        [[RTDETR[0][0]]],  # one per-image list: every image (as core's Draw BBoxes)
    ],
)
def test_one_box_or_one_list_applies_to_every_image(shape):
    found = convert(shape, batch=3)
    assert found.batch_size == 3
    assert all(item.regions[0].box == (10.5, 4.0, 30.5, 16.25) for item in found)


def test_per_image_lists_go_to_their_images():
    first, second = RTDETR[0]
    found = convert([[first], [second]], batch=2)
    assert [item.regions[0].label for item in found] == ["car", "dog"]


def test_a_box_partly_outside_is_clipped_and_the_note_says_so():
    boxes = [
        [{"x": 50, "y": -5, "width": 30, "height": 10}, {"x": 0, "y": 0, "width": 4, "height": 4}]
    ]
    (found,) = convert(boxes)
    assert found.regions[0].box == (50.0, 0.0, 60.0, 5.0)
    assert "box 1 reached outside the 60x40 image and was clipped" in found.note
    assert "another image size" in found.note


@pytest.mark.parametrize(
    "boxes, batch, fragments",
    [
        (
            [[{"x": 100, "y": 0, "width": 10, "height": 10}]],
            1,
            ["box 1", "wholly outside the 60x40"],
        ),
        ([[RTDETR[0][0]], [{"x": 0, "y": 50, "width": 9, "height": 9}]], 2, ["box 1 of image 2"]),
        ([[{"x": 0, "y": 0, "width": 0, "height": 10}]], 1, ["0x10 pixels"]),
        ([[{"x": 0, "y": 0, "width": 5}]], 1, ["height=None, not a number"]),
        ([[{"x": "left", "y": 0, "width": 5, "height": 5}]], 1, ["x='left', not a number"]),
        ([[{"x": 0, "y": 0, "width": 5, "height": 5, "score": "high"}]], 1, ["score='high'"]),
        ([[RTDETR[0][0]]] * 2, 3, ["for 2 images but the image batch has 3"]),
        ("x=1", 1, ["got a str, not bounding boxes"]),
        ([RTDETR[0][0], [RTDETR[0][0]]], 1, ["mix boxes and lists"]),
    ],
)
def test_bad_boxes_are_house_errors(boxes, batch, fragments):
    with pytest.raises(PinpointError) as caught:
        convert(boxes, batch=batch)
    assert ". Fix: " in str(caught.value)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_an_empty_list_follows_if_nothing_found():
    with pytest.raises(PinpointError, match="no bounding box for this image"):
        convert([])
    found = convert([[RTDETR[0][0]], []], batch=2, if_nothing_found="empty mask")
    assert len(found[0]) == 1 and len(found[1]) == 0 and "empty mask" in found[1].note
    (whole,) = convert([], if_nothing_found="whole image")
    assert whole.regions[0].box == (0.0, 0.0, WIDTH, HEIGHT)


def test_regions_become_integer_boxes_inside_the_image_with_label_and_score():
    car = Region((10.5, 4.0, 30.5, 16.25), "car", 0.9, "t", score=0.7)
    edge = Region((55.0, 35.0, 70.0, 50.0), "dog", 0.5, "t", score=0.5)
    regions = RegionBatch((ImageRegions(WIDTH, HEIGHT, (car, edge)), ImageRegions(WIDTH, HEIGHT)))
    boxes = regions_to_boxes(regions)
    assert boxes == [
        [
            {"x": 10, "y": 4, "width": 21, "height": 13, "label": "car", "score": 0.7},
            {"x": 55, "y": 35, "width": 5, "height": 5, "label": "dog", "score": 0.5},
        ],
        [],
    ]
    assert first_box(regions) == ({"x": 10, "y": 4, "width": 21, "height": 13}, "")


def test_boxes_round_trip_through_regions():
    boxes = [[{"x": 3, "y": 5, "width": 20, "height": 10, "label": "car", "score": 0.8}]]
    assert regions_to_boxes(convert(boxes)) == boxes


def test_first_box_of_an_image_without_regions_is_the_whole_image_with_a_note():
    box, note = first_box(RegionBatch((ImageRegions(WIDTH, HEIGHT),)))
    assert box == {"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT}
    assert "no region" in note
