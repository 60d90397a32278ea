"""What an evaluation found: a summary per edit type (printed, ``summary.json``) and a
self-contained HTML report (``report.html``: the tables, each metric's distribution per edit
type, and the best and worst edits of each type with their masks); with the rows of several
runs (routes, settings) in one folder, each of these per run, side by side."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch

from .eval_items import DEFAULT_ROUTE, EvalItem, run_label
from .eval_runner import (
    FAILED,
    MASKS,
    NOTHING_FOUND,
    OK,
    numbers,
    output_path,
    row_route,
    write_whole,
)
from .images import load_image, to_pil
from .preview import overlay_mask
from .ranking import RankSettings

SHOWN = {
    "t2i": "S_t2i (edit ↔ text)",
    "i2i": "S_i2i (edit ↔ source)",
    "directional": "directional CLIP",
    "ssim_image": "SSIM (whole image)",
    "ssim_inside": "SSIM inside",
    "ssim_outside": "SSIM outside",
    "lpips_outside": "LPIPS outside",
    "max_delta_outside": "max |Δ| outside (8-bit)",
    "mask_area": "mask area",
    "target_iou": "IoU with the target box",
    "target_mask_iou": "IoU with the target outline",
    "bench_mask_iou": "IoU with the benchmark's mask",
    "clip_whole": "CLIP whole image ↔ text",
    "clip_edited": "CLIP edited part ↔ text",
    "psnr_unedited": "PSNR unedited part (dB)",
    "mse_unedited": "MSE unedited part",
    "ssim_unedited": "SSIM unedited part",
    "lpips_unedited": "LPIPS unedited part",
    "l1_target": "L1 to the target image",
    "l2_target": "L2 to the target image",
    "clip_i": "CLIP-I (edit ↔ target)",
    "dino_i": "DINO-I (edit ↔ target)",
    "ms": "ms per image",
    "peak_mb": "peak memory (MB)",
}
"""The numeric columns the summary and the report show (those a run measured), with titles."""
ALL = "all"
"""The summary's row over every edit type."""
THUMBNAILS = 3
"""Best and worst edits shown per type."""
THUMB_HEIGHT = 160


def summarise(
    rows: Sequence[Mapping[str, str]],
    types: Sequence[str],
    fid: Callable[[str | None], float | None] = lambda edit_type: None,
    route: str = DEFAULT_ROUTE,
    setting: str = "",
) -> dict[str, dict[str, object]]:
    """Per edit type (and :data:`ALL`) of the rows of ``route`` with ``setting`` (the others
    are left out): the route, its refiner and the setting, items, how many were
    ``ok``/``nothing found``/``failed``, the success rate over every item (an edit that found
    nothing or failed did not succeed), each measured column's mean and standard deviation,
    and the FID of the edited set against its sources (``fid(type)``, ``fid(None)`` for all;
    None where not measured).
    """
    summary: dict[str, dict[str, object]] = {}
    mine = [row for row in rows if row_route(row) == run_label(route, setting)]
    name, _, refiner = route.partition("+")
    for edit_type in (*types, ALL):
        chosen = [row for row in mine if edit_type == ALL or row["type"] == edit_type]
        entry: dict[str, object] = {
            "route": name,
            "refiner": refiner or "none",
            "setting": setting,
            "items": len(chosen),
            OK: sum(row["status"] == OK for row in chosen),
            NOTHING_FOUND: sum(row["status"] == NOTHING_FOUND for row in chosen),
            FAILED: sum(row["status"] == FAILED for row in chosen),
            "success_rate": (
                sum(row.get("success") == "1" for row in chosen) / len(chosen) if chosen else None
            ),
            "fid": fid(None if edit_type == ALL else edit_type),
        }
        for column in SHOWN:
            values = numbers(chosen, column)
            if values:
                mean = sum(values) / len(values)
                spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
                entry[column] = {"mean": mean, "std": spread, "n": len(values)}
        summary[edit_type] = entry
    return summary


def routes_text(routes: Mapping[str, Mapping[str, Mapping[str, object]]]) -> str:
    """Every run's summary (:func:`summary_text`) under a line naming its route and setting."""
    return "\n\n".join(
        f"route {route}:\n{summary_text(summary)}" for route, summary in routes.items()
    )


def summary_text(summary: Mapping[str, Mapping[str, object]]) -> str:
    """The summary as a text table, one line per edit type."""
    columns = [c for c in SHOWN if any(c in entry for entry in summary.values())]
    head = f"{'type':<16}{'items':>6}{'ok':>6}{'none':>6}{'fail':>6}{'success':>9}{'FID':>8}"
    lines = [head + "".join(f"{c[:15]:>16}" for c in columns)]
    for edit_type, entry in summary.items():
        rate = entry["success_rate"]
        fid = entry["fid"]
        line = (
            f"{edit_type[:15]:<16}{entry['items']:>6}{entry[OK]:>6}{entry[NOTHING_FOUND]:>6}"
            f"{entry[FAILED]:>6}{_format(rate, '.1%'):>9}{_format(fid, '.2f'):>8}"
        )
        for column in columns:
            stat = entry.get(column)
            line += f"{_mean_std(stat):>16}"
        lines.append(line)
    return "\n".join(lines)


def _format(value: object, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _mean_std(stat: object) -> str:
    if not isinstance(stat, Mapping):
        return "-"
    return f"{stat['mean']:.3g} ±{stat['std']:.2g}"


def write_summary(
    out: Path,
    summary: Mapping[str, object],
    notes: Sequence[str],
    routes: Mapping[str, object] | None = None,
) -> Path:
    """``<out>/summary.json`` (written whole): this run's ``summary``, every run's summary in
    the folder by its label (``routes``: route and setting), and the notes."""
    text = json.dumps({"summary": summary, "routes": routes or {}, "notes": list(notes)}, indent=2)
    return write_whole(out / "summary.json", text)


COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def _histogram(title: str, values: Mapping[str, Sequence[float]], bins: int = 20) -> str:
    """An SVG histogram of one metric, one outline per edit type."""
    every = [v for vs in values.values() for v in vs]
    low, high = min(every), max(every)
    span = (high - low) or 1.0
    width, height, pad = 360, 150, 24
    counts = {}
    for edit_type, vs in values.items():
        bars = [0] * bins
        for v in vs:
            bars[min(bins - 1, int((v - low) / span * bins))] += 1
        counts[edit_type] = bars
    top = max(max(bars) for bars in counts.values()) or 1
    parts = [
        f'<svg width="{width}" height="{height + 2 * pad}" role="img">',
        f'<text x="4" y="14" font-size="12">{html.escape(title)}</text>',
    ]
    step = (width - 2 * pad) / bins
    for number, (edit_type, bars) in enumerate(counts.items()):
        colour = COLOURS[number % len(COLOURS)]
        points = []
        for index, count in enumerate(bars):
            y = pad + height - count / top * height
            points += [(pad + index * step, y), (pad + (index + 1) * step, y)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>'
        )
        parts.append(
            f'<text x="{width - pad}" y="{14 + 12 * number}" font-size="10" fill="{colour}" '
            f'text-anchor="end">{html.escape(edit_type)}</text>'
        )
    base = pad + height
    parts += [
        f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#888"/>',
        f'<text x="{pad}" y="{base + 14}" font-size="10">{low:.3g}</text>',
        f'<text x="{width - pad}" y="{base + 14}" font-size="10" text-anchor="end">'
        f"{high:.3g}</text>",
        "</svg>",
    ]
    return "".join(parts)


def _thumbnail(out: Path, item: EvalItem) -> str:
    """The source with the mask tinted beside the edit, as an ``<img>`` with a PNG inline."""
    source = load_image(item.image.path, convert_rgb=True)
    edited = load_image(output_path(out, item), convert_rgb=True)
    mask = load_image(output_path(out, item, MASKS), convert_rgb=True)[..., 0]
    pair = torch.cat([overlay_mask(source, mask), edited], dim=2)
    picture = to_pil(pair[0])
    scale = THUMB_HEIGHT / picture.height
    picture = picture.resize((max(1, round(picture.width * scale)), THUMB_HEIGHT))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(item.image.name)}">'


def write_report(
    out: Path,
    rows: Sequence[Mapping[str, str]],
    items: Sequence[EvalItem],
    routes: Mapping[str, Mapping[str, Mapping[str, object]]],
    notes: Sequence[str],
    ranking: RankSettings = RankSettings(),
) -> Path:
    """``<out>/report.html``: each run's summary table (see :func:`summarise`; ``routes``: by
    run label, route and setting), the distributions (one outline per edit type, and run where
    there are several), and per run and edit type the :data:`THUMBNAILS` best and worst edits
    by ``alpha * S_t2i + beta * S_i2i`` (a best-of-N edit's caption says which candidate it
    kept); ``items``: every run's."""
    by_key = {item.key: item for item in items}
    several = len(routes) > 1
    types = [t for t in next(iter(routes.values())) if t != ALL]
    series = [(route, t) for route in routes for t in types]

    def named(route: str, edit_type: str) -> str:
        return f"{edit_type} ({route})" if several else edit_type

    body = ["<h1>Pinpoint evaluation</h1>"]
    body += [f"<p class=note>{html.escape(note)}</p>" for note in notes]
    tables = routes_text(routes) if several else summary_text(next(iter(routes.values())))
    body.append("<h2>Summary</h2><pre>" + html.escape(tables) + "</pre>")
    body.append(
        "<p>success: the edited area is closer in CLIP to the prompt than to the source text; "
        "items that found nothing or failed count as unsuccessful. SSIM outside counts the "
        "pixels whose 11-pixel window lies wholly outside the mask; max |Δ| outside is 0 when "
        "nothing outside the mask moved.</p>"
    )
    body.append("<h2>Distributions</h2><div class=plots>")
    for column, title in SHOWN.items():
        values = {
            named(route, t): numbers(
                [r for r in rows if r["type"] == t and row_route(r) == route], column
            )
            for route, t in series
        }
        values = {name: vs for name, vs in values.items() if vs}
        if values:
            body.append(_histogram(title, values))
    body.append("</div>")
    for route, edit_type in series:
        scored = [
            (ranking.alpha * float(r["t2i"]) + ranking.beta * float(r["i2i"]), r)
            for r in rows
            if r["type"] == edit_type and r["status"] == OK and row_route(r) == route
        ]
        scored.sort(key=lambda pair: pair[0], reverse=True)
        body.append(f"<h2>{html.escape(named(route, edit_type))}</h2>")
        if not scored:
            body.append("<p>no edit of this type found anything to edit</p>")
            continue
        worst = scored[-THUMBNAILS:] if len(scored) > THUMBNAILS else []
        for title, chosen in (("best", scored[:THUMBNAILS]), ("worst", worst[::-1])):
            if not chosen:
                continue
            body.append(f"<h3>{title}</h3><div class=row>")
            for score, row in chosen:
                item = by_key[(row["image"], row["type"], route)]
                caption = f"{row['image']}: S={score:.3f} t2i={float(row['t2i']):.3f}"
                if row.get("kept"):
                    caption += f" (candidate {row['kept']} of {row['candidates']} kept)"
                body.append(
                    f"<figure>{_thumbnail(out, item)}<figcaption>{html.escape(caption)}<br>"
                    f"{html.escape(row['prompt'])}</figcaption></figure>"
                )
            body.append("</div>")
    style = (
        "body{font-family:sans-serif;margin:2em}pre{font-size:12px}.plots,.row{display:flex;"
        "flex-wrap:wrap;gap:12px}figure{margin:0;font-size:11px}.note{color:#a60}"
    )
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>Pinpoint evaluation</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )
    return write_whole(out / "report.html", page)
