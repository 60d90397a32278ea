"""How every tiny model is written: deterministic, idempotent (a stamp), atomic (staging folder)."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ..errors import PinpointError

BUILDER_VERSION = 1
STAMP = "pinpoint_tiny.json"
SEED = 0
NOTE = "RANDOM WEIGHTS for plumbing checks: every output of this model is noise"


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


def build(folder: Path, stamp: dict[str, Any], write: Callable[[Path], None]) -> Path:
    stamp = {**stamp, "version": BUILDER_VERSION}
    if _stamp_matches(folder, stamp):
        return folder
    if folder.exists():
        if not (folder / STAMP).is_file() and any(folder.iterdir()):
            raise PinpointError(
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
        (staging / STAMP).write_text(json.dumps({**stamp, "note": NOTE}, indent=2) + "\n")
        try:
            os.replace(staging, folder)
        except OSError:
            if not _stamp_matches(folder, stamp):  # lost a race to another complete build: fine
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def stamp_file(file: Path) -> Path:
    """The hidden sidecar that marks the single-file model ``file`` as a complete tiny build."""
    return file.with_name(f".{file.name}.{STAMP}")


def _write_atomically(file: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{file.name}.", dir=file.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a models folder is shared
        os.replace(temporary, file)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _read_stamp(file: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(stamp_file(file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {k: v for k, v in found.items() if k != "note"} if isinstance(found, dict) else None


def build_file(file: Path, stamp: dict[str, Any], state: Callable[[], dict[str, Any]]) -> Path:
    """:func:`build` for a single-file model: ``state()`` (called with the fixed seed) saved
    with ``torch.save`` as a plain state dict, like the official ``.pth`` files.

    The file is written under a hidden temporary name and renamed into place, then a hidden
    stamp sidecar (:func:`stamp_file`) marks the build complete; a matching stamp leaves the
    file alone.

    Raises:
        PinpointError: ``file`` exists but is not a Pinpoint tiny build (no stamp).
    """
    file = Path(file)
    stamp = {**stamp, "version": BUILDER_VERSION}
    if file.is_file() and _read_stamp(file) == stamp:
        return file
    if file.exists() and not stamp_file(file).is_file():
        raise PinpointError(
            f"{file} exists and is not a Pinpoint tiny-model build (no {stamp_file(file).name})",
            "remove that file or point PINPOINT_TINY_DIR somewhere else",
        )
    file.parent.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        weights = state()
    buffer = io.BytesIO()  # not a file name: torch.save names the archive after it
    torch.save(weights, buffer)
    _write_atomically(file, buffer.getvalue())
    text = json.dumps({**stamp, "note": NOTE}, indent=2) + "\n"
    _write_atomically(stamp_file(file), text.encode("utf-8"))
    return file
