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

import numpy as np
import pytest
import torch
from PIL import Image

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


def test_pack_imports_without_failure(server):
    log = server.startup_log
    ours = [line for line in log.splitlines() if "custom_nodes/pinpoint" in line]
    assert ours, log
    failures = ("IMPORT FAILED", "Cannot import", "Error while calling comfy_entrypoint")
    assert not [line for line in ours if any(failure in line for failure in failures)], log
    assert "Pinpoint failed to load" not in log, log


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


def test_example_workflow_is_offered_as_a_template(server):
    templates = server.client.get_json("/workflow_templates")
    assert templates.get("pinpoint") == ["detect_match_inpaint"], templates


# --- workflows ---------------------------------------------------------------------------------


def test_ui_workflow_matches_its_api_twin_and_has_no_missing_nodes(object_info, facts):
    ui = load_workflow(facts, "detect_match_inpaint.json")
    api = load_workflow(facts, "api/detect_match_inpaint.json")
    missing = {node["type"] for node in ui["nodes"]} - set(object_info)
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


def example_prompt(facts, comfy_models, image_name: str) -> tuple[dict, dict[str, str]]:
    """The shipped API workflow on the tiny models, plus SaveImage of the input and the mask.

    Returns the prompt and the ids of its nodes by role.
    """
    prompt = strip_meta(load_workflow(facts, "api/detect_match_inpaint.json"))
    ids = {
        role: node_of(prompt, class_type)
        for role, class_type in (
            ("edited", "SaveImage"),
            ("inpaint", "PinpointInpaintDiffusers"),
            ("detect", "PinpointDetect"),
            ("match", "PinpointMatchText"),
        )
    }
    names = {
        "PinpointLoadDetector": facts.rigged_detector,
        "PinpointLoadCLIP": comfy_models["clip"].name,
        "PinpointLoadInpaintPipeline": comfy_models["inpaint"].name,
    }
    for class_type, name in names.items():
        prompt[node_of(prompt, class_type)]["inputs"]["model_name"] = name
    prompt[node_of(prompt, "LoadImage")]["inputs"]["image"] = image_name
    prompt[node_of(prompt, "PinpointInpaintDiffusers")]["inputs"]["steps"] = 2
    load = node_of(prompt, "LoadImage")
    to_mask = node_of(prompt, "PinpointRegionsToMask")
    prompt["900"] = {
        "class_type": "SaveImage",
        "inputs": {"images": [load, 0], "filename_prefix": "input"},
    }
    prompt["901"] = {"class_type": "MaskToImage", "inputs": {"mask": [to_mask, 0]}}
    prompt["902"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["901", 0], "filename_prefix": "mask"},
    }
    return prompt, ids | {"input": "900", "mask": "902"}


def test_example_workflow_edits_only_inside_the_mask(server, facts, comfy_models):
    from pinpoint.masks import feather_mask

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(96, 128, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(server.input / "pinpoint-test.png")
    prompt, ids = example_prompt(facts, comfy_models, "pinpoint-test.png")
    entry = server.client.run_prompt(prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    outputs = entry["outputs"]
    edited, original, mask = (
        server.client.image(outputs[ids[role]]["images"][0]) for role in ("edited", "input", "mask")
    )
    assert np.array_equal(original, pixels)
    assert edited.shape == original.shape

    feather = prompt[ids["inpaint"]]["inputs"]["feather_px"]
    hard = torch.from_numpy(mask[..., 0] > 127).to(torch.float32)[None]
    outside = (feather_mask(hard, feather)[0] == 0).numpy()
    assert 0 < outside.sum() < outside.size
    assert np.array_equal(edited[outside], original[outside])
    assert not np.array_equal(edited[~outside], original[~outside])

    match = outputs[ids["match"]]
    assert match["text"] and match["images"]
    assert outputs[ids["detect"]]["images"]


def test_empty_prompt_fails_with_the_node_title_and_a_fix(server, facts, comfy_models):
    image = Image.fromarray(np.full((64, 80, 3), 120, dtype=np.uint8))
    image.save(server.input / "pinpoint-gray.png")
    prompt, ids = example_prompt(facts, comfy_models, "pinpoint-gray.png")
    broken = copy.deepcopy(prompt)
    broken[ids["inpaint"]]["inputs"]["prompt"] = ""
    entry = server.client.run_prompt(broken)
    assert entry["status"]["status_str"] == "error"
    errors = [data for kind, data in entry["status"]["messages"] if kind == "execution_error"]
    assert len(errors) == 1, entry["status"]
    message = errors[0]["exception_message"]
    assert errors[0]["node_type"] == "PinpointInpaintDiffusers"
    assert message.startswith(f"{INPAINT}: ") and "Fix:" in message, message
