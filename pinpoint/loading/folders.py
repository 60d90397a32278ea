"""Where model folders live and how they are listed and found (checks of their contents: checks.py).

Most models are Hugging Face folders (what ``hf download <repo> --local-dir <folder>`` writes),
kept under the ComfyUI models directory: ``models/pinpoint_detectors/detr-resnet-50``,
``models/pinpoint_clip/clip-vit-base-patch32``,
``models/pinpoint_inpaint/stable-diffusion-inpainting`` (or ``models/diffusers/...``).
Segment Anything is one checkpoint file in ComfyUI's shared ``models/sams`` folder
(``models/sams/sam_vit_b_01ec64.pth``). Nothing here imports transformers or diffusers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import PinpointError
from .model_kind import ModelKind
from .transformers_folder import belongs_elsewhere

MAX_DEPTH = 3  # models/pinpoint_detectors/<org>/<family>/<model> is as deep as we look


def config_model_type(folder: Path) -> str | None:
    """The ``model_type`` of a folder's ``config.json``, if it has a readable one."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config.get("model_type") if isinstance(config, dict) else None


def default_search_dirs(kind: ModelKind, models_root: Path) -> list[Path]:
    """``[models_root/<kind.folder>, models_root/<extra folder>, ...]``, the CLI's search order.

    ComfyUI nodes pass the directories ``folder_paths`` knows instead.
    """
    return [Path(models_root) / name for name in (kind.folder, *kind.extra_folders)]


def _list_dirs(search_dirs: Iterable[Path], kind: ModelKind) -> list[str]:
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


def _list_files(search_dirs: Iterable[Path], kind: ModelKind) -> list[str]:
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
        return _list_files(search_dirs, kind)
    return _list_dirs(search_dirs, kind)


def find_model(name: str, search_dirs: Sequence[Path], kind: ModelKind) -> Path:
    """Resolve a model of ``kind`` from a name :func:`list_installed` gives, or a path.

    Names are looked up in ``search_dirs`` first (in order), then ``name`` is tried as an
    absolute or working-directory-relative path. A single-file kind (SAM) resolves to a file,
    every other kind to a folder; the contents are checked by the loader.

    Raises:
        PinpointError: naming every searched directory and what to download where.
    """
    single_file = bool(kind.suffixes)
    what = kind.title if single_file else f"{kind.title} folder"
    text = str(name).strip()
    search = [Path(directory) for directory in search_dirs]
    target = (search[0] if search else Path("models") / kind.folder) / kind.example_dir
    if not text:
        raise PinpointError(f"no {what} was given", kind.download_hint(target))
    candidate = Path(text).expanduser()
    candidates = [] if candidate.is_absolute() else [directory / candidate for directory in search]
    candidates.append(candidate)
    for path in candidates:
        if path.is_file() if single_file else path.is_dir():
            return path.resolve()
    if single_file and any(path.is_dir() for path in candidates):
        folder = next(path for path in candidates if path.is_dir())
        raise PinpointError(
            f"{text!r} is a folder, but a {kind.title} is a single file",
            f"pick {kind.expected_files}; "
            + kind.download_hint(target)
            + belongs_elsewhere(folder, config_model_type(folder)),
        )
    if not single_file and any(path.is_file() for path in candidates):
        raise PinpointError(
            f"{text!r} is a file, but a {kind.title} is a folder in the Hugging Face layout",
            f"pass the folder that holds {kind.expected_files}; " + kind.download_hint(target),
        )
    searched = ", ".join(str(directory) for directory in search) or "no model folders"
    installed = list_installed(search, kind)
    choose = f"pick one of {', '.join(installed)}, or " if installed else ""
    raise PinpointError(
        f"{what} {text!r} was not found (searched {searched})",
        choose + kind.download_hint(target),
    )
