"""A process-wide cache of loaded models, so two loader calls for the same files share one object.

Entries are weak: a model stays cached only while something (a ComfyUI output cache, the CLI)
holds it, so the cache never keeps gigabytes alive on its own. The key includes every file's
modification time, so re-downloading a folder loads it again.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import torch

log = logging.getLogger("pinpoint")

T = TypeVar("T")

_entries: weakref.WeakValueDictionary[tuple[Any, ...], Any] = weakref.WeakValueDictionary()
_lock = threading.RLock()
_FINGERPRINT_SUFFIXES = {".json", ".safetensors", ".bin", ".txt", ".model", ".pt", ".pth"}


class ModelKey(NamedTuple):
    """What identifies one load: the kind, the folder, its files' state, device and dtype."""

    kind: str
    path: Path
    files: tuple[tuple[str, int, int], ...]
    device: str
    dtype: str


def folder_fingerprint(path: Path, depth: int = 1) -> tuple[tuple[str, int, int], ...]:
    """``(relative name, mtime_ns, size)`` of the config/weight/tokenizer files in ``path`` (of
    ``path`` itself for a single-file model).

    ``depth=2`` also covers one level of sub-folders (a diffusers pipeline's ``unet/`` ...).
    """
    if path.is_file():
        stat = path.stat()
        return ((path.name, stat.st_mtime_ns, stat.st_size),)
    found: list[tuple[str, int, int]] = []
    folders = [(path, 1)]
    while folders:
        folder, level = folders.pop()
        for entry in folder.iterdir():
            if entry.name.startswith("."):
                continue
            if entry.is_dir() and level < depth:
                folders.append((entry, level + 1))
            elif entry.suffix in _FINGERPRINT_SUFFIXES and entry.is_file():
                stat = entry.stat()
                found.append((entry.relative_to(path).as_posix(), stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(found))


def model_key(
    kind: str, path: Path, device: torch.device | str, dtype: torch.dtype, depth: int = 1
) -> ModelKey:
    """The cache key for loading ``path`` as ``kind`` onto ``device`` in ``dtype``."""
    path = Path(path).resolve()
    files = folder_fingerprint(path, depth)
    return ModelKey(kind, path, files, str(torch.device(device)), str(dtype))


def cached(key: tuple[Any, ...], factory: Callable[[], T]) -> T:
    """The live object stored under ``key``, or ``factory()`` (stored weakly, then returned).

    A real load (a call of ``factory``) is logged at INFO on the ``pinpoint`` logger with the
    time it took; ``key`` is usually a :class:`ModelKey`.
    """
    with _lock:
        found = _entries.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        started = time.perf_counter()
        value = factory()
        _entries[key] = value
    seconds = time.perf_counter() - started
    if isinstance(key, ModelKey):
        log.info(
            "loaded %s '%s' from %s (%s on %s) in %.1fs",
            key.kind,
            key.path.name,
            key.path,
            key.dtype.replace("torch.", ""),
            key.device,
            seconds,
        )
    else:
        log.info("loaded %r in %.1fs", key, seconds)
    return value
