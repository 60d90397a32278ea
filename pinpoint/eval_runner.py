"""Running ``python -m pinpoint eval``'s items and keeping their rows, resumably and shared.

Every item (:mod:`pinpoint.eval_items`) is worked once and written as one row. Rows are
appended to the shard file of the process that made them the moment they are done, so a
stopped run resumes where it left off and several processes (:mod:`pinpoint.shards`) share the
work without doing an item twice; :func:`merge_rows` joins the shards into ``rows.csv`` in item
order. The work of one item is :func:`pinpoint.eval_measures.edit_and_measure`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from .benchmark_metrics import BenchmarkMetrics
from .errors import PinpointError
from .eval_items import DEFAULT_ROUTE, EvalItem, route_label, run_label
from .metrics import EditMetrics
from .route_settings import NO_REFINER

ROW_HEAD = ("image", "type", "route", "refiner", "find", "prompt", "source_text", "status")
ROW_HEAD = (*ROW_HEAD, "note", "ms", "peak_mb")
ROW_MADE = ("setting", "guide", "guide_scale", "candidates", "kept", "kept_score")
ROW_TAIL = ("target_iou", "target_mask_iou")
ROW_BENCHMARK = (*(f.name for f in dataclasses.fields(BenchmarkMetrics)), "bench_mask_iou")
ROW_COLUMNS = (
    *ROW_HEAD,
    *ROW_MADE,
    *(f.name for f in dataclasses.fields(EditMetrics)),
    *ROW_TAIL,
    *ROW_BENCHMARK,
)
"""The columns of ``rows.csv``: the item and its route and refiner, how it went (``ok``,
``nothing found`` or ``failed`` with the reason in ``note``), its time in ms (the edit, not the
measuring) and peak memory in MB, how it was made (its run's setting label, empty for the
default, see :mod:`pinpoint.eval_settings`; the guidance kind and scale; how many candidates
were ranked and which was kept, with its S), every :class:`~pinpoint.metrics.EditMetrics`
field, with COCO annotations the IoU of the edited area's box with the target object's box,
and of the edit's mask with the object's outline where the annotations give one; then every
:class:`~pinpoint.benchmark_metrics.BenchmarkMetrics` field and the IoU of the edit's mask with
the benchmark's (a benchmark's rows only; empty where not measurable)."""
OK, NOTHING_FOUND, FAILED = "ok", "nothing found", "failed"


def make_row(
    item: EvalItem,
    status: str,
    note: str = "",
    ms: float = 0.0,
    peak_mb: float = 0.0,
    metrics: EditMetrics | None = None,
    target_iou: float | None = None,
    target_mask_iou: float | None = None,
    made: Mapping[str, object] | None = None,
    bench: BenchmarkMetrics | None = None,
    bench_mask_iou: float | None = None,
) -> dict[str, str]:
    """One row of ``rows.csv`` (every value as written; empty where not measured); ``made``:
    how it was made (:meth:`pinpoint.eval_settings.EvalSetting.row`)."""
    route, _, refiner = item.route.partition("+")
    values: dict[str, object] = {
        **(made or {}),
        "image": item.image.name,
        "type": item.edit.type,
        "route": route,
        "refiner": refiner or NO_REFINER,
        "setting": item.setting,
        "find": item.edit.find,
        "prompt": item.edit.prompt,
        "source_text": item.edit.source_text,
        "status": status,
        "note": note,
        "ms": f"{ms:.1f}",
        "peak_mb": f"{peak_mb:.1f}",
        "target_iou": target_iou,
        "target_mask_iou": target_mask_iou,
        "bench_mask_iou": bench_mask_iou,
    }
    for measured in (metrics, bench):
        if measured is not None:
            values |= dataclasses.asdict(measured)
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


def row_run(row: Mapping[str, str]) -> tuple[str, str]:
    """The route (:func:`~pinpoint.eval_items.route_label`) and setting of a row; a row
    written before routes or settings were columns is the default route's, or setting's."""
    route = route_label(row.get("route") or DEFAULT_ROUTE, row.get("refiner") or NO_REFINER)
    return route, row.get("setting") or ""


def row_route(row: Mapping[str, str]) -> str:
    """The label of the run that made a row (:func:`~pinpoint.eval_items.run_label`)."""
    return run_label(*row_run(row))


def done_rows(out: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    """Every row any process of this or an earlier run (of any route) wrote, by item key."""
    rows: dict[tuple[str, str, str], dict[str, str]] = {}
    for path in sorted((out / SHARDS).glob("rows-*.csv")):
        for row in read_rows(path):
            rows.setdefault((row["image"], row["type"], row_route(row)), row)
    return rows


def _header(path: Path) -> tuple[str, ...] | None:
    """The columns of a rows file's header; None for a missing or empty file."""
    try:
        with path.open(encoding="utf-8", newline="") as file:
            header = next(csv.reader(file), None)
    except FileNotFoundError:
        return None
    return tuple(header) if header else None


def append_row(path: Path, row: dict[str, str]) -> None:
    """Append ``row`` to ``path`` in one write, flushed to disk (a header first if new). A
    file an earlier version wrote with fewer columns is rewritten whole under this version's
    header first (its rows keep their values; the new columns are empty); one with columns
    this version does not know is refused by :func:`check_out_folder` before any model loads.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ROW_COLUMNS, lineterminator="\n")
    header = _header(path)
    if header is not None and header != ROW_COLUMNS:
        writer.writeheader()
        writer.writerows({c: old.get(c, "") for c in ROW_COLUMNS} for old in read_rows(path))
        writer.writerow(row)
        write_whole(path, buffer.getvalue())
        return
    if header is None:
        writer.writeheader()
    writer.writerow(row)
    with path.open("a", encoding="utf-8", newline="") as file:
        file.write(buffer.getvalue())
        file.flush()
        os.fsync(file.fileno())


def check_out_folder(out: str | Path) -> Path:
    """``out`` as a folder for a run's outputs (created).

    Raises:
        PinpointError: ``out`` is a file, or holds rows with columns this version does not
            know (a newer version wrote them: they would be lost, or mis-read).
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise PinpointError(
            f"--out {path} is a file, but a report needs a folder",
            "give --out a folder (it is created if missing)",
        )
    for rows in sorted((path / SHARDS).glob("rows-*.csv")):
        unknown = [column for column in _header(rows) or () if column not in ROW_COLUMNS]
        if unknown:
            raise PinpointError(
                f"{rows} has the columns {', '.join(unknown)}, which this version of Pinpoint "
                "does not know",
                "give --out another folder, or run the version that wrote it",
            )
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_eval_items(
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
        where += "" if item.label == DEFAULT_ROUTE else f" / {item.label}"
        report(f"[{count}/{len(todo)}] {where}: {outcome} ({row['ms']} ms)")
    return len(todo)


def merge_rows(out: Path, items: Sequence[EvalItem]) -> list[dict[str, str]]:
    """Join every shard's rows into ``<out>/rows.csv`` in item order (written whole); rows of
    items not among ``items`` are left out (give the items of every route to join them).

    Returns:
        the rows, as written.
    """
    done = done_rows(out)
    rows = [done[item.key] for item in items if item.key in done]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ROW_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({column: row.get(column, "") for column in ROW_COLUMNS} for row in rows)
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
(``edits/<type>/<image stem>.png``; another route's ``edits/<type>@<route>/...``)."""


def output_path(out: Path, item: EvalItem, what: str = EDITS) -> Path:
    """Where ``item``'s edited image (``EDITS``) or mask (``MASKS``) is written."""
    return out / what / item.folder / f"{item.stem}.png"


def folder_routes(out: Path) -> list[tuple[str, str]]:
    """Every run (route and setting, see :func:`row_run`) with rows in the output folder, the
    default route's default setting first, then by route and setting."""
    found = {row_run(row) for row in done_rows(out).values()}
    return sorted(found, key=lambda run: (run != (DEFAULT_ROUTE, ""), run))
