"""Segment Anything: the models/sams files, the safe loader, the tiny builder and Refine with SAM.

The tiny SAM has random weights, so its masks are noise; the tests assert what holds by
construction (shapes, one embedding per image, batch independence, the chosen mask, boxes equal
to the masks' bounds) and rig ``mask_threshold`` where a known mask is needed.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pickle
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import pinpoint.refine as refine_module
from pinpoint.boxes import mask_bounds
from pinpoint.cli import main
from pinpoint.errors import PinpointError, reported_as
from pinpoint.loading import find_model, list_installed, load_model
from pinpoint.loading.kinds import SAM
from pinpoint.loading.models import SamModel, module_device, module_dtype
from pinpoint.loading.sam import STANDARD, check_sam_state_dict, detect_architecture
from pinpoint.refine import RefineRequest, check_points, parse_points, refine_with_sam
from pinpoint.regions import ImageRegions, Region, RegionBatch
from pinpoint.tiny.sam import TINY_SAM_FILE, build_tiny_sam, stamp_file

URL = (
    "https://huggingface.co/ybelkada/segment-anything/resolve/main/checkpoints/sam_vit_b_01ec64.pth"
)
HEIGHT, WIDTH = 48, 64
BOXES = [(4.0, 6.0, 30.0, 40.0), (20.0, 2.0, 60.0, 30.0), (0.0, 0.0, 64.0, 48.0)]


@pytest.fixture(scope="module")
def sam_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sam(tmp_path_factory.mktemp("models") / SAM.folder / TINY_SAM_FILE)


@pytest.fixture(scope="module")
def sam(sam_file: Path) -> SamModel:
    return load_model(SAM, sam_file)


def regions_of(boxes, width: int = WIDTH, height: int = HEIGHT) -> ImageRegions:
    return ImageRegions(
        width,
        height,
        tuple(Region(box, f"r{i}", 0.9 - 0.1 * i, "t") for i, box in enumerate(boxes)),
    )


@contextmanager
def counted(module: torch.nn.Module):
    """Record the shape of the first input of every forward call of ``module``."""
    calls: list[tuple[int, ...]] = []
    original = module.forward

    def forward(*args, **kwargs):
        calls.append(tuple((args or tuple(kwargs.values()))[0].shape))
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "forward", forward)
        yield calls


def counted_embeddings(sam: SamModel):
    """Count the image encoder's forward passes (one per image embedding)."""
    return counted(sam.model.image_encoder)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(2, HEIGHT, WIDTH, 3, generator=generator)


@pytest.fixture(scope="module")
def refined(sam, images):
    """Two images, three boxes and two boxes: the refined batch and the embeddings counted."""
    batch = RegionBatch((regions_of(BOXES), regions_of(BOXES[:2])))
    done = []
    with counted_embeddings(sam) as calls:
        out = refine_with_sam(
            RefineRequest(sam, images, batch), progress=lambda d, t: done.append((d, t))
        )
    return batch, out, list(calls), done


# models/sams: listing and finding files -----------------------------------------------------


def test_sam_files_are_listed_below_search_dirs(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for name in (
        "sam_vit_b_01ec64.pth",
        "sub/sam_vit_h_4b8939.PTH",
        "x.safetensors",
        ".hidden.pth",
    ):
        (first / name).parent.mkdir(parents=True, exist_ok=True)
        (first / name).write_bytes(b"")
    (first / "notes.txt").write_text("no")
    (first / "a" / "b" / "c").mkdir(parents=True)
    (first / "a" / "b" / "c" / "too_deep.pth").write_bytes(b"")
    second.mkdir()
    (second / "sam_vit_b_01ec64.pth").write_bytes(b"")
    found = list_installed([tmp_path / "missing", first, second], SAM)
    assert found == ["sam_vit_b_01ec64.pth", "sub/sam_vit_h_4b8939.PTH", "x.safetensors"]
    assert list_installed([first], SAM) == found


def test_find_model_resolves_file_names_and_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    file = tmp_path / "sub" / "sam_vit_l_0b3195.pth"
    file.write_bytes(b"")
    assert find_model("sub/sam_vit_l_0b3195.pth", [tmp_path], SAM) == file.resolve()
    assert find_model(str(file), [], SAM) == file.resolve()


def test_find_model_errors_name_dirs_url_and_folder(tmp_path):
    other = tmp_path / "other"
    with pytest.raises(PinpointError) as caught, reported_as("Load SAM"):
        find_model("sam_vit_b_01ec64.pth", [tmp_path / "sams", other], SAM)
    message = str(caught.value)
    assert message.startswith("Load SAM: ") and ". Fix: " in message
    assert "'sam_vit_b_01ec64.pth' was not found" in message
    assert str(tmp_path / "sams") in message and str(other) in message
    assert URL in message and f"into the folder {tmp_path / 'sams'}" in message
    with pytest.raises(PinpointError, match="no Segment Anything .* was given.*" + URL):
        find_model("  ", [tmp_path], SAM)
    (tmp_path / "folder").mkdir()
    with pytest.raises(PinpointError, match="is a folder, but a Segment Anything"):
        find_model("folder", [tmp_path], SAM)


def test_models_command_lists_sam_files_and_the_download(tmp_path, capsys, sam_file):
    assert main(["models", "--models-dir", str(sam_file.parents[1])]) == 0
    out = capsys.readouterr().out
    assert f"{SAM.title} [--refine]: {TINY_SAM_FILE}" in out
    assert main(["models", "--models-dir", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    assert (
        f"{SAM.title} [--refine]: none" in out
        and URL in out
        and str(tmp_path / "none" / "sams") in out
    )


# The tiny builder -----------------------------------------------------------------------------


def test_tiny_sam_is_deterministic_idempotent_and_small(tmp_path, sam_file):
    torch.manual_seed(1234)
    expected_next = torch.rand(3)
    torch.manual_seed(1234)
    other = build_tiny_sam(tmp_path / "sams" / TINY_SAM_FILE)
    assert torch.equal(torch.rand(3), expected_next)  # the caller's RNG is untouched
    assert other.read_bytes() == sam_file.read_bytes()
    assert other.stat().st_size < 20 * 1024 * 1024
    stamp = json.loads(stamp_file(other).read_text())
    assert stamp["builder"] == "sam" and "noise" in stamp["note"]
    before = other.stat().st_mtime_ns
    assert build_tiny_sam(other) == other and other.stat().st_mtime_ns == before
    assert list_installed([other.parent], SAM) == [TINY_SAM_FILE]  # the stamp is hidden
    assert not [
        p for p in other.parent.iterdir() if p.name not in (other.name, stamp_file(other).name)
    ]


def test_tiny_sam_never_overwrites_a_foreign_file(tmp_path):
    foreign = tmp_path / "tiny-random-sam.pth"
    foreign.write_bytes(b"user data")
    with pytest.raises(PinpointError, match="is not a Pinpoint tiny-model build"):
        build_tiny_sam(foreign)
    assert foreign.read_bytes() == b"user data"


# The loader -------------------------------------------------------------------------------------


def test_round_trip_of_the_tiny_checkpoint(sam, sam_file):
    from segment_anything.modeling import Sam

    assert isinstance(sam.model, Sam)
    assert sam.variant == "custom (dim 32, depth 2)"
    assert sam.name == TINY_SAM_FILE and sam.path == sam_file.resolve()
    assert module_device(sam.model) == torch.device("cpu")
    assert module_dtype(sam.model) == torch.float32
    assert not sam.model.training
    assert all(not p.requires_grad for p in sam.model.parameters())
    saved = torch.load(sam_file, weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in sam.model.state_dict().items())
    assert load_model(SAM, sam_file) is sam  # cached
    assert module_dtype(load_model(SAM, sam_file, dtype=torch.bfloat16).model) == torch.bfloat16


def test_a_changed_file_is_loaded_again(tmp_path, sam_file):
    copy_ = tmp_path / "sam.pth"
    copy_.write_bytes(sam_file.read_bytes())
    first = load_model(SAM, copy_)
    os.utime(copy_, ns=(copy_.stat().st_atime_ns, copy_.stat().st_mtime_ns + 10**9))
    assert load_model(SAM, copy_) is not first


@pytest.mark.parametrize("name", ["vit_b", "vit_l", "vit_h"])
def test_standard_variants_are_detected_from_real_state_dict_shapes(name):
    from segment_anything.build_sam import sam_model_registry

    with torch.device("meta"):  # real key names and shapes, no memory, no weights
        state = sam_model_registry[name]().state_dict()
    check_sam_state_dict(state, Path("x.pth"))
    arch = detect_architecture(state, Path("x.pth"))
    assert arch == STANDARD[name] and arch.variant == name
    assert arch.num_heads == {"vit_b": 12, "vit_l": 16, "vit_h": 16}[name]


def test_a_custom_encoder_is_described():
    from segment_anything.build_sam import _build_sam

    with torch.device("meta"):
        model = _build_sam(
            encoder_embed_dim=64,
            encoder_depth=3,
            encoder_num_heads=4,
            encoder_global_attn_indexes=[0, 2],
        )
    arch = detect_architecture(model.state_dict(), Path("x.pth"))
    assert (arch.embed_dim, arch.depth, arch.num_heads) == (64, 3, 4)
    assert arch.global_attn_indexes == (0, 2)
    assert arch.variant == "custom (dim 64, depth 3)"


def test_prefixed_wrapped_and_safetensors_checkpoints_load(tmp_path, sam_file, sam):
    state = torch.load(sam_file, weights_only=True)
    variants = {
        "module.pth": {f"module.{k}": v for k, v in state.items()},
        "wrapped.pth": {"model": {f"model.{k}": v for k, v in state.items()}, "epoch": 3},
    }
    for name, content in variants.items():
        torch.save(content, tmp_path / name)
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "sam.safetensors")
    for name in (*variants, "sam.safetensors"):
        loaded = load_model(SAM, tmp_path / name)
        assert loaded.variant == sam.variant
        got = loaded.model.state_dict()
        assert all(torch.equal(got[k], v) for k, v in state.items()), name


class Payload:
    """Unpickling this would create a file: proof that a loader ran code from a checkpoint."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("protocol", [None, 2, 4])  # torch.save, or a plain pickle
def test_pickled_code_is_refused_and_never_run(tmp_path, protocol):
    marker = tmp_path / "ran.txt"
    evil = tmp_path / "sam_vit_b_01ec64.pth"
    content = {"image_encoder.patch_embed.proj.weight": Payload(marker)}
    if protocol is None:
        torch.save(content, evil)
    else:
        with open(evil, "wb") as out:
            pickle.dump(content, out, protocol=protocol)
    with pytest.raises(PinpointError) as caught, reported_as("Load SAM"):
        load_model(SAM, evil)
    message = str(caught.value)
    assert not marker.exists()
    assert message.startswith("Load SAM: 'sam_vit_b_01ec64.pth' ") and URL in message
    if protocol == 4:  # torch's weights-only reader stops at the framing opcode, before it
        assert "could not be read" in message
    else:
        assert "holds pickled Python objects (io.open)" in message
        assert "never unpickles code" in message


def test_missing_file_and_folders_say_what_to_download(tmp_path):
    with pytest.raises(PinpointError, match=f"does not exist. Fix: download {URL} into the"):
        load_model(SAM, tmp_path / "sams" / "sam_vit_b_01ec64.pth")
    hf = tmp_path / "sam-vit-base"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "sam"}))
    with pytest.raises(PinpointError) as caught:
        load_model(SAM, hf)
    message = str(caught.value)
    assert "is a Segment Anything folder in the transformers layout (model_type 'sam')" in message
    assert "a single original .pth checkpoint" in message and URL in message
    assert (
        "put the folder in models/pinpoint_sam and load it as a Segment Anything model (SAM 2, "
        "SAM-HQ or SAM, transformers layout)" in message
    )
    (tmp_path / "sams").mkdir()
    with pytest.raises(PinpointError, match="'sams' is a folder, but .* a single .pth file"):
        load_model(SAM, tmp_path / "sams")


def test_wrong_contents_are_explained(tmp_path, sam_file):
    hf_file = tmp_path / "model.safetensors"
    save_file({"vision_encoder.patch_embed.projection.weight": torch.zeros(2, 3)}, hf_file)
    with pytest.raises(PinpointError, match="Hugging Face transformers SAM layout.*" + URL):
        load_model(SAM, hf_file)
    other = tmp_path / "detector.pth"
    torch.save({"backbone.conv.weight": torch.zeros(1), "head.bias": torch.zeros(1)}, other)
    with pytest.raises(PinpointError) as caught:
        load_model(SAM, other)
    message = str(caught.value)
    assert "is not a Segment Anything checkpoint (no image_encoder, prompt_encoder" in message
    assert "found 2 keys: backbone.conv.weight, head.bias" in message
    assert "SAM 2 .pt files are different models; SAM 2, SAM-HQ and SAM folders" in message
    state = torch.load(sam_file, weights_only=True)
    state["mask_decoder.hf_token.weight"] = torch.zeros(1, 256)  # as SAM-HQ adds
    torch.save(state, tmp_path / "sam_hq.pth")
    with pytest.raises(PinpointError, match="looks like SAM custom .* do not fit .*hf_token"):
        load_model(SAM, tmp_path / "sam_hq.pth")


@pytest.mark.parametrize("cut", [0, 100, 0.5])
def test_damaged_files_are_reported(tmp_path, sam_file, cut):
    data = sam_file.read_bytes()
    damaged = tmp_path / "sam_vit_b_01ec64.pth"
    damaged.write_bytes(data[: int(cut * len(data)) if isinstance(cut, float) else cut])
    with pytest.raises(PinpointError) as caught:
        load_model(SAM, damaged)
    message = str(caught.value)
    assert "could not be read" in message and "damaged or incomplete" in message
    assert f"Fix: download it again; download {URL}" in message


# Points -----------------------------------------------------------------------------------------


def test_points_are_parsed():
    assert parse_points("") == ()
    assert parse_points(" 120,80; 40, 60 ,0 ;") == ((120.0, 80.0, 1), (40.0, 60.0, 0))
    assert parse_points("1.5,2,1") == ((1.5, 2.0, 1),)


@pytest.mark.parametrize("text", ["120", "1,2,3", "a,b", "1,2,0,4", "nan,3", "1;2,3"])
def test_bad_points_are_house_errors(text):
    with pytest.raises(PinpointError) as caught, reported_as("Refine with SAM (Pinpoint)"):
        parse_points(text)
    message = str(caught.value)
    assert message.startswith("Refine with SAM (Pinpoint): item ")
    assert "Fix: write pixel points separated by ';', e.g. '120,80; 40,60,0'" in message


def test_points_outside_the_image_are_refused():
    check_points(((0.0, 0.0, 1), (63.9, 47.0, 0)), WIDTH, HEIGHT)
    for point in ((64.0, 1.0, 1), (1.0, 48.0, 1), (-1.0, 1.0, 1)):
        with pytest.raises(PinpointError, match="lies outside the 64x48 image"):
            check_points((point,), WIDTH, HEIGHT)
    with pytest.raises(PinpointError, match=r"item 1 of points, \(1.0, 1.0, 2\), is not"):
        parse_points([(1.0, 1.0, 2)])


# Refine -----------------------------------------------------------------------------------------


def test_every_region_gets_a_mask_at_image_size(refined):
    batch, out, _, _ = refined
    assert out.batch_size == 2
    for before, after in zip(batch, out, strict=True):
        assert (after.width, after.height) == (WIDTH, HEIGHT)
        assert len(after.regions) == len(before.regions)
        for old, new in zip(before.regions, after.regions, strict=True):
            assert (new.label, new.confidence, new.score) == (old.label, old.confidence, old.score)
            assert new.mask.shape == (HEIGHT, WIDTH) and new.mask.dtype == torch.float32
            assert new.mask.device == torch.device("cpu")
            assert set(new.mask.unique().tolist()) <= {0.0, 1.0}
            assert isinstance(new.mask_iou, float)


def test_boxes_are_tightened_to_the_masks(refined):
    _, out, _, _ = refined
    for found in out:
        for region in found.regions:
            bounds = mask_bounds(region.mask)
            assert bounds is not None  # random SAM masks are never empty here
            assert region.box == tuple(float(v) for v in bounds)


def test_one_embedding_per_image_whatever_the_box_count(refined, sam, images):
    _, _, calls, done = refined
    assert calls == [(1, 3, 1024, 1024)] * 2  # 3 + 2 boxes, 2 images
    assert done == [(1, 2), (2, 2)]


def test_many_boxes_share_one_embedding_across_decoder_chunks(sam, images, monkeypatch):
    monkeypatch.setattr(refine_module, "PROMPTS_PER_CALL", 2)  # 5 boxes: 3 decoder calls
    many = RegionBatch((regions_of([BOXES[0]] * 5),))
    with counted_embeddings(sam) as calls, counted(sam.model.mask_decoder) as decoded:
        out = refine_with_sam(RefineRequest(sam, images[:1], many))
    assert len(calls) == 1 and len(out[0].regions) == 5
    assert len(decoded) == 3
    ious = [region.mask_iou for region in out[0].regions]
    assert max(ious) - min(ious) < 1e-4  # the same box, whichever call decoded it


def test_images_of_a_batch_are_refined_independently(refined, sam, images):
    batch, out, _, _ = refined
    alone = refine_with_sam(RefineRequest(sam, images[1:], RegionBatch((batch[1],))))
    for together, single in zip(out[1].regions, alone[0].regions, strict=True):
        assert torch.equal(together.mask, single.mask)
        assert together.mask_iou == single.mask_iou and together.box == single.box


def test_multimask_keeps_the_mask_sam_rates_best(sam, images, refined):
    from segment_anything import SamPredictor

    _, out, _, _ = refined
    predictor = SamPredictor(sam.model)
    pixels = (images[0] * 255).round().to(torch.uint8).numpy()
    with torch.inference_mode():
        predictor.set_image(pixels)
        boxes = predictor.transform.apply_boxes_torch(torch.tensor(BOXES), (HEIGHT, WIDTH))
        masks, ious, _ = predictor.predict_torch(None, None, boxes, multimask_output=True)
    best = ious.argmax(dim=1)
    for index, region in enumerate(out[0].regions):
        assert region.mask_iou == pytest.approx(float(ious[index].max()), abs=1e-5)
        expected = masks[index, best[index]].float()
        assert float((region.mask != expected).float().mean()) < 1e-3
    single = refine_with_sam(
        RefineRequest(sam, images[:1], RegionBatch((regions_of(BOXES),)), multimask=False)
    )
    assert [r.mask_iou for r in single[0].regions] != [r.mask_iou for r in out[0].regions]


def test_existing_masks_are_refined_from_the_box(refined, sam, images):
    batch, out, _, _ = refined
    with_masks = dataclasses.replace(
        batch[1],
        regions=tuple(
            dataclasses.replace(r, mask=torch.ones(HEIGHT, WIDTH)) for r in batch[1].regions
        ),
    )
    again = refine_with_sam(RefineRequest(sam, images[1:], RegionBatch((with_masks,))))
    assert all(
        torch.equal(a.mask, b.mask) for a, b in zip(again[0].regions, out[1].regions, strict=True)
    )


@pytest.fixture
def rigged(sam):
    """A private copy of the tiny SAM whose ``mask_threshold`` the test sets."""
    return dataclasses.replace(sam, model=copy.deepcopy(sam.model))


def test_empty_masks_keep_their_boxes_and_say_so(rigged, images):
    rigged.model.mask_threshold = float("inf")
    batch = RegionBatch((dataclasses.replace(regions_of(BOXES[:2]), note="earlier note"),))
    out = refine_with_sam(RefineRequest(rigged, images[:1], batch))
    assert [r.box for r in out[0].regions] == BOXES[:2]
    assert all(not bool(r.mask.any()) for r in out[0].regions)
    assert out[0].note == "earlier note; SAM found no mask for 2 of 2 region(s): boxes kept"


def test_full_masks_widen_the_boxes_to_the_image(rigged, images):
    rigged.model.mask_threshold = float("-inf")
    out = refine_with_sam(RefineRequest(rigged, images[:1], RegionBatch((regions_of(BOXES[:2]),))))
    assert [r.box for r in out[0].regions] == [(0.0, 0.0, float(WIDTH), float(HEIGHT))] * 2
    assert all(bool(r.mask.all()) for r in out[0].regions) and out[0].note == ""


def test_points_join_only_the_boxes_that_contain_them(refined, sam, images):
    batch, out, _, _ = refined
    point = "10,20"  # inside BOXES[0] only (BOXES[2] is not in image 1)
    clicked = refine_with_sam(
        RefineRequest(sam, images[1:], RegionBatch((batch[1],)), points=parse_points(point))
    )
    background = refine_with_sam(
        RefineRequest(sam, images[1:], RegionBatch((batch[1],)), points=point + ",0")
    )
    plain = out[1].regions
    assert clicked[0].regions[0].mask_iou != pytest.approx(plain[0].mask_iou, abs=1e-6)
    assert background[0].regions[0].mask_iou != pytest.approx(
        clicked[0].regions[0].mask_iou, abs=1e-6
    )
    for refined_ in (clicked, background):  # the other box is decoded exactly as without points
        assert refined_[0].regions[1].mask_iou == pytest.approx(plain[1].mask_iou, abs=1e-5)
        assert float((refined_[0].regions[1].mask != plain[1].mask).float().mean()) < 1e-3
    assert clicked[0].note == ""


def test_points_in_no_region_are_noted_and_points_alone_are_segmented(sam, images):
    far = refine_with_sam(
        RefineRequest(
            sam, images[:1], RegionBatch((regions_of([BOXES[0]]),)), points="62,46; 10,20,0"
        )
    )
    assert far[0].note == "point(s) (62, 46) lie in no region and were ignored"
    alone = refine_with_sam(
        RefineRequest(
            sam,
            images,
            RegionBatch((ImageRegions(WIDTH, HEIGHT), ImageRegions(WIDTH, HEIGHT))),
            points=parse_points("30,20; 5,5,0"),
        )
    )
    for found in alone:
        (region,) = found.regions
        assert region.label == "points" and region.source == f"sam:{sam.name}"
        assert region.mask.shape == (HEIGHT, WIDTH) and isinstance(region.mask_iou, float)


def test_images_without_regions_or_points_are_left_alone(sam, images):
    empty = RegionBatch((ImageRegions(WIDTH, HEIGHT, note="nothing detected: empty mask"),))
    with counted_embeddings(sam) as calls:
        out = refine_with_sam(RefineRequest(sam, images[:1], empty))
    assert calls == [] and out == empty


def test_cancel_from_progress_stops_between_images(sam, images):
    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        raise Cancelled

    batch = RegionBatch((regions_of([BOXES[0]]), regions_of([BOXES[1]])))
    with counted_embeddings(sam) as calls, pytest.raises(Cancelled):
        refine_with_sam(RefineRequest(sam, images, batch), progress=cancel)
    assert len(calls) == 1


def test_half_precision_sam_runs_and_returns_float_masks(sam_file, images):
    """bf16 through preprocessing, prompt encoder and decoder; the ViT itself is stubbed, as
    half-precision attention over 4096 tokens takes some 20 s on a CPU without bf16 kernels."""
    half = load_model(SAM, sam_file, dtype=torch.bfloat16)
    embedding = torch.randn(1, 256, 64, 64, generator=torch.Generator().manual_seed(0))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(half.model.image_encoder, "forward", lambda x: embedding.to(x.dtype))
        out = refine_with_sam(
            RefineRequest(half, images[:1], RegionBatch((regions_of(BOXES[:1]),)))
        )
    (region,) = out[0].regions
    assert region.mask.dtype == torch.float32 and region.mask.shape == (HEIGHT, WIDTH)
    assert isinstance(region.mask_iou, float)


def test_inputs_are_checked_before_any_work(sam, images):
    with counted_embeddings(sam) as calls:
        with pytest.raises(PinpointError, match="batch has 2 image.* cover 1"):
            RefineRequest(sam, images, RegionBatch((regions_of(BOXES),)))
        with pytest.raises(PinpointError, match="found on a 64x48 image but this image is 32x48"):
            RefineRequest(sam, images[:1, :, :32], RegionBatch((regions_of(BOXES),)))
        with pytest.raises(PinpointError, match="RGB"):
            RefineRequest(sam, torch.rand(1, HEIGHT, WIDTH, 4), RegionBatch((regions_of(BOXES),)))
        with pytest.raises(PinpointError, match="lies outside"):
            RefineRequest(
                sam, images[:1], RegionBatch((regions_of(BOXES),)), points=parse_points("64,1")
            )
    assert calls == []


# The request ------------------------------------------------------------------------------------


def test_request_parses_points_and_keeps_the_defaults(sam, images):
    batch = RegionBatch((regions_of(BOXES),))
    request = RefineRequest(sam, images[:1], batch)
    assert request.multimask is True and request.points == ()
    parsed = RefineRequest(sam, images[:1], batch, points=" 12,30; 40, 20 ,0 ;")
    assert parsed.points == ((12.0, 30.0, 1), (40.0, 20.0, 0)) == parse_points("12,30; 40,20,0")
    given = RefineRequest(sam, images[:1], batch, points=[(1.0, 2.0, 1)])
    assert given.points == ((1.0, 2.0, 1),)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"points": "120"}, "item 1 of points, '120', is not 'x,y' or 'x,y,label'"),
        ({"points": "1,2; 3,4,5"}, "item 2 of points, '3,4,5', is not"),
        ({"points": "64,1"}, "point (64, 1) lies outside the 64x48 image"),
        ({"points": "1,48,0"}, "point (1, 48) lies outside the 64x48 image"),
        ({"points": [(-1.0, 1.0, 1)]}, "point (-1, 1) lies outside the 64x48 image"),
        ({"points": [(1.0, 1.0, 2)]}, "item 1 of points, (1.0, 1.0, 2), is not 'x,y'"),
        ({"points": [(1.0,)]}, "item 1 of points, (1.0,), is not 'x,y'"),
        ({"images": torch.rand(1, HEIGHT, WIDTH, 4)}, "RGBA"),
        ({"images": torch.rand(2, HEIGHT, WIDTH, 3)}, "the image batch has 2 image(s)"),
        (
            {"images": torch.rand(1, HEIGHT, 32, 3)},
            "found on a 64x48 image but this image is 32x48",
        ),
        (
            {"regions": RegionBatch((regions_of(BOXES, width=32),))},
            "regions of image 1 were found on a 32x48 image but this image is 64x48. Fix: use "
            "the regions found on this same image batch",
        ),
    ],
)
def test_request_refuses_bad_settings_before_any_work(sam, images, settings, fragment):
    arguments = {"images": images[:1], "regions": RegionBatch((regions_of(BOXES),)), **settings}
    with counted_embeddings(sam) as calls:
        with pytest.raises(PinpointError) as caught, reported_as("Refine with SAM (Pinpoint)"):
            RefineRequest(sam, **arguments)
    message = str(caught.value)
    assert message.startswith("Refine with SAM (Pinpoint): ") and ". Fix: " in message, message
    assert fragment in message, message
    assert calls == []
