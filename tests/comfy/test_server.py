"""End to end: a real headless ComfyUI server (CPU) with the pack, driven over HTTP.

The ``server`` fixture (conftest.py) starts ``main.py`` from COMFYUI_DIR with the Python running
pytest, in temporary input/output/temp/user directories, an extra_model_paths.yaml naming a
custom_nodes folder that links to this repo and the tiny models; these tests check registration
and run the shipped example workflow.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest
import workflow_layout
from node_calls import pack_module
from PIL import Image
from route_checks import check_edited_only_inside
from sam3_checkpoint import SAM3_CHECKPOINT

if not os.environ.get("COMFYUI_DIR"):
    pytest.skip(
        "COMFYUI_DIR is not set: these tests start a ComfyUI (>= 0.3.64) server",
        allow_module_level=True,
    )

INPAINT = "Inpaint Region · diffusers (Pinpoint)"
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def load_workflow(facts, relative: str) -> dict:
    return json.loads((facts.repo / "workflows" / relative).read_text())


def widget_names(info: dict) -> list[tuple[str, int]]:
    """(input name, number of widgets_values entries) for each widget input of a node, in order.

    Mirrors the frontend: a seed with control_after_generate adds its control value ("fixed"),
    an image_upload combo adds the upload button's value ("image").
    """
    names = []
    for section in ("required", "optional"):
        for name in info["input_order"].get(section, []):
            kind, options = (info["input"][section][name] + [{}])[:2]
            if not (isinstance(kind, list) or kind in WIDGET_TYPES) or options.get("forceInput"):
                continue
            extra = int(bool(options.get("control_after_generate"))) + int(
                bool(options.get("image_upload"))
            )
            names.append((name, 1 + extra))
    return names


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """Convert a UI-format workflow to the API prompt the frontend would queue."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in workflow_layout.NOTE_TYPES:
            continue  # the frontend's own, never queued
        info = object_info[node["type"]]
        inputs = {}
        values = list(node.get("widgets_values", []))
        for name, width in widget_names(info):
            inputs[name] = values[0]
            values = values[width:]
        assert values == [], f"node {node['id']}: unused widgets_values {values}"
        for socket_input in node.get("inputs", []):
            if socket_input.get("link") is not None:
                _, source, slot, target, _, _ = links[socket_input["link"]]
                assert target == node["id"]
                inputs[socket_input["name"]] = [str(source), slot]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def strip_meta(prompt: dict) -> dict:
    return {
        key: {"class_type": node["class_type"], "inputs": node["inputs"]}
        for key, node in prompt.items()
    }


# --- registration ------------------------------------------------------------------------------


def test_pack_imports_without_failure(server, facts):
    log = server.startup_log
    ours = [line for line in log.splitlines() if "custom_nodes/pinpoint" in line]
    assert ours, log
    failures = ("IMPORT FAILED", "Cannot import", "Error while calling comfy_entrypoint")
    assert not [line for line in ours if any(failure in line for failure in failures)], log
    assert "Pinpoint failed to load" not in log, log
    left_out = "left out 'Boxes to Regions (Pinpoint)' and 'Regions to Boxes (Pinpoint)'"
    assert (left_out in log) == bool(facts.left_out), log  # said where ComfyUI lacks the type


def test_object_info_lists_every_node_with_the_documented_inputs(object_info, facts):
    for node_id, (category, input_names, output_types) in facts.nodes.items():
        info = object_info[node_id]
        assert info["category"] == category
        assert info["display_name"].endswith("(Pinpoint)")
        order = info["input_order"]
        assert order["required"] + order.get("optional", []) == input_names
        assert info["output"] == output_types
        specs = info["input"]["required"] | info["input"].get("optional", {})
        for name in input_names:
            assert specs[name][1].get("tooltip"), (node_id, name)
        assert all(info["output_tooltips"]), node_id


def test_js_extension_is_served(server):
    listed = json.loads(server.client.get("/extensions"))
    ours = [path for path in listed if path.endswith("/pinpoint.js")]
    assert ours, listed
    assert b"pinpoint.core" in server.client.get(ours[0])


API_WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows" / "api"
WORKFLOWS = sorted(path.stem for path in API_WORKFLOWS.glob("*.json"))
"""Every shipped workflow, by name: ``workflows/<name>.json`` and ``workflows/api/<name>.json``."""


def test_every_workflow_is_offered_as_a_template(server):
    templates = server.client.get_json("/workflow_templates")
    assert sorted(templates.get("pinpoint", [])) == WORKFLOWS, templates
    assert len(WORKFLOWS) >= 6


# --- workflows ---------------------------------------------------------------------------------


ALTERNATIVES = {"PinpointLoadSAM": ("Load SAM**", "sam_vit_b_01ec64.pth")}
"""Nodes no workflow wires, each offered in the workflows' notes as the alternative it is (its
title as the notes write it, the file it loads): Load SAM reads the original SAM checkpoint,
which the refining workflows name beside the suggested SAM 2.1 hiera-small (same socket, about
five times slower)."""


def test_every_pinpoint_node_is_used_by_a_shipped_workflow(facts):
    used = {
        node["class_type"]
        for name in WORKFLOWS
        for node in load_workflow(facts, f"api/{name}.json").values()
    }
    assert set(facts.nodes) - used == set(ALTERNATIVES)
    notes = [(API_WORKFLOWS.parent / f"{name}.json").read_text() for name in WORKFLOWS]
    for node, (title, file) in ALTERNATIVES.items():
        assert any(title in text and file in text for text in notes), node


def skip_without_stock_nodes(object_info: dict, api: dict, name: str, left_out: set) -> None:
    """Skip a workflow that needs stock nodes of a newer ComfyUI than this one (SAM3 Detect,
    RT-DETR), and with them the Pinpoint nodes left out there (``left_out``: over its types)."""
    lacking = {node["class_type"] for node in api.values()} - set(object_info)
    if lacking:
        assert not any(kind.startswith("Pinpoint") for kind in lacking - left_out), lacking
        pytest.skip(f"{name} needs {', '.join(sorted(lacking))}, which this ComfyUI lacks")


@pytest.mark.parametrize("name", WORKFLOWS)
def test_ui_workflow_matches_its_api_twin_and_has_no_missing_nodes(object_info, facts, name):
    ui = load_workflow(facts, f"{name}.json")
    api = load_workflow(facts, f"api/{name}.json")
    skip_without_stock_nodes(object_info, api, name, facts.left_out)
    missing = {node["type"] for node in ui["nodes"]} - set(object_info)
    missing -= set(workflow_layout.NOTE_TYPES)
    assert not missing, f"missing node types: {missing}"
    assert ui_to_api(ui, object_info) == strip_meta(api)
    assert ui["last_node_id"] == max(node["id"] for node in ui["nodes"])
    assert ui["last_link_id"] == max(link[0] for link in ui["links"])
    for link in ui["links"]:
        link_id, source, slot, target, target_slot, kind = link
        source_node = next(node for node in ui["nodes"] if node["id"] == source)
        target_node = next(node for node in ui["nodes"] if node["id"] == target)
        assert link_id in source_node["outputs"][slot]["links"]
        assert target_node["inputs"][target_slot]["link"] == link_id
        assert kind == source_node["outputs"][slot]["type"]
        assert kind == target_node["inputs"][target_slot]["type"]


def node_of(prompt: dict, class_type: str) -> str:
    (key,) = [key for key, node in prompt.items() if node["class_type"] == class_type]
    return key


IMAGE_SIZE = (128, 96)
"""(width, height) of the test picture."""

MASK_TAKERS = ("PinpointInpaintDiffusers", "PinpointInpaintComfy", "PinpointCropForInpaint")
"""The node of each workflow that takes the full-size edit mask (and its feather_px)."""
MASK_MAKERS = ("PinpointEditByText",)
"""Nodes that make the edit mask themselves (output 1) and inpaint through it."""
SAMPLING = ("PinpointInpaintDiffusers", "PinpointInpaintComfy", "KSampler", "PinpointEditByText")
CROPPING = ("PinpointInpaintComfy", "PinpointCropForInpaint", "PinpointEditByText")


FAMILY_LOADERS = ("DualCLIPLoader", "VAELoader")
"""Stock loaders only the family workflows (FLUX) use: their files are the ``family_files``
fixture's (UNETLoader also loads RT-DETR)."""


def tiny_text_encoders(prompt: dict, checkpoint: str) -> None:
    """Each DualCLIPLoader of ``prompt`` becomes the tiny SD 1.5 ``checkpoint``'s loader, whose
    CLIP (output 1) stands in for FLUX's clip_l + T5-XXL."""
    for key, node in prompt.items():
        if node["class_type"] != "DualCLIPLoader":
            continue
        prompt[key] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}}
        for other in prompt.values():
            for input_name, value in other["inputs"].items():
                if value == [key, 0]:
                    other["inputs"][input_name] = [key, 1]


def tiny_prompt(
    facts,
    comfy_models,
    name: str,
    image_name: str,
    size: tuple[int, int],
    family_files: dict[str, str] | None = None,
) -> tuple[dict, dict[str, str]]:
    """A shipped API workflow on the tiny models, plus SaveImage of the input and of the mask
    that goes into the inpaint (or crop) node.

    The detector is the rigged DETR (a known box), or the tiny OWLv2 where it feeds 'Detect by
    Text'; 'Segment by Text' runs the tiny SAM 3 or Florence-2 (every instance kept, the whole
    image where random weights find nothing); checkpoints are the tiny SD 1.5 ones (the
    inpainting one where the workflow names an inpainting checkpoint; for SDXL too: ComfyUI
    detects SDXL only at its full 2.6 B-parameter depths, the family is tested in-process in
    test_families.py), the random full-size SAM 3 for ComfyUI's own SAM 3 (every instance
    kept), the random RT-DETR for its RT-DETR (every box kept) and, for the FLUX workflows,
    ``family_files``'s tiny FLUX.1 / FLUX.1 Fill and VAE with the tiny SD 1.5 CLIP as their
    text encoders (:func:`tiny_text_encoders`; its ``QwenImage`` file, where given, for the
    Qwen-Image-Edit workflow, run in-process: see :data:`IN_PROCESS`); samplers run 2
    steps on 64-pixel crops. The route's mask is intersected with the picture (``size`` =
    width, height) less a border of an eighth of each side, a quarter in instruct mode (whose
    blend reaches farther), by the Mask Operations node that feeds the inpaint, or by a stock
    mask node before the inpaint (after Matte Edges, whose band reaches past its mask); this is
    also the mask 'Mask to Regions' gets where the workflow's mask is a painted one; 'Edit by
    Text' makes its own mask from the rigged box (not grown, it stays inside that border).
    Returns the prompt and the ids of its nodes by role.
    """
    prompt = strip_meta(load_workflow(facts, f"api/{name}.json"))
    open_vocabulary = {
        node["inputs"]["detector"][0]
        for node in prompt.values()
        if node["class_type"] == "PinpointDetectByText"
    }
    for key, node in prompt.items():
        kind, inputs = node["class_type"], node["inputs"]
        if kind == "PinpointLoadDetector":
            tiny = comfy_models["open_vocabulary"].name if key in open_vocabulary else None
            inputs["model_name"] = tiny or facts.rigged_detector
        elif kind == "PinpointLoadTextSegmenter":
            florence = inputs["model_name"].startswith("Florence")
            inputs["model_name"] = comfy_models["florence" if florence else "text_segmenter"].name
        elif kind in facts.loader_kinds:
            inputs["model_name"] = comfy_models[facts.loader_kinds[kind]].name
        elif kind == "CheckpointLoaderSimple":
            if inputs["ckpt_name"].startswith("sam3"):
                inputs["ckpt_name"] = SAM3_CHECKPOINT
            else:
                inpainting = "inpainting" in inputs["ckpt_name"]
                key = "checkpoint_inpainting" if inpainting else "checkpoint"
                inputs["ckpt_name"] = comfy_models[key].name
        elif kind == "UNETLoader" and inputs["unet_name"].startswith("rt_detr"):
            inputs["unet_name"] = comfy_models["rtdetr"].name
        elif kind == "RTDETR_detect":
            inputs["threshold"] = 0.0  # random weights: keep every box
        elif kind == "UNETLoader":
            named = inputs["unet_name"]
            family = "FluxInpaint" if "fill" in named else "Flux"
            inputs["unet_name"] = family_files["QwenImage" if "qwen" in named else family]
        elif kind == "VAELoader":
            inputs["vae_name"] = family_files["vae"]
        elif kind in ("PinpointSegmentByText", "SAM3_Detect"):
            inputs["threshold"] = 0.0
            if kind == "SAM3_Detect":
                inputs["refine_iterations"] = 0  # each pass reruns the 1008-pixel encoder
        if kind in ("PinpointSegmentByText", "PinpointMaskToRegions"):
            inputs["if_nothing_found"] = "whole image"
        if kind in SAMPLING:
            inputs["steps"] = 2
        if kind in CROPPING:
            inputs["resolution"] = 64
    tiny_text_encoders(prompt, comfy_models["checkpoint"].name)
    load = node_of(prompt, "LoadImage")
    (taker,) = [
        key for key, node in prompt.items() if node["class_type"] in (*MASK_TAKERS, *MASK_MAKERS)
    ]
    made = prompt[taker]["class_type"] in MASK_MAKERS
    edit_mask = [taker, 1] if made else prompt[taker]["inputs"]["mask"]
    prompt[load]["inputs"]["image"] = image_name
    # Random SAM/CLIPSeg masks are noise that, grown and hole-filled, can cover the whole picture;
    # intersecting with a known box (stock mask nodes) keeps "outside the mask" non-empty; an
    # instruction edit's blend reaches farther (the settle ring), so its box is smaller.
    width, height = size
    share = 4 if prompt[taker]["inputs"].get("mode") == "instruct" else 8
    prompt["903"] = {
        "class_type": "SolidMask",
        "inputs": {"value": 0.0, "width": width, "height": height},
    }
    prompt["904"] = {
        "class_type": "SolidMask",
        "inputs": {
            "value": 1.0,
            "width": width - 2 * (width // share),
            "height": height - 2 * (height // share),
        },
    }
    prompt["905"] = {
        "class_type": "MaskComposite",
        "inputs": {
            "destination": ["903", 0],
            "source": ["904", 0],
            "x": width // share,
            "y": height // share,
            "operation": "add",
        },
    }
    mask_ops = [key for key, node in prompt.items() if node["class_type"] == "PinpointMaskOps"]
    if made:
        prompt[taker]["inputs"]["grow_px"] = 0
    elif mask_ops and edit_mask[0] == mask_ops[0]:
        prompt[mask_ops[0]]["inputs"] |= {"operation": "intersect", "other": ["905", 0]}
    else:
        prompt["906"] = {
            "class_type": "MaskComposite",
            "inputs": {
                "destination": edit_mask,
                "source": ["905", 0],
                "x": 0,
                "y": 0,
                "operation": "multiply",
            },
        }
        edit_mask = prompt[taker]["inputs"]["mask"] = ["906", 0]
    for node in prompt.values():  # a painted mask: the test picture has none
        if node["class_type"] == "PinpointMaskToRegions" and node["inputs"]["mask"][0] == load:
            node["inputs"]["mask"] = ["905", 0]
    prompt["900"] = {
        "class_type": "SaveImage",
        "inputs": {"images": [load, 0], "filename_prefix": "input"},
    }
    prompt["901"] = {
        "class_type": "MaskToImage",
        "inputs": {"mask": edit_mask},
    }
    prompt["902"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["901", 0], "filename_prefix": "mask"},
    }
    edited = next(
        key
        for key, node in prompt.items()
        if node["class_type"] == "SaveImage" and node["inputs"]["filename_prefix"] == "pinpoint"
    )
    return prompt, {"edited": edited, "inpaint": taker, "input": "900", "mask": "902"}


IN_PROCESS = {
    "qwen_image_edit_found_object": (
        "Qwen-Image-Edit reads 3584-wide text (ComfyUI detects Qwen-Image only at its full "
        "widths), which only Qwen2.5-VL 7B makes, and CLIPLoader builds it at its fixed size "
        "(7.7 B parameters, 15.5 GB in bf16) whatever the file: no tiny text encoder loads. "
        "test_qwen_edit_workflow.py runs this workflow in-process through ComfyUI's executor "
        "with a stand-in text encoder"
    ),
}
"""Workflows that cannot run through /prompt here, and why."""


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_edits_only_inside_the_mask(
    server, object_info, facts, comfy_models, name, request
):
    if name in IN_PROCESS:
        pytest.skip(IN_PROCESS[name])
    api = load_workflow(facts, f"api/{name}.json")
    skip_without_stock_nodes(object_info, api, name, facts.left_out)
    if any(node["class_type"] == "SAM3_Detect" for node in api.values()):
        request.getfixturevalue("sam3_checkpoint")  # written only for a ComfyUI that runs it
    if any(node["class_type"] == "RTDETR_detect" for node in api.values()):
        request.getfixturevalue("rtdetr_checkpoint")
    families = None
    if any(node["class_type"] in FAMILY_LOADERS for node in api.values()):
        families = request.getfixturevalue("family_files")  # skips where no tiny FLUX loads
    rng = np.random.default_rng(0)
    width, height = IMAGE_SIZE
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(server.input / "pinpoint-test.png")
    prompt, ids = tiny_prompt(facts, comfy_models, name, "pinpoint-test.png", IMAGE_SIZE, families)
    entry = server.client.run_prompt(prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    outputs = entry["outputs"]
    images = {
        role: server.client.image(outputs[ids[role]]["images"][0])
        for role in ("edited", "input", "mask")
    }
    follow_px = 0
    if prompt[ids["inpaint"]]["inputs"].get("mode") == "instruct":
        comfyui = request.getfixturevalue("comfyui")
        follow_px = pack_module(comfyui, "pinpoint.settle").EDITOR_SETTLE.follow_px
    check_edited_only_inside(prompt, ids, images, pixels, follow_px)
    previews = [key for key, node in prompt.items() if node["class_type"] == "PreviewImage"]
    assert previews and all(outputs[key]["images"] for key in previews)


def test_empty_prompt_fails_with_the_node_title_and_a_fix(server, facts, comfy_models):
    image = Image.fromarray(np.full((64, 80, 3), 120, dtype=np.uint8))
    image.save(server.input / "pinpoint-gray.png")
    prompt, ids = tiny_prompt(
        facts, comfy_models, "detect_match_inpaint", "pinpoint-gray.png", (80, 64)
    )
    broken = copy.deepcopy(prompt)
    broken[ids["inpaint"]]["inputs"]["prompt"] = ""
    entry = server.client.run_prompt(broken)
    assert entry["status"]["status_str"] == "error"
    errors = [data for kind, data in entry["status"]["messages"] if kind == "execution_error"]
    assert len(errors) == 1, entry["status"]
    message = errors[0]["exception_message"]
    assert errors[0]["node_type"] == "PinpointInpaintDiffusers"
    assert message.startswith(f"{INPAINT}: ") and "Fix: " in message, message
