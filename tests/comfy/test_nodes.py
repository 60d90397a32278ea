"""The nodes in-process: ComfyUI imported on CPU, the pack loaded by ComfyUI's own loader, each
node's ``execute`` called with tiny random models and small tensors."""

from __future__ import annotations

import inspect
import json
import logging
import re

import pytest
import torch
from node_calls import (
    assert_house_error,
    error_of,
    pack_module,
    rank_edits_choice,
    rig_candidate,
    run,
    ui_dict,
)

DETECT = "Detect Objects (Pinpoint)"
MATCH = "Match Text to Regions (Pinpoint)"
INPAINT = "Inpaint Region · diffusers (Pinpoint)"
MASK_OPS = "Mask Operations (Pinpoint)"


def assert_image(comfyui, tensor: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert tuple(tensor.shape) == shape
    assert tensor.dtype == torch.float32
    assert tensor.device == comfyui.mm.intermediate_device()
    assert 0.0 <= float(tensor.min()) and float(tensor.max()) <= 1.0


@pytest.fixture(scope="module")
def models(comfyui, facts):
    def load(node_id: str, name: str):
        return run(comfyui.node(node_id), model_name=name, precision="auto")[0]

    return {
        "detector": load("PinpointLoadDetector", facts.rigged_detector),
        "clip": load("PinpointLoadCLIP", comfyui.models["clip"].name),
        "pipe": load("PinpointLoadInpaintPipeline", comfyui.models["inpaint"].name),
    }


def detect_inputs(models, image, **overrides) -> dict:
    inputs = dict(
        detector=models["detector"],
        image=image,
        threshold=0.5,
        max_detections=3,
        labels="",
        if_nothing_found="error",
    )
    return inputs | overrides


def match_inputs(models, image, regions, **overrides) -> dict:
    inputs = dict(
        clip=models["clip"],
        image=image,
        regions=regions,
        text="the dog",
        pick="best",
        top_k=1,
        context_pad=0.1,
        crop="box",
        confidence_weight=0.0,
        min_probability=0.0,
        if_nothing_found="error",
    )
    return inputs | overrides


def inpaint_inputs(models, image, mask, **overrides) -> dict:
    inputs = dict(
        pipe=models["pipe"],
        image=image,
        mask=mask,
        prompt="a cat",
        negative_prompt="",
        seed=3,
        steps=2,
        cfg=7.5,
        strength=1.0,
        context=0.5,
        resolution=0,
        feather_px=8,
        split="one per image",
    )
    return inputs | overrides


# --- registration and schema -------------------------------------------------------------------


def test_pack_registers_every_node_through_the_v3_entrypoint(comfyui, facts):
    assert not hasattr(comfyui.pack, "NODE_CLASS_MAPPINGS")  # V1 would shadow comfy_entrypoint
    for node_id in facts.nodes:
        cls = comfyui.nodes.NODE_CLASS_MAPPINGS[node_id]
        assert cls.__module__.startswith(comfyui.pack.__name__ + ".nodes.")
        assert comfyui.nodes.NODE_DISPLAY_NAME_MAPPINGS[node_id].endswith("(Pinpoint)")
    assert str(facts.repo / "js") in comfyui.nodes.EXTENSION_WEB_DIRS.values()


def test_schemas_follow_the_house_rules(comfyui, facts):
    listed = json.loads((facts.repo / "node_list.json").read_text())
    assert set(listed) == set(facts.nodes) | facts.left_out  # all, wherever registered
    titles = set()
    for node_id, (category, input_names, output_types) in facts.nodes.items():
        cls = comfyui.node(node_id)
        schema = cls.GET_SCHEMA()  # also validates unique ids across inputs and outputs
        source = inspect.getsource(cls.define_schema)
        assert re.search(rf'node_id="{node_id}"', source), "node_id must be a literal string"
        assert schema.category == category and schema.description
        assert schema.display_name.endswith("(Pinpoint)") and schema.display_name not in titles
        titles.add(schema.display_name)
        assert [item.id for item in schema.inputs] == input_names
        assert [output.io_type for output in schema.outputs] == output_types
        for item in schema.inputs:
            assert item.tooltip, f"{node_id}.{item.id} has no tooltip"
        for output in schema.outputs:
            assert output.tooltip and output.display_name, f"{node_id} output {output.id}"
            assert output.id not in input_names
        order = cls.GET_NODE_INFO_V1()["input_order"]
        assert order["required"] + order.get("optional", []) == input_names


def test_every_model_kind_has_a_socket_and_only_the_sam_engines_share_one(comfyui):
    sockets = pack_module(comfyui, "nodes.sockets")
    kinds = pack_module(comfyui, "pinpoint.loading.kinds")
    assert list(sockets.MODEL_TYPES) == [kind.key for kind in kinds.KINDS]
    carriers: dict[str, list[str]] = {}
    for key, socket in sockets.MODEL_TYPES.items():
        carriers.setdefault(socket, []).append(key)
    shared = {socket: keys for socket, keys in carriers.items() if len(keys) > 1}
    assert shared == {"PINPOINT_SAM": [kinds.SAM.key, kinds.SAM_FOLDER.key]}  # one Refine with SAM
    for key, socket in sockets.MODEL_TYPES.items():
        assert sockets.MODELS[key].io_type == socket


def test_model_folders_keep_paths_registered_before_the_pack(comfyui):
    fp = comfyui.folder_paths
    for key, folder in (
        ("detector", "pinpoint_detectors"),
        ("clip", "pinpoint_clip"),
        ("inpaint", "pinpoint_inpaint"),
    ):
        paths = fp.get_folder_paths(folder)
        assert str(comfyui.models[key].parent) in paths
        assert any(path.startswith(fp.models_dir) for path in paths)
        assert fp.folder_names_and_paths[folder][1] is not fp.supported_pt_extensions


def test_loaders_list_model_folders_and_survive_an_empty_folder(
    comfyui, facts, tmp_path, monkeypatch
):
    cls = comfyui.node("PinpointLoadDetector")
    assert facts.rigged_detector in cls.GET_SCHEMA().inputs[0].options
    (tmp_path / "pinpoint_detectors").mkdir()
    empty = ([str(tmp_path / "pinpoint_detectors")], set())
    monkeypatch.setitem(comfyui.folder_paths.folder_names_and_paths, "pinpoint_detectors", empty)
    assert cls.GET_SCHEMA().inputs[0].options == []
    assert cls.GET_NODE_INFO_V1()["input"]["required"]["model_name"][1]["options"] == []
    message = error_of(
        comfyui.node("PinpointLoadDetector"), model_name="detr-resnet-50", precision="auto"
    )
    assert_house_error(
        message,
        "Load Detector (Pinpoint)",
        "'detr-resnet-50' was not found",
        "pinpoint_detectors",
        "download facebook/detr-resnet-50",
    )


def test_loader_refuses_an_unknown_precision(comfyui):
    message = error_of(
        comfyui.node("PinpointLoadCLIP"), model_name=comfyui.models["clip"].name, precision="fp8"
    )
    assert_house_error(message, "Load CLIP Matcher (Pinpoint)", "precision", "'fp8'")


def test_precision_auto_is_fp32_on_cpu(comfyui):
    precision_dtype = pack_module(comfyui, "nodes._common").precision_dtype
    cpu = torch.device("cpu")
    assert precision_dtype("auto", cpu) == torch.float32
    assert precision_dtype("fp16", cpu) == torch.float16
    assert precision_dtype("bf16", cpu) == torch.bfloat16


def test_one_managed_wrapper_per_model_and_modules_on_the_load_device(comfyui, models):
    managed = pack_module(comfyui, "nodes.managed").managed
    module_device = pack_module(comfyui, "pinpoint.loading.models").module_device
    for key in ("detector", "clip", "pipe"):
        wrapper = managed(models[key])
        assert managed(models[key]) is wrapper
        wrapper.acquire(0)
        assert any(loaded.model is wrapper.patcher for loaded in comfyui.mm.current_loaded_models)
        modules = models[key].modules if key == "pipe" else [models[key].model]
        for module in modules:
            assert module_device(module) == comfyui.mm.get_torch_device()


# --- the chain ---------------------------------------------------------------------------------


def test_detect_match_mask_inpaint_chain(comfyui, facts, models):
    torch.manual_seed(0)
    image = torch.rand(2, 96, 128, 3)
    found = run(comfyui.node("PinpointDetect"), **detect_inputs(models, image))
    regions, preview = found.result
    assert regions.batch_size == 2
    assert_image(comfyui, preview, (2, 96, 128, 3))
    assert len(ui_dict(found)["images"]) == 2

    matched = run(comfyui.node("PinpointMatchText"), **match_inputs(models, image, regions))
    chosen, mask, scores, preview = matched.result
    assert [len(item.regions) for item in chosen] == [1, 1]
    assert tuple(mask.shape) == (2, 96, 128) and mask.dtype == torch.float32
    assert mask.device == comfyui.mm.intermediate_device()
    cx, cy = facts.known_box[:2]
    assert mask[0, int(cy * 96), int(cx * 128)] == 1 and mask[0, 0, 0] == 0
    assert isinstance(scores, str) and scores
    assert_image(comfyui, preview, (2, 96, 128, 3))
    shown = ui_dict(matched)
    assert len(shown["images"]) == 2 and shown["text"] == [scores]

    grown = run(comfyui.node("PinpointRegionsToMask"), regions=chosen, grow_px=4, feather_px=0)
    grown_mask = grown.result[0]
    assert tuple(grown_mask.shape) == (2, 96, 128) and grown_mask.dtype == torch.float32
    assert grown_mask.device == comfyui.mm.intermediate_device()
    assert grown_mask.sum() > mask.sum()
    assert len(ui_dict(grown)["images"]) == 2

    edited = run(
        comfyui.node("PinpointInpaintDiffusers"), **inpaint_inputs(models, image, grown_mask)
    )
    edited = edited.result[0]
    assert_image(comfyui, edited, (2, 96, 128, 3))
    outside = pack_module(comfyui, "pinpoint.masks").feather_mask(grown_mask, 8) == 0
    assert outside.any()
    assert torch.equal(edited[outside], image[outside])
    assert not torch.equal(edited[~outside], image[~outside])


def test_inpaint_notes_are_shown_and_logged(comfyui, models, caplog):
    image = torch.rand(2, 40, 56, 3)
    mask = torch.zeros(2, 40, 56)
    mask[0, 10:30, 10:30] = 1
    with caplog.at_level(logging.INFO, logger="pinpoint"):
        out = run(comfyui.node("PinpointInpaintDiffusers"), **inpaint_inputs(models, image, mask))
    note = "image 2: empty mask, left unchanged"
    assert note in ui_dict(out)["text"]
    assert any(note in record.getMessage() for record in caplog.records)
    assert torch.equal(out.result[0][1], image[1])


def test_progress_covers_every_step_and_cancel_stops_sampling(comfyui, models, monkeypatch):
    calls = []

    def record(value, total, preview, node_id=None):
        calls.append((value, total))

    monkeypatch.setattr(comfyui.utils, "PROGRESS_BAR_HOOK", record)
    image = torch.rand(1, 40, 56, 3)
    mask = torch.zeros(1, 40, 56)
    mask[0, 5:20, 5:25] = 1
    run(comfyui.node("PinpointInpaintDiffusers"), **inpaint_inputs(models, image, mask, steps=3))
    done, total = calls[-1]
    assert done == total >= 3  # the scheduler may add warm-up steps (PNDM)
    assert [value for value, _ in calls] == sorted(value for value, _ in calls)

    def press_cancel(value, total, preview, node_id=None):
        comfyui.mm.interrupt_current_processing(True)

    monkeypatch.setattr(comfyui.utils, "PROGRESS_BAR_HOOK", press_cancel)
    try:
        with pytest.raises(comfyui.mm.InterruptProcessingException):
            run(
                comfyui.node("PinpointInpaintDiffusers"),
                **inpaint_inputs(models, image, mask, steps=4),
            )
    finally:
        comfyui.mm.interrupt_current_processing(False)


# --- errors ------------------------------------------------------------------------------------


def test_detect_errors_name_the_node_and_say_how_to_fix(comfyui, models):
    image = torch.rand(1, 48, 64, 3)
    cases = [
        (dict(threshold=1.0), "nothing detected"),
        (dict(labels="zebra"), "zebra"),
        (dict(if_nothing_found="skip"), "if_nothing_found"),
        (dict(image=torch.rand(1, 48, 64, 4)), "RGB"),
    ]
    for overrides, fragment in cases:
        message = error_of(
            comfyui.node("PinpointDetect"), **(detect_inputs(models, image) | overrides)
        )
        assert_house_error(message, DETECT, fragment)


def test_match_and_inpaint_errors_name_the_node_and_say_how_to_fix(comfyui, models):
    image = torch.rand(1, 48, 64, 3)
    regions = run(comfyui.node("PinpointDetect"), **detect_inputs(models, image)).result[0]
    empty_text = error_of(
        comfyui.node("PinpointMatchText"), **match_inputs(models, image, regions, text="  ")
    )
    assert_house_error(empty_text, MATCH, "text")
    other_image = error_of(
        comfyui.node("PinpointMatchText"), **match_inputs(models, torch.rand(1, 50, 64, 3), regions)
    )
    assert_house_error(other_image, MATCH, "this same image batch")

    mask = torch.zeros(1, 48, 64)
    mask[0, 10:20, 10:20] = 1
    empty_prompt = error_of(
        comfyui.node("PinpointInpaintDiffusers"), **inpaint_inputs(models, image, mask, prompt="")
    )
    assert_house_error(empty_prompt, INPAINT, "prompt")
    load_image_default_mask = torch.zeros(1, 64, 64)  # 'Load Image' on a picture without alpha
    wrong_size = error_of(
        comfyui.node("PinpointInpaintDiffusers"),
        **inpaint_inputs(models, image, load_image_default_mask),
    )
    assert_house_error(wrong_size, INPAINT, "64x64")


def test_loader_fingerprint_follows_the_folder_files(comfyui, tmp_path, monkeypatch):
    import shutil

    folder = tmp_path / "pinpoint_clip"
    shutil.copytree(comfyui.models["clip"], folder / "copy")
    monkeypatch.setitem(
        comfyui.folder_paths.folder_names_and_paths, "pinpoint_clip", ([str(folder)], set())
    )
    cls = comfyui.node("PinpointLoadCLIP")
    before = cls.fingerprint_inputs(model_name="copy", precision="auto")
    assert before == cls.fingerprint_inputs(model_name="copy", precision="auto")
    config = folder / "copy" / "config.json"
    config.write_text(config.read_text() + "\n")  # a re-download changes size and mtime
    assert cls.fingerprint_inputs(model_name="copy", precision="auto") != before
    assert cls.fingerprint_inputs(model_name="gone", precision="auto") == ("gone", "auto")


# --- mask operations ---------------------------------------------------------------------------


def mask_ops_inputs(mask, **overrides) -> dict:
    inputs = dict(
        mask=mask,
        grow_px=0,
        feather_px=0,
        fill_holes=False,
        min_island_px=0,
        invert=False,
        operation="none",
    )
    return inputs | overrides


def test_mask_ops_apply_fill_islands_grow_combine_invert_feather_in_order(comfyui):
    from pinpoint.masks import feather_mask, grow_mask

    mask = torch.zeros(1, 32, 32)
    mask[0, 4:14, 4:14] = 1
    mask[0, 7:11, 7:11] = 0  # a hole in the square
    mask[0, 25, 25] = 1  # a one-pixel speck
    other = torch.zeros(1, 32, 32)
    other[0, 0:32, 0:9] = 1
    output = run(
        comfyui.node("PinpointMaskOps"),
        **mask_ops_inputs(
            mask,
            grow_px=1,
            feather_px=2,
            fill_holes=True,
            min_island_px=2,
            invert=True,
            operation="subtract",
            other=other,
        ),
    )
    (out,) = output.result
    square = torch.zeros(1, 32, 32)
    square[0, 4:14, 4:14] = 1  # hole filled, speck dropped (growing first would keep it)
    expected = feather_mask(1 - (grow_mask(square, 1) - other).clamp(0, 1), 2)
    assert_image(comfyui, out, (1, 32, 32))
    assert torch.equal(out, expected)
    assert "images" in ui_dict(output)


def test_mask_ops_errors_name_the_node_and_say_how_to_fix(comfyui):
    mask = torch.zeros(2, 16, 16)
    missing = error_of(comfyui.node("PinpointMaskOps"), **mask_ops_inputs(mask, operation="union"))
    assert missing == (
        "Mask Operations (Pinpoint): operation 'union' needs the other mask. "
        "Fix: give the other mask, or set operation to 'none'."
    )
    unknown = error_of(comfyui.node("PinpointMaskOps"), **mask_ops_inputs(mask, operation="xor"))
    assert_house_error(unknown, MASK_OPS, "'xor'")
    other_size = error_of(
        comfyui.node("PinpointMaskOps"),
        **mask_ops_inputs(mask, operation="union", other=torch.zeros(1, 16, 20)),
    )
    assert_house_error(other_size, MASK_OPS, "20x16")


def test_inpaint_candidates_are_one_batch_and_the_best_is_kept(comfyui, models):
    """candidates=3 repaints each image with seeds seed + b * 3 + j in one pass (as a batch of
    copies would be) and keeps, per image, the candidate Rank Edits keeps."""
    image = torch.rand(2, 48, 64, 3, generator=torch.Generator().manual_seed(5))
    mask = torch.zeros(2, 48, 64)
    mask[:, 10:34, 16:48] = 1.0
    node = comfyui.node("PinpointInpaintDiffusers")
    copies = dict(image=image.repeat_interleave(3, 0), mask=mask.repeat_interleave(3, 0))
    (separately,) = run(node, **inpaint_inputs(models, image, mask) | copies).result
    rigged = rig_candidate(comfyui, models["clip"], separately[:3], mask[:1], "a cat", 1)
    settings = inpaint_inputs(models, image, mask) | dict(candidates=3, clip=rigged)
    output = run(node, **settings)
    (kept,) = output.result
    assert_image(comfyui, kept, (2, 48, 64, 3))
    for index in range(2):
        group = separately[3 * index : 3 * index + 3]
        chosen = rank_edits_choice(
            comfyui, rigged, image[index : index + 1], group, mask[:1], "a cat"
        )
        assert torch.equal(kept[index], group[chosen])
        assert any(
            f"image {index + 1}: candidate {chosen + 1} of 3 kept" in line
            for line in ui_dict(output)["text"]
        )
    message = error_of(node, **settings | dict(clip=None))
    assert_house_error(message, INPAINT, "candidates is 3 but no CLIP is connected to rank them")
