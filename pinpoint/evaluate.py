"""``python -m pinpoint eval``: run a set of edits on a set of images and measure every result.

The images are a folder's, or those a COCO annotation file lists (each image's largest object
is its target, and ``{category}`` in an edit names that object's category). The edits come
from a CSV file with the columns ``type,find,prompt[,source_text]`` or from a preset (``s1``:
the four edits of S1's COCO protocol). Every (image, edit) is one item: edited once, measured
once (:mod:`pinpoint.metrics`), written as one row. Rows are appended to the shard file of the
process that made them the moment they are done, so a stopped run resumes where it left off
and several processes (:mod:`pinpoint.shards`) share the work without doing an item twice;
:func:`merge_rows` joins the shards into ``rows.csv`` in item order.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import random
import re
import resource
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .batch import folder_images
from .boxes import box_iou, mask_box
from .edit_list import EditLine, EditSettings
from .errors import PinpointError, concerning
from .images import load_image, save_image
from .loading.models import ClipMatcher, Detector, InpaintPipe, PerceptualNet, module_device
from .masks import feather_mask
from .metrics import MASK_THRESHOLD, EditMetrics, MetricsRequest, frechet_distance, measure_edits

EDIT_COLUMNS = ("type", "find", "prompt", "source_text")
"""The columns of an edits file; ``source_text`` may be left out (then it is ``find``)."""
CATEGORY = "{category}"
"""In an edit's texts: the category of the image's target object (COCO annotations only)."""


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
class EvalImage:
    """One image of the set.

    Attributes:
        path: the file.
        name: its name in rows and output files (unique in a run).
        category: COCO: its target object's category; empty for a folder.
        box: COCO: its target object's box ``(x0, y0, x1, y1)`` in pixels.
    """

    path: Path
    name: str
    category: str = ""
    box: tuple[float, float, float, float] | None = None


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
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise PinpointError(f"cannot read the annotations {annotations} ({err!r})", fix) from err
    images, missing = [], []
    for image_id, (category, (x, y, w, h)) in chosen.items():
        path = Path(folder) / files[image_id]
        if path.is_file():
            images.append(EvalImage(path, files[image_id], category, (x, y, x + w, y + h)))
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


def sample(images: Sequence[EvalImage], limit: int | None, seed: int = 0) -> list[EvalImage]:
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
    """One (image, edit) of a run."""

    image: EvalImage
    edit: EvalEdit

    @property
    def key(self) -> tuple[str, str]:
        """What identifies its row: (image name, edit type)."""
        return (self.image.name, self.edit.type)

    @property
    def stem(self) -> str:
        """Its output files' name (without folder and suffix)."""
        return Path(self.image.name).stem


def plan_items(images: Sequence[EvalImage], edits: Sequence[EvalEdit]) -> list[EvalItem]:
    """Every (image, edit), image by image, ``{category}`` filled in.

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
    return [EvalItem(image, edit.for_image(image.category)) for image in images for edit in edits]


ROW_HEAD = ("image", "type", "find", "prompt", "source_text", "status", "note", "ms", "peak_mb")
ROW_TAIL = ("target_iou",)
ROW_COLUMNS = (*ROW_HEAD, *(f.name for f in dataclasses.fields(EditMetrics)), *ROW_TAIL)
"""The columns of ``rows.csv``: the item, how it went (``ok``, ``nothing found`` or
``failed`` with the reason in ``note``), its time in ms (the edit, not the measuring) and peak
memory in MB, every :class:`~pinpoint.metrics.EditMetrics` field, and with COCO annotations
the IoU of the edited area's box with the target object's box."""
OK, NOTHING_FOUND, FAILED = "ok", "nothing found", "failed"


def make_row(
    item: EvalItem,
    status: str,
    note: str = "",
    ms: float = 0.0,
    peak_mb: float = 0.0,
    metrics: EditMetrics | None = None,
    target_iou: float | None = None,
) -> dict[str, str]:
    """One row of ``rows.csv`` (every value as written; empty where not measured)."""
    values: dict[str, object] = {
        "image": item.image.name,
        "type": item.edit.type,
        "find": item.edit.find,
        "prompt": item.edit.prompt,
        "source_text": item.edit.source_text,
        "status": status,
        "note": note,
        "ms": f"{ms:.1f}",
        "peak_mb": f"{peak_mb:.1f}",
        "target_iou": target_iou,
    }
    if metrics is not None:
        values |= dataclasses.asdict(metrics)
    return {name: _cell(values.get(name)) for name in ROW_COLUMNS}


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


SHARDS = "shards"
"""The folder under the output folder where each process appends its rows."""


def shard_path(out: Path, index: int) -> Path:
    """Where process ``index`` appends its rows."""
    return out / SHARDS / f"rows-{index:03d}.csv"


def read_rows(path: Path) -> list[dict[str, str]]:
    """The complete rows of a rows file (a line cut short by a crash is dropped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()  # written in one call with its newline: a line without one was cut short
    reader = csv.DictReader(lines)
    return [row for row in reader if None not in row and None not in row.values()]


def done_rows(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    """Every row any process of this or an earlier run wrote, by item key."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for path in sorted((out / SHARDS).glob("rows-*.csv")):
        for row in read_rows(path):
            rows.setdefault((row["image"], row["type"]), row)
    return rows


def append_row(path: Path, row: dict[str, str]) -> None:
    """Append ``row`` to ``path`` in one write, flushed to disk (a header first if new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ROW_COLUMNS, lineterminator="\n")
    if not path.exists() or path.stat().st_size == 0:
        writer.writeheader()
    writer.writerow(row)
    with path.open("a", encoding="utf-8", newline="") as file:
        file.write(buffer.getvalue())
        file.flush()
        os.fsync(file.fileno())


def check_out_folder(out: str | Path) -> Path:
    """``out`` as a folder for a run's outputs (created)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise PinpointError(
            f"--out {path} is a file, but a report needs a folder",
            "give --out a folder (it is created if missing)",
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_items(
    items: Sequence[EvalItem],
    mine: Callable[[int], bool],
    out: Path,
    shard: int,
    work: Callable[[EvalItem], dict[str, str]],
    report: Callable[[str], None],
) -> int:
    """Work every item that is this process's (``mine(index)``) and not done yet; append each
    row to this process's shard file as soon as it is made.

    Returns:
        how many items this process worked.
    """
    done = done_rows(out)
    todo = [item for index, item in enumerate(items) if mine(index) and item.key not in done]
    skipped = sum(1 for index, item in enumerate(items) if mine(index) and item.key in done)
    if skipped:
        report(f"{skipped} items already done (skipped)")
    for count, item in enumerate(todo, start=1):
        row = work(item)
        append_row(shard_path(out, shard), row)
        outcome = row["status"] + (f": {row['note']}" if row["note"] else "")
        where = f"{item.image.name} / {item.edit.type}"
        report(f"[{count}/{len(todo)}] {where}: {outcome} ({row['ms']} ms)")
    return len(todo)


def merge_rows(out: Path, items: Sequence[EvalItem]) -> list[dict[str, str]]:
    """Join every shard's rows into ``<out>/rows.csv`` in item order (written whole); rows of
    items not in this run are left out.

    Returns:
        the rows, as written.
    """
    done = done_rows(out)
    rows = [done[item.key] for item in items if item.key in done]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ROW_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_whole(out / "rows.csv", buffer.getvalue())
    return rows


def write_whole(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` whole or not at all: to a temporary name of this process
    beside it, then renamed (two processes writing the same file at once both succeed)."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        staging.write_text(text, encoding="utf-8")
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path


def numbers(rows: Iterable[dict[str, str]], column: str) -> list[float]:
    """The values of ``column`` in ``rows`` that were measured."""
    return [float(row[column]) for row in rows if row.get(column, "") != ""]


EDITS, MASKS = "edits", "masks"
"""The folders under the output folder where each edit's image and mask are written
(``edits/<type>/<image stem>.png``)."""


def output_path(out: Path, item: EvalItem, what: str = EDITS) -> Path:
    """Where ``item``'s edited image (``EDITS``) or mask (``MASKS``) is written."""
    return out / what / item.edit.folder / f"{item.stem}.png"


@dataclass(frozen=True)
class EvalModels:
    """The models of a run (loaded once).

    Attributes:
        detector, clip, pipe: the edit's models (the CLIP also measures).
        lpips: an LPIPS backbone for ``lpips_outside``; None leaves it out.
        fid: the FID Inception for the summary's FID; None leaves it out.
    """

    detector: Detector
    clip: ClipMatcher
    pipe: InpaintPipe
    lpips: PerceptualNet | None = None
    fid: PerceptualNet | None = None


def _peak_mb(device: torch.device) -> float:
    """The memory peak since the last reset (CUDA), or the process's resident peak so far."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def edit_and_measure(
    models: EvalModels,
    item: EvalItem,
    settings: EditSettings,
    out: Path,
    convert_rgb: bool = False,
) -> dict[str, str]:
    """Edit one item, write its image and mask, and measure it; the row says how it went (a
    :class:`PinpointError` of the item is its ``failed`` row, not a stop)."""
    from .pipeline import edit

    device = module_device(models.clip.model)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    began = time.perf_counter()
    try:
        image = load_image(item.image.path, convert_rgb=convert_rgb)
        line = EditLine(item.edit.find, item.edit.prompt)
        result = edit(models.detector, models.clip, models.pipe, image, [line], settings)
    except PinpointError as err:
        return make_row(item, FAILED, note=f"{err.problem}. Fix: {err.fix}")
    ms = (time.perf_counter() - began) * 1000
    mask = result.edits[0].mask
    if not bool((mask >= MASK_THRESHOLD).any()):
        return make_row(item, NOTHING_FOUND, ms=ms, peak_mb=_peak_mb(device))
    blend = feather_mask(mask, settings.feather_px)  # what the stitch may change: all of it
    save_image(result.images[0], output_path(out, item))
    save_image(blend[0, ..., None].expand(-1, -1, 3), output_path(out, item, MASKS))
    measured = measure_edits(
        MetricsRequest(
            models.clip,
            image,
            result.images,
            blend,
            item.edit.prompt,
            item.edit.source_text,
            lpips=models.lpips,
        )
    )[0]
    box = mask_box(mask[0] >= MASK_THRESHOLD)
    iou = box_iou(box, item.image.box) if box is not None and item.image.box else None
    return make_row(item, OK, "", ms, _peak_mb(device), measured, iou)


def set_fid(
    net: PerceptualNet, out: Path, items: Sequence[EvalItem], rows: Sequence[dict[str, str]]
) -> float | None:
    """FID of the ``ok`` edits among ``items`` against their sources, read from disk as they
    are needed; None below 2 edits."""
    done = {(row["image"], row["type"]) for row in rows if row["status"] == OK}
    chosen = [item for item in items if item.key in done]
    if len(chosen) < 2:
        return None
    return frechet_distance(
        net,
        (load_image(item.image.path, convert_rgb=True) for item in chosen),
        (load_image(output_path(out, item), convert_rgb=True) for item in chosen),
    )
