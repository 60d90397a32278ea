"""Fixtures for the ComfyUI tests (in-process nodes and a real headless server).

These tests need a ComfyUI checkout (0.3.64 or later) whose requirements are installed in the
Python running pytest; point COMFYUI_DIR at it. Without COMFYUI_DIR every test here is skipped.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from rtdetr_checkpoint import RTDETR_CHECKPOINT, write_rtdetr_checkpoint
from sam3_checkpoint import SAM3_CHECKPOINT, write_sam3_checkpoint
from tiny_checkpoint import write_tiny_sd15_checkpoint

REPO = Path(__file__).resolve().parents[2]
COMFYUI_DIR = os.environ.get("COMFYUI_DIR", "")
SKIP_REASON = (
    "COMFYUI_DIR is not set: the ComfyUI tests need a ComfyUI checkout (>= 0.3.64) with its "
    "requirements installed, e.g. COMFYUI_DIR=/path/to/ComfyUI python -m pytest tests/comfy"
)

KNOWN_BOX = (0.55, 0.40, 0.30, 0.50)
"""Normalised (cx, cy, w, h) that the rigged tiny detector finds in every image."""
RIGGED_DETECTOR = "tiny-rigged-detr"
CHECKPOINTS = (
    ("checkpoint_inpainting", "tiny-sd15-inpainting.safetensors", True),
    ("checkpoint", "tiny-sd15.safetensors", False),
)
"""(``comfy_models`` key, file name, inpainting model?) of the tiny SD 1.5 checkpoints."""

EXPECTED_NODES = {
    # node id: (category, [input names in order], [output types])
    "PinpointLoadDetector": (
        "pinpoint/loaders",
        ["model_name", "precision"],
        ["PINPOINT_DETECTOR"],
    ),
    "PinpointLoadCLIP": ("pinpoint/loaders", ["model_name", "precision"], ["PINPOINT_CLIP"]),
    "PinpointLoadInpaintPipeline": (
        "pinpoint/loaders",
        ["model_name", "precision"],
        ["PINPOINT_INPAINT_PIPE"],
    ),
    "PinpointLoadSAM": ("pinpoint/loaders", ["model_name", "precision"], ["PINPOINT_SAM"]),
    "PinpointLoadSAMFolder": ("pinpoint/loaders", ["model_name", "precision"], ["PINPOINT_SAM"]),
    "PinpointLoadTextSegmenter": (
        "pinpoint/loaders",
        ["model_name", "precision"],
        ["PINPOINT_TEXT_SEGMENTER"],
    ),
    "PinpointLoadSegmenter": (
        "pinpoint/loaders",
        ["model_name", "precision"],
        ["PINPOINT_SEGMENTER"],
    ),
    "PinpointLoadCLIPSeg": ("pinpoint/loaders", ["model_name", "precision"], ["PINPOINT_CLIPSEG"]),
    "PinpointLoadDINO": ("pinpoint/loaders", ["model_name", "precision"], ["PINPOINT_DINO"]),
    "PinpointLoadMatte": ("pinpoint/loaders", ["model_name", "precision"], ["PINPOINT_MATTE"]),
    "PinpointLoadPerceptual": (
        "pinpoint/loaders",
        ["model_name", "precision"],
        ["PINPOINT_PERCEPTUAL"],
    ),
    "PinpointCLIPGuider": (
        "pinpoint/guide",
        [
            "model",
            "positive",
            "negative",
            "cfg",
            "vae",
            "clip",
            "image",
            "mask",
            "text",
            "scale",
            "start",
            "end",
            "every",
            "region_weight",
            "mse_weight",
            "lpips_weight",
            "cutouts",
            "lpips",
        ],
        ["GUIDER"],
    ),
    "PinpointCLIPGuidance": (
        "pinpoint/guide",
        [
            "clip",
            "text",
            "scale",
            "start",
            "end",
            "every",
            "region_weight",
            "mse_weight",
            "lpips_weight",
            "cutouts",
            "lpips",
            "vae",
        ],
        ["PINPOINT_GUIDANCE"],
    ),
    "PinpointStyleGuidance": (
        "pinpoint/guide",
        [
            "clip",
            "text",
            "source_text",
            "scale",
            "start",
            "end",
            "every",
            "global_weight",
            "patch_weight",
            "patch_threshold",
            "content_weight",
            "tv_weight",
            "cutouts",
            "vgg",
            "vae",
        ],
        ["PINPOINT_GUIDANCE"],
    ),
    "PinpointStyleGuider": (
        "pinpoint/guide",
        [
            "model",
            "positive",
            "negative",
            "cfg",
            "vae",
            "clip",
            "image",
            "text",
            "source_text",
            "scale",
            "start",
            "end",
            "every",
            "global_weight",
            "patch_weight",
            "patch_threshold",
            "content_weight",
            "tv_weight",
            "cutouts",
            "mask",
            "vgg",
        ],
        ["GUIDER"],
    ),
    "PinpointDetectByText": (
        "pinpoint/detect",
        ["detector", "image", "queries", "threshold", "max_detections", "if_nothing_found"],
        ["PINPOINT_REGIONS", "IMAGE"],
    ),
    "PinpointRankEdits": (
        "pinpoint/measure",
        [
            "clip",
            "source",
            "candidates",
            "mask",
            "text",
            "source_text",
            "alpha",
            "beta",
            "top_k",
            "context_pad",
        ],
        ["IMAGE", "STRING", "IMAGE"],
    ),
    "PinpointSegmentByText": (
        "pinpoint/detect",
        [
            "segmenter",
            "image",
            "text",
            "threshold",
            "max_regions",
            "florence_task",
            "if_nothing_found",
        ],
        ["PINPOINT_REGIONS", "IMAGE"],
    ),
    "PinpointSegment": (
        "pinpoint/detect",
        [
            "segmenter",
            "image",
            "labels",
            "min_area",
            "split_instances",
            "max_regions",
            "if_nothing_found",
        ],
        ["PINPOINT_REGIONS", "IMAGE"],
    ),
    "PinpointAttentionAnchors": (
        "pinpoint/detect",
        ["dino", "image", "anchors", "box_sizes", "min_distance"],
        ["PINPOINT_REGIONS", "MASK", "IMAGE"],
    ),
    "PinpointMaskToRegions": (
        "pinpoint/detect",
        ["image", "mask", "min_area", "max_regions", "label", "if_nothing_found"],
        ["PINPOINT_REGIONS", "IMAGE"],
    ),
    "PinpointRegionsToSEGS": ("pinpoint/convert", ["regions", "crop_factor"], ["SEGS"]),
    "PinpointSEGSToRegions": ("pinpoint/convert", ["image", "segs"], ["PINPOINT_REGIONS", "IMAGE"]),
    "PinpointTextHeatmap": (
        "pinpoint/match",
        [
            "clipseg",
            "image",
            "text",
            "threshold",
            "min_area",
            "max_regions",
            "use_regions",
            "heat_weight",
            "if_nothing_found",
            "regions",
        ],
        ["PINPOINT_REGIONS", "MASK", "MASK", "IMAGE"],
    ),
    "PinpointSelectRegions": (
        "pinpoint/match",
        ["image", "regions", "pick", "top_k", "min_score", "if_nothing_found"],
        ["PINPOINT_REGIONS", "MASK", "IMAGE"],
    ),
    "PinpointRefineSAM": (
        "pinpoint/refine",
        ["sam", "image", "regions", "multimask", "points"],
        ["PINPOINT_REGIONS", "MASK", "IMAGE"],
    ),
    "PinpointDetect": (
        "pinpoint/detect",
        ["detector", "image", "threshold", "max_detections", "labels", "if_nothing_found"],
        ["PINPOINT_REGIONS", "IMAGE"],
    ),
    "PinpointMatchText": (
        "pinpoint/match",
        [
            "clip",
            "image",
            "regions",
            "text",
            "pick",
            "top_k",
            "context_pad",
            "crop",
            "confidence_weight",
            "min_probability",
            "if_nothing_found",
            "pin",
        ],
        ["PINPOINT_REGIONS", "MASK", "STRING", "IMAGE"],
    ),
    "PinpointRegionsToMask": ("pinpoint/mask", ["regions", "grow_px", "feather_px"], ["MASK"]),
    "PinpointMatteEdges": (
        "pinpoint/mask",
        ["matte", "image", "mask", "band_px"],
        ["MASK", "IMAGE"],
    ),
    "PinpointMaskOps": (
        "pinpoint/mask",
        [
            "mask",
            "grow_px",
            "feather_px",
            "fill_holes",
            "min_island_px",
            "invert",
            "operation",
            "other",
        ],
        ["MASK"],
    ),
    "PinpointInpaintDiffusers": (
        "pinpoint/inpaint",
        [
            "pipe",
            "image",
            "prompt",
            "negative_prompt",
            "seed",
            "steps",
            "cfg",
            "strength",
            "context",
            "resolution",
            "feather_px",
            "split",
            "mask",
            "scheduler",
            "harmonise",
            "candidates",
            "clip",
            "guidance",
        ],
        ["IMAGE"],
    ),
    "PinpointCropForInpaint": (
        "pinpoint/inpaint",
        ["image", "mask", "context", "resolution", "feather_px", "split", "model", "vae"],
        ["IMAGE", "MASK", "PINPOINT_STITCH"],
    ),
    "PinpointStitch": ("pinpoint/inpaint", ["stitch", "image", "harmonise"], ["IMAGE"]),
    "PinpointInpaintComfy": (
        "pinpoint/inpaint",
        [
            "model",
            "vae",
            "positive",
            "negative",
            "image",
            "mask",
            "seed",
            "steps",
            "cfg",
            "sampler_name",
            "scheduler",
            "denoise",
            "masked_start",
            "context",
            "resolution",
            "feather_px",
            "split",
            "harmonise",
            "candidates",
            "clip",
            "text",
            "guidance",
            "flux_guidance",
            "mode",
        ],
        ["IMAGE"],
    ),
    "PinpointEditByText": (
        "pinpoint/edit",
        [
            "image",
            "edits",
            "matcher",
            "model",
            "clip",
            "vae",
            "negative_prompt",
            "seed",
            "steps",
            "cfg",
            "sampler_name",
            "scheduler",
            "denoise",
            "masked_start",
            "threshold",
            "max_detections",
            "labels",
            "pick",
            "top_k",
            "min_probability",
            "if_nothing_found",
            "grow_px",
            "context",
            "resolution",
            "feather_px",
            "split",
            "harmonise",
            "detector",
            "regions",
            "candidates",
            "guidance",
            "flux_guidance",
            "mode",
            "matte",
            "matte_band_px",
        ],
        ["IMAGE", "MASK", "IMAGE", "STRING"],
    ),
}


BOX_NODES = {
    "PinpointBoxesToRegions": (
        "pinpoint/convert",
        ["image", "bboxes", "label", "if_nothing_found"],
        ["PINPOINT_REGIONS", "IMAGE"],
    ),
    "PinpointRegionsToBoxes": ("pinpoint/convert", ["regions"], ["BOUNDING_BOX", "BOUNDING_BOX"]),
}
"""The nodes over ComfyUI's ``BOUNDING_BOX`` type, registered only where ComfyUI has it."""


def has_bounding_boxes(root: Path) -> bool:
    """Whether the ComfyUI checkout at ``root`` declares the ``BOUNDING_BOX`` io type (0.33 and
    later; 0.3.64 does not)."""
    return 'io_type="BOUNDING_BOX"' in (root / "comfy_api" / "latest" / "_io.py").read_text()


LOADER_KINDS = {
    "PinpointLoadDetector": "detector",
    "PinpointLoadCLIP": "clip",
    "PinpointLoadSAM": "sam",
    "PinpointLoadSAMFolder": "sam_folder",
    "PinpointLoadTextSegmenter": "text_segmenter",
    "PinpointLoadSegmenter": "segmenter",
    "PinpointLoadCLIPSeg": "clipseg",
    "PinpointLoadDINO": "dino",
    "PinpointLoadMatte": "matte",
    "PinpointLoadInpaintPipeline": "inpaint",
    "PinpointLoadPerceptual": "perceptual",
}
"""Pinpoint loader node → the key of the model kind it loads (``pinpoint.loading.kinds``); the
same key names its tiny model in the ``comfy_models`` fixture."""


def comfyui_root() -> Path:
    """The ComfyUI checkout named by COMFYUI_DIR (test modules skip themselves when it is unset)."""
    if not COMFYUI_DIR:
        pytest.skip(SKIP_REASON)
    root = Path(COMFYUI_DIR).resolve()
    if not (root / "main.py").is_file() or not (root / "comfy_api").is_dir():
        raise RuntimeError(f"COMFYUI_DIR={COMFYUI_DIR} is not a ComfyUI checkout (no main.py)")
    return root


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


@pytest.fixture(scope="session")
def facts() -> SimpleNamespace:
    """What the tests expect: node schemas, the rigged detector's box, paths."""
    root = comfyui_root()
    boxes = has_bounding_boxes(root)
    return SimpleNamespace(
        comfyui=root,
        repo=REPO,
        nodes=EXPECTED_NODES | (BOX_NODES if boxes else {}),
        left_out=set() if boxes else set(BOX_NODES),
        known_box=KNOWN_BOX,
        rigged_detector=RIGGED_DETECTOR,
        loader_kinds=LOADER_KINDS,
    )


@pytest.fixture(scope="session")
def comfy_models(tiny_models, tmp_path_factory) -> dict[str, Path]:
    """A models root laid out as ComfyUI's: ``<root>/<folder>/<model>``.

    Holds every tiny random model (links), two tiny random SD 1.5 checkpoints that ComfyUI's
    own checkpoint loader reads (an inpainting one and a regular one, ``checkpoints/``), and a
    copy of the tiny DETR rigged so that
    every query predicts ``dog`` at :data:`KNOWN_BOX` with probability ~0.99 (its last class and
    box layers are zeroed and their biases set), which makes the mask position known.
    """
    from pinpoint.loading import load_model
    from pinpoint.loading.kinds import DETECTOR

    root = tmp_path_factory.mktemp("comfy-models")
    source = tiny_models["detector"]
    rigged = root / source.parent.name / RIGGED_DETECTOR
    shutil.copytree(source, rigged)
    detector = load_model(DETECTOR, rigged)
    dog = {name: index for index, name in detector.labels.items()}["dog"]
    with torch.no_grad():
        classifier = detector.model.class_labels_classifier
        classifier.weight.zero_()
        classifier.bias.fill_(-5.0)
        classifier.bias[dog] = 5.0
        last = detector.model.bbox_predictor.layers[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([_logit(v) for v in KNOWN_BOX]))
    detector.model.save_pretrained(rigged)
    models = {"root": root, "detector": rigged}
    for key, source in tiny_models.items():
        if key != "detector":
            link = root / source.parent.name / source.name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source, target_is_directory=source.is_dir())
            models[key] = link
    for key, name, inpaint in CHECKPOINTS:
        models[key] = write_tiny_sd15_checkpoint(root / "checkpoints" / name, inpaint=inpaint)
    models["rtdetr"] = root / "diffusion_models" / RTDETR_CHECKPOINT  # see rtdetr_checkpoint
    models["rtdetr"].parent.mkdir()
    return models


@pytest.fixture(scope="session")
def sam3_checkpoint(comfy_models) -> Path:
    """The random full-size SAM 3 checkpoint for ComfyUI's own SAM 3 nodes, in the models
    root's ``checkpoints/`` (which the server lists); written only when a test asks for it."""
    return write_sam3_checkpoint(comfy_models["root"] / "checkpoints" / SAM3_CHECKPOINT)


FAMILY_FOLDERS = ("diffusion_models", "vae")
"""Folders of the models root that :func:`family_files` fills (registered at server start)."""


@pytest.fixture(scope="session")
def family_files(comfyui, comfy_models) -> dict[str, str]:
    """Tiny FLUX.1 (Kontext's config) and FLUX.1 Fill diffusion models and FLUX's 16-channel
    TAESD (geometric weights) written by ``family_models.py`` in the models root's
    ``diffusion_models/`` and ``vae/``, for UNETLoader and VAELoader: ``{"Flux",
    "FluxInpaint", "vae"}`` → file name. Their text widths are the CLIP ViT-L's of the tiny
    SD 1.5 checkpoint, whose CLIP stands in for FLUX's clip_l + T5-XXL (T5-XXL is 4.7 B
    parameters at any file size: ComfyUI builds it from a fixed config). Skips where this
    ComfyUI's detection fixes FLUX's full width (0.3.64), so no tiny FLUX file loads."""
    from family_models import write_flux, write_taef1
    from tiny_checkpoint import CONTEXT_DIM

    root = comfy_models["root"]
    files = {}
    for family in ("Flux", "FluxInpaint"):
        path = root / "diffusion_models" / f"tiny-{family.lower()}.safetensors"
        widths = dict(context_in_dim=CONTEXT_DIM, vec_in_dim=CONTEXT_DIM)
        if write_flux(path, family, **widths) is None:
            pytest.skip("this ComfyUI detects FLUX only at its full width: no tiny FLUX loads")
        files[family] = path.name
    files["vae"] = write_taef1(root / "vae" / "tiny-ae.safetensors").name
    return files


@pytest.fixture(scope="session")
def rtdetr_checkpoint(facts, comfy_models) -> Path:
    """The random RT-DETR v4 checkpoint for ComfyUI's own RT-DETR node, in the models root's
    ``diffusion_models/`` (which the server lists); written only when a test asks for it."""
    return write_rtdetr_checkpoint(facts.comfyui, comfy_models["rtdetr"])


def model_folders(comfy_models: dict[str, Path]) -> dict[str, Path]:
    """ComfyUI folder name → directory, for every tiny model (``pinpoint_detectors``, ``sams``)."""
    return {path.parent.name: path.parent for key, path in comfy_models.items() if key != "root"}


@pytest.fixture(scope="session")
def checkpoints(comfyui, comfy_models):
    """``{inpainting?: (MODEL, CLIP, VAE)}``: the tiny SD 1.5 checkpoints loaded by ComfyUI's
    own checkpoint loader."""
    import comfy.sd

    loaded = {}
    for key, _, inpainting in CHECKPOINTS:
        model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(
            str(comfy_models[key]), output_vae=True, output_clip=True
        )
        loaded[inpainting] = (model, clip, vae)
    return loaded


@pytest.fixture(scope="session")
def comfyui(facts, comfy_models, tmp_path_factory) -> SimpleNamespace:
    """ComfyUI imported in this process on CPU, with the pack loaded the way ComfyUI loads it.

    Returns a namespace with ``nodes`` (ComfyUI's nodes module), ``pack`` (our package module),
    ``node(id)`` (a registered node class), ``mm``, ``folder_paths`` and ``utils``.
    """
    root = facts.comfyui
    sys.path.insert(0, str(root))
    from comfy.cli_args import args

    args.cpu = True  # before comfy.model_management picks the device
    import comfy.model_management as mm
    import comfy.utils
    import folder_paths

    import nodes

    assert Path(nodes.__file__).resolve().parent == root, nodes.__file__
    scratch = tmp_path_factory.mktemp("comfy-dirs")
    for name in ("output", "temp", "input"):
        (scratch / name).mkdir()
    folder_paths.set_output_directory(str(scratch / "output"))
    folder_paths.set_temp_directory(str(scratch / "temp"))
    folder_paths.set_input_directory(str(scratch / "input"))
    # as an extra_model_paths.yaml would, before the pack registers its own folders
    for folder in model_folders(comfy_models).values():
        folder_paths.add_model_folder_path(folder.name, str(folder))
    loaded = asyncio.run(nodes.load_custom_node(str(REPO), module_parent="custom_nodes"))
    assert loaded, "ComfyUI failed to load the pack; see the warnings above"
    pack = sys.modules[str(REPO).replace(".", "_x_")]
    return SimpleNamespace(
        nodes=nodes,
        pack=pack,
        node=lambda node_id: nodes.NODE_CLASS_MAPPINGS[node_id],
        mm=mm,
        utils=comfy.utils,
        folder_paths=folder_paths,
        models=comfy_models,
    )


# --- a real ComfyUI server (shared by test_server.py and test_editor.py) -------------------------

START_TIMEOUT_S = 300
PROMPT_TIMEOUT_S = 600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Client:
    def __init__(self, url: str):
        self.url = url

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            return response.read()

    def get_json(self, path: str):
        return json.loads(self.get(path))

    def post_json(self, path: str, body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def run_prompt(self, prompt: dict) -> dict:
        """Queue ``prompt`` and return its /history entry once it finished (success or error)."""
        body = {"prompt": prompt, "client_id": uuid.uuid4().hex}
        status, answer = self.post_json("/prompt", body)
        assert status == 200 and not answer.get("node_errors"), answer
        prompt_id = answer["prompt_id"]
        deadline = time.monotonic() + PROMPT_TIMEOUT_S
        while time.monotonic() < deadline:
            entry = self.get_json(f"/history/{prompt_id}").get(prompt_id)
            if entry:  # written once the prompt finished, successfully or not
                return entry
            time.sleep(0.5)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {PROMPT_TIMEOUT_S} s")

    def image(self, saved: dict) -> np.ndarray:
        query = urllib.parse.urlencode(saved)
        return np.asarray(Image.open(io.BytesIO(self.get(f"/view?{query}"))).convert("RGB"))


STOCK_LOADERS = {
    "CheckpointLoaderSimple": ("checkpoints", ("ckpt_name",)),
    "UNETLoader": ("diffusion_models", ("unet_name",)),
    "CLIPLoader": ("text_encoders", ("clip_name",)),
    "DualCLIPLoader": ("text_encoders", ("clip_name1", "clip_name2")),
    "VAELoader": ("vae", ("vae_name",)),
}
"""ComfyUI's loader nodes the workflows use → (the model folder they read, their file inputs)."""


def workflow_model_stand_ins(root: Path) -> dict[str, Path]:
    """Empty stand-ins, under ``root``, for every model the shipped workflows name (the real
    models cannot be downloaded here), so the editor shows the workflows as on a machine that
    has them: no missing-model marks. Returns ComfyUI folder name → directory."""
    from pinpoint.loading.kinds import KINDS

    kinds = {kind.key: kind for kind in KINDS}
    folders: dict[str, Path] = {}
    for path in (REPO / "workflows" / "api").glob("*.json"):
        for node in json.loads(path.read_text()).values():
            if node["class_type"] in STOCK_LOADERS:
                folder, inputs = STOCK_LOADERS[node["class_type"]]
                named = [(folder, node["inputs"][name], "") for name in inputs]
            elif node["class_type"] in LOADER_KINDS:
                kind = kinds[LOADER_KINDS[node["class_type"]]]
                named = [(kind.folder, node["inputs"]["model_name"], kind.marker)]
            else:
                continue
            for folder, name, marker in named:
                folders[folder] = root / folder
                target = root / folder / name
                target = target / marker if marker else target
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("{}" if marker else "")
    return folders


@pytest.fixture(scope="module")
def server(facts, comfy_models, tmp_path_factory):
    base = tmp_path_factory.mktemp("comfy-server")
    for name in ("custom_nodes", "input", "output", "temp", "user"):
        (base / name).mkdir()
    (base / "custom_nodes" / "pinpoint").symlink_to(facts.repo, target_is_directory=True)
    folders = {name: [path] for name, path in model_folders(comfy_models).items()}
    for name, path in workflow_model_stand_ins(base / "stand-ins").items():
        folders.setdefault(name, []).append(path)
    for name in FAMILY_FOLDERS:  # filled by family_files when a test asks for it
        (comfy_models["root"] / name).mkdir(exist_ok=True)
        if comfy_models["root"] / name not in folders.setdefault(name, []):  # RT-DETR's too
            folders[name].append(comfy_models["root"] / name)
    lines = ["pinpoint_tests:", f"  custom_nodes: {base / 'custom_nodes'}"]
    for name, paths in folders.items():
        lines += [f"  {name}: |"] + [f"    {path}" for path in paths]
    config = base / "extra_model_paths.yaml"
    config.write_text("\n".join(lines) + "\n")
    port = free_port()
    log_path = base / "server.log"
    command = [
        os.environ.get("COMFYUI_PYTHON", sys.executable),
        "main.py",
        "--cpu",
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-auto-launch",
        "--disable-api-nodes",
        "--extra-model-paths-config",
        str(config),
        "--input-directory",
        str(base / "input"),
        "--output-directory",
        str(base / "output"),
        "--temp-directory",
        str(base / "temp"),
        "--user-directory",
        str(base / "user"),
        "--database-url",
        "sqlite:///:memory:",
        "--disable-all-custom-nodes",
        "--whitelist-custom-nodes",
        "pinpoint",
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=facts.comfyui, stdout=log, stderr=subprocess.STDOUT)
    client = Client(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"ComfyUI exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                client.get("/system_stats")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"ComfyUI did not start in {START_TIMEOUT_S} s:\n"
                        f"{log_path.read_text()[-5000:]}"
                    )
                time.sleep(1)
        startup_log = log_path.read_text()
        yield SimpleNamespace(
            client=client,
            startup_log=startup_log,
            input=base / "input",
            stand_ins=base / "stand-ins",
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def object_info(server) -> dict:
    return server.client.get_json("/object_info")
