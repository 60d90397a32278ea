"""Tiny RANDOM-WEIGHT models, saved in the same on-disk layout as the real ones.

    !!! These models are untrained. Their boxes, scores, matches and painted pixels are NOISE. !!!

They exist for plumbing checks only: tests, CI and ``python -m pinpoint edit --tiny`` run the
whole pipeline offline in seconds on a CPU, through exactly the code path (folders, loaders,
processors, diffusers pipeline) that real models take. For real edits download real models
(``python -m pinpoint models`` says which and where).

Each builder is deterministic (a fixed seed inside :func:`torch.random.fork_rng`, so the
caller's RNG is untouched), takes well under two seconds on a CPU, and is idempotent: a folder
that already holds a complete build (its ``pinpoint_tiny.json`` stamp, written last, matches)
is left alone. Builds go to a hidden sibling folder first and are renamed into place, so an
interrupted build never looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from .errors import PinpointError
from .loading.folders import CLIP, DETECTOR, INPAINT

BUILDER_VERSION = 1
STAMP = "pinpoint_tiny.json"
SEED = 0
TINY_DIRS = {
    "detector": "tiny-random-detr",
    "clip": "tiny-random-clip",
    "inpaint": "tiny-random-sd-inpaint",
}
DEFAULT_LABELS = ("car", "dog", "person", "cat", "bicycle")

# A tiny CLIP text tower: 256 byte tokens, 256 end-of-word byte tokens, <|startoftext|>,
# <|endoftext|> (the ids real CLIP uses are 49406/49407; here 512/513).
TEXT_CONFIG: dict[str, Any] = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    vocab_size=514,
    max_position_embeddings=77,
    bos_token_id=512,
    eos_token_id=513,
    pad_token_id=513,
)
VISION_CONFIG: dict[str, Any] = dict(
    image_size=32,
    patch_size=8,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
)


def default_tiny_root() -> Path:
    """``$PINPOINT_TINY_DIR``, else ``~/.cache/pinpoint/tiny-models`` (honouring XDG_CACHE_HOME)."""
    if os.environ.get("PINPOINT_TINY_DIR"):
        return Path(os.environ["PINPOINT_TINY_DIR"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "pinpoint" / "tiny-models"


def build_tiny_models(models_root: Path) -> dict[str, Path]:
    """Build (or reuse) the three tiny models where a ComfyUI user keeps real ones.

    Returns:
        ``{"detector": <root>/pinpoint_detectors/tiny-random-detr, "clip":
        <root>/pinpoint_clip/tiny-random-clip, "inpaint":
        <root>/pinpoint_inpaint/tiny-random-sd-inpaint}``.
    """
    root = Path(models_root)
    return {
        "detector": build_tiny_detector(root / DETECTOR.folder / TINY_DIRS["detector"]),
        "clip": build_tiny_clip(root / CLIP.folder / TINY_DIRS["clip"]),
        "inpaint": build_tiny_inpaint(root / INPAINT.folder / TINY_DIRS["inpaint"]),
    }


def build_tiny_detector(
    folder: Path, labels: Sequence[str] = DEFAULT_LABELS, timm_backbone: bool = False
) -> Path:
    """A random DETR (``DetrForObjectDetection`` + ``DetrImageProcessor``) in ``folder``.

    Arguments:
        folder: the model folder to write (config.json, model.safetensors,
            preprocessor_config.json).
        labels: the class names, ids in order.
        timm_backbone: use a timm ResNet backbone and write config.json the way
            facebook/detr-resnet-50 has it (``use_timm_backbone``/``use_pretrained_backbone``
            true), to prove such a folder loads offline. Needs the timm package.
    """
    labels = [str(label) for label in labels]
    arch = _timm_resnet() if timm_backbone else None
    stamp = {"builder": "detector", "labels": labels, "timm_backbone": arch}

    def write(target: Path) -> None:
        from transformers import (
            DetrConfig,
            DetrForObjectDetection,
            DetrImageProcessor,
            ResNetConfig,
        )

        heads: dict[str, Any] = dict(
            d_model=16,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=16,
            decoder_ffn_dim=16,
            num_queries=10,
            id2label=dict(enumerate(labels)),
            label2id={label: index for index, label in enumerate(labels)},
        )
        if arch is None:
            backbone = ResNetConfig(
                embedding_size=8,
                hidden_sizes=[8, 8, 8, 8],
                depths=[1, 1, 1, 1],
                out_features=["stage4"],
            )
            config = DetrConfig(
                use_timm_backbone=False,
                backbone_config=backbone,
                use_pretrained_backbone=False,
                **heads,
            )
        else:
            config = DetrConfig(
                use_timm_backbone=True, backbone=arch, use_pretrained_backbone=False, **heads
            )
        DetrForObjectDetection(config).save_pretrained(target)
        DetrImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(target)
        if arch is not None:
            _write_hub_style_timm_config(target / "config.json", arch)

    return _build(Path(folder), stamp, write)


def build_tiny_clip(folder: Path) -> Path:
    """A random ``CLIPModel`` with a ``CLIPImageProcessor`` and a byte-level ``CLIPTokenizer``.

    The folder holds what a download of openai/clip-vit-base-patch32 holds: config.json,
    model.safetensors, preprocessor_config.json, vocab.json, merges.txt and tokenizer files.
    """
    stamp = {"builder": "clip"}

    def write(target: Path) -> None:
        from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

        config = CLIPConfig(text_config=TEXT_CONFIG, vision_config=VISION_CONFIG, projection_dim=32)
        CLIPModel(config).save_pretrained(target)
        CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ).save_pretrained(target)
        _write_byte_vocab(target)
        _tiny_tokenizer(target).save_pretrained(target)

    return _build(Path(folder), stamp, write)


def build_tiny_inpaint(folder: Path) -> Path:
    """A random ``StableDiffusionInpaintPipeline`` (9-channel UNet) saved in diffusers layout.

    Native size 64 px (UNet sample size 32, VAE scale factor 2); no safety checker.
    """
    stamp = {"builder": "inpaint"}

    def write(target: Path) -> None:
        from diffusers import (
            AutoencoderKL,
            PNDMScheduler,
            StableDiffusionInpaintPipeline,
            UNet2DConditionModel,
        )
        from transformers import CLIPTextConfig, CLIPTextModel

        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            block_out_channels=(32, 64),
            latent_channels=4,
            norm_num_groups=32,
            sample_size=64,
        )
        unet = UNet2DConditionModel(
            sample_size=32,
            in_channels=9,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            block_out_channels=(32, 64),
            layers_per_block=1,
            cross_attention_dim=32,
            attention_head_dim=8,
            norm_num_groups=32,
        )
        # The scheduler settings of stable-diffusion-inpainting's scheduler_config.json.
        scheduler = PNDMScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            skip_prk_steps=True,
            set_alpha_to_one=False,
            steps_offset=1,
        )
        with tempfile.TemporaryDirectory() as vocab_dir:
            _write_byte_vocab(Path(vocab_dir))
            tokenizer = _tiny_tokenizer(Path(vocab_dir))
        pipe = StableDiffusionInpaintPipeline(
            vae=vae,
            text_encoder=CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG)),
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.save_pretrained(target)

    return _build(Path(folder), stamp, write)


# Helpers ----------------------------------------------------------------------------------------


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable character table (256 entries)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in codes), strict=True))


def _write_byte_vocab(folder: Path) -> None:
    """vocab.json (bytes, bytes + '</w>', the two special tokens) and an empty merges.txt."""
    characters = list(bytes_to_unicode().values())
    vocab = {character: index for index, character in enumerate(characters)}
    vocab.update({character + "</w>": 256 + index for index, character in enumerate(characters)})
    vocab["<|startoftext|>"] = 512
    vocab["<|endoftext|>"] = 513
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")


def _tiny_tokenizer(vocab_dir: Path) -> Any:
    from transformers import CLIPTokenizer

    # model_max_length as in real CLIP, so truncation=True keeps prompts inside 77 positions.
    return CLIPTokenizer.from_pretrained(vocab_dir, model_max_length=77, local_files_only=True)


def _timm_resnet() -> str:
    """The smallest real timm ResNet available (``test_resnet`` since timm 1.0.10)."""
    try:
        import timm
    except ImportError as err:
        raise PinpointError(
            "tiny models",
            "a timm-backbone tiny detector needs the timm package, which is not installed",
            "run `pip install timm`",
        ) from err
    return "test_resnet" if timm.list_models("test_resnet") else "resnet10t"


def _write_hub_style_timm_config(config_file: Path, arch: str) -> None:
    """Rewrite config.json the way facebook/detr-resnet-50 stores it (transformers 4.x style).

    transformers 5 saves the backbone as a nested ``backbone_config``; the Hub file instead
    says ``use_timm_backbone: true, backbone: "resnet50", use_pretrained_backbone: true``. The
    last flag is what used to trigger an ImageNet download on load.
    """
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.update(
        backbone=arch,
        backbone_config=None,
        use_timm_backbone=True,
        use_pretrained_backbone=True,
    )
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _stamp_matches(folder: Path, stamp: dict[str, Any]) -> bool:
    try:
        found = json.loads((folder / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(found, dict) and {k: v for k, v in found.items() if k != "note"} == stamp


@contextmanager
def _quiet_hf() -> Iterator[None]:
    """Hide transformers/diffusers progress bars while saving tiny models, then restore them."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    modules = [m for m in (transformers_logging, diffusers_logging) if m.is_progress_bar_enabled()]
    for module in modules:
        module.disable_progress_bar()
    try:
        yield
    finally:
        for module in modules:
            module.enable_progress_bar()


def _build(folder: Path, stamp: dict[str, Any], write: Callable[[Path], None]) -> Path:
    stamp = {**stamp, "version": BUILDER_VERSION}
    if _stamp_matches(folder, stamp):
        return folder
    if folder.exists():
        if not (folder / STAMP).is_file() and any(folder.iterdir()):
            raise PinpointError(
                "tiny models",
                f"{folder} exists and is not a Pinpoint tiny-model build (no {STAMP})",
                "remove that folder or point PINPOINT_TINY_DIR somewhere else",
            )
        shutil.rmtree(folder)  # an older tiny build (or an empty folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        with _quiet_hf(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            write(staging)
        note = "RANDOM WEIGHTS for plumbing checks: every output of this model is noise"
        (staging / STAMP).write_text(json.dumps({**stamp, "note": note}, indent=2) + "\n")
        try:
            os.replace(staging, folder)
        except OSError:
            if not _stamp_matches(folder, stamp):  # lost a race to another complete build: fine
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
