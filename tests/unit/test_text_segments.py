"""Segment by text: SAM 3 and Florence-2 through the real loader and processors, their heads (SAM 3)
or their generation (Florence-2) rigged to known answers."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from rigs import INSTANCES, RIGGED_SIZE, points, rig_sam3, script_florence

from pinpoint.errors import PinpointError
from pinpoint.loading import TextSegmenter, load_model
from pinpoint.loading.kinds import SAM_FOLDER, TEXT_SEGMENTER
from pinpoint.memory import MB, text_segment_bytes
from pinpoint.text_segments import FlorenceTask, TextSegmentRequest, segment_by_text
from pinpoint.tiny.sam3 import build_tiny_sam3

WIDTH, HEIGHT = RIGGED_SIZE


@pytest.fixture(scope="module")
def sam3(tiny_models) -> TextSegmenter:
    return load_model(TEXT_SEGMENTER, tiny_models["text_segmenter"])


@pytest.fixture(scope="module")
def florence(tiny_models) -> TextSegmenter:
    return load_model(TEXT_SEGMENTER, tiny_models["florence"])


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(2, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(0))


def test_both_families_load_through_the_one_loader(sam3, florence):
    assert type(sam3.model).__name__ == "Sam3Model" and sam3.family == "SAM 3"
    assert type(florence.model).__name__ == "Florence2ForConditionalGeneration"
    assert florence.family == "Florence-2"
    assert type(sam3.processor).__name__ == "Sam3Processor"
    assert type(florence.processor).__name__ == "Florence2Processor"


# --- SAM 3 ---------------------------------------------------------------------------------------


@pytest.fixture
def rigged_sam3(tiny_models, tmp_path) -> tuple[TextSegmenter, list[int]]:
    folder = tmp_path / "sam3"
    shutil.copytree(tiny_models["text_segmenter"], folder)
    segmenter = load_model(TEXT_SEGMENTER, folder)
    return segmenter, rig_sam3(segmenter)


def test_sam3_gives_every_instance_above_the_threshold_with_its_mask_box_and_score(
    rigged_sam3, images
):
    segmenter, vision_passes = rigged_sam3
    found = segment_by_text(TextSegmentRequest(segmenter, images, "cat, dog", threshold=0.5))
    assert len(vision_passes) == 1  # both images, both queries: one vision pass
    for item in found:
        assert [(r.label, round(r.score, 4)) for r in item.regions] == [
            ("cat", 0.9),
            ("dog", 0.8),
            ("cat", 0.6),
        ]
        for region in item.regions:
            box = next(b for s, b in INSTANCES[region.label] if round(region.score, 4) == s)
            assert region.box == pytest.approx(box, abs=1e-3)
            expected = torch.zeros(HEIGHT, WIDTH)
            expected[box[1] : box[3], box[0] : box[2]] = 1.0
            assert torch.equal(region.mask, expected)
            assert region.confidence == region.score and region.source.startswith("sam3:")


def test_sam3_threshold_and_max_regions_cut_the_list(rigged_sam3, images):
    segmenter, _ = rigged_sam3
    low = segment_by_text(TextSegmentRequest(segmenter, images[:1], "cat", threshold=0.2))
    assert [round(r.score, 4) for r in low[0].regions] == [0.9, 0.6, 0.3]
    top = segment_by_text(TextSegmentRequest(segmenter, images[:1], "cat, dog", max_regions=2))
    assert [r.label for r in top[0].regions] == ["cat", "dog"]


def test_sam3_finding_nothing_follows_if_nothing_found(rigged_sam3, images):
    segmenter, _ = rigged_sam3
    with pytest.raises(PinpointError, match="SAM 3 found no 'zebra' above threshold 0.50"):
        segment_by_text(TextSegmentRequest(segmenter, images, "zebra"))
    request = TextSegmentRequest(segmenter, images, "zebra", if_nothing_found="empty mask")
    empty = segment_by_text(request)
    assert [len(item) for item in empty] == [0, 0] and "SAM 3 found no" in empty[0].note


def test_a_sam3_query_longer_than_it_reads_is_refused_before_the_model_runs(sam3, images):
    with pytest.raises(PinpointError, match="tokens long but .* reads at most 30") as excinfo:
        TextSegmentRequest(sam3, images, "the big red car " * 4)
    assert "Fix: name the object in a few words" in str(excinfo.value)


def test_a_sam3_download_in_the_video_layout_loads_its_detector(tmp_path, images):
    """facebook/sam3 may hold the video model (``sam3_video``: the detector plus a tracker)."""
    import transformers

    image_folder = build_tiny_sam3(tmp_path / "image")
    video = tmp_path / "sam3-video"
    config = transformers.Sam3Config.from_pretrained(image_folder)
    torch.manual_seed(0)
    model = transformers.Sam3VideoModel(
        transformers.Sam3VideoConfig(detector_config=config.to_dict())
    )
    model.save_pretrained(video)
    for name in ("processor_config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(image_folder / name, video / name)
    assert json.loads((video / "config.json").read_text())["model_type"] == "sam3_video"
    loaded = load_model(TEXT_SEGMENTER, video)
    assert type(loaded.model).__name__ == "Sam3Model" and loaded.family == "SAM 3"
    detector = model.detector_model.state_dict()
    loaded_weights = loaded.model.state_dict().items()
    assert all(torch.equal(value, detector[key]) for key, value in loaded_weights)
    segment_by_text(TextSegmentRequest(loaded, images, "cat", if_nothing_found="empty mask"))


def test_sam3_is_refused_by_the_box_refiner_with_where_it_belongs(tiny_models):
    with pytest.raises(PinpointError) as excinfo:
        load_model(SAM_FOLDER, tiny_models["text_segmenter"])
    message = str(excinfo.value)
    assert "SAM 3 finds objects from text and is not a box refiner" in message
    assert "goes in models/pinpoint_text_segmenters" in message


def test_a_box_refiner_is_refused_by_the_text_segmenter_loader(tiny_models):
    with pytest.raises(PinpointError) as excinfo:
        load_model(TEXT_SEGMENTER, tiny_models["sam_folder"])
    message = str(excinfo.value)
    assert "not a text segmenter (SAM 3 or Florence-2)" in message
    assert "goes in models/pinpoint_sam" in message


# --- Florence-2 ----------------------------------------------------------------------------------


def test_florence_outlines_each_expression_as_a_masked_region(florence, images, monkeypatch):
    rectangle = points(24, 16, 72, 16, 72, 48, 24, 48)
    triangle = points(10, 10, 40, 10, 10, 50)
    answers = [rectangle, triangle, triangle, "<sep>".join([rectangle, triangle])]
    calls = script_florence(florence, monkeypatch, answers)
    request = TextSegmentRequest(florence, images, "the red car, the dog")
    found = segment_by_text(request)
    assert len(calls) == 1 and calls[0]["input_ids"].shape[0] == 4  # 2 images x 2 queries
    first, second = found
    expected = torch.zeros(HEIGHT, WIDTH)
    expected[16:49, 24:73] = 1.0  # the outline's pixels included
    car = next(r for r in first.regions if r.label == "the red car")
    assert torch.equal(car.mask, expected) and car.box == (24.0, 16.0, 73.0, 49.0)
    dog = next(r for r in first.regions if r.label == "the dog")
    assert dog.box == (10.0, 10.0, 41.0, 51.0) and dog.mask[40, 12] == 1 and dog.mask[45, 35] == 0
    assert [r.label for r in second.regions] == ["the red car", "the dog"]
    (both,) = [r for r in second.regions if r.label == "the dog"]
    assert both.mask.sum() > expected.sum()  # two outlines of one answer: one region, both
    for item in found:
        for region in item.regions:
            assert 0.99 < region.confidence <= 1.0 and region.source.startswith("florence2:")


def test_florence_phrase_grounding_boxes_each_phrase(florence, images, monkeypatch):
    answer = "red car" + points(24, 16, 72, 48) + "sky" + points(0, 0, 95, 15)
    script_florence(florence, monkeypatch, [answer, answer])
    request = TextSegmentRequest(
        florence, images, "a red car under the sky", florence_task=FlorenceTask.BOXES
    )
    found = segment_by_text(request)
    for item in found:
        assert {(r.label, r.box) for r in item.regions} == {
            ("red car", (24.0, 16.0, 72.0, 48.0)),
            ("sky", (0.0, 0.0, 95.0, 15.0)),
        }
        assert all(r.mask is None for r in item.regions)


def test_florence_answering_nothing_follows_if_nothing_found(florence, images, monkeypatch):
    script_florence(florence, monkeypatch, ["", ""])
    with pytest.raises(PinpointError, match="Florence-2 found no 'the unicorn' in image 1 of 2"):
        segment_by_text(TextSegmentRequest(florence, images, "the unicorn"))


def test_bad_settings_are_refused(florence, images):
    with pytest.raises(PinpointError, match="the queries are empty"):
        TextSegmentRequest(florence, images, " ,\n ")
    with pytest.raises(PinpointError, match="florence_task is 'caption'"):
        TextSegmentRequest(florence, images, "a dog", florence_task="caption")
    with pytest.raises(PinpointError, match="RGB"):
        TextSegmentRequest(florence, torch.rand(1, 8, 8, 4), "a dog")


def test_memory_grows_with_images_and_florence_queries(sam3, florence, images):
    assert text_segment_bytes(TextSegmentRequest(sam3, images, "a, b")) == 2 * 3072 * MB
    assert text_segment_bytes(TextSegmentRequest(florence, images, "a, b")) == 4 * 1024 * MB
