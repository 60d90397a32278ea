"""Folder checks shared by the loaders: run before a library is asked to load anything, so a
missing, incomplete or misplaced model is reported with the folder, the files and the fix."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import PinpointError
from .model_kind import ModelKind


def redownload_fix(kind: ModelKind, path: Path) -> str:
    """The remedy for an incomplete or damaged model folder."""
    return (
        f"re-download the model into {path}; the folder must hold {kind.expected_files} "
        f"(e.g. `hf download <repo id> --local-dir {path}`)"
    )


def check_model_dir(path: Path, kind: ModelKind) -> Path:
    """``path`` as a resolved, existing, non-empty folder; a PinpointError otherwise."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise PinpointError(
            f"{kind.title} folder {str(path)!r} does not exist",
            kind.download_hint(path.parent / kind.example_dir),
        )
    if not path.is_dir():
        raise PinpointError(
            f"{str(path)!r} is a file, but a {kind.title} is a folder in the Hugging Face layout",
            f"pass the folder that holds {kind.expected_files}",
        )
    if not any(entry for entry in path.iterdir() if not entry.name.startswith(".")):
        raise PinpointError(
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


def read_json(path: Path, file_name: str, kind: ModelKind) -> dict[str, Any]:
    """Parse ``path/file_name`` as a JSON object; missing or malformed → PinpointError."""
    file = path / file_name
    if not file.is_file():
        raise PinpointError(
            f"'{path.name}' has no {file_name} ({folder_listing(path)}), so it is not a "
            f"complete {kind.title} ({path})",
            redownload_fix(kind, path),
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PinpointError(
            f"{file_name} in '{path.name}' is not valid JSON ({err}); the download may be "
            f"incomplete ({path})",
            redownload_fix(kind, path),
        ) from err
    if not isinstance(data, dict):
        raise PinpointError(
            f"{file_name} in '{path.name}' holds a JSON {type(data).__name__}, "
            f"not an object ({path})",
            redownload_fix(kind, path),
        )
    return data


def auto_model_types(mapping: str) -> frozenset[str]:
    """The ``model_type`` names of one of transformers' auto-class mappings, e.g.
    ``"MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES"`` (imports transformers)."""
    from transformers.models.auto import modeling_auto

    return frozenset(getattr(modeling_auto, mapping))


def describe_config(config: Mapping[str, Any]) -> str:
    """``"a clip model (CLIPModel)"`` from a transformers config.json, for messages."""
    model_type = config.get("model_type") or "unknown"
    architectures = config.get("architectures") or []
    names = f" ({', '.join(str(name) for name in architectures)})" if architectures else ""
    return f"a {model_type} model{names}"


def require_any(path: Path, names: Sequence[str], what: str, kind: ModelKind) -> Path:
    """The first of ``names`` that exists in ``path``; none → PinpointError naming them all."""
    for name in names:
        if (path / name).is_file():
            return path / name
    listed = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
    raise PinpointError(
        f"'{path.name}' has no {what} ({listed}; {folder_listing(path)}) ({path})",
        redownload_fix(kind, path),
    )


def require_tokenizer(path: Path, kind: ModelKind, wordpiece: bool = False) -> None:
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
        f"'{path.name}' has no tokenizer files ({listed}; {folder_listing(path)}) ({path})",
        redownload_fix(kind, path),
    )


def load_failed(kind: ModelKind, path: Path, err: BaseException) -> PinpointError:
    """The error for a folder that passed the checks but that the library failed to load."""
    text = " ".join(str(err).split())[:400] or type(err).__name__
    problem = f"'{path.name}' could not be loaded ({text})"
    return PinpointError(problem, redownload_fix(kind, path))


WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
