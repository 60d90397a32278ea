"""The tiny SD1.5 checkpoints load through ComfyUI's own checkpoint loader as SD15 (plain and
inpainting), with every weight in the file, and encode, sample and decode to finite tensors."""

from __future__ import annotations

import filecmp
import functools
import logging
import os
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from tiny_checkpoint import CLIP, UNET, VAE, write_tiny_sd15_checkpoint

if not os.environ.get("COMFYUI_DIR"):
    pytest.skip(
        "COMFYUI_DIR is not set: these tests import ComfyUI (>= 0.3.64) in-process",
        allow_module_level=True,
    )

SIZE = 64
# ComfyUI cannot fill it from an SD1 file: process_clip_state_dict moves every
# cond_stage_model.transformer.* key under text_model. Real SD1.5 checkpoints lack it too.
UNFILLABLE = {"clip_l.transformer.text_projection.weight"}
# what comfy/sd.py and comfy/model_base.py log about keys while loading a checkpoint
KEY_REPORTS = re.compile(r"^(unet|clip) (missing|unexpected)|VAE keys|left over keys")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[bool, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        inpaint: write_tiny_sd15_checkpoint(root / f"tiny-{inpaint}.safetensors", inpaint)
        for inpaint in (False, True)
    }


def file_keys(path: Path, prefix: str, new_prefix: str = "") -> set[str]:
    with safe_open(str(path), "pt") as checkpoint:
        return {new_prefix + k[len(prefix) :] for k in checkpoint.keys() if k.startswith(prefix)}


def test_two_writes_are_identical(checkpoints, tmp_path):
    again = write_tiny_sd15_checkpoint(tmp_path / "again.safetensors", inpaint=False)
    assert filecmp.cmp(checkpoints[False], again, shallow=False)


def sample(model, positive, negative, latent: torch.Tensor, noise_mask) -> torch.Tensor:
    from comfy import sample as comfy_sample

    noise = comfy_sample.prepare_noise(latent, seed=0)
    return comfy_sample.sample(
        model, noise, 2, 5.0, "euler", "normal", positive, negative, latent,
        noise_mask=noise_mask, disable_pbar=True, seed=0,
    )  # fmt: skip


@pytest.mark.parametrize("inpaint", [False, True], ids=["sd15", "sd15-inpainting"])
def test_comfyui_loads_and_samples(comfyui, checkpoints, inpaint, caplog):
    from comfy import sd, supported_models

    path = checkpoints[inpaint]
    caplog.set_level(logging.DEBUG)
    model, clip, vae, _ = sd.load_checkpoint_guess_config(
        str(path), output_vae=True, output_clip=True, embedding_directory=None
    )
    reports = [r.getMessage() for r in caplog.records if KEY_REPORTS.search(r.getMessage())]
    assert reports == [f"clip missing: {sorted(UNFILLABLE)}"]

    config = model.model.model_config
    assert type(config) is supported_models.SD15
    assert config.inpaint_model() is inpaint
    assert config.unet_config["in_channels"] == (9 if inpaint else 4)
    assert model.model.concat_keys == (("mask", "masked_image") if inpaint else ())
    assert set(model.model.diffusion_model.state_dict()) == file_keys(path, UNET)
    assert set(vae.first_stage_model.state_dict()) == file_keys(path, VAE)
    clip_keys = file_keys(path, CLIP + "transformer.", "clip_l.transformer.")
    clip_keys |= file_keys(path, CLIP + "logit_scale", "clip_l.logit_scale")
    assert set(clip.cond_stage_model.state_dict()) - UNFILLABLE == clip_keys

    with torch.inference_mode():  # as ComfyUI's executor runs nodes
        run_pipeline(model, clip, vae, inpaint)


def run_pipeline(model, clip, vae, inpaint: bool) -> None:
    """Encode prompts and an image, sample 2 masked steps, decode: all finite and shaped."""
    import node_helpers

    image = torch.rand(1, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(0))
    latent = vae.encode(image)
    assert latent.shape == (1, 4, SIZE // 8, SIZE // 8) and torch.isfinite(latent).all()
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., 16:48, 16:48] = 1.0
    inpainting = {}
    if inpaint:  # what InpaintModelConditioning attaches
        masked = (image - 0.5) * (1.0 - mask).movedim(1, -1) + 0.5
        inpainting = {"concat_latent_image": vae.encode(masked), "concat_mask": mask}

    @functools.cache
    def encode(prompt: str):
        return clip.encode_from_tokens_scheduled(clip.tokenize(prompt))

    def run(prompt: str, **values) -> torch.Tensor:
        """2 steps with the mask as the latent noise mask (what SetLatentNoiseMask sets too)."""
        positive, negative = (
            node_helpers.conditioning_set_values(encode(text), {**inpainting, **values})
            for text in (prompt, "")
        )
        return sample(model, positive, negative, latent, noise_mask=mask)

    cond = encode("a red apple")[0][0]
    assert cond.shape == (1, 77, 768) and torch.isfinite(cond).all()
    assert not torch.equal(cond, encode("")[0][0])

    samples = run("a red apple")
    assert samples.shape == latent.shape and torch.isfinite(samples).all()
    assert not torch.allclose(samples, run("a blue car"))  # the prompt reaches the UNet
    if inpaint:  # and so do the four extra input channels
        assert not torch.allclose(samples, run("a red apple", concat_latent_image=latent * 0))

    decoded = vae.decode(samples)
    assert decoded.shape == (1, SIZE, SIZE, 3) and torch.isfinite(decoded).all()
    assert 0.0 <= float(decoded.min()) and float(decoded.max()) <= 1.0
