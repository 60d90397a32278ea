"""Where model folders live and how they are listed and found (checks of their contents: checks.py).

Most models are Hugging Face folders (what ``hf download <repo> --local-dir <folder>`` writes),
kept under the ComfyUI models directory: ``models/pinpoint_detectors/detr-resnet-50``,
``models/pinpoint_clip/clip-vit-base-patch32``,
``models/pinpoint_inpaint/stable-diffusion-inpainting`` (or ``models/diffusers/...``).
Segment Anything is one checkpoint file in ComfyUI's shared ``models/sams`` folder
(``models/sams/sam_vit_b_01ec64.pth``). Nothing here imports transformers or diffusers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import PinpointError

MAX_DEPTH = 3  # models/pinpoint_detectors/<org>/<family>/<model> is as deep as we look


@dataclass(frozen=True)
class ModelKind:
    """One kind of model folder Pinpoint loads.

    Attributes:
        key: short id used by the CLI and :mod:`pinpoint.tiny` (``"detector"``, ...).
        title: human name used in messages ("object detector").
        folder: the ComfyUI models sub-folder registered for this kind.
        extra_folders: shared ComfyUI folders also searched (``diffusers``).
        marker: the file whose presence makes a folder a candidate (``config.json``).
        expected_files: what a complete folder holds, as told to users.
        example_repo: a Hugging Face repo that works, for download hints.
        example_dir: the folder name that repo is downloaded into (for a single-file kind: the
            example file's name).
        suffixes: for a single-file kind, the accepted file name endings (lower case); empty
            for folder kinds.
        download_url: for a single-file kind, where the example file is downloaded from.
    """

    key: str
    title: str
    folder: str
    extra_folders: tuple[str, ...]
    marker: str
    expected_files: str
    example_repo: str
    example_dir: str
    suffixes: tuple[str, ...] = ()
    download_url: str = ""

    def download_hint(self, target: Path) -> str:
        """How to download the example model into ``target``, as a sentence fragment."""
        if self.download_url:
            return (
                f"download {self.download_url} into the folder {target.parent}, e.g. "
                f"`curl -L --create-dirs -o {target} {self.download_url}`"
            )
        return (
            f"download {self.example_repo} ({self.expected_files}) into {target}, "
            f"e.g. `hf download {self.example_repo} --local-dir {target}` "
            "(`huggingface-cli download` on older huggingface_hub)"
        )


DETECTOR = ModelKind(
    key="detector",
    title="object detector",
    folder="pinpoint_detectors",
    extra_folders=(),
    marker="config.json",
    expected_files="config.json, model.safetensors, preprocessor_config.json",
    example_repo="facebook/detr-resnet-50",
    example_dir="detr-resnet-50",
)

CLIP = ModelKind(
    key="clip",
    title="CLIP model",
    folder="pinpoint_clip",
    extra_folders=(),
    marker="config.json",
    expected_files=(
        "config.json, model.safetensors, preprocessor_config.json, "
        "tokenizer files (vocab.json, merges.txt or tokenizer.json)"
    ),
    example_repo="openai/clip-vit-base-patch32",
    example_dir="clip-vit-base-patch32",
)

INPAINT = ModelKind(
    key="inpaint",
    title="diffusers inpainting pipeline",
    folder="pinpoint_inpaint",
    extra_folders=("diffusers",),
    marker="model_index.json",
    expected_files=(
        "model_index.json and the unet/, vae/, text_encoder/, tokenizer/, scheduler/ folders"
    ),
    example_repo="stable-diffusion-v1-5/stable-diffusion-inpainting",
    example_dir="stable-diffusion-inpainting",
)

SEGMENTER = ModelKind(
    key="segmenter",
    title="semantic segmentation model",
    folder="pinpoint_segmenters",
    extra_folders=(),
    marker="config.json",
    expected_files="config.json, model.safetensors, preprocessor_config.json",
    example_repo="nvidia/segformer-b0-finetuned-ade-512-512",
    example_dir="segformer-b0-finetuned-ade-512-512",
)

CLIPSEG = ModelKind(
    key="clipseg",
    title="CLIPSeg model",
    folder="pinpoint_clipseg",
    extra_folders=(),
    marker="config.json",
    expected_files=(
        "config.json, model.safetensors, preprocessor_config.json, "
        "tokenizer files (vocab.json, merges.txt or tokenizer.json)"
    ),
    example_repo="CIDAS/clipseg-rd64-refined",
    example_dir="clipseg-rd64-refined",
)

DINO = ModelKind(
    key="dino",
    title="self-supervised ViT (DINO)",
    folder="pinpoint_dino",
    extra_folders=(),
    marker="config.json",
    expected_files="config.json, model.safetensors, preprocessor_config.json",
    example_repo="facebook/dino-vits16",
    example_dir="dino-vits16",
)

SAM = ModelKind(
    key="sam",
    title="Segment Anything (SAM) checkpoint",
    folder="sams",  # shared with other packs (Impact Pack, ReActor ...)
    extra_folders=(),
    marker="",
    expected_files=(
        "one original SAM checkpoint file: sam_vit_b_01ec64.pth, sam_vit_l_0b3195.pth or "
        "sam_vit_h_4b8939.pth"
    ),
    example_repo="",
    example_dir="sam_vit_b_01ec64.pth",
    suffixes=(".pth", ".safetensors"),
    download_url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
)

KINDS = (DETECTOR, CLIP, INPAINT, SEGMENTER, CLIPSEG, DINO, SAM)


def default_search_dirs(kind: ModelKind, models_root: Path) -> list[Path]:
    """``[models_root/<kind.folder>, models_root/<extra folder>, ...]``, the CLI's search order.

    ComfyUI nodes pass the directories ``folder_paths`` knows instead.
    """
    return [Path(models_root) / name for name in (kind.folder, *kind.extra_folders)]


def list_model_dirs(search_dirs: Iterable[Path], kind: ModelKind) -> list[str]:
    """Names of the model folders below ``search_dirs`` that hold ``kind.marker``.

    Folders up to ``MAX_DEPTH`` levels below a search directory are considered; a folder that
    holds the marker is not searched further. Missing search directories are skipped; hidden
    folders (``.cache`` written by ``hf download``) are ignored. The model type is not checked
    here: a wrong folder is reported, with the fix, when it is loaded.

    Returns:
        sorted, de-duplicated names relative to their search directory, '/'-separated
        (``"detr-resnet-50"``, ``"facebook/detr-resnet-50"``).
    """
    names: set[str] = set()
    for search_dir in search_dirs:
        root = Path(search_dir)
        if not root.is_dir():
            continue
        for current, subdirs, _files in os.walk(root, followlinks=True):
            relative = Path(current).relative_to(root)
            depth = len(relative.parts)
            if depth and (Path(current) / kind.marker).is_file():
                names.add(relative.as_posix())
                subdirs.clear()
                continue
            if depth >= MAX_DEPTH:
                subdirs.clear()
            subdirs[:] = sorted(name for name in subdirs if not name.startswith("."))
    return sorted(names)


def find_model_dir(name: str, search_dirs: Sequence[Path], kind: ModelKind, where: str) -> Path:
    """Resolve a model folder from a name listed by :func:`list_model_dirs` or a folder path.

    Names are looked up in ``search_dirs`` first (in order), then ``name`` is tried as an
    absolute or working-directory-relative path. The folder's contents are checked by the loader.

    Raises:
        PinpointError: naming every searched directory and what to download where.
    """
    text = str(name).strip()
    search = [Path(directory) for directory in search_dirs]
    target_root = search[0] if search else Path("models") / kind.folder
    if not text:
        raise PinpointError(
            where,
            f"no {kind.title} folder was given",
            kind.download_hint(target_root / kind.example_dir),
        )
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        for directory in search:
            if (directory / candidate).is_dir():
                return (directory / candidate).resolve()
    if candidate.is_dir():
        return candidate.resolve()
    if candidate.is_file():
        raise PinpointError(
            where,
            f"{text!r} is a file, but a {kind.title} is a folder in the Hugging Face layout",
            f"pass the folder that holds {kind.expected_files}; "
            + kind.download_hint(target_root / kind.example_dir),
        )
    searched = ", ".join(str(directory) for directory in search) or "no model folders"
    installed = list_model_dirs(search, kind)
    choose = f"pick one of {', '.join(installed)}, or " if installed else ""
    raise PinpointError(
        where,
        f"{kind.title} folder {text!r} was not found (searched {searched})",
        choose + kind.download_hint(target_root / kind.example_dir),
    )


def list_model_files(search_dirs: Iterable[Path], kind: ModelKind) -> list[str]:
    """Names of the files below ``search_dirs`` whose name ends in one of ``kind.suffixes``.

    Files up to ``MAX_DEPTH`` levels below a search directory are considered (the names
    ComfyUI's ``folder_paths.get_filename_list`` gives); missing search directories, hidden
    files and hidden folders are skipped. Contents are checked when a file is loaded.

    Returns:
        sorted, de-duplicated names relative to their search directory, '/'-separated
        (``"sam_vit_b_01ec64.pth"``, ``"sam/sam_vit_h_4b8939.pth"``).
    """
    names: set[str] = set()
    for search_dir in search_dirs:
        root = Path(search_dir)
        if not root.is_dir():
            continue
        for current, subdirs, files in os.walk(root, followlinks=True):
            relative = Path(current).relative_to(root)
            names.update(
                (relative / name).as_posix()
                for name in files
                if not name.startswith(".") and name.lower().endswith(kind.suffixes)
            )
            if len(relative.parts) >= MAX_DEPTH - 1:
                subdirs.clear()
            subdirs[:] = sorted(name for name in subdirs if not name.startswith("."))
    return sorted(names)


def list_installed(search_dirs: Iterable[Path], kind: ModelKind) -> list[str]:
    """The models of ``kind`` below ``search_dirs``: files for a single-file kind, else folders."""
    if kind.suffixes:
        return list_model_files(search_dirs, kind)
    return list_model_dirs(search_dirs, kind)


def find_model_file(name: str, search_dirs: Sequence[Path], kind: ModelKind, where: str) -> Path:
    """Resolve a single-file model from a name listed by :func:`list_model_files` or a path.

    Names are looked up in ``search_dirs`` first (in order), then ``name`` is tried as an
    absolute or working-directory-relative path. The file's contents are checked by the loader.

    Raises:
        PinpointError: naming every searched directory and what to download where.
    """
    text = str(name).strip()
    search = [Path(directory) for directory in search_dirs]
    target = (search[0] if search else Path("models") / kind.folder) / kind.example_dir
    if not text:
        raise PinpointError(where, f"no {kind.title} was given", kind.download_hint(target))
    candidate = Path(text).expanduser()
    candidates = [] if candidate.is_absolute() else [directory / candidate for directory in search]
    candidates.append(candidate)
    for path in candidates:
        if path.is_file():
            return path.resolve()
    if any(path.is_dir() for path in candidates):
        raise PinpointError(
            where,
            f"{text!r} is a folder, but a {kind.title} is a single file",
            f"pick {kind.expected_files}; " + kind.download_hint(target),
        )
    searched = ", ".join(str(directory) for directory in search) or "no model folders"
    installed = list_model_files(search, kind)
    choose = f"pick one of {', '.join(installed)}, or " if installed else ""
    raise PinpointError(
        where,
        f"{kind.title} {text!r} was not found (searched {searched})",
        choose + kind.download_hint(target),
    )
