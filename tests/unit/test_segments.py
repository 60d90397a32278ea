"""Segments: the tiny random Segformer through the real loader, rigged so its class map is known."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pinpoint import segments
from pinpoint.errors import PinpointError, reported_as
from pinpoint.loading import load_model
from pinpoint.loading.kinds import SEGMENTER
from pinpoint.loading.models import Segmenter, module_dtype
from pinpoint.progress import no_progress
from pinpoint.segments import SegmentRequest, class_map, segment_regions
from pinpoint.tiny.segformer import DEFAULT_SEGMENT_LABELS, build_tiny_segformer

NAMES = list(DEFAULT_SEGMENT_LABELS)  # sky, road, car, person, tree
SKY, ROAD, CAR, PERSON, TREE = range(5)
CELLS = 16  # the tiny Segformer sees 64x64 and predicts at a quarter of that
STRENGTH = 3.0
TINY = "tiny-random-segformer"


@pytest.fixture(scope="module")
def segformer_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    return build_tiny_segformer(root / "pinpoint_segmenters" / TINY)


@pytest.fixture(scope="module")
def segmenter(segformer_dir) -> Segmenter:
    return load_model(SEGMENTER, segformer_dir)


@pytest.fixture(scope="module")
def rigged(segmenter) -> Segmenter:
    """The tiny Segformer whose logits read the image: cell (i, j) of the 16x16 logit grid is
    ``STRENGTH`` for class ``round(4 * red)`` of the pixel the model saw near that cell's centre,
    0 for every other class.

    The backbone and decode head still run (the hook replaces the classifier's output, whose
    shape must be the model's own); the image processor is the real one.
    """
    model = copy.deepcopy(segmenter.model)
    processor = segmenter.processor
    seen: dict[str, torch.Tensor] = {}

    def remember(module, args, kwargs):
        seen["pixels"] = kwargs["pixel_values"]

    def replace(module, args, output):
        red = seen["pixels"][:, 0, 2::4, 2::4] * processor.image_std[0] + processor.image_mean[0]
        classes = (red * 4).round().long().clamp(0, len(NAMES) - 1)
        logits = STRENGTH * F.one_hot(classes, len(NAMES)).permute(0, 3, 1, 2).to(output)
        assert logits.shape == output.shape
        return logits

    model.register_forward_pre_hook(remember, with_kwargs=True)
    model.decode_head.classifier.register_forward_hook(replace)
    return dataclasses.replace(segmenter, model=model)


def segment(segmenter, images, progress=no_progress, **settings):
    """Build the request (checks) and run it."""
    return segment_regions(SegmentRequest(segmenter, images, **settings), progress)


class Unrunnable(torch.nn.Module):
    """Stands in for a model that must not run: it keeps the config (class names), and its
    forward pass fails the test."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.config = model.config

    def forward(self, *args, **kwargs):
        raise AssertionError("the model ran")


def stripes_image(stripes: list[int], height: int, width: int, along: str) -> torch.Tensor:
    """``[H, W, 3]`` grey stripes, one per logit cell: class ``c`` is grey level ``c / 4``.

    ``along="x"``: ``stripes[j]`` fills the j-th of 16 columns; ``"y"``: the j-th of 16 rows.
    """
    levels = torch.tensor(stripes, dtype=torch.float32) / 4.0
    size = width if along == "x" else height
    line = levels.repeat_interleave(size // CELLS)
    grid = (line[None, :] if along == "x" else line[:, None]).expand(height, width)
    return grid[..., None].expand(height, width, 3).clone()


def expected_segments(
    stripes: list[int], height: int, width: int, along: str, split: bool
) -> list[tuple[str, tuple[float, ...], float, torch.Tensor]]:
    """``(label, box, confidence, mask)`` per segment, best first, computed independently.

    The one-hot logits are linearly interpolated along the stripes (``np.interp`` at the source
    coordinates of ``align_corners=False``), soft-maxed, and averaged over each segment.
    """
    size = width if along == "x" else height
    scale = size // CELLS
    positions = (np.arange(size) + 0.5) / scale - 0.5
    onehot = np.eye(len(NAMES))[stripes] * STRENGTH  # [16, C]
    logits = np.stack([np.interp(positions, np.arange(CELLS), onehot[:, c]) for c in range(5)])
    probability = np.exp(logits) / np.exp(logits).sum(axis=0)  # [C, size]
    owner = np.repeat(stripes, scale)  # class of every column (or row)
    runs = []  # (class, start, stop) of every run of one class
    for index, class_id in enumerate(owner):
        if runs and runs[-1][0] == class_id and runs[-1][2] == index:
            runs[-1][2] = index + 1
        else:
            runs.append([int(class_id), index, index + 1])
    groups = [[run] for run in runs] if split else []
    if not split:
        for class_id in dict.fromkeys(run[0] for run in runs):
            groups.append([run for run in runs if run[0] == class_id])
    found = []
    for group in groups:
        class_id = group[0][0]
        line = np.zeros(size, dtype=bool)
        for _, start, stop in group:
            line[start:stop] = True
        confidence = float(probability[class_id, line].mean())
        first, last = float(group[0][1]), float(group[-1][2])
        if along == "x":
            mask = torch.from_numpy(line)[None, :].expand(height, width)
            box = (first, 0.0, last, float(height))
        else:
            mask = torch.from_numpy(line)[:, None].expand(height, width)
            box = (0.0, first, float(width), last)
        found.append((NAMES[class_id], box, confidence, mask.to(torch.float32)))
    found.sort(key=lambda item: item[2], reverse=True)
    gaps = [a[2] - b[2] for a, b in zip(found, found[1:], strict=False)]
    assert all(gap > 1e-4 for gap in gaps), "ambiguous order: pick other stripes"
    return found


def assert_segments(found, expected) -> None:
    assert [r.label for r in found.regions] == [e[0] for e in expected]
    for region, (label, box, confidence, mask) in zip(found.regions, expected, strict=True):
        assert region.box == box, label
        assert region.confidence == pytest.approx(confidence, abs=1e-5), label
        assert region.score == region.confidence
        assert region.mask.dtype == torch.float32 and region.mask.device.type == "cpu"
        assert torch.equal(region.mask, mask), label


# Loader ---------------------------------------------------------------------------------------


def test_segmenter_round_trip(segformer_dir, segmenter):
    from transformers import SegformerForSemanticSegmentation

    assert isinstance(segmenter.model, SegformerForSemanticSegmentation)
    assert type(segmenter.processor).__name__.startswith("SegformerImageProcessor")
    assert segmenter.name == TINY and segmenter.path == segformer_dir.resolve()
    assert segmenter.labels == dict(enumerate(NAMES))
    assert not segmenter.model.training
    assert not any(p.requires_grad for p in segmenter.model.parameters())
    assert load_model(SEGMENTER, segformer_dir) is segmenter
    half = load_model(SEGMENTER, segformer_dir, dtype=torch.bfloat16)
    assert half is not segmenter and module_dtype(half.model) == torch.bfloat16
    logits = segmenter.model(pixel_values=torch.rand(1, 3, 64, 64)).logits
    assert logits.shape == (1, len(NAMES), CELLS, CELLS)


def broken_copy(segformer_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(segformer_dir, tmp_path / TINY))


def test_loader_errors_name_the_folder_and_the_fix(segformer_dir, tmp_path):
    where = "Load Segmenter (Pinpoint)"
    with pytest.raises(PinpointError) as missing, reported_as(where):
        load_model(SEGMENTER, tmp_path / "segformer-b0")
    text = str(missing.value)
    assert text.startswith(f"{where}: semantic segmentation model folder ")
    assert "does not exist" in text
    assert "hf download nvidia/segformer-b0-finetuned-ade-512-512 --local-dir" in text

    folder = broken_copy(segformer_dir, tmp_path)
    config_file = folder / "config.json"
    original = config_file.read_text()
    for model_type, architecture, elsewhere in (
        ("clip", "CLIPModel", "; a CLIP model goes in models/pinpoint_clip."),
        (
            "detr",
            "DetrForObjectDetection",
            "; an object detector goes in models/pinpoint_detectors.",
        ),
    ):
        config = json.loads(original) | {"model_type": model_type, "architectures": [architecture]}
        config_file.write_text(json.dumps(config))
        with pytest.raises(PinpointError) as wrong, reported_as(where):
            load_model(SEGMENTER, folder)
        text = str(wrong.value)
        assert text.startswith(f"{where}: '{TINY}' is a {model_type} model")
        assert f"is a {model_type} model ({architecture}), not a semantic segmentation" in text
        assert elsewhere in text and ". Fix: pick a folder with a semantic-segmentation" in text
    config_file.write_text(original)

    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(PinpointError, match=r"has no image processor config \(preprocessor"):
        load_model(SEGMENTER, folder)
    (folder / "model.safetensors").write_bytes(b"not weights")
    (folder / "preprocessor_config.json").write_text("{}")
    with pytest.raises(PinpointError, match=r"could not be loaded .* Fix: re-download"):
        load_model(SEGMENTER, folder)


# Class map ------------------------------------------------------------------------------------


def test_class_map_equals_one_bilinear_upsampling_in_any_number_of_bands(monkeypatch):
    torch.manual_seed(0)
    logits = torch.randn(5, 7, 9) * 3
    upsampled = F.interpolate(logits[None], size=(30, 50), mode="bilinear", align_corners=False)
    expected_probability, expected_ids = upsampled[0].softmax(dim=0).max(dim=0)
    for band_elements in (1 << 24, 5 * 50 * 4, 1):  # one band, bands of 4 rows, single rows
        monkeypatch.setattr(segments, "BAND_ELEMENTS", band_elements)
        ids, probability = class_map(logits, 30, 50)
        assert ids.shape == (30, 50) and ids.dtype == torch.int64
        assert torch.equal(ids, expected_ids)
        assert torch.allclose(probability, expected_probability, atol=1e-6)


# Segments -------------------------------------------------------------------------------------

STRIPES = [CAR] * 4 + [PERSON] * 3 + [CAR] * 5 + [ROAD] * 2 + [TREE] * 2
"""Class per logit column (or row). Boundaries per cell differ between segments, so their
confidences differ and their order is defined."""


@pytest.mark.parametrize("height, width", [(48, 80), (80, 48)])
@pytest.mark.parametrize("along", ["x", "y"])
@pytest.mark.parametrize("split", [False, True])
def test_segments_land_on_the_right_pixels(rigged, height, width, along, split):
    image = stripes_image(STRIPES, height, width, along)
    found = segment(rigged, image[None], min_area=0.0, split_instances=split)
    expected = expected_segments(STRIPES, height, width, along, split)
    assert (found[0].width, found[0].height) == (width, height)
    assert_segments(found[0], expected)
    assert {r.source for r in found[0].regions} == {f"segmenter:{TINY}"}
    cars = [r for r in found[0].regions if r.label == "car"]
    assert len(cars) == (2 if split else 1)
    confidences = [r.confidence for r in found[0].regions]
    assert confidences == sorted(confidences, reverse=True)


def test_min_area_drops_small_segments_and_max_regions_keeps_the_best(rigged):
    image = stripes_image(STRIPES, 48, 80, "x")[None]  # road and tree: 10 of 80 columns each
    labels = {r.label for r in segment(rigged, image, min_area=10 / 80)[0].regions}
    assert labels == {"car", "person", "road", "tree"}
    labels = {r.label for r in segment(rigged, image, min_area=10 / 80 + 1e-6)[0].regions}
    assert labels == {"car", "person"}
    best = segment(rigged, image, min_area=0.0, max_regions=2)[0].regions
    everything = segment(rigged, image, min_area=0.0)[0].regions
    assert [r.label for r in best] == [r.label for r in everything[:2]]


def test_label_filter_keeps_named_classes_and_refuses_unknown_ones(rigged):
    image = stripes_image(STRIPES, 48, 80, "x")[None]
    found = segment(rigged, image, labels=["Car", " tree "], split_instances=True)
    assert sorted(r.label for r in found[0].regions) == ["car", "car", "tree"]
    with pytest.raises(PinpointError) as unknown, reported_as("Segment Image (Pinpoint)"):
        SegmentRequest(rigged, image, labels=["car", "zebra"])
    assert str(unknown.value) == (
        f"Segment Image (Pinpoint): '{TINY}' has no class named 'zebra'. Fix: use class names "
        "of this segmenter (car, person, road, sky, tree) or leave the label filter empty."
    )


def test_nothing_found_policies(rigged):
    image = stripes_image(STRIPES, 48, 80, "x")[None]
    with (
        pytest.raises(
            PinpointError,
            match=r"^Segment Image: no segment among sky covers at least 0.1% of the image. "
            r"Fix: lower min_area or widen the label filter, or set if_nothing_found",
        ),
        reported_as("Segment Image"),
    ):
        segment(rigged, image, labels=["sky"])
    empty = segment(rigged, image, labels=["sky"], if_nothing_found="empty mask")
    assert empty[0].regions == () and "empty mask" in empty[0].note
    whole = segment(rigged, image, min_area=1.0, if_nothing_found="whole image")
    assert [r.box for r in whole[0].regions] == [(0.0, 0.0, 80.0, 48.0)]
    assert "whole image used" in whole[0].note
    with pytest.raises(PinpointError, match="if_nothing_found is 'skip'"):
        SegmentRequest(rigged, image, if_nothing_found="skip")
    with pytest.raises(PinpointError, match="RGB"):
        SegmentRequest(rigged, torch.rand(1, 48, 80, 4))


def test_an_image_in_a_batch_gets_what_it_gets_alone(rigged):
    patterns = [
        STRIPES,
        STRIPES[::-1],
        [SKY] * 10 + [TREE] * 6,
        [ROAD] * 16,
        [PERSON, CAR] * 7 + [CAR] * 2,
    ]
    images = torch.stack([stripes_image(p, 48, 80, "x") for p in patterns])  # two chunks
    calls = []
    batch = segment(
        rigged, images, min_area=0.0, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(4, 5), (5, 5)]
    assert batch.batch_size == 5
    for index, pattern in enumerate(patterns):
        alone = segment(rigged, images[index : index + 1], min_area=0.0)[0]
        expected = expected_segments(pattern, 48, 80, "x", split=False)
        assert_segments(alone, expected)
        assert_segments(batch[index], expected)


def test_a_uniform_map_is_one_whole_image_region_with_the_softmax_confidence(segmenter):
    bias = torch.tensor([0.0, 1.0, 0.5, 2.0, -1.0])
    model = copy.deepcopy(segmenter.model)
    with torch.no_grad():
        model.decode_head.classifier.weight.zero_()
        model.decode_head.classifier.bias.copy_(bias)
    uniform = dataclasses.replace(segmenter, model=model)
    found = segment(uniform, torch.rand(2, 37, 53, 3), split_instances=True)
    for item in found:
        (region,) = item.regions
        assert region.label == "person" and region.box == (0.0, 0.0, 53.0, 37.0)
        assert region.confidence == pytest.approx(bias.softmax(0)[PERSON].item(), abs=1e-6)
        assert torch.equal(region.mask, torch.ones(37, 53))


def test_labels_may_be_typed_as_text(segmenter):
    request = SegmentRequest(segmenter, torch.rand(1, 32, 32, 3), labels=" Car, TREE ,")
    assert request.wanted == frozenset({"car", "tree"})
    assert SegmentRequest(segmenter, torch.rand(1, 32, 32, 3)).wanted == frozenset()


@pytest.mark.parametrize(
    "settings, fragment",
    [
        (dict(if_nothing_found="skip"), "if_nothing_found is 'skip'. Fix: pick one of 'error', "),
        (dict(if_nothing_found="whole"), "if_nothing_found is 'whole'"),
        (dict(labels="car, zebra"), f"'{TINY}' has no class named 'zebra'. Fix: use class names"),
        (dict(labels=["Unicorn", "sky"]), "has no class named 'unicorn'"),
        (dict(images=torch.rand(1, 32, 32, 4)), "the image is RGBA (4 channels)"),
        (dict(images=torch.rand(1, 32, 32, 1)), "the image is grayscale (1 channels)"),
        (dict(images=torch.rand(32, 32, 3)), "expected an IMAGE batch shaped [B, H, W, 3]"),
    ],
)
def test_the_request_refuses_bad_settings_at_construction(segmenter, settings, fragment):
    unrunnable = dataclasses.replace(segmenter, model=Unrunnable(segmenter.model))
    inputs = dict(images=torch.rand(1, 32, 32, 3)) | settings
    with pytest.raises(PinpointError, match="^Pinpoint: .*" + re.escape(fragment)):
        SegmentRequest(unrunnable, **inputs)
    good = SegmentRequest(unrunnable, torch.rand(1, 32, 32, 3))  # a good one would run it
    with pytest.raises(AssertionError, match="the model ran"):
        segment_regions(good)
