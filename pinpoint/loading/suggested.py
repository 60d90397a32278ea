"""The models the README suggests, where each goes, and the one command line that fetches each
by hand; ``python -m pinpoint download`` fetches the same files (:mod:`pinpoint.download`).
Nothing here reaches the network."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from .kinds import (
    CLIP,
    CLIPSEG,
    DETECTOR,
    DINO,
    INPAINT,
    MATTE,
    SAM,
    SAM_FOLDER,
    SEGMENTER,
    TEXT_SEGMENTER,
    ModelKind,
)


@dataclass(frozen=True)
class Suggested:
    """One suggested model.

    Attributes:
        kind: what it is (and so the ``models/<folder>`` it goes in).
        repo: the Hugging Face repository it comes from.
        name: the folder (or, for a single-file kind, the file) under ``models/<kind.folder>``.
        include, exclude: which of the repository's files to take (glob patterns; empty: all).
        file: for a single-file kind, the file's path in the repository.
    """

    kind: ModelKind
    repo: str
    name: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    file: str = ""

    def target(self, root: Path) -> Path:
        """Where it goes under the models root ``root``."""
        return Path(root) / self.kind.folder / self.name

    @property
    def url(self) -> str:
        """The single file's download URL (a folder's repository page otherwise)."""
        if self.file:
            return f"https://huggingface.co/{self.repo}/resolve/main/{self.file}"
        return f"https://huggingface.co/{self.repo}"

    def command(self, root: Path | str = "models") -> str:
        """The shell command that fetches it by hand into ``root`` (the README's lines)."""
        target = shlex.quote(str(self.target(Path(root))))
        if self.file:
            return f"curl -L --create-dirs -o {target} {self.url}"
        words = [f"hf download {self.repo} --local-dir {target}"]
        if self.include:
            words.append("--include " + " ".join(f'"{p}"' for p in self.include))
        if self.exclude:
            words.append("--exclude " + " ".join(f'"{p}"' for p in self.exclude))
        return " ".join(words)


def _pipeline(*components: str) -> tuple[str, ...]:
    """The files of a diffusers pipeline with these component folders (not the single-file
    checkpoints some repositories also hold)."""
    return ("model_index.json", *(f"{name}/*" for name in components))


FLUX = ("transformer", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2")
"""The component folders of a FLUX.1 pipeline (and its scheduler/)."""

SUGGESTED = (
    Suggested(DETECTOR, "facebook/detr-resnet-50", "detr-resnet-50"),
    Suggested(CLIP, "openai/clip-vit-base-patch32", "clip-vit-base-patch32"),
    Suggested(
        INPAINT,
        "stable-diffusion-v1-5/stable-diffusion-inpainting",
        "stable-diffusion-inpainting",
        include=_pipeline("unet", "vae", "text_encoder", "tokenizer", "scheduler"),
        exclude=("*.bin", "*.ckpt", "*fp16*"),
    ),
    Suggested(DETECTOR, "google/owlv2-base-patch16-ensemble", "owlv2-base-patch16-ensemble"),
    Suggested(
        SAM_FOLDER,
        "facebook/sam2.1-hiera-small",
        "sam2.1-hiera-small",
        include=("*.json", "model.safetensors"),
    ),
    Suggested(
        SAM,
        "ybelkada/segment-anything",
        "sam_vit_b_01ec64.pth",
        file="checkpoints/sam_vit_b_01ec64.pth",
    ),
    Suggested(
        TEXT_SEGMENTER,
        "facebook/sam3",
        "sam3",
        include=("*.json", "model.safetensors", "*.txt"),
    ),
    Suggested(
        TEXT_SEGMENTER,
        "florence-community/Florence-2-base",
        "Florence-2-base",
        include=("*.json", "model.safetensors", "*.txt"),
    ),
    Suggested(
        SEGMENTER,
        "nvidia/segformer-b0-finetuned-ade-512-512",
        "segformer-b0-finetuned-ade-512-512",
    ),
    Suggested(CLIPSEG, "CIDAS/clipseg-rd64-refined", "clipseg-rd64-refined"),
    Suggested(DINO, "facebook/dino-vits16", "dino-vits16"),
    Suggested(MATTE, "hustvl/vitmatte-small-composition-1k", "vitmatte-small-composition-1k"),
    # the other inpainting families (pinpoint/diffusers_families.py)
    Suggested(
        INPAINT,
        "diffusers/stable-diffusion-xl-1.0-inpainting-0.1",
        "stable-diffusion-xl-1.0-inpainting-0.1",
        include=("model_index.json", "*/*.json", "*/*.txt", "*/*.fp16.safetensors"),
    ),
    Suggested(
        INPAINT,
        "stabilityai/stable-diffusion-3.5-medium",
        "stable-diffusion-3.5-medium",
        include=_pipeline(
            "transformer",
            "vae",
            "text_encoder",
            "text_encoder_2",
            "text_encoder_3",
            "tokenizer",
            "tokenizer_2",
            "tokenizer_3",
            "scheduler",
        ),
    ),
    Suggested(
        INPAINT,
        "black-forest-labs/FLUX.1-Fill-dev",
        "FLUX.1-Fill-dev",
        include=_pipeline(*FLUX, "scheduler"),
    ),
    Suggested(
        INPAINT,
        "black-forest-labs/FLUX.1-Kontext-dev",
        "FLUX.1-Kontext-dev",
        include=_pipeline(*FLUX, "scheduler"),
    ),
    Suggested(
        INPAINT,
        "lodestones/Chroma1-HD",
        "Chroma1-HD",
        include=_pipeline("transformer", "vae", "text_encoder", "tokenizer", "scheduler"),
    ),
    Suggested(
        INPAINT,
        "Qwen/Qwen-Image-Edit",
        "Qwen-Image-Edit",
        include=_pipeline(
            "transformer", "vae", "text_encoder", "tokenizer", "processor", "scheduler"
        ),
    ),
    Suggested(
        INPAINT,
        "Tongyi-MAI/Z-Image-Turbo",
        "Z-Image-Turbo",
        include=_pipeline("transformer", "vae", "text_encoder", "tokenizer", "scheduler"),
    ),
)
"""In the README's order: the edit's three models first, then the other routes' (the
suggested refiner, SAM 2.1 hiera-small, before SAM vit_b: about a fifth of its time), then the
other inpainting families'."""


def suggested(name: str) -> Suggested | None:
    """The suggested model called ``name`` (its folder or file name), if there is one."""
    return next((model for model in SUGGESTED if model.name == name), None)
