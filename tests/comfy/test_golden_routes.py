"""Golden outputs of the node routes on the tiny models (see tests/golden.py): Inpaint Region ·
diffusers and · ComfyUI model (batches, one crop per area, candidates, guidance, harmonise),
Edit by Text, and Crop for Inpaint → KSampler-free Stitch. Skipped unless PINPOINT_GOLDEN is
set."""

from __future__ import annotations

import pytest
import torch
from golden import SKIP, same_as_golden
from node_calls import clip_guidance, encode, pack_module, run
from rigs import COLOURS, point_text_at, point_texts_at, solid

pytestmark = SKIP

SQUARES = {"red": (12, 12), "green": (60, 12), "blue": (36, 60)}


def scene(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy 96x128 images with three coloured squares, and a mask of the red and blue ones."""
    image = 0.4 + 0.2 * torch.rand(batch, 96, 128, 3, generator=torch.Generator().manual_seed(4))
    mask = torch.zeros(batch, 96, 128)
    for name, (x, y) in SQUARES.items():
        image[:, y : y + 24, x : x + 24] = torch.tensor(COLOURS[name])
        if name != "green":
            mask[:, y : y + 24, x : x + 24] = 1.0
    mask[-1, 60:84, 36:60] = 0.0  # the last image: the red square alone
    return image, mask


@pytest.fixture(scope="module")
def clip(comfyui):
    name = comfyui.models["clip"].name
    loaded = run(comfyui.node("PinpointLoadCLIP"), model_name=name, precision="auto")[0]
    texts = {f"the {name} one": solid(name) for name in SQUARES}
    return point_text_at(point_texts_at(loaded, texts), solid("red"), "a red fox")


@pytest.fixture(scope="module")
def pipe(comfyui):
    name = comfyui.models["inpaint"].name
    return run(comfyui.node("PinpointLoadInpaintPipeline"), model_name=name, precision="auto")[0]


def diffusers_inputs(pipe, **overrides) -> dict:
    image, mask = scene()
    settings = dict(
        pipe=pipe,
        image=image,
        mask=mask,
        prompt="a small red fox",
        negative_prompt="blurry",
        seed=9,
        steps=2,
        cfg=6.0,
        strength=1.0,
        context=0.3,
        resolution=64,
        feather_px=4,
        split="one per masked area",
    )
    return settings | overrides


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("plain", {}),
        ("one_per_image", dict(split="one per image", harmonise=0.5)),
        ("ddim_native", dict(scheduler="DDIM", resolution=0)),
        ("no_mask", dict(mask=None, strength=0.6, scheduler="DDIM")),
    ],
)
def test_inpaint_diffusers(comfyui, pipe, name, overrides):
    inputs = {k: v for k, v in (diffusers_inputs(pipe) | overrides).items() if v is not None}
    (edited,) = run(comfyui.node("PinpointInpaintDiffusers"), **inputs).result
    same_as_golden(f"diffusers_{name}", edited)


def test_inpaint_diffusers_candidates_and_guidance(comfyui, pipe, clip):
    guidance = clip_guidance(comfyui, clip, 0.3)
    inputs = diffusers_inputs(pipe, scheduler="DDIM", candidates=2, clip=clip, guidance=guidance)
    (edited,) = run(comfyui.node("PinpointInpaintDiffusers"), **inputs).result
    same_as_golden("diffusers_candidates_guided", edited)


def comfy_inputs(checkpoint, **overrides) -> dict:
    model, text_encoder, vae = checkpoint
    image, mask = scene()
    settings = dict(
        model=model,
        vae=vae,
        positive=encode(text_encoder, "a small red fox"),
        negative=encode(text_encoder, "blurry"),
        image=image,
        mask=mask,
        seed=9,
        steps=2,
        cfg=5.0,
        sampler_name="euler",
        scheduler="normal",
        denoise=1.0,
        masked_start="auto",
        context=0.3,
        resolution=64,
        feather_px=4,
        split="one per masked area",
    )
    return settings | overrides


@pytest.mark.parametrize("inpainting", [True, False])
@pytest.mark.parametrize(
    "name, overrides",
    [
        ("plain", {}),
        ("original_start", dict(denoise=0.6, masked_start="original pixels", harmonise=0.5)),
        ("one_per_image", dict(split="one per image", sampler_name="dpmpp_2m")),
    ],
)
def test_inpaint_comfy(comfyui, checkpoints, inpainting, name, overrides):
    inputs = comfy_inputs(checkpoints[inpainting], **overrides)
    (edited,) = run(comfyui.node("PinpointInpaintComfy"), **inputs).result
    same_as_golden(f"comfy_{name}_{'inpainting' if inpainting else 'regular'}", edited)


def test_inpaint_comfy_candidates_and_guidance(comfyui, checkpoints, clip):
    guidance = clip_guidance(comfyui, clip, 0.3)
    inputs = comfy_inputs(checkpoints[False], candidates=2, clip=clip, text="a red fox")
    (edited,) = run(comfyui.node("PinpointInpaintComfy"), **inputs | dict(guidance=guidance)).result
    same_as_golden("comfy_candidates_guided", edited)


def regions_of_squares(comfyui, batch: int):
    regions = pack_module(comfyui, "pinpoint.regions")
    found = tuple(
        regions.Region((x, y, x + 24.0, y + 24.0), name, 0.9, "test", score=0.9)
        for name, (x, y) in SQUARES.items()
    )
    return regions.RegionBatch(tuple(regions.ImageRegions(128, 96, found) for _ in range(batch)))


@pytest.mark.parametrize("inpainting", [True, False])
@pytest.mark.parametrize(
    "name, edits, overrides",
    [
        ("one_line", "the red one => a small red fox", {}),
        (
            "three_lines",
            "the red one => a small red fox\nthe green one => a parrot\nthe blue one => a truck",
            dict(harmonise=0.5),
        ),
        (
            "unjoinable",
            "the red one => a fox\nthe blue one => " + ", ".join(["a truck"] * 150),
            dict(split="one per masked area"),
        ),
    ],
)
def test_edit_by_text(comfyui, checkpoints, clip, inpainting, name, edits, overrides):
    model, text_encoder, vae = checkpoints[inpainting]
    image, _ = scene()
    settings = dict(
        image=image,
        edits=edits,
        matcher=clip,
        model=model,
        clip=text_encoder,
        vae=vae,
        negative_prompt="blurry",
        seed=3,
        steps=2,
        cfg=5.0,
        sampler_name="euler",
        scheduler="normal",
        denoise=1.0,
        masked_start="auto",
        threshold=0.5,
        max_detections=20,
        labels="",
        pick="best",
        top_k=1,
        min_probability=0.0,
        if_nothing_found="error",
        grow_px=2,
        context=0.25,
        resolution=64,
        feather_px=4,
        split="one per image",
        regions=regions_of_squares(comfyui, len(image)),
    )
    output = run(comfyui.node("PinpointEditByText"), **settings | overrides)
    same_as_golden(f"edit_by_text_{name}_{'inpainting' if inpainting else 'regular'}", output[0])
