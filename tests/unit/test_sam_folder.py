"""SAM 2, SAM-HQ and SAM in the transformers layout as engines of Refine with SAM: tiny random
folders loaded through the real loader, one image embedding per image, the mask the model rates
best (checked against transformers' own chain, and against a rigged decoder whose answer is
known), points, and the refusals."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil

import pytest
import torch

from pinpoint.errors import PinpointError
from pinpoint.loading import SamFolder, list_installed, load_model
from pinpoint.loading.kinds import SAM, SAM_FOLDER
from pinpoint.memory import refine_bytes
from pinpoint.refine import RefineRequest, refine_with_sam
from pinpoint.regions import ImageRegions, Region, RegionBatch
from pinpoint.tiny.sam_folder import MODEL_TYPES, build_tiny_sam_folder

HEIGHT, WIDTH = 48, 64
BOXES = [(4.0, 6.0, 30.0, 40.0), (20.0, 2.0, 60.0, 30.0), (0.0, 0.0, 64.0, 48.0)]
ENGINES = {"sam2": "SAM 2", "sam_hq": "SAM-HQ", "sam": "SAM"}


@pytest.fixture(scope="module", params=MODEL_TYPES)
def sam(request, tmp_path_factory) -> SamFolder:
    root = tmp_path_factory.mktemp("models") / SAM_FOLDER.folder
    return load_model(
        SAM_FOLDER, build_tiny_sam_folder(root / f"tiny-{request.param}", request.param)
    )


def regions_of(boxes) -> ImageRegions:
    return ImageRegions(
        WIDTH, HEIGHT, tuple(Region(box, f"r{i}", 0.9, "t") for i, box in enumerate(boxes))
    )


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(2, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(0))


def embeddings_counted(sam: SamFolder, monkeypatch) -> list[int]:
    calls: list[int] = []
    real = sam.model.get_image_embeddings

    def counted(pixel_values, *args, **kwargs):
        calls.append(int(pixel_values.shape[0]))
        return real(pixel_values, *args, **kwargs)

    monkeypatch.setattr(sam.model, "get_image_embeddings", counted)
    return calls


def test_each_engine_loads_as_a_sam_folder(sam):
    assert type(sam) is SamFolder and sam.engine == ENGINES[sam.model.config.model_type]
    assert not any(p.requires_grad for p in sam.model.parameters())
    assert list_installed([sam.path.parent], SAM_FOLDER) == [sam.path.name]


def test_one_embedding_per_image_and_a_mask_per_box(sam, images, monkeypatch):
    calls = embeddings_counted(sam, monkeypatch)
    batch = RegionBatch((regions_of(BOXES), regions_of(BOXES[:2])))
    done = []
    out = refine_with_sam(RefineRequest(sam, images, batch), lambda d, t: done.append((d, t)))
    assert calls == [1, 1] and done == [(1, 2), (2, 2)]
    assert [len(found) for found in out] == [3, 2]
    for found in out:
        for region in found.regions:
            assert region.mask.shape == (HEIGHT, WIDTH) and region.mask.dtype == torch.float32
            assert set(region.mask.unique().tolist()) <= {0.0, 1.0}
            assert region.mask_iou is not None


def test_the_mask_is_the_one_transformers_rates_best(sam, images):
    """Refine's mask and IoU for each box equal the stock chain's: processor → model with
    the image → the candidate of highest predicted IoU → post_process_masks."""
    out = refine_with_sam(RefineRequest(sam, images[:1], RegionBatch((regions_of(BOXES),))))
    pixels = (images[0] * 255).round().to(torch.uint8).numpy()
    inputs = sam.processor(
        images=[pixels], input_boxes=[[list(b) for b in BOXES]], return_tensors="pt"
    )
    with torch.inference_mode():
        stock = sam.model(
            pixel_values=inputs["pixel_values"],
            input_boxes=inputs["input_boxes"],
            multimask_output=True,
        )
    best = stock.iou_scores[0].argmax(dim=1)
    rows = torch.arange(len(BOXES))
    sizes = [inputs[k] for k in ("original_sizes", "reshaped_input_sizes") if k in inputs]
    masks = sam.processor.post_process_masks(
        stock.pred_masks[0][rows, best][None, :, None], *sizes
    )[0]
    for index, region in enumerate(out[0].regions):
        assert region.mask_iou == pytest.approx(float(stock.iou_scores[0, index].max()), abs=1e-5)
        assert float((region.mask != masks[index, 0].float()).float().mean()) < 1e-3


@pytest.fixture
def rigged(sam):
    """A copy whose decoder output is set: candidate ``best`` is all object, the others all
    background, and the predicted IoU ranks ``best`` first."""
    rigged = dataclasses.replace(sam, model=copy.deepcopy(sam.model))
    state = {"best": 1}

    def answer(module, args, kwargs, output):
        masks = torch.full_like(output.pred_masks, -10.0)
        masks[:, :, state["best"]] = 10.0
        iou = torch.zeros_like(output.iou_scores)
        iou[:, :, state["best"]] = 0.9
        return dataclasses.replace(output, pred_masks=masks, iou_scores=iou)

    rigged.model.register_forward_hook(answer, with_kwargs=True)
    return rigged, state


def test_best_of_three_by_predicted_iou(rigged, images):
    sam, state = rigged
    batch = RegionBatch((regions_of(BOXES[:2]),))
    out = refine_with_sam(RefineRequest(sam, images[:1], batch))
    assert all(bool(r.mask.all()) for r in out[0].regions)
    assert [r.box for r in out[0].regions] == [(0.0, 0.0, float(WIDTH), float(HEIGHT))] * 2
    assert [r.mask_iou for r in out[0].regions] == [pytest.approx(0.9)] * 2
    state["best"] = 2
    out = refine_with_sam(RefineRequest(sam, images[:1], batch))
    assert all(bool(r.mask.all()) for r in out[0].regions)
    state["best"] = 0
    single = refine_with_sam(RefineRequest(sam, images[:1], batch, multimask=False))
    assert all(bool(r.mask.all()) for r in single[0].regions)  # one candidate: that one


def test_an_empty_answer_keeps_the_box_and_says_so(rigged, images):
    sam, state = rigged
    state["best"] = 1
    sam.model._forward_hooks.clear()
    hook = lambda module, args, kwargs, output: dataclasses.replace(  # noqa: E731
        output, pred_masks=torch.full_like(output.pred_masks, -10.0)
    )
    sam.model.register_forward_hook(hook, with_kwargs=True)
    out = refine_with_sam(RefineRequest(sam, images[:1], RegionBatch((regions_of(BOXES[:2]),))))
    assert [r.box for r in out[0].regions] == BOXES[:2]
    assert out[0].note == "SAM found no mask for 2 of 2 region(s): boxes kept"


def test_points_join_their_boxes_and_points_alone_make_a_region(sam, images):
    boxes = RegionBatch((regions_of(BOXES[:2]),))
    plain = refine_with_sam(RefineRequest(sam, images[:1], boxes))
    clicked = refine_with_sam(RefineRequest(sam, images[:1], boxes, points="10,20"))
    # (10, 20) lies in the first box only: the second box's prompt is unchanged
    assert torch.equal(clicked[0].regions[1].mask, plain[0].regions[1].mask)
    alone = refine_with_sam(
        RefineRequest(sam, images[:1], RegionBatch((regions_of(()),)), points="10,20; 40,30,0")
    )
    (region,) = alone[0].regions
    assert region.label == "points" and region.mask.shape == (HEIGHT, WIDTH)


def test_the_memory_estimate_follows_the_engine(sam, images):
    request = RefineRequest(sam, images[:1], RegionBatch((regions_of(BOXES),)))
    assert refine_bytes(request) >= 512 * 1024 * 1024  # a decoder call's worth at least


def test_a_sam2_1_download_in_the_video_layout_refines_with_its_image_model(tmp_path, images):
    """facebook/sam2.1-hiera-* hold a ``sam2_video`` config and a video processor config."""
    video = tmp_path / "sam2.1-hiera-tiny"
    shutil.copytree(build_tiny_sam_folder(tmp_path / "sam2", "sam2"), video)
    config = json.loads((video / "config.json").read_text())
    config |= {"model_type": "sam2_video", "architectures": ["Sam2VideoModel"]}
    (video / "config.json").write_text(json.dumps(config))
    processor = {
        "point_pad_value": -10,
        "processor_class": "Sam2VideoProcessor",
        "target_size": 128,
    }
    (video / "processor_config.json").write_text(json.dumps(processor))
    loaded = load_model(SAM_FOLDER, video)
    assert type(loaded.model).__name__ == "Sam2Model" and loaded.engine == "SAM 2"
    out = refine_with_sam(RefineRequest(loaded, images[:1], RegionBatch((regions_of(BOXES),))))
    assert [r.mask.shape for r in out[0].regions] == [(HEIGHT, WIDTH)] * 3


def test_sam3_and_original_files_are_refused_with_where_they_belong(tmp_path, sam):
    sam3 = tmp_path / "sam3"
    sam3.mkdir()
    (sam3 / "config.json").write_text(json.dumps({"model_type": "sam3"}))
    with pytest.raises(PinpointError) as excinfo:
        load_model(SAM_FOLDER, sam3)
    message = str(excinfo.value)
    assert "not a Segment Anything model (SAM 2, SAM-HQ or SAM" in message
    assert "SAM 3 finds objects from text and is not a box refiner" in message
    with pytest.raises(PinpointError, match="put the folder in models/pinpoint_sam"):
        load_model(SAM, sam.path)


def test_an_older_transformers_is_told_to_upgrade(tmp_path, monkeypatch):
    import pinpoint.loading.sam_folder as sam_folder

    folder = build_tiny_sam_folder(tmp_path / "sam2", "sam2")
    monkeypatch.setitem(sam_folder.CLASSES, "sam2", ("Sam9Model", "Sam2Processor"))
    with pytest.raises(PinpointError) as excinfo:
        load_model(SAM_FOLDER, folder)
    message = str(excinfo.value)
    assert "needs transformers' Sam9Model, which transformers 5." in message
    assert "pip install -U transformers" in message
