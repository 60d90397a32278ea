"""Public editing benchmarks as ``python -m pinpoint eval`` items: PIE-Bench and MagicBrush.

Each benchmark image becomes an :class:`~pinpoint.eval_items.EvalImage` with its own edit and
its truth (:class:`~pinpoint.eval_items.BenchmarkCase`): Pinpoint finds the object from the
benchmark's words (the edit's ``find``) and repaints it as its ``prompt`` says; the benchmark's
mask and edited image are read when the item is worked, so a broken mask or a missing file is
that item's failed row and the run goes on. A mapping file that cannot be read as a whole is
refused before any model loads.

* **PIE-Bench** (``DIR/mapping_file.json``, images under ``DIR/annotation_images/``): per id
  the image path, the source and target prompts (edited words in ``[brackets]``), the editing
  type, the blended word ("cat dog": the source word, then the target word; may be empty) and
  the mask as run-length pairs ``start, length`` over the row-major flattened image. Its
  protocol measures the unedited part outside the mask and the image's outer rows and columns.
* **MagicBrush** (test split: ``DIR/edit_sessions.json``, images under ``DIR/images/<id>/``):
  per session a list of turns, each an instruction and the file names of its input, mask and
  output; the mask is the input with the edited area made transparent. Every turn is edited
  from the benchmark's own input (MagicBrush's single-turn setting).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import PinpointError
from .eval_items import BenchmarkCase, BenchmarkTruth, EvalEdit, EvalImage
from .images import from_pil, load_image, to_pil

PIE, MAGICBRUSH = "pie", "magicbrush"
BENCHMARK_MASK = "benchmark-mask"
"""The route label of runs that edit inside the benchmark's own mask (``--mask benchmark``):
editing alone, beside the routes that find the area themselves."""
MASK_CHOICES = ("found", "benchmark")
"""``--mask``: Pinpoint finds the area (the run's route), or edits in the benchmark's mask."""
PIE_TYPES = {
    "0": "random",
    "1": "change object",
    "2": "add object",
    "3": "delete object",
    "4": "change content",
    "5": "change pose",
    "6": "change color",
    "7": "change material",
    "8": "change background",
    "9": "change style",
}
"""PIE-Bench's editing types by ``editing_type_id`` (the report's edit types)."""


def decode_rle(runs: object, height: int, width: int) -> torch.Tensor:
    """``[H, W]`` bool: the pixels a PIE-Bench mask's ``start, length`` pairs cover on the
    row-major flattened image (a last run past the end is cut there, as PIE-Bench's own
    decoder does).

    Raises:
        PinpointError: not a list of whole numbers, an odd count, a negative value, a run
            starting past the image, or no pixel at all.
    """
    fix = "give the mask as PIE-Bench's mapping_file.json has it (start, length pairs)"
    if not isinstance(runs, list) or not all(
        isinstance(value, int) and not isinstance(value, bool) for value in runs
    ):
        raise PinpointError("the mask is not a list of whole numbers", fix)
    if len(runs) % 2:
        raise PinpointError(f"the mask has {len(runs)} numbers, not start and length pairs", fix)
    flat = np.zeros(height * width, dtype=bool)
    for start, length in zip(runs[::2], runs[1::2], strict=True):
        if start < 0 or length < 0 or start >= flat.size:
            raise PinpointError(
                f"the mask has a run ({start}, {length}) outside the {width}x{height} image",
                "check that the mask belongs to this image (PIE-Bench's images are 512x512)",
            )
        flat[start : start + length] = True
    if not flat.any():
        raise PinpointError("the mask is empty", "give the edited area a mask")
    return torch.from_numpy(flat.reshape(height, width))


def _pie_truth(runs: object, height: int, width: int) -> BenchmarkTruth:
    """The RLE mask as the edit area; its unedited part also leaves out the outer rows and
    columns (PIE-Bench's protocol sets them in its mask against annotation errors)."""
    area = decode_rle(runs, height, width)
    measured = area.clone()
    measured[[0, -1], :] = True
    measured[:, [0, -1]] = True
    return BenchmarkTruth(area, ~measured)


def _plain(prompt: str) -> str:
    """A PIE-Bench prompt without its ``[brackets]`` and doubled spaces."""
    return " ".join(prompt.replace("[", " ").replace("]", " ").split())


def _pie_find(entry: dict) -> str:
    """What to find: the blended word's source word, else the bracketed words of the source
    prompt, else the whole source prompt."""
    words = str(entry.get("blended_word") or "").split()
    if words:
        return words[0]
    marked = re.findall(r"\[([^\]]+)\]", str(entry["original_prompt"]))
    return " ".join(" ".join(marked).split()) or _plain(str(entry["original_prompt"]))


def _read_listing(path: Path, fix: str) -> dict:
    """A benchmark's JSON mapping of ids to edits.

    Raises:
        PinpointError: the file is missing, not JSON, not a mapping or empty.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise PinpointError(f"there is no {path}", fix) from err
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise PinpointError(f"cannot read {path} ({err})", fix) from err
    if not isinstance(data, dict) or not data:
        raise PinpointError(f"{path} lists no edits", fix)
    return data


def _check_fields(entry: object, needed: tuple[str, ...], where: str, fix: str) -> dict:
    """``entry`` as a mapping that gives every field of ``needed`` (none empty but the mask).

    Raises:
        PinpointError: naming ``where`` and the fields it lacks.
    """
    given = entry if isinstance(entry, dict) else {}
    lacking = [name for name in needed if given.get(name) in (None, "")]
    if lacking:
        raise PinpointError(f"{where} lacks {', '.join(lacking)}", fix)
    return given


def pie_bench(folder: str | Path) -> list[EvalImage]:
    """PIE-Bench's images with their edits, in id order (``folder``: the ``data`` folder that
    holds ``mapping_file.json`` and ``annotation_images/``).

    Raises:
        PinpointError: the mapping file is missing, not JSON, not a mapping of ids to entries,
            empty, or an entry lacks its image path, prompts or mask.
    """
    root = Path(folder)
    fix = "give --data PIE-Bench's data folder (mapping_file.json and annotation_images/)"
    data = _read_listing(root / "mapping_file.json", fix)
    images = []
    for key in sorted(data):
        needed = ("image_path", "original_prompt", "editing_prompt", "mask")
        where = f"the entry '{key}' of {root / 'mapping_file.json'}"
        entry = _check_fields(data[key], needed, where, fix)
        kind = str(entry.get("editing_type_id", ""))
        edit = EvalEdit(
            PIE_TYPES.get(kind, f"type {kind}"),
            _pie_find(entry),
            _plain(str(entry["editing_prompt"])),
            _plain(str(entry["original_prompt"])),
        )
        path = root / "annotation_images" / str(entry["image_path"])
        case = BenchmarkCase(edit, partial(_pie_truth, entry["mask"]))
        images.append(EvalImage(path, f"{key}{path.suffix}", case=case))
    return images


def read_mask_picture(path: Path, height: int, width: int) -> torch.Tensor:
    """``[H, W]`` bool: a MagicBrush mask's edited area, resized (nearest) to the image: its
    transparent pixels; a mask without transparency: its light pixels (a black and white mask).

    Raises:
        PinpointError: the file is missing or unreadable, or marks no pixel.
    """
    try:
        with Image.open(path) as opened:
            opened.load()
            picture = opened.convert("RGBA")
    except (OSError, ValueError) as err:
        raise PinpointError(f"cannot read the mask {path} ({err})", "check the file") from err
    picture = picture.resize((width, height), Image.Resampling.NEAREST)
    pixels = np.asarray(picture)
    alpha = pixels[..., 3]
    area = alpha < 128 if (alpha < 255).any() else pixels[..., :3].mean(axis=-1) >= 128
    if not area.any():
        raise PinpointError(f"the mask {path.name} marks no pixel", "give the edit a mask")
    return torch.from_numpy(area)


def _magicbrush_truth(mask: Path, target: Path, height: int, width: int) -> BenchmarkTruth:
    """The mask's edited area (the rest unedited) and the target image at the source's size."""
    area = read_mask_picture(mask, height, width)
    wanted = load_image(target, convert_rgb=True)
    if tuple(wanted.shape[1:3]) != (height, width):
        resized = to_pil(wanted[0]).resize((width, height), Image.Resampling.BICUBIC)
        wanted = from_pil(resized)[None]
    return BenchmarkTruth(area, ~area, wanted)


def magicbrush(folder: str | Path) -> list[EvalImage]:
    """MagicBrush's turns with their edits (``folder``: the test split, holding
    ``edit_sessions.json`` and ``images/``), session by session; each turn's type is its
    number (``turn 1``...), its ``find`` and ``prompt`` the instruction.

    Raises:
        PinpointError: ``edit_sessions.json`` is missing, not JSON, empty, or a turn lacks its
            instruction or a file name.
    """
    root = Path(folder)
    fix = "give --data MagicBrush's test folder (edit_sessions.json and images/)"
    data = _read_listing(root / "edit_sessions.json", fix)
    images = []
    for session in sorted(data):
        turns = data[session]
        for number, listed in enumerate(turns if isinstance(turns, list) else [None], start=1):
            needed = ("input", "mask", "output", "instruction")
            turn = _check_fields(listed, needed, f"turn {number} of session '{session}'", fix)
            where = root / "images" / str(session)
            instruction = " ".join(str(turn["instruction"]).split())
            edit = EvalEdit(f"turn {number}", instruction, instruction, "")
            path, mask, wanted = (where / str(turn[name]) for name in ("input", "mask", "output"))
            case = BenchmarkCase(edit, partial(_magicbrush_truth, mask, wanted))
            images.append(EvalImage(path, f"{session}-turn{number}{path.suffix}", case=case))
    return images


BENCHMARKS: dict[str, Callable[[str | Path], list[EvalImage]]] = {
    PIE: pie_bench,
    MAGICBRUSH: magicbrush,
}
"""``--benchmark`` → its reader."""
