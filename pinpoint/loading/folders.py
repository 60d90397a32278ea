"""Where model folders live, how they are listed and found, and the checks shared by the loaders.

Every model is a Hugging Face folder (what ``hf download <repo> --local-dir <folder>`` writes),
kept under the ComfyUI models directory: ``models/pinpoint_detectors/detr-resnet-50``,
``models/pinpoint_clip/clip-vit-base-patch32``,
``models/pinpoint_inpaint/stable-diffusion-inpainting`` (or ``models/diffusers/...``).
Nothing here imports diffusers; transformers only when a wrong folder is reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        example_dir: the folder name that repo is downloaded into.
    """

    key: str
    title: str
    folder: str
    extra_folders: tuple[str, ...]
    marker: str
    expected_files: str
    example_repo: str
    example_dir: str

    def download_hint(self, target: Path) -> str:
        """How to download the example model into ``target``, as a sentence fragment."""
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

KINDS = (DETECTOR, CLIP, INPAINT)


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


# Checks shared by the loaders -----------------------------------------------------------------


def redownload_fix(kind: ModelKind, path: Path) -> str:
    """The remedy for an incomplete or damaged model folder."""
    return (
        f"re-download the model into {path}; the folder must hold {kind.expected_files} "
        f"(e.g. `hf download <repo id> --local-dir {path}`)"
    )


def check_model_dir(path: Path, kind: ModelKind, where: str) -> Path:
    """``path`` as a resolved, existing, non-empty folder; a PinpointError otherwise."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise PinpointError(
            where,
            f"{kind.title} folder {str(path)!r} does not exist",
            kind.download_hint(path.parent / kind.example_dir),
        )
    if not path.is_dir():
        raise PinpointError(
            where,
            f"{str(path)!r} is a file, but a {kind.title} is a folder in the Hugging Face layout",
            f"pass the folder that holds {kind.expected_files}",
        )
    if not any(entry for entry in path.iterdir() if not entry.name.startswith(".")):
        raise PinpointError(
            where,
            f"{kind.title} folder '{path.name}' is empty ({path})",
            redownload_fix(kind, path),
        )
    return path


def folder_listing(path: Path, limit: int = 8) -> str:
    """A short 'found: a, b, c' description of what ``path`` holds, for error messages."""
    names = sorted(
        entry.name + ("/" if entry.is_dir() else "")
        for entry in path.iterdir()
        if not entry.name.startswith(".")
    )
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"found: {', '.join(names[:limit])}{more}"


def read_json(path: Path, file_name: str, kind: ModelKind, where: str) -> dict[str, Any]:
    """Parse ``path/file_name`` as a JSON object; missing or malformed → PinpointError."""
    file = path / file_name
    if not file.is_file():
        raise PinpointError(
            where,
            f"'{path.name}' has no {file_name} ({folder_listing(path)}), so it is not a "
            f"complete {kind.title} ({path})",
            redownload_fix(kind, path),
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PinpointError(
            where,
            f"{file_name} in '{path.name}' is not valid JSON ({err}); the download may be "
            f"incomplete ({path})",
            redownload_fix(kind, path),
        ) from err
    if not isinstance(data, dict):
        raise PinpointError(
            where,
            f"{file_name} in '{path.name}' holds a JSON {type(data).__name__}, "
            f"not an object ({path})",
            redownload_fix(kind, path),
        )
    return data


def describe_config(config: dict[str, Any]) -> str:
    """``"a clip model (CLIPModel)"`` from a transformers config.json, for messages."""
    model_type = config.get("model_type") or "unknown"
    architectures = config.get("architectures") or []
    names = f" ({', '.join(str(name) for name in architectures)})" if architectures else ""
    return f"a {model_type} model{names}"


def detection_model_types() -> set[str]:
    """transformers' object-detection ``model_type`` names (imports transformers)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES

    return set(MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES)


def belongs_elsewhere(path: Path, model_type: str | None) -> str:
    """A hint naming the loader and folder a misplaced model belongs to ('' when unknown)."""
    if (path / INPAINT.marker).is_file():
        return "; diffusers pipelines go in models/pinpoint_inpaint and 'Load Inpaint Pipeline'"
    if model_type == "clip":
        return "; CLIP models go in models/pinpoint_clip and 'Load CLIP Matcher'"
    if model_type and model_type in detection_model_types():
        return "; object detectors go in models/pinpoint_detectors and 'Load Detector'"
    return ""


def require_any(path: Path, names: Sequence[str], what: str, kind: ModelKind, where: str) -> Path:
    """The first of ``names`` that exists in ``path``; none → PinpointError naming them all."""
    for name in names:
        if (path / name).is_file():
            return path / name
    listed = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
    raise PinpointError(
        where,
        f"'{path.name}' has no {what} ({listed}; {folder_listing(path)}) ({path})",
        redownload_fix(kind, path),
    )


def load_failed(kind: ModelKind, path: Path, err: BaseException, where: str) -> PinpointError:
    """The error for a folder that passed the checks but that the library failed to load."""
    text = " ".join(str(err).split())[:400] or type(err).__name__
    problem = f"'{path.name}' could not be loaded ({text})"
    return PinpointError(where, problem, redownload_fix(kind, path))


WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
