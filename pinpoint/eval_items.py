"""What ``python -m pinpoint eval`` runs: the edits, the images and their (image, edit) items.

The images are a folder's, or those a COCO annotation file lists (each image's largest object
is its target, with its outline where the file gives one, and ``{category}`` in an edit names
that object's category). The edits come
from a CSV file with the columns ``type,find,prompt[,source_text]`` or from a preset (``s1``:
the four edits of S1's COCO protocol). Every (image, edit) is one item
(:func:`plan_eval_items`) of a route: edited once, measured once
(:mod:`pinpoint.eval_measures`), written as one row (:mod:`pinpoint.eval_runner`). Runs of
several routes or settings (:mod:`pinpoint.eval_settings`) into one folder add their rows side
by side, each keyed by its run's label (:func:`run_label`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .batch import folder_images
from .errors import PinpointError, concerning
from .route_settings import NO_REFINER, RouteKind

EDIT_COLUMNS = ("type", "find", "prompt", "source_text")
"""The columns of an edits file; ``source_text`` may be left out (then it is ``find``)."""
CATEGORY = "{category}"
"""In an edit's texts: the category of the image's target object (COCO annotations only)."""
DEFAULT_ROUTE = RouteKind.DETECT.value
"""The route of an item unless told (S1's: detect, match, the box as the mask)."""


def route_label(route: str, refiner: str = NO_REFINER) -> str:
    """How rows and folders name a route with its refiner: ``detect``,
    ``segments+sam2.1-hiera-small``."""
    return route if refiner == NO_REFINER else f"{route}+{refiner}"


def run_label(route: str, setting: str = "") -> str:
    """How rows, the summary and folders name a run: its route (:func:`route_label`), then
    its setting where it has one (:attr:`pinpoint.eval_settings.EvalSetting.label`):
    ``detect``, ``detect guide=clip``, ``segments+sam2.1-hiera-small candidates=4``."""
    return f"{route} {setting}" if setting else route


@dataclass(frozen=True)
class EvalEdit:
    """One edit every image gets.

    Attributes:
        type: its name in the report (``colour``); unique in a run.
        find: what to change (Match's text), e.g. ``"a {category}"``.
        prompt: what it becomes (the inpainting prompt), e.g. ``"a red {category}"``.
        source_text: what the area shows before the edit, for the directional score and
            success (``find`` when not given).
    """

    type: str
    find: str
    prompt: str
    source_text: str

    def for_image(self, category: str) -> EvalEdit:
        """The edit with ``{category}`` filled in."""
        return dataclasses.replace(
            self,
            find=self.find.replace(CATEGORY, category),
            prompt=self.prompt.replace(CATEGORY, category),
            source_text=self.source_text.replace(CATEGORY, category),
        )

    @property
    def folder(self) -> str:
        """The folder its images are written to (the type, safe as a file name)."""
        return re.sub(r"[^A-Za-z0-9_-]+", "_", self.type).strip("_") or "edit"

    @property
    def names_category(self) -> bool:
        """Whether a text uses ``{category}``."""
        return any(CATEGORY in text for text in (self.find, self.prompt, self.source_text))


PRESETS: dict[str, tuple[EvalEdit, ...]] = {
    "s1": (
        EvalEdit("colour", "a {category}", "a red {category}", "a {category}"),
        EvalEdit(
            "tilt left",
            "a {category}",
            "a {category} tilted slightly to the left",
            "a {category}",
        ),
        EvalEdit("face front", "a {category}", "a {category} facing the front", "a {category}"),
        EvalEdit("upside down", "a {category}", "a {category} upside down", "a {category}"),
    ),
}
"""Named edit sets; ``s1`` is S1's protocol (COCO val2017, each image's object recoloured,
tilted left, turned to face the front and turned upside down)."""


def parse_edits(text: str) -> tuple[EvalEdit, ...]:
    """The edits of a CSV text with a header row naming :data:`EDIT_COLUMNS` (any order;
    ``source_text`` optional). Blank lines are skipped.

    Raises:
        PinpointError: a missing or unknown column, a line with too many or too few fields, an
            empty type/find/prompt or a type used twice; the problem names the line.
    """
    rows = csv.reader(io.StringIO(text))
    header = next((row for row in rows if any(cell.strip() for cell in row)), None)
    example = "type,find,prompt,source_text\\ncolour,the car,a red car,a car"
    if header is None:
        raise PinpointError(
            "the edits file is empty", f"write a header and one edit per line: {example}"
        )
    columns = [cell.strip().lower() for cell in header]
    with concerning(f"line {rows.line_num}"):
        unknown = [name for name in columns if name not in EDIT_COLUMNS]
        missing = [name for name in EDIT_COLUMNS[:3] if name not in columns]
        if unknown or missing or len(set(columns)) != len(columns):
            raise PinpointError(
                f"the header is {','.join(columns)}",
                f"name the columns {', '.join(EDIT_COLUMNS)} (source_text may be left out), "
                f"e.g. {example}",
            )
    edits: list[EvalEdit] = []
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        with concerning(f"line {rows.line_num}"):
            if len(row) != len(columns):
                raise PinpointError(
                    f"{len(row)} fields where the header has {len(columns)}",
                    "give every column on every line; put a text holding a comma in double "
                    'quotes ("a red, shiny car")',
                )
            cells = {name: cell.strip() for name, cell in zip(columns, row, strict=True)}
            for name in EDIT_COLUMNS[:3]:
                if not cells[name]:
                    raise PinpointError(f"the {name} is empty", f"give every edit a {name}")
            if any(edit.type == cells["type"] for edit in edits):
                raise PinpointError(
                    f"the type '{cells['type']}' is used twice", "give each edit its own type"
                )
            source = cells.get("source_text") or cells["find"]
            edits.append(EvalEdit(cells["type"], cells["find"], cells["prompt"], source))
    if not edits:
        raise PinpointError("the edits file has no edits", f"add one edit per line: {example}")
    return tuple(edits)


def read_edits(path: str | Path) -> tuple[EvalEdit, ...]:
    """:func:`parse_edits` of a UTF-8 file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PinpointError(
            f"cannot read the edits file ({err})", "give a UTF-8 CSV file of edits"
        ) from err
    return parse_edits(text)


@dataclass(frozen=True)
class BenchmarkTruth:
    """What a benchmark gives one image to measure an edit against.

    Attributes:
        edit_area: ``[H, W]`` bool, the benchmark's mask: where the edit is meant.
        unedited: ``[H, W]`` bool, the part the benchmark measures as unedited (outside its mask;
            PIE-Bench also leaves out the image's outer rows and columns).
        target: IMAGE ``[1, H, W, 3]``, the benchmark's edited image (resized to the source's
            size); None where it gives none.
    """

    edit_area: torch.Tensor
    unedited: torch.Tensor
    target: torch.Tensor | None = None


@dataclass(frozen=True)
class BenchmarkCase:
    """An image's own edit and truth, from a benchmark (:mod:`pinpoint.eval_benchmarks`).

    Attributes:
        edit: the edit the benchmark asks of this image.
        truth: ``(height, width)`` → its :class:`BenchmarkTruth`, read when the item is worked;
            raises :class:`~pinpoint.errors.PinpointError` for a broken mask or a missing file
            (that item's failed row).
    """

    edit: EvalEdit
    truth: Callable[[int, int], BenchmarkTruth]


@dataclass(frozen=True)
class EvalImage:
    """One image of the set.

    Attributes:
        path: the file.
        name: its name in rows and output files (unique in a run).
        category: COCO: its target object's category; empty for a folder.
        box: COCO: its target object's box ``(x0, y0, x1, y1)`` in pixels.
        outline: COCO: its target object's ``segmentation`` as the file gives it (polygons, or
            an uncompressed RLE); None without one.
        case: a benchmark's image: its own edit and truth; None otherwise.
    """

    path: Path
    name: str
    category: str = ""
    box: tuple[float, float, float, float] | None = None
    outline: object = None
    case: BenchmarkCase | None = None

    def target_mask(self, height: int, width: int) -> torch.Tensor | None:
        """``[H, W]`` bool: the target object's pixels, from its outline; None without one (or
        with a compressed RLE, which needs pycocotools)."""
        outline = self.outline
        if isinstance(outline, list) and outline:
            picture = Image.new("L", (width, height), 0)
            draw = ImageDraw.Draw(picture)
            for polygon in outline:
                if len(polygon) >= 6:
                    draw.polygon([float(value) for value in polygon], fill=255, outline=255)
            return torch.from_numpy(np.asarray(picture) > 0)
        if isinstance(outline, dict) and isinstance(outline.get("counts"), list):
            runs = np.repeat(np.arange(len(outline["counts"])) % 2, outline["counts"])
            size = tuple(outline.get("size", (height, width)))
            flat = np.zeros(size[0] * size[1], dtype=bool)
            flat[: len(runs)] = runs[: len(flat)] == 1
            return torch.from_numpy(flat.reshape(size[1], size[0]).T.copy())  # column-major
        return None


def eval_folder(folder: str | Path) -> list[EvalImage]:
    """Every image (PNG, JPEG, WebP) of ``folder``, sorted by name."""
    root = Path(folder)
    if not root.is_dir():
        raise PinpointError(f"{root} is not a folder", "give --images a folder of images")
    found = folder_images(root)
    if not found:
        raise PinpointError(f"{root} holds no images", "give a folder of PNG, JPEG or WebP images")
    return [EvalImage(path, path.name) for path in found]


def coco_images(annotations: str | Path, folder: str | Path) -> tuple[list[EvalImage], list[str]]:
    """The images a COCO annotation file lists that are in ``folder``, each with its largest
    non-crowd object as the target; images without one are left out.

    Returns:
        the images (sorted by file name) and notes on what was left out.

    Raises:
        PinpointError: the file is not COCO annotations, or none of its images is in
            ``folder``.
    """
    fix = "give the instances file of a COCO-style set, e.g. annotations/instances_val2017.json"
    try:
        data = json.loads(Path(annotations).read_text(encoding="utf-8"))
        names = {int(c["id"]): str(c["name"]) for c in data["categories"]}
        files = {int(i["id"]): str(i["file_name"]) for i in data["images"]}
        targets: dict[int, dict] = {}
        for note in data["annotations"]:
            if note.get("iscrowd") or int(note["image_id"]) not in files:
                continue
            best = targets.get(int(note["image_id"]))
            if best is None or float(note["area"]) > float(best["area"]):
                targets[int(note["image_id"])] = note
        chosen = {
            image_id: (names[int(note["category_id"])], [float(v) for v in note["bbox"]])
            for image_id, note in targets.items()
        }
        outlines = {image_id: note.get("segmentation") for image_id, note in targets.items()}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise PinpointError(f"cannot read the annotations {annotations} ({err!r})", fix) from err
    images, missing = [], []
    for image_id, (category, (x, y, w, h)) in chosen.items():
        path = Path(folder) / files[image_id]
        if path.is_file():
            box = (x, y, x + w, y + h)
            images.append(EvalImage(path, files[image_id], category, box, outlines[image_id]))
        else:
            missing.append(files[image_id])
    if not images:
        raise PinpointError(
            f"none of the {len(chosen)} annotated images is in {folder}",
            "give --images the folder the annotation file describes (e.g. val2017/)",
        )
    notes = []
    if missing:
        listed = ", ".join(sorted(missing)[:3]) + (", ..." if len(missing) > 3 else "")
        notes.append(
            f"{len(missing)} annotated images are not in {folder} and were left out: {listed}"
        )
    if len(files) > len(chosen):
        notes.append(f"{len(files) - len(chosen)} images have no object to edit and were left out")
    return sorted(images, key=lambda image: image.name), notes


def sample(images: Sequence[EvalImage], limit: int | None, seed: int) -> list[EvalImage]:
    """At most ``limit`` of ``images``, drawn with ``seed`` (the same draw on every process
    and every resume), in name order."""
    if limit is None or limit >= len(images):
        return list(images)
    if limit < 1:
        raise PinpointError(f"--limit is {limit}", "evaluate at least 1 image")
    drawn = random.Random(seed).sample(range(len(images)), limit)
    return [images[index] for index in sorted(drawn)]


@dataclass(frozen=True)
class EvalItem:
    """One (image, edit) of a run, on a route (:func:`route_label`) with a setting (empty: the
    default one; see :func:`run_label`)."""

    image: EvalImage
    edit: EvalEdit
    route: str = DEFAULT_ROUTE
    setting: str = ""

    @property
    def label(self) -> str:
        """Its run's label: the route, and the setting where there is one."""
        return run_label(self.route, self.setting)

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies its row: (image name, edit type, run label)."""
        return (self.image.name, self.edit.type, self.label)

    @property
    def folder(self) -> str:
        """The folder its outputs go in: the edit type's, ``<type>@<run label>`` off the
        default route and setting (a type's folder never holds an ``@``)."""
        if self.label == DEFAULT_ROUTE:
            return self.edit.folder
        return f"{self.edit.folder}@{re.sub(r'[^A-Za-z0-9_.+-]+', '_', self.label)}"

    @property
    def stem(self) -> str:
        """Its output files' name (without folder and suffix)."""
        return Path(self.image.name).stem


def plan_eval_items(
    images: Sequence[EvalImage],
    edits: Sequence[EvalEdit],
    route: str = DEFAULT_ROUTE,
    setting: str = "",
) -> list[EvalItem]:
    """Every (image, edit) on ``route`` with ``setting``, image by image, ``{category}``
    filled in; a benchmark's image (:attr:`EvalImage.case`) gets its own edit instead of
    ``edits``.

    Raises:
        PinpointError: an edit names ``{category}`` but an image has none (a folder), or two
            images would write the same output file.
    """
    stems: dict[str, str] = {}
    for image in images:
        other = stems.setdefault(Path(image.name).stem, image.name)
        if other != image.name:
            raise PinpointError(
                f"'{image.name}' and '{other}' would both be written as "
                f"{Path(image.name).stem}.png",
                "rename one of them",
            )
    folders: dict[str, str] = {}
    for edit in edits:
        other = folders.setdefault(edit.folder, edit.type)
        if other != edit.type:
            raise PinpointError(
                f"the types '{edit.type}' and '{other}' would share the folder {edit.folder}",
                "give the edits types that differ in letters or digits",
            )
        if edit.names_category and not all(image.category for image in images):
            raise PinpointError(
                f"the edit '{edit.type}' names {CATEGORY}, which only COCO annotations give",
                "give --coco ANNOTATIONS.json, or write the object's name in the edit",
            )
    return [
        EvalItem(image, edit.for_image(image.category), route, setting)
        for image in images
        for edit in ((image.case.edit,) if image.case else edits)
    ]
