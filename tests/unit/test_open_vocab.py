"""Open-vocabulary detection: tiny random OWL-ViT, OWLv2 and Grounding DINO through the real
loader, and rigged heads whose answers are known."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pinpoint.detect import (
    DetectRequest,
    TextDetectRequest,
    check_queries,
    detect_by_text,
)
from pinpoint.errors import PinpointError, reported_as
from pinpoint.loading import load_model
from pinpoint.loading.kinds import CLIP, DETECTOR
from pinpoint.loading.models import Detector, module_device, module_dtype
from pinpoint.progress import no_progress
from pinpoint.tiny.detr import build_tiny_detector
from pinpoint.tiny.grounding_dino import build_tiny_grounding_dino
from pinpoint.tiny.owlvit import build_tiny_owlv2, build_tiny_owlvit

QUERIES = ["a red car", "a dog"]
SIZES = [(60, 150), (150, 60)]  # (height, width)
SCALE = 10.0  # the rigged class head's logit scale: a perfect match scores sigmoid(10)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models") / "pinpoint_detectors"
    return {
        "owlvit": build_tiny_owlvit(root / "tiny-random-owlvit"),
        "owlv2": build_tiny_owlv2(root / "tiny-random-owlv2"),
        "grounding-dino": build_tiny_grounding_dino(root / "tiny-random-grounding-dino"),
        "detr": build_tiny_detector(root / "tiny-random-detr"),
    }


@pytest.fixture(scope="module")
def detectors(folders) -> dict[str, Detector]:
    return {key: load_model(DETECTOR, folder) for key, folder in folders.items()}


def find(detector, images, queries, progress=no_progress, **settings):
    """Build the request (checks) and run it."""
    return detect_by_text(TextDetectRequest(detector, images, queries, **settings), progress)


class Unrunnable(torch.nn.Module):
    """Stands in for a model that must not run: it keeps the config (model type, text length),
    and its forward pass fails the test."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.config = model.config

    def forward(self, *args, **kwargs):
        raise AssertionError("the model ran")


def unrunnable(detector: Detector) -> Detector:
    return dataclasses.replace(detector, model=Unrunnable(detector.model))


def copy_folder(folders: dict[str, Path], key: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folders[key], tmp_path / folders[key].name))


# Loading ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, model_class, processor_class",
    [
        ("owlvit", "OwlViTForObjectDetection", "OwlViTProcessor"),
        ("owlv2", "Owlv2ForObjectDetection", "Owlv2Processor"),
        ("grounding-dino", "GroundingDinoForObjectDetection", "GroundingDinoProcessor"),
    ],
)
def test_open_vocabulary_round_trip(folders, detectors, key, model_class, processor_class):
    detector = detectors[key]
    assert detector.open_vocabulary is True
    assert type(detector.model).__name__ == model_class
    assert type(detector.processor).__name__ == processor_class
    assert detector.processor.tokenizer is not None and detector.processor.image_processor
    assert detector.name == folders[key].name and detector.path == folders[key].resolve()
    assert module_device(detector.model) == torch.device("cpu")
    assert module_dtype(detector.model) == torch.float32
    assert not detector.model.training
    assert not any(parameter.requires_grad for parameter in detector.model.parameters())
    assert load_model(DETECTOR, folders[key]) is detector  # the shared cache
    assert detectors["detr"].open_vocabulary is False


def test_a_processor_config_json_folder_loads_too(detectors, folders, tmp_path):
    """transformers 5 saves a processor as processor_config.json, the Hub has
    preprocessor_config.json: both layouts load."""
    folder = copy_folder(folders, "owlv2", tmp_path)
    (folder / "preprocessor_config.json").unlink()
    detectors["owlv2"].processor.save_pretrained(folder)
    assert (folder / "processor_config.json").is_file()
    assert not (folder / "preprocessor_config.json").is_file()
    loaded = load_model(DETECTOR, folder)
    assert loaded.open_vocabulary and type(loaded.processor).__name__ == "Owlv2Processor"


@pytest.mark.parametrize(
    "key, removed",
    [
        ("owlvit", ["tokenizer.json", "merges.txt"]),
        ("grounding-dino", ["tokenizer.json", "vocab.txt"]),
    ],
)
def test_missing_tokenizer_files(folders, tmp_path, key, removed):
    folder = copy_folder(folders, key, tmp_path)
    for name in removed:
        (folder / name).unlink()
    with pytest.raises(PinpointError) as excinfo, reported_as("Load Detector (Pinpoint)"):
        load_model(DETECTOR, folder)
    text = str(excinfo.value)
    assert text.startswith("Load Detector (Pinpoint): 'tiny-random-")
    assert "has no tokenizer files (vocab.json and merges.txt, vocab.txt, or tokenizer.json" in text
    assert f"Fix: re-download the model into {folder}" in text


def test_an_unsupported_open_vocabulary_model_is_refused(folders, tmp_path):
    folder = copy_folder(folders, "owlvit", tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="omdet-turbo", architectures=["OmDetTurboForObjectDetection"])
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(PinpointError) as excinfo:
        load_model(DETECTOR, folder)
    text = str(excinfo.value)
    assert "is a omdet-turbo model (OmDetTurboForObjectDetection), an open-vocabulary" in text
    assert "Pinpoint cannot run yet" in text
    assert "hf download google/owlv2-base-patch16-ensemble --local-dir" in text


def test_wrong_model_type_names_both_kinds_of_detector(tmp_path):
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(PinpointError) as excinfo:
        load_model(DETECTOR, folder)
    text = str(excinfo.value)
    assert "'bert' is a bert model, not an object detector" in text
    assert "an object detector (DETR, YOLOS, RT-DETR, ...) or an open-vocabulary detector" in text
    assert "google/owlv2-base-patch16-ensemble" in text and "facebook/detr-resnet-50" in text


def test_an_open_vocabulary_detector_given_to_the_clip_loader(folders):
    with pytest.raises(PinpointError) as excinfo:
        load_model(CLIP, folders["owlvit"])
    text = str(excinfo.value)
    assert "is a owlvit model (OwlViTForObjectDetection), not a CLIP model" in text
    assert "; an object detector goes in models/pinpoint_detectors." in text


# Detect by text: any family ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ["owlvit", "owlv2", "grounding-dino"])
@pytest.mark.parametrize("height, width", SIZES)
def test_regions_of_every_family(detectors, key, height, width):
    detector = detectors[key]
    torch.manual_seed(0)
    found = find(
        detector,
        torch.rand(2, height, width, 3),
        QUERIES,
        threshold=0.0,
        max_detections=5,
        if_nothing_found="empty mask",
    )
    assert found.batch_size == 2
    for item in found:
        assert (item.width, item.height) == (width, height)
        # random OWLv2 boxes may all lie in the padding that squares the image
        assert (0 if key == "owlv2" else 1) <= len(item.regions) <= 5
        scores = [region.score for region in item.regions]
        assert scores == sorted(scores, reverse=True)
        for region in item.regions:
            assert region.label in QUERIES
            assert region.source == f"open-vocabulary:{detector.name}"
            assert region.confidence == region.score and 0.0 <= region.score <= 1.0
            x0, y0, x1, y1 = region.box
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height


@pytest.mark.parametrize("key", ["owlvit", "grounding-dino"])
def test_an_image_alone_equals_that_image_in_a_batch(detectors, key):
    torch.manual_seed(0)
    images = torch.rand(5, 48, 80, 3)  # two forward chunks: 4 + 1
    seen = []
    batch = find(
        detectors[key],
        images,
        QUERIES,
        threshold=0.0,
        max_detections=300,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(4, 5), (5, 5)]
    for index in (1, 4):
        alone = find(
            detectors[key], images[index : index + 1], QUERIES, threshold=0.0, max_detections=300
        )[0]
        assert len(alone.regions) == len(batch[index].regions)
        for one, other in zip(
            sorted(alone.regions, key=lambda r: r.box),
            sorted(batch[index].regions, key=lambda r: r.box),
            strict=True,
        ):
            assert one.label == other.label
            assert one.box == pytest.approx(other.box, abs=1e-3)
            assert one.score == pytest.approx(other.score, abs=1e-4)


def test_bfloat16_weights_run(folders):
    detector = load_model(DETECTOR, folders["owlvit"], dtype=torch.bfloat16)
    found = find(detector, torch.rand(1, 40, 56, 3), QUERIES, threshold=0.0)
    assert module_dtype(detector.model) == torch.bfloat16
    assert found[0].regions and all(r.label in QUERIES for r in found[0].regions)


# Rigged OWL heads: every patch predicts its own grid cell, one query wins -------------------------


def rig_owl(detector: Detector, winner: str, shift: float = 0.0) -> Detector:
    """A copy whose class head scores ``winner`` ``SCALE * (1 + shift)`` on every patch (others
    less) and whose box head adds nothing to the patch-grid prior.

    OWL predicts ``sigmoid(box_head(x) + box_bias)`` per patch, ``box_bias`` putting the box
    centre on the patch's bottom-right grid corner ``((j+1)/n, (i+1)/n)`` with size ``1/n``;
    zeroing the head's last layer leaves exactly that grid. The class head computes
    ``(cos(dense0(x), query) + shift) * (elu(scale) + 1)``: with zero weights, dense0's bias set
    to the winner's embedding makes its cosine 1 and every other query's smaller.
    """
    model = copy.deepcopy(detector.model)
    inputs = detector.processor(
        text=[QUERIES], images=[np.zeros((32, 32, 3), np.uint8)], return_tensors="pt"
    )
    with torch.no_grad():
        query_embeds = model(**inputs).text_embeds[0]
        head = model.class_head
        for layer in (head.dense0, head.logit_shift, head.logit_scale, model.box_head.dense2):
            layer.weight.zero_()
            layer.bias.zero_()
        head.dense0.bias.copy_(query_embeds[QUERIES.index(winner)])
        head.logit_shift.bias.fill_(shift)
        head.logit_scale.bias.fill_(SCALE - 1.0)  # elu(x) + 1 = x + 1 for x > 0
    return dataclasses.replace(detector, model=model)


def grid_boxes(
    height: int, width: int, padded_to_square: bool, cells: int = 4
) -> list[tuple[float, ...]]:
    """The patch-grid boxes in pixels: OWL-ViT stretches the image to a square, OWLv2 pads it
    (bottom/right) to a square, so its grid covers ``max(H, W)`` pixels both ways."""
    scale_x, scale_y = (max(height, width),) * 2 if padded_to_square else (width, height)
    boxes = []
    for row in range(cells):
        for column in range(cells):
            cx, cy, half = (column + 1) / cells, (row + 1) / cells, 0.5 / cells
            x0, y0 = max(0.0, (cx - half) * scale_x), max(0.0, (cy - half) * scale_y)
            x1, y1 = min(width, (cx + half) * scale_x), min(height, (cy + half) * scale_y)
            if x1 > x0 and y1 > y0:  # OWLv2 cells in the padding are dropped
                boxes.append((x0, y0, x1, y1))
    return sorted(boxes)


@pytest.mark.parametrize("key", ["owlvit", "owlv2"])
@pytest.mark.parametrize("height, width", SIZES)
@pytest.mark.parametrize("winner", QUERIES)
def test_rigged_owl_boxes_map_back_to_the_image_pixels(detectors, key, height, width, winner):
    detector = rig_owl(detectors[key], winner)
    found = find(detector, torch.rand(1, height, width, 3), QUERIES, max_detections=16)
    expected = grid_boxes(height, width, padded_to_square=key == "owlv2")
    assert len(expected) == (16 if key == "owlvit" else 8)
    regions = found[0].regions
    assert sorted(region.box for region in regions) == [
        pytest.approx(box, abs=0.05) for box in expected
    ]
    for region in regions:
        assert region.label == winner
        assert region.confidence == pytest.approx(1 / (1 + math.exp(-SCALE)), rel=1e-5)


def test_max_detections_keeps_the_best(detectors):
    detector = rig_owl(detectors["owlvit"], "a dog")
    found = find(detector, torch.rand(1, 40, 40, 3), QUERIES, max_detections=3)
    assert len(found[0].regions) == 3


def test_nothing_found_policies(detectors):
    detector = rig_owl(detectors["owlvit"], "a dog", shift=-2.0)  # every score <= sigmoid(-10)
    images = torch.rand(2, 40, 64, 3)
    with pytest.raises(PinpointError) as excinfo, reported_as("Detect by Text"):
        find(detector, images, QUERIES, threshold=0.1)
    assert str(excinfo.value) == (
        "Detect by Text: nothing matching 'a red car', 'a dog' scored above threshold 0.10 "
        "in image 1 of 2. Fix: lower the threshold or describe the object differently, or set "
        "if_nothing_found to 'empty mask' or 'whole image'."
    )
    empty = find(detector, images, QUERIES, if_nothing_found="empty mask")
    assert all(item.regions == () and "empty mask" in item.note for item in empty)
    whole = find(detector, images, QUERIES, if_nothing_found="whole image")
    assert [[r.box for r in item.regions] for item in whole] == [[(0.0, 0.0, 64.0, 40.0)]] * 2
    kept = find(detector, images, QUERIES, threshold=0.0, max_detections=1)
    assert [len(item) for item in kept] == [1, 1]


# Rigged Grounding DINO: known token logits and boxes --------------------------------------------


class KnownOutputs(torch.nn.Module):
    """Grounding DINO whose logits and boxes are replaced after the real forward pass.

    Query slot 0 scores 5 on the last token of "dog" (``##g``), slot 1 scores 3 on the last token
    of "red" (``##d``); everything else scores -10. Slot 0 is centred at (0.25, 0.5), slot 1 at
    (0.75, 0.5), both 0.2 x 0.4 of the image.
    """

    def __init__(self, model: torch.nn.Module, tokenizer):
        super().__init__()
        self.inner, self.config, self.tokenizer = model, model.config, tokenizer

    def forward(self, **inputs):
        out = self.inner(**inputs)
        tokens = self.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
        assert tokens[:6] == ["[CLS]", "a", "r", "##e", "##d", "c"]  # the text is "a red car."
        logits = torch.full_like(out.logits, -10.0)
        logits[:, 0, tokens.index("##g")] = 5.0
        logits[:, 1, tokens.index("##d")] = 3.0
        boxes = torch.tensor([0.5, 0.5, 0.1, 0.1]).repeat(*out.pred_boxes.shape[:2], 1)
        boxes[:, 0] = torch.tensor([0.25, 0.5, 0.2, 0.4])
        boxes[:, 1] = torch.tensor([0.75, 0.5, 0.2, 0.4])
        out.logits, out.pred_boxes = logits, boxes
        return out


@pytest.mark.parametrize("height, width", SIZES)
def test_grounding_dino_labels_come_from_the_query_tokens(detectors, height, width):
    detector = detectors["grounding-dino"]
    rigged = dataclasses.replace(
        detector, model=KnownOutputs(detector.model, detector.processor.tokenizer)
    )
    found = find(rigged, torch.rand(2, height, width, 3), QUERIES, threshold=0.1)
    for item in found:
        dog, car = item.regions
        assert (dog.label, car.label) == ("a dog", "a red car")
        assert dog.score == pytest.approx(1 / (1 + math.exp(-5)))
        assert car.score == pytest.approx(1 / (1 + math.exp(-3)))
        assert dog.box == pytest.approx((0.15 * width, 0.3 * height, 0.35 * width, 0.7 * height))
        assert car.box == pytest.approx((0.65 * width, 0.3 * height, 0.85 * width, 0.7 * height))


def test_grounding_dino_refuses_dots_and_too_many_queries(detectors):
    # both are found when the request is built (tokenizer only): the model never runs
    detector = unrunnable(detectors["grounding-dino"])
    with pytest.raises(PinpointError, match=r"'st. bernard' contains a '.'.*Fix: remove the '.'"):
        TextDetectRequest(detector, torch.rand(1, 32, 32, 3), ["st. bernard", "a dog"])
    many = [f"thing number {index}" for index in range(20)]  # ~13 tokens each, 64 fit
    with pytest.raises(
        PinpointError, match="reads at most 64 tokens and the 20 queries do not fit"
    ):
        TextDetectRequest(detector, torch.rand(1, 32, 32, 3), many)


def test_grounding_dino_spans_are_computed_with_the_request(detectors):
    request = TextDetectRequest(
        unrunnable(detectors["grounding-dino"]), torch.rand(1, 32, 32, 3), "a red car, a dog"
    )
    assert request.queries == ("a red car", "a dog")
    tokens = detectors["grounding-dino"].processor.tokenizer("a red car. a dog.")["input_ids"]
    words = detectors["grounding-dino"].processor.tokenizer.convert_ids_to_tokens(tokens)
    assert len(request.spans) == 2
    assert "".join(words[i] for i in request.spans[0]).replace("#", "") == "aredcar"
    assert "".join(words[i] for i in request.spans[1]).replace("#", "") == "adog"
    owl = TextDetectRequest(unrunnable(detectors["owlvit"]), torch.rand(1, 32, 32, 3), QUERIES)
    assert owl.spans == ()


# Inputs and routes -------------------------------------------------------------------------------


def test_parse_and_check_queries(detectors):
    owlvit = detectors["owlvit"]
    text = " a red car, a Dog ,,\nthe cat\n"
    assert check_queries(owlvit, text) == ("a red car", "a Dog", "the cat")
    image = torch.rand(1, 32, 32, 3)
    assert TextDetectRequest(owlvit, image, text).queries == ("a red car", "a Dog", "the cat")
    assert check_queries(owlvit, ["a dog", " A dog ", "cat"]) == ("a dog", "cat")
    for empty in ("", " ,\n, ", [], ["  ", ""]):
        with (
            pytest.raises(
                PinpointError,
                match="^Detect by Text: the queries are empty. Fix: type what to find",
            ),
            reported_as("Detect by Text"),
        ):
            TextDetectRequest(owlvit, image, empty)


def test_each_detector_kind_refuses_the_other_route(detectors):
    image = torch.rand(1, 32, 32, 3)
    with pytest.raises(PinpointError) as excinfo, reported_as("Detect"):
        DetectRequest(detectors["owlv2"], image)
    text = str(excinfo.value)
    assert text.startswith("Detect: 'tiny-random-owlv2' is an open-vocabulary detector")
    assert (
        "Fix: use it to detect by text (type what to find), or load a closed-set detector "
        "(DETR, YOLOS, RT-DETR) to detect its classes." in text
    )
    with pytest.raises(PinpointError) as excinfo, reported_as("Detect by Text"):
        TextDetectRequest(detectors["detr"], image, QUERIES)
    text = str(excinfo.value)
    assert text.startswith("Detect by Text: 'tiny-random-detr' is a closed-set detector")
    assert (
        "Fix: use it to detect objects of its classes (with the labels filter), or load an "
        "open-vocabulary detector (OWL-ViT, OWLv2, Grounding DINO) to detect by text." in text
    )


def test_bad_inputs_fail_before_any_work(detectors):
    detector = unrunnable(detectors["owlvit"])
    with pytest.raises(PinpointError, match="RGBA"):
        TextDetectRequest(detector, torch.rand(1, 32, 32, 4), QUERIES)
    with pytest.raises(PinpointError, match="if_nothing_found is 'skip'"):
        TextDetectRequest(detector, torch.rand(1, 32, 32, 3), QUERIES, 0.0, 20, "skip")
    with pytest.raises(AssertionError, match="the model ran"):  # a good request would run it
        find(detector, torch.rand(1, 32, 32, 3), QUERIES, threshold=0.0)


@pytest.mark.parametrize(
    "key, queries, settings, fragment",
    [
        ("owlvit", QUERIES, dict(if_nothing_found="skip"), "if_nothing_found is 'skip'. Fix: "),
        ("owlvit", QUERIES, dict(if_nothing_found="Error"), "if_nothing_found is 'Error'"),
        ("owlv2", "", {}, "the queries are empty. Fix: type what to find"),
        ("owlv2", " ,, \n", {}, "the queries are empty"),
        ("owlvit", ["", " "], {}, "the queries are empty"),
        ("grounding-dino", "a dog, st. bernard", {}, "'st. bernard' contains a '.'"),
        ("grounding-dino", [f"thing number {i}" for i in range(20)], {}, "do not fit"),
        ("owlvit", QUERIES, dict(images=torch.rand(1, 32, 32, 4)), "the image is RGBA"),
        ("owlvit", QUERIES, dict(images=torch.rand(1, 1, 32, 3)), "smaller than 2x2 pixels"),
        ("detr", QUERIES, {}, "'tiny-random-detr' is a closed-set detector"),
    ],
)
def test_the_text_request_refuses_bad_settings_at_construction(
    detectors, key, queries, settings, fragment
):
    inputs = dict(images=torch.rand(1, 32, 32, 3)) | settings
    with pytest.raises(PinpointError, match="^Pinpoint: .*" + re.escape(fragment)):
        TextDetectRequest(unrunnable(detectors[key]), queries=queries, **inputs)


@pytest.mark.parametrize("key", ["owlvit", "owlv2", "grounding-dino"])
def test_the_object_request_refuses_an_open_vocabulary_detector(detectors, key):
    with pytest.raises(PinpointError, match=r"^Pinpoint: .* is an open-vocabulary detector"):
        DetectRequest(unrunnable(detectors[key]), torch.rand(1, 32, 32, 3))
