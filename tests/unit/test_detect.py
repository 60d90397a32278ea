"""Detect: a tiny random DETR whose heads are set to a known answer, run through the real path."""

from __future__ import annotations

import copy
import dataclasses
import math
import re

import pytest
import torch

from pinpoint.detect import DetectRequest, detect_objects
from pinpoint.errors import PinpointError, reported_as
from pinpoint.labels import parse_labels
from pinpoint.loading import load_model
from pinpoint.loading.kinds import DETECTOR
from pinpoint.progress import no_progress

KNOWN_BOX = (0.55, 0.40, 0.30, 0.50)  # normalised cx, cy, w, h


def logit(p: float) -> float:
    return math.log(p / (1 - p))


@pytest.fixture
def rigged_detector(tiny_models):
    """Tiny DETR whose every query predicts ``dog`` at KNOWN_BOX, probability e^4/(e^4+5) ~ 0.92.

    The weights of the last class and box layers are zeroed and their biases set, so the answer
    is known; the backbone, transformer and the image processor stay real and random.
    """
    detector = load_model(DETECTOR, tiny_models["detector"])
    detector = dataclasses.replace(detector, model=copy.deepcopy(detector.model))
    dog = {name: index for index, name in detector.labels.items()}["dog"]
    with torch.no_grad():
        classifier = detector.model.class_labels_classifier
        classifier.weight.zero_()
        classifier.bias.fill_(0.0)
        classifier.bias[dog] = 4.0
        last = detector.model.bbox_predictor.layers[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([logit(v) for v in KNOWN_BOX]))
    return detector


class Unrunnable(torch.nn.Module):
    """Stands in for a model that must not run: it keeps the config (class names, model type),
    and its forward pass fails the test."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.config = model.config

    def forward(self, *args, **kwargs):
        raise AssertionError("the model ran")


def detect(detector, images, progress=no_progress, **settings):
    """Build the request (checks) and run it."""
    return detect_objects(DetectRequest(detector, images, **settings), progress)


@pytest.mark.parametrize("height, width", [(60, 150), (150, 60), (97, 97), (33, 211)])
def test_boxes_are_mapped_to_original_pixels(rigged_detector, height, width):
    images = torch.rand(2, height, width, 3)
    found = detect(rigged_detector, images, threshold=0.5, max_detections=3)
    cx, cy, w, h = KNOWN_BOX
    expected = (
        (cx - w / 2) * width,
        (cy - h / 2) * height,
        (cx + w / 2) * width,
        (cy + h / 2) * height,
    )
    assert found.batch_size == 2
    for item in found:
        assert (item.width, item.height) == (width, height)
        assert len(item.regions) == 3
        for region in item.regions:
            assert region.label == "dog"
            assert region.box == pytest.approx(expected, abs=1e-3)
            assert 0.9 < region.confidence <= 1.0 and region.score == region.confidence
            assert region.source == f"detector:{rigged_detector.name}"


def test_threshold_label_filter_and_policies(rigged_detector):
    images = torch.rand(1, 40, 64, 3)
    with (
        pytest.raises(
            PinpointError,
            match="Detect: nothing detected above threshold 0.95. Fix: lower the threshold",
        ),
        reported_as("Detect"),
    ):
        detect(rigged_detector, images, threshold=0.95)
    with pytest.raises(
        PinpointError, match="among cat. Fix: lower the threshold or widen the label filter"
    ):
        detect(rigged_detector, images, threshold=0.5, labels=["cat"])
    empty = detect(rigged_detector, images, threshold=0.95, if_nothing_found="empty mask")
    assert empty[0].regions == () and "empty mask" in empty[0].note
    whole = detect(rigged_detector, images, threshold=0.95, if_nothing_found="whole image")
    assert [r.box for r in whole[0].regions] == [(0.0, 0.0, 64.0, 40.0)]
    kept = detect(rigged_detector, images, threshold=0.5, labels=["DOG"], max_detections=50)
    assert len(kept[0].regions) == rigged_detector.model.config.num_queries


def test_labels_may_be_typed_as_text(rigged_detector):
    request = DetectRequest(rigged_detector, torch.rand(1, 32, 32, 3), labels=" Dog, CAT ,")
    assert request.wanted == frozenset({"dog", "cat"})
    assert DetectRequest(rigged_detector, torch.rand(1, 32, 32, 3)).wanted == frozenset()


def test_unknown_label_lists_the_known_ones(rigged_detector):
    with pytest.raises(
        PinpointError,
        match=r"no class named 'zebra'.*Fix: use class names of this detector \(bicycle, car, cat",
    ):
        DetectRequest(rigged_detector, torch.rand(1, 32, 32, 3), labels=["zebra"])


def test_batches_larger_than_a_chunk_and_progress(rigged_detector):
    seen = []
    found = detect(
        rigged_detector,
        torch.rand(6, 32, 48, 3),
        threshold=0.5,
        max_detections=1,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert found.batch_size == 6 and all(len(item) == 1 for item in found)
    assert seen == [(4, 6), (6, 6)]


def test_rgba_is_refused(rigged_detector):
    with pytest.raises(PinpointError, match="RGBA"):
        DetectRequest(rigged_detector, torch.rand(1, 32, 32, 4))


def test_parse_labels():
    assert parse_labels(" Car, ,person ,") == ("car", "person")
    assert parse_labels("") == ()


def test_an_unknown_policy_fails_before_any_work(rigged_detector):
    # detections exist here, so only an up-front check can catch the typo: building the request
    # refuses it, and the model (which would fail) never runs
    unrunnable = dataclasses.replace(rigged_detector, model=Unrunnable(rigged_detector.model))
    with pytest.raises(
        PinpointError, match=r"if_nothing_found is 'skip'. Fix: pick one of 'error'"
    ):
        DetectRequest(unrunnable, torch.rand(1, 32, 32, 3), threshold=0.5, if_nothing_found="skip")
    with pytest.raises(AssertionError, match="the model ran"):
        detect(unrunnable, torch.rand(1, 32, 32, 3), threshold=0.5)


@pytest.mark.parametrize(
    "settings, fragment",
    [
        (dict(if_nothing_found="skip"), "if_nothing_found is 'skip'. Fix: pick one of 'error', "),
        (dict(if_nothing_found=""), "if_nothing_found is ''. Fix: pick one of"),
        (dict(labels="dog, zebra"), "has no class named 'zebra'. Fix: use class names"),
        (dict(labels=["Unicorn"]), "has no class named 'unicorn'"),
        (dict(images=torch.rand(1, 32, 32, 4)), "the image is RGBA (4 channels)"),
        (dict(images=torch.rand(32, 32, 3)), "expected an IMAGE batch shaped [B, H, W, 3]"),
        (dict(images=torch.rand(0, 32, 32, 3)), "is empty or smaller than 2x2 pixels"),
    ],
)
def test_the_request_refuses_bad_settings_at_construction(rigged_detector, settings, fragment):
    unrunnable = dataclasses.replace(rigged_detector, model=Unrunnable(rigged_detector.model))
    inputs = dict(images=torch.rand(1, 32, 32, 3)) | settings
    with pytest.raises(PinpointError, match="^Pinpoint: .*" + re.escape(fragment)):
        DetectRequest(unrunnable, **inputs)
