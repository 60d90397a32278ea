"""How every tiny model is written: deterministic, idempotent (a stamp), atomic (staging folder)."""

from __future__ import annotations

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
