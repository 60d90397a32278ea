"""A tiny random-weight SD1.5 checkpoint that ComfyUI's ``CheckpointLoaderSimple`` loads as SD15.

One ``.safetensors`` file in the original single-file layout. What ComfyUI 0.3.64 fixes and what
this file shrinks:

- UNet, ``model.diffusion_model.*``: ``comfy/model_detection.py detect_unet_config`` reads the
  layout from the keys and ``comfy/supported_models.py SD15`` only asks for model_channels 320,
  context_dim 768 (read from the first input-block transformer), a conv ``proj_in`` and no
  ``label_emb``. So one level holds one res block with one transformer block, the output blocks
  hold res blocks only and there is no middle block. ``in_channels`` 9 makes it an inpainting model
  (``supported_models_base.BASE.inpaint_model``).
- VAE, ``first_stage_model.*``: a TAESD, which ``comfy/sd.py VAE.__init__`` recognises by
  ``taesd_decoder.1.weight``; same 8x scale, 4 latent channels and [0, 1] image range.
- Text encoder, ``cond_stage_model.*``: the full CLIP ViT-L/14 text model, whose size comes from
  ``comfy/sd1_clip_config.json`` and not from the file: ~123M of the ~140M parameters.

Built without importing ComfyUI, so it can be written before ComfyUI picks its device.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors.torch import save_file

SEED = 0
Shapes = Iterator[tuple[str, tuple[int, ...]]]

MODEL_CHANNELS = 320  # SD15.unet_config
CONTEXT_DIM = 768  # SD15.unet_config; also the CLIP width
TIME_EMBED_DIM = 4 * MODEL_CHANNELS
LATENT_CHANNELS = 4

CLIP_LAYERS = 12  # comfy/sd1_clip_config.json, fixed whatever the file holds
CLIP_INTERMEDIATE = 3072
CLIP_VOCAB = 49408
CLIP_POSITIONS = 77

TAESD_WIDTH = 64  # comfy/taesd/taesd.py Encoder/Decoder
TAESD_SCALE = 0.18215  # the SD1 latent scale nodes.py VAELoader.load_taesd gives TAESD
LOGIT_SCALE = math.log(100.0)

UNET = "model.diffusion_model."
VAE = "first_stage_model."
CLIP = "cond_stage_model."


def _linear(name: str, n_in: int, n_out: int, bias: bool = True) -> Shapes:
    yield f"{name}.weight", (n_out, n_in)
    if bias:
        yield f"{name}.bias", (n_out,)


def _conv(name: str, n_in: int, n_out: int, kernel: int = 3, bias: bool = True) -> Shapes:
    yield f"{name}.weight", (n_out, n_in, kernel, kernel)
    if bias:
        yield f"{name}.bias", (n_out,)


def _norm(name: str, channels: int) -> Shapes:
    yield f"{name}.weight", (channels,)
    yield f"{name}.bias", (channels,)


def _res_block(name: str, n_in: int, n_out: int) -> Shapes:
    yield from _norm(f"{name}.in_layers.0", n_in)
    yield from _conv(f"{name}.in_layers.2", n_in, n_out)
    yield from _linear(f"{name}.emb_layers.1", TIME_EMBED_DIM, n_out)
    yield from _norm(f"{name}.out_layers.0", n_out)
    yield from _conv(f"{name}.out_layers.3", n_out, n_out)
    if n_in != n_out:
        yield from _conv(f"{name}.skip_connection", n_in, n_out, kernel=1)


def _attention(name: str, width: int, context: int) -> Shapes:
    yield from _linear(f"{name}.to_q", width, width, bias=False)
    yield from _linear(f"{name}.to_k", context, width, bias=False)
    yield from _linear(f"{name}.to_v", context, width, bias=False)
    yield from _linear(f"{name}.to_out.0", width, width)


def _spatial_transformer(name: str, width: int) -> Shapes:
    yield from _norm(f"{name}.norm", width)
    yield from _conv(f"{name}.proj_in", width, width, kernel=1)
    block = f"{name}.transformer_blocks.0"
    yield from _attention(f"{block}.attn1", width, width)
    yield from _linear(f"{block}.ff.net.0.proj", width, 8 * width)  # GEGLU: 2 x 4 x width
    yield from _linear(f"{block}.ff.net.2", 4 * width, width)
    yield from _attention(f"{block}.attn2", width, CONTEXT_DIM)
    for norm in ("norm1", "norm2", "norm3"):
        yield from _norm(f"{block}.{norm}", width)
    yield from _conv(f"{name}.proj_out", width, width, kernel=1)


def _unet(in_channels: int) -> Shapes:
    c = MODEL_CHANNELS
    yield from _linear("time_embed.0", c, TIME_EMBED_DIM)
    yield from _linear("time_embed.2", TIME_EMBED_DIM, TIME_EMBED_DIM)
    yield from _conv("input_blocks.0.0", in_channels, c)
    yield from _res_block("input_blocks.1.0", c, c)
    yield from _spatial_transformer("input_blocks.1.1", c)
    for index in range(2):  # num_res_blocks + 1 output blocks, each fed a skip of width c
        yield from _res_block(f"output_blocks.{index}.0", 2 * c, c)
    yield from _norm("out.0", c)
    yield from _conv("out.2", c, LATENT_CHANNELS)


def _taesd_block(name: str) -> Shapes:
    for index in (0, 2, 4):
        yield from _conv(f"{name}.conv.{index}", TAESD_WIDTH, TAESD_WIDTH)


def _taesd() -> Shapes:
    w = TAESD_WIDTH
    yield from _conv("taesd_encoder.0", 3, w)
    for index in (1, 3, 4, 5, 7, 8, 9, 11, 12, 13):
        yield from _taesd_block(f"taesd_encoder.{index}")
    for index in (2, 6, 10):  # the stride-2 convs
        yield from _conv(f"taesd_encoder.{index}", w, w, bias=False)
    yield from _conv("taesd_encoder.14", w, LATENT_CHANNELS)
    yield from _conv("taesd_decoder.1", LATENT_CHANNELS, w)
    for index in (3, 4, 5, 8, 9, 10, 13, 14, 15, 18):
        yield from _taesd_block(f"taesd_decoder.{index}")
    for index in (7, 12, 17):  # the convs after each 2x upsample
        yield from _conv(f"taesd_decoder.{index}", w, w, bias=False)
    yield from _conv("taesd_decoder.19", w, 3)


def _clip_text() -> Shapes:
    d = CONTEXT_DIM
    yield "embeddings.token_embedding.weight", (CLIP_VOCAB, d)
    yield "embeddings.position_embedding.weight", (CLIP_POSITIONS, d)
    for index in range(CLIP_LAYERS):
        layer = f"encoder.layers.{index}"
        for projection in ("q_proj", "k_proj", "v_proj", "out_proj"):
            yield from _linear(f"{layer}.self_attn.{projection}", d, d)
        yield from _norm(f"{layer}.layer_norm1", d)
        yield from _linear(f"{layer}.mlp.fc1", d, CLIP_INTERMEDIATE)
        yield from _linear(f"{layer}.mlp.fc2", CLIP_INTERMEDIATE, d)
        yield from _norm(f"{layer}.layer_norm2", d)
    yield from _norm("final_layer_norm", d)


def _random(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Matrices and kernels ~ N(0, 1/fan_in), so activations keep unit scale; 1-D tensors are
    left to the caller (norm weights 1, biases 0)."""
    fan_in = math.prod(shape[1:])
    return torch.randn(shape, generator=generator).mul_(fan_in**-0.5)


def sd15_state_dict(inpaint: bool, seed: int = SEED) -> dict[str, torch.Tensor]:
    """Every tensor of the tiny checkpoint, fp16, keyed as in ``v1-5-pruned-emaonly``."""
    shapes = [(UNET + k, s) for k, s in _unet(in_channels=9 if inpaint else LATENT_CHANNELS)]
    shapes += [(VAE + k, s) for k, s in _taesd()]
    shapes += [(f"{CLIP}transformer.text_model.{k}", s) for k, s in _clip_text()]
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for key, shape in shapes:
        if len(shape) > 1:
            tensor = _random(shape, generator)
        elif key.endswith(".weight"):
            tensor = torch.ones(shape)
        else:
            tensor = torch.zeros(shape)
        tensors[key] = tensor.half()
    tensors[VAE + "vae_scale"] = torch.tensor(TAESD_SCALE, dtype=torch.float16)
    tensors[VAE + "vae_shift"] = torch.tensor(0.0, dtype=torch.float16)
    tensors[CLIP + "logit_scale"] = torch.tensor(LOGIT_SCALE, dtype=torch.float16)
    return tensors


def write_tiny_sd15_checkpoint(path: Path, inpaint: bool) -> Path:
    """Write a random-weight SD1.5 checkpoint (``inpaint``: 9-channel inpainting UNet) to ``path``.

    Seeded: two calls write identical bytes. ComfyUI detects it as ``SD15`` and casts the fp16
    weights to its compute dtype (fp32 on CPU).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(sd15_state_dict(inpaint), str(path), metadata={"format": "pt"})
    return path
