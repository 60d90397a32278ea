"""Load SAM and Refine with SAM in-process: ComfyUI imported on CPU, the tiny random SAM in a
registered ``sams`` folder, each node's ``execute`` called the way ComfyUI's executor does."""

from __future__ import annotations

import os

import pytest
import torch
from node_calls import assert_house_error, error_of, pack_module, run, ui_dict

from pinpoint.tiny.sam import TINY_SAM_FILE, build_tiny_sam  # noqa: E402

LOAD = "Load SAM (Pinpoint)"
REFINE = "Refine with SAM (Pinpoint)"
URL = (
    "https://huggingface.co/ybelkada/segment-anything/resolve/main/checkpoints/sam_vit_b_01ec64.pth"
)


@pytest.fixture(scope="module")
def sams(comfyui, tmp_path_factory):
    """A ``sams`` folder with the tiny SAM and a file of another type, registered with ComfyUI."""
    folder = tmp_path_factory.mktemp("comfy-sams") / "sams"
    build_tiny_sam(folder / TINY_SAM_FILE)
    (folder / "readme.txt").write_text("not a model")
    comfyui.folder_paths.add_model_folder_path("sams", str(folder))
    return folder


@pytest.fixture(scope="module")
def sam(comfyui, sams):
    return run(comfyui.node("PinpointLoadSAM"), model_name=TINY_SAM_FILE, precision="auto")[0]


def regions_for(comfyui, image: torch.Tensor, boxes):
    regions = pack_module(comfyui, "pinpoint.regions")
    height, width = int(image.shape[1]), int(image.shape[2])
    found = regions.ImageRegions(
        width, height, tuple(regions.Region(box, "dog", 0.9, "t") for box in boxes)
    )
    return regions.RegionBatch((found,) * int(image.shape[0]))


def refine_inputs(sam, image, regions, **overrides) -> dict:
    return dict(sam=sam, image=image, regions=regions, multimask=True, points="") | overrides


def test_points_input_shows_its_syntax(comfyui, sams):
    points = comfyui.node("PinpointRefineSAM").GET_SCHEMA().inputs[-1]
    assert points.default == "" and points.placeholder == "x,y; x,y,0"


def test_sams_folder_is_registered_and_listed(comfyui, sams):
    fp = comfyui.folder_paths
    paths, _ = fp.folder_names_and_paths["sams"]
    assert os.path.join(fp.models_dir, "sams") in paths and str(sams) in paths
    options = comfyui.node("PinpointLoadSAM").GET_SCHEMA().inputs[0].options
    assert options == [TINY_SAM_FILE]


def test_a_sams_folder_the_pack_creates_lists_checkpoints_only(comfyui, monkeypatch):
    fp = comfyui.folder_paths
    monkeypatch.delitem(fp.folder_names_and_paths, "sams")
    comfyui.pack._register_model_folders()
    paths, extensions = fp.folder_names_and_paths["sams"]
    assert paths == [os.path.join(fp.models_dir, "sams")]
    assert extensions == {".pth", ".safetensors"}


def test_a_sams_folder_of_another_pack_keeps_its_paths_and_extensions(comfyui, monkeypatch):
    fp = comfyui.folder_paths
    theirs = (["/elsewhere/sams"], fp.supported_pt_extensions)
    monkeypatch.setitem(fp.folder_names_and_paths, "sams", theirs)
    comfyui.pack._register_model_folders()
    paths, extensions = fp.folder_names_and_paths["sams"]
    assert paths == ["/elsewhere/sams", os.path.join(fp.models_dir, "sams")]
    assert extensions is fp.supported_pt_extensions


def test_load_sam_gives_a_managed_model(comfyui, sam, sams):
    assert sam.variant == "custom (dim 32, depth 2)" and sam.name == TINY_SAM_FILE
    wrapper = pack_module(comfyui, "nodes.managed").managed(sam)
    wrapper.acquire(0)
    module_device = pack_module(comfyui, "pinpoint.loading.models").module_device
    assert module_device(sam.model) == comfyui.mm.get_torch_device()


def test_refine_outputs_masks_union_and_preview(comfyui, sam, monkeypatch):
    calls = []
    monkeypatch.setattr(
        comfyui.utils, "PROGRESS_BAR_HOOK", lambda v, t, p, node_id=None: calls.append((v, t))
    )
    torch.manual_seed(0)
    image = torch.rand(2, 40, 56, 3)
    boxes = [(4.0, 4.0, 30.0, 30.0), (20.0, 10.0, 50.0, 38.0)]
    out = run(
        comfyui.node("PinpointRefineSAM"),
        **refine_inputs(sam, image, regions_for(comfyui, image, boxes)),
    )
    refined, mask, preview = out.result
    intermediate = comfyui.mm.intermediate_device()
    assert refined.batch_size == 2
    for found in refined:
        assert len(found.regions) == 2
        for region in found.regions:
            assert region.mask.shape == (40, 56) and region.mask.device == torch.device("cpu")
            assert isinstance(region.mask_iou, float)
    assert tuple(mask.shape) == (2, 40, 56) and mask.dtype == torch.float32
    assert mask.device == intermediate
    for index, found in enumerate(refined):
        union = torch.maximum(found.regions[0].mask, found.regions[1].mask)
        assert torch.equal(mask[index].cpu(), union)
    assert tuple(preview.shape) == (2, 40, 56, 3) and preview.dtype == torch.float32
    assert preview.device == intermediate
    assert 0.0 <= float(preview.min()) and float(preview.max()) <= 1.0
    assert len(ui_dict(out)["images"]) == 2
    assert calls[-1] == (2, 2)


def test_points_reach_the_core_and_cancel_stops_refining(comfyui, sam, monkeypatch):
    image = torch.rand(2, 40, 56, 3)
    empty = regions_for(comfyui, image, [])
    out = run(
        comfyui.node("PinpointRefineSAM"), **refine_inputs(sam, image, empty, points="10,12; 3,3,0")
    )
    assert [[region.label for region in found.regions] for found in out.result[0]] == [
        ["points"],
        ["points"],
    ]

    def press_cancel(value, total, preview, node_id=None):
        comfyui.mm.interrupt_current_processing(True)

    monkeypatch.setattr(comfyui.utils, "PROGRESS_BAR_HOOK", press_cancel)
    try:
        with pytest.raises(comfyui.mm.InterruptProcessingException):
            run(
                comfyui.node("PinpointRefineSAM"),
                **refine_inputs(sam, image, empty, points="10,12"),
            )
    finally:
        comfyui.mm.interrupt_current_processing(False)


def test_refine_errors_come_before_the_model_moves(comfyui, sam, monkeypatch):
    acquired = []
    managed_type = pack_module(comfyui, "nodes.managed").ManagedModel
    monkeypatch.setattr(managed_type, "acquire", lambda self, n=0: acquired.append(n))
    image = torch.rand(1, 40, 56, 3)
    regions = regions_for(comfyui, image, [(4.0, 4.0, 30.0, 30.0)])
    cases = [
        (dict(points="10"), "item 1 of points, '10', is not 'x,y'", "e.g. '120,80; 40,60,0'"),
        (dict(points="56,3"), "point (56, 3) lies outside the 56x40 image", "0 <= x < 56"),
        (dict(image=torch.rand(2, 40, 56, 3)), "regions cover 1", "same image batch"),
        (dict(image=torch.rand(1, 40, 56, 4)), "RGB", "convert it to RGB"),
    ]
    for overrides, *fragments in cases:
        inputs = refine_inputs(sam, image, regions) | overrides
        message = error_of(comfyui.node("PinpointRefineSAM"), **inputs)
        assert_house_error(message, REFINE, *fragments)
    assert acquired == []


def test_load_sam_errors_and_fingerprint(comfyui, sams, tmp_path, monkeypatch):
    message = error_of(
        comfyui.node("PinpointLoadSAM"), model_name="sam_vit_b_01ec64.pth", precision="auto"
    )
    assert_house_error(message, LOAD, "'sam_vit_b_01ec64.pth' was not found", str(sams), URL)
    message = error_of(comfyui.node("PinpointLoadSAM"), model_name=TINY_SAM_FILE, precision="fp8")
    assert_house_error(message, LOAD, "precision", "'fp8'")
    folder = tmp_path / "sams"
    folder.mkdir()
    (folder / "copy.pth").write_bytes((sams / TINY_SAM_FILE).read_bytes())
    monkeypatch.setitem(comfyui.folder_paths.folder_names_and_paths, "sams", ([str(folder)], set()))
    cls = comfyui.node("PinpointLoadSAM")
    before = cls.fingerprint_inputs(model_name="copy.pth", precision="auto")
    assert before == cls.fingerprint_inputs(model_name="copy.pth", precision="auto")
    stat = (folder / "copy.pth").stat()
    os.utime(folder / "copy.pth", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert cls.fingerprint_inputs(model_name="copy.pth", precision="auto") != before
    assert cls.fingerprint_inputs(model_name="gone.pth", precision="auto") == ("gone.pth", "auto")
    (folder / "broken.pth").write_bytes(b"not a checkpoint")
    message = error_of(comfyui.node("PinpointLoadSAM"), model_name="broken.pth", precision="auto")
    assert_house_error(message, LOAD, "could not be read", "download it again")


def test_a_sam2_folder_is_another_engine_of_refine_with_sam(comfyui):
    """Load SAM 2 / SAM-HQ lists models/pinpoint_sam and its model drives Refine with SAM."""
    loader = comfyui.node("PinpointLoadSAMFolder")
    name = comfyui.models["sam_folder"].name
    assert name in loader.GET_SCHEMA().inputs[0].options
    sam2 = run(loader, model_name=name, precision="auto")[0]
    assert sam2.engine == "SAM 2"
    image = torch.rand(1, 40, 56, 3, generator=torch.Generator().manual_seed(1))
    boxes = [(4.0, 4.0, 30.0, 30.0), (20.0, 10.0, 50.0, 38.0)]
    out = run(
        comfyui.node("PinpointRefineSAM"),
        **refine_inputs(sam2, image, regions_for(comfyui, image, boxes), points="10,12"),
    )
    refined, mask, _ = out.result
    assert [region.mask.shape for region in refined[0].regions] == [(40, 56)] * 2
    union = torch.maximum(refined[0].regions[0].mask, refined[0].regions[1].mask)
    assert torch.equal(mask[0].cpu(), union)
    device = pack_module(comfyui, "pinpoint.loading.models").module_device(sam2.model)
    assert device == comfyui.mm.get_torch_device()  # moved by ComfyUI's model management


def test_a_sam2_folder_given_to_load_sam_says_where_it_goes(comfyui, sams, monkeypatch):
    folder = comfyui.models["sam_folder"]
    fp = comfyui.folder_paths
    monkeypatch.setitem(fp.folder_names_and_paths, "sams", ([str(folder.parent)], set()))
    message = error_of(comfyui.node("PinpointLoadSAM"), model_name=folder.name, precision="auto")
    assert_house_error(message, LOAD, "is a folder", "goes in models/pinpoint_sam")
