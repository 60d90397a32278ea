"""Random-weight TAESD files in ComfyUI's ``models/vae_approx`` layout (the real architecture:
it is small, about 1.2 M weights per half)."""

from __future__ import annotations

from pathlib import Path

from ._build import build_file


def build_tiny_taesd(folder: Path, name: str = "taesd") -> tuple[Path, Path]:
    """``<name>_encoder.pth`` and ``<name>_decoder.pth`` in ``folder``: a random diffusers
    ``AutoencoderTiny`` written as the plain ``nn.Sequential`` state dicts ComfyUI's VAE loader
    and :func:`pinpoint.loading.taesd.load_taesd` read (the decoder's layers one index up,
    after its clamp)."""
    from diffusers import AutoencoderTiny

    def halves() -> dict[str, dict]:
        vae = AutoencoderTiny()
        encoder = {k.removeprefix("layers."): v for k, v in vae.encoder.state_dict().items()}
        decoder = {}
        for key, value in vae.decoder.state_dict().items():
            index, _, rest = key.removeprefix("layers.").partition(".")
            decoder[f"{int(index) + 1}.{rest}"] = value
        return {"encoder": encoder, "decoder": decoder}

    return tuple(  # type: ignore[return-value]
        build_file(
            Path(folder) / f"{name}_{half}.pth",
            {"builder": "taesd", "half": half},
            lambda half=half: halves()[half],
        )
        for half in ("encoder", "decoder")
    )
