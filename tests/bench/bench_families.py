"""Benchmark 10: why Pinpoint edits a crop, not the picture, with today's transformer editors.

One denoising step of a FLUX-shaped transformer (FLUX.1's real width: 24 heads of 128, T5's
4096-wide text tokens, 512 of them; random weights, one double-stream and two single-stream
blocks instead of 19 + 38, so a step here is a fixed fraction of a real one) on:

* Pinpoint's crop: 1024x1024 pixels → 128x128 latents → 64x64 = 4096 image tokens;
* the whole 2048x1536 picture → 12288 image tokens;
* the crop with an instruction editor's reference image (Qwen-Image-Edit, FLUX Kontext: the
  reference's tokens join the sequence, doubling it) → 8192 image tokens.

Prints the seconds of each and their ratios to the crop's (one run; the ratios, not the
seconds, carry over to a GPU and to the full-depth model, since every block costs the same).

    .venv/bin/python tests/bench/bench_families.py [--blocks 1 2] [--quick]
"""

from __future__ import annotations

import argparse
import time

import torch

TEXT_TOKENS = 512
CASES = {
    "crop 1024x1024": (64, 64),
    "whole 2048x1536": (96, 128),
    "crop + reference": (64, 128),
}
"""Case → packed latent grid (rows, columns) of its image tokens."""


def transformer(double: int, single: int, quick: bool):
    """A random FluxTransformer2DModel of FLUX.1's width (a narrow one with ``quick``)."""
    from diffusers import FluxTransformer2DModel

    heads, dim = (2, 64) if quick else (24, 128)
    model = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=double,
        num_single_layers=single,
        attention_head_dim=dim,
        num_attention_heads=heads,
        joint_attention_dim=256 if quick else 4096,
        pooled_projection_dim=768,
        guidance_embeds=True,
        axes_dims_rope=(16, 56, 56) if not quick else (8, 28, 28),
    )
    return model.eval().requires_grad_(False)


def ids(rows: int, cols: int) -> torch.Tensor:
    """FLUX's position ids of a packed latent grid: ``[rows * cols, 3]``."""
    grid = torch.zeros(rows, cols, 3)
    grid[..., 1] = torch.arange(rows)[:, None]
    grid[..., 2] = torch.arange(cols)[None, :]
    return grid.reshape(-1, 3)


def step_seconds(model, rows: int, cols: int) -> float:
    """The time of one transformer call over a ``rows x cols`` token grid."""
    width = model.config.joint_attention_dim
    generator = torch.Generator().manual_seed(0)
    inputs = dict(
        hidden_states=torch.randn(1, rows * cols, 64, generator=generator),
        encoder_hidden_states=torch.randn(1, TEXT_TOKENS, width, generator=generator),
        pooled_projections=torch.randn(1, 768, generator=generator),
        timestep=torch.tensor([0.5]),
        img_ids=ids(rows, cols),
        txt_ids=torch.zeros(TEXT_TOKENS, 3),
        guidance=torch.tensor([3.5]),
    )
    with torch.inference_mode():
        started = time.perf_counter()
        model(**inputs)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, nargs=2, default=(1, 2), metavar=("DOUBLE", "SINGLE"))
    parser.add_argument("--quick", action="store_true", help="a narrow model (a smoke run)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    model = transformer(*args.blocks, args.quick)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"\n10. FLUX-shaped transformer step ({params:.0f} M parameters, random weights)")
    step_seconds(model, 8, 8)  # warm-up
    seconds = {name: step_seconds(model, *grid) for name, grid in CASES.items()}
    base = seconds["crop 1024x1024"]
    for name, value in seconds.items():
        rows, cols = CASES[name]
        print(
            f"   {name:<17} {rows * cols:6d} tokens  {value:7.2f} s  ({value / base:.2f}x the crop)"
        )


if __name__ == "__main__":
    main()
