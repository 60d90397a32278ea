"""Editing many images in one run: the inputs a folder or a glob names, one output per input,
items already done skipped (a stopped run resumes), a failing item reported and the run going
on, and a summary at the end. Outputs are written whole or not at all
(:func:`pinpoint.images.save_image` writes to a temporary name, then renames)."""

from __future__ import annotations

import glob
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PinpointError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
"""What a folder's images may end with (case ignored); other files are left alone."""


@dataclass(frozen=True)
class Item:
    """One image to edit.

    Attributes:
        source: the input image.
        out: where its edit goes.
        preview: where its preview goes, if asked for.
    """

    source: Path
    out: Path
    preview: Path | None = None


def folder_images(folder: Path) -> list[Path]:
    """The images (:data:`IMAGE_SUFFIXES`) of ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _inputs(image: str) -> list[Path]:
    """The images ``image`` names: a folder's images, or a glob's matches, sorted."""
    path = Path(image).expanduser()
    if path.is_dir():
        found = folder_images(path)
    else:
        found = [Path(p) for p in glob.glob(str(path)) if Path(p).is_file()]
    if not found:
        raise PinpointError(
            f"'{image}' names no image files",
            "give an image file, a folder of images (PNG, JPEG, WebP) or a glob such as "
            "'photos/*.jpg' (in quotes, so the shell leaves it to Pinpoint)",
        )
    return sorted(found)


def plan_folder_edits(image: str, out: str, preview: str | None = None) -> tuple[list[Item], bool]:
    """The items of a run and whether it is a batch.

    A single existing file is one item written to ``out`` itself; a folder or glob is a batch:
    ``out`` (and ``preview``) are folders, each input's edit goes to ``<out>/<stem>.png``.

    Raises:
        PinpointError: nothing to read, an output folder that is a file, or two inputs with
            the same stem.
    """
    if Path(image).expanduser().is_file():
        item = Item(Path(image), Path(out), Path(preview) if preview else None)
        return [item], False
    sources = _inputs(image)
    folders = {"--out": Path(out)} | ({"--preview": Path(preview)} if preview else {})
    for flag, folder in folders.items():
        if folder.exists() and not folder.is_dir():
            raise PinpointError(
                f"{flag} {folder} is a file, but several images need a folder",
                f"give {flag} a folder (it is created if missing)",
            )
    stems: dict[str, Path] = {}
    for source in sources:
        if source.stem in stems:
            raise PinpointError(
                f"'{source.name}' and '{stems[source.stem].name}' would both be written as "
                f"{source.stem}.png",
                "rename one of them or edit them in separate runs",
            )
        stems[source.stem] = source
    pictures = folders.get("--preview")
    return [
        Item(s, Path(out) / f"{s.stem}.png", pictures / f"{s.stem}.png" if pictures else None)
        for s in sources
    ], True


@dataclass
class Summary:
    """How a run went: items edited, skipped (done before) and failed (with the reason)."""

    edited: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [
            f"{len(self.edited)} edited, {len(self.skipped)} already done (skipped), "
            f"{len(self.failed)} failed"
        ]
        lines += [f"  failed: {source}: {reason}" for source, reason in self.failed.items()]
        return "\n".join(lines)


def run_folder_edits(
    items: list[Item],
    work: Callable[[Item], None],
    report: Callable[[str], None],
    overwrite: bool = False,
) -> Summary:
    """Edit every item with ``work``, skipping those whose output exists (unless
    ``overwrite``); a :class:`PinpointError` of one item is reported and the run goes on.

    Args:
        report: called with one line per item (``[3/10] cat.jpg: edited in 2.1s (about 14s
            left)``).
    """
    summary = Summary()
    todo = [item for item in items if overwrite or not item.out.exists()]
    summary.skipped = [item.source for item in items if item not in todo]
    started = time.perf_counter()
    for done, item in enumerate(todo, start=1):
        began = time.perf_counter()
        try:
            work(item)
        except PinpointError as err:
            summary.failed[item.source] = str(err)
            outcome = f"failed: {err}"
        else:
            summary.edited.append(item.source)
            outcome = f"edited in {time.perf_counter() - began:.1f}s"
        left = (time.perf_counter() - started) / done * (len(todo) - done)
        eta = f" (about {left:.0f}s left)" if done < len(todo) else ""
        report(f"[{done}/{len(todo)}] {item.source.name}: {outcome}{eta}")
    return summary
