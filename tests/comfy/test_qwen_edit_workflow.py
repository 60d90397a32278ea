"""The shipped Qwen-Image-Edit workflow (``workflows/api/qwen_image_edit_found_object.json``),
run in-process through ComfyUI's own executor (``validate_prompt``, then ``PromptExecutor``,
as the server runs a queued prompt), on ComfyUI 0.33.

Why not through ``/prompt`` on a server, as ``test_server.py`` runs the other workflows
(:data:`test_server.IN_PROCESS`): ComfyUI detects a Qwen-Image diffusion model only at its full
widths (``comfy/model_detection.py`` reads the depth and the input channels; the hidden size
3072 and the text width 3584 are fixed), so its text must be 3584 wide, and the one text
encoder that makes it, Qwen2.5-VL 7B, CLIPLoader builds from a fixed config whatever the file
holds (28 layers, hidden 3584, a 1280-wide vision tower: 7.7 B parameters, 15.5 GB in bf16,
7.7 GB in fp8; this machine has 23 GB for several workers). No tiny one loads, and no other
text encoder ComfyUI loads is 3584 wide.

So every node of the workflow runs as ComfyUI runs it but CLIPLoader, whose place a test node
takes that hands on :func:`family_models.qwen_stand_in_clip` (3584-wide text made by hand;
TextEncodeQwenImageEditPlus, called by Edit by Text for each line, hands it the crop for the
vision tower and adds the crop's latent as the reference): LoadImage, the Pinpoint loaders
(the rigged DETR: a known box), UNETLoader on :func:`family_models.write_qwen_image` (full
width, depth 1: ComfyUI's detection reads it as QwenImage), ModelSamplingAuraFlow, VAELoader on
the tiny Wan 2.1 VAE, Edit by Text in instruct mode, Save Image. One step at cfg 1 on a 64-pixel
crop: TextEncodeQwenImageEditPlus scales the reference to about one megapixel (4096 tokens at
width 3072), about 35 s a model call here. ComfyUI 0.3.64 reads the Wan VAE only at full width:
skipped there.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from node_calls import pack_module
from PIL import Image
from route_checks import check_edited_only_inside
from test_families import skip_reason
from test_server import IMAGE_SIZE, tiny_prompt

NAME = "qwen_image_edit_found_object"
STAND_IN = "PinpointTestQwenTextEncoder"
"""The test node that takes CLIPLoader's place."""
EXTRAS = ("nodes_model_advanced.py", "nodes_mask.py")
"""ComfyUI's extra node files (``comfy_extras/``) the run uses: ModelSamplingAuraFlow's, and
the mask nodes ``tiny_prompt`` adds (SolidMask, MaskComposite, MaskToImage)."""


@pytest.fixture(scope="module")
def qwen_files(comfyui, tmp_path_factory) -> dict[str, str]:
    """The full-width Qwen-Image of depth 1 (``diffusion_models/``) and the tiny Wan 2.1 VAE
    (``vae/``) in a folder ComfyUI lists: ``{"QwenImage", "vae"}`` → file name."""
    reason = skip_reason("QwenImage")
    if reason:
        pytest.skip(reason)
    from family_models import write_qwen_image, write_wan_vae

    root = tmp_path_factory.mktemp("qwen-models")
    model = write_qwen_image(root / "diffusion_models" / "tiny-qwen-image-edit.safetensors")
    vae = write_wan_vae(root / "vae" / "tiny-wan-2.1-vae.safetensors")
    for path in (model, vae):
        comfyui.folder_paths.add_model_folder_path(path.parent.name, str(path.parent))
    return {"QwenImage": model.name, "vae": vae.name}


class Server:
    """What ComfyUI's executor reports to: nothing is sent (no client)."""

    client_id = None
    last_node_id = None

    def send_sync(self, event, data, sid=None) -> None:
        pass


def execute(comfyui, prompt: dict) -> dict:
    """``prompt`` validated and run by ComfyUI's executor; its outputs, as ``/history`` lists
    them (node id → ``{"images": [...]}``). ComfyUI's extra node files it needs
    (:data:`EXTRAS`) are loaded first, as its start loads them."""
    import asyncio
    import os

    import execution

    extras = os.path.join(os.path.dirname(comfyui.nodes.__file__), "comfy_extras")
    for name in EXTRAS:
        path = os.path.join(extras, name)
        assert asyncio.run(comfyui.nodes.load_custom_node(path, module_parent="comfy_extras"))
    valid, error, outputs, node_errors = asyncio.run(
        execution.validate_prompt("pinpoint-test", prompt, None)
    )
    assert valid, (error, node_errors)
    executor = execution.PromptExecutor(
        Server(), cache_type=execution.CacheType.CLASSIC, cache_args={"ram": 0, "ram_inactive": 0}
    )
    executor.execute(prompt, "pinpoint-test", {}, outputs)
    assert executor.success, executor.status_messages
    return executor.history_result["outputs"]


def test_qwen_image_edit_workflow_edits_only_the_found_object(
    comfyui, facts, comfy_models, qwen_files, monkeypatch
):
    """The workflow, its text encoder stood in for (module docstring), edits the object the
    rigged detector finds and nothing outside its settle ring (bit-identical in the saved
    PNG); TextEncodeQwenImageEditPlus handed the crop (384² in area) to the text encoder with
    the instruction and with the negative, and the model read one reference latent: the crop
    scaled to about one megapixel (a Wan latent ``[1, 16, 1, h, w]``, 8x)."""
    import comfy.ldm.qwen_image.model as qwen
    import family_models

    clip = family_models.qwen_stand_in_clip()

    class TextEncoder:
        """Stands in for CLIPLoader's Qwen2.5-VL 7B (see the module docstring)."""

        RETURN_TYPES = ("CLIP",)
        FUNCTION = "load"
        CATEGORY = "testing"

        @classmethod
        def INPUT_TYPES(cls) -> dict:
            return {"required": {}}

        def load(self):
            return (clip,)

    references: list[list[tuple[int, ...]]] = []
    forward = qwen.QwenImageTransformer2DModel.forward

    def watched(self, x, timestep, context, *args, ref_latents=None, **kwargs):
        references.append([tuple(ref.shape) for ref in ref_latents or []])
        return forward(self, x, timestep, context, *args, ref_latents=ref_latents, **kwargs)

    monkeypatch.setattr(qwen.QwenImageTransformer2DModel, "forward", watched)
    monkeypatch.setitem(comfyui.nodes.NODE_CLASS_MAPPINGS, STAND_IN, TextEncoder)
    width, height = IMAGE_SIZE
    pixels = np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(f"{comfyui.folder_paths.get_input_directory()}/qwen-test.png")
    prompt, ids = tiny_prompt(facts, comfy_models, NAME, "qwen-test.png", IMAGE_SIZE, qwen_files)
    (loader,) = [key for key, node in prompt.items() if node["class_type"] == "CLIPLoader"]
    prompt[loader] = {"class_type": STAND_IN, "inputs": {}}
    prompt[ids["inpaint"]]["inputs"] |= dict(steps=1, cfg=1.0)
    outputs = execute(comfyui, json.loads(json.dumps(prompt)))

    folder = comfyui.folder_paths.get_output_directory()
    images = {}
    for role in ("edited", "input", "mask"):
        saved = outputs[ids[role]]["images"][0]
        path = f"{folder}/{saved['subfolder']}/{saved['filename']}"
        images[role] = np.asarray(Image.open(path).convert("RGB"))
    follow_px = pack_module(comfyui, "pinpoint.settle").EDITOR_SETTLE.follow_px
    check_edited_only_inside(prompt, ids, images, pixels, follow_px)
    assert len(clip.images) == 2  # the instruction's encoding and the negative's
    for seen in clip.images:
        assert seen.shape[-1] == 3 and abs(seen.shape[1] * seen.shape[2] - 384**2) < 384 * 8
    ((reference,),) = references  # one step at cfg 1: one model call, one reference
    assert reference[:3] == (1, 16, 1) and abs(reference[3] * reference[4] * 64 / 2**20 - 1) < 0.05
