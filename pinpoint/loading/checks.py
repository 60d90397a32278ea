"""Folder checks shared by the loaders: run before a library is asked to load anything, so a
missing, incomplete or misplaced model is reported with the folder, the files and the fix."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import PinpointError
from .folders import INPAINT, ModelKind


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


def open_vocabulary_model_types() -> set[str]:
    """transformers' zero-shot (text-query) object-detection ``model_type`` names: OWL-ViT,
    OWLv2, Grounding DINO ... (imports transformers)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_ZERO_SHOT_OBJECT_DETECTION_MAPPING_NAMES,
    )

    return set(MODEL_FOR_ZERO_SHOT_OBJECT_DETECTION_MAPPING_NAMES)


def segmentation_model_types() -> set[str]:
    """transformers' semantic-segmentation ``model_type`` names (imports transformers)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES,
    )

    return set(MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES)


DINO_MODEL_TYPES = ("vit", "dinov2", "dinov2_with_registers")
"""config.json ``model_type`` values 'Load DINO' takes: facebook/dino-vits16, dino-vitb8 (``vit``),
facebook/dinov2-small (``dinov2``) and facebook/dinov2-with-registers-small."""


def belongs_elsewhere(path: Path, model_type: str | None) -> str:
    """A hint naming the loader and folder a misplaced model belongs to ('' when unknown)."""
    if (path / INPAINT.marker).is_file():
        return "; diffusers pipelines go in models/pinpoint_inpaint and 'Load Inpaint Pipeline'"
    if model_type == "clip":
        return "; CLIP models go in models/pinpoint_clip and 'Load CLIP Matcher'"
    if model_type and model_type in detection_model_types():
        return "; object detectors go in models/pinpoint_detectors and 'Load Detector'"
    if model_type and model_type in open_vocabulary_model_types():
        return (
            "; open-vocabulary detectors go in models/pinpoint_detectors and 'Load Detector' "
            "(then 'Detect by Text')"
        )
    if model_type and model_type in segmentation_model_types():
        return "; segmentation models go in models/pinpoint_segmenters and 'Load Segmenter'"
    if model_type == "clipseg":
        return "; CLIPSeg models go in models/pinpoint_clipseg and 'Load CLIPSeg'"
    if model_type in DINO_MODEL_TYPES:
        return "; DINO/ViT backbones go in models/pinpoint_dino and 'Load DINO'"
    return ""


def read_model_config(
    path: Path,
    kind: ModelKind,
    where: str,
    accepted: Callable[[str | None], bool],
    requirement: str = "",
    pick: str = "",
) -> dict[str, Any]:
    """Read a transformers model folder's ``config.json`` and check its ``model_type``.

    Args:
        accepted: whether a ``model_type`` is one ``kind`` can load.
        requirement: appended to the problem, e.g. " (config.json model_type must be 'clip')".
        pick: the start of the fix, e.g. "pick a folder with a full CLIP model; ".

    Raises:
        PinpointError: for a diffusers pipeline folder or a model of another type, naming the
            folder, what it holds, how to download the right model and, when the folder is a
            model another Pinpoint loader reads, that loader.
    """
    article = "an" if kind.title[0].lower() in "aeiou" else "a"
    not_it = f"not {article} {kind.title}"
    fix = pick + kind.download_hint(path.parent / kind.example_dir)
    if (path / "model_index.json").is_file() and not (path / "config.json").is_file():
        raise PinpointError(
            where,
            f"'{path.name}' is a diffusers pipeline, {not_it} ({path})",
            fix + belongs_elsewhere(path, None),
        )
    config = read_json(path, "config.json", kind, where)
    model_type = config.get("model_type")
    if not accepted(model_type):
        raise PinpointError(
            where,
            f"'{path.name}' is {describe_config(config)}, {not_it}{requirement} ({path})",
            fix + belongs_elsewhere(path, model_type),
        )
    return config


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


def require_tokenizer(path: Path, kind: ModelKind, where: str, wordpiece: bool = False) -> None:
    """Raise unless ``path`` holds tokenizer files: CLIP's BPE pair (vocab.json + merges.txt) or
    tokenizer.json, or with ``wordpiece`` also BERT's vocab.txt (Grounding DINO)."""
    has_bpe = (path / "vocab.json").is_file() and (path / "merges.txt").is_file()
    has_wordpiece = wordpiece and (path / "vocab.txt").is_file()
    if has_bpe or has_wordpiece or (path / "tokenizer.json").is_file():
        return
    listed = (
        "vocab.json and merges.txt, " + ("vocab.txt, " if wordpiece else "") + "or tokenizer.json"
    )
    raise PinpointError(
        where,
        f"'{path.name}' has no tokenizer files ({listed}; {folder_listing(path)}) ({path})",
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
