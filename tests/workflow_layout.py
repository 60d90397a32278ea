"""How a shipped workflow is laid out for a person, and the checks that it stays so.

The API twins (``workflows/api/<name>.json``) are the graph; ``workflows/layout/<name>.json`` is
the layout, kept as data: rows of titled stage groups, each group columns of node ids (a
loader stacked above or beside the node that uses it), and the text of a note placed top left.
:func:`plan` turns that data and the node sizes the editor reports into positions, group
rectangles and the note's place; the editor test that writes the UI files applies the plan, so
layout and graph cannot drift. The checks below run on the UI files (CI) and on what the real
frontend shows (tests/comfy/test_editor.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / "workflows"

MODEL_SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pth", ".pt", ".bin")
"""A widget value ending so names a single model file (the frontend checks such values)."""
HF = "https://huggingface.co"
STOCK_MODELS = {
    "sd-v1-5-inpainting.ckpt": (
        "checkpoints",
        f"{HF}/stable-diffusion-v1-5/stable-diffusion-inpainting/resolve/main/"
        "sd-v1-5-inpainting.ckpt",
    ),
    "v1-5-pruned-emaonly.safetensors": (
        "checkpoints",
        f"{HF}/stable-diffusion-v1-5/stable-diffusion-v1-5/resolve/main/"
        "v1-5-pruned-emaonly.safetensors",
    ),
    "sam3.1_multiplex_fp16.safetensors": (
        "checkpoints",
        f"{HF}/Comfy-Org/sam3.1/resolve/main/checkpoints/sam3.1_multiplex_fp16.safetensors",
    ),
    "sd_xl_base_1.0.safetensors": (
        "checkpoints",
        f"{HF}/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/sd_xl_base_1.0.safetensors",
    ),
    "flux1-dev-kontext_fp8_scaled.safetensors": (
        "diffusion_models",
        f"{HF}/Comfy-Org/flux1-kontext-dev_ComfyUI/resolve/main/split_files/diffusion_models/"
        "flux1-dev-kontext_fp8_scaled.safetensors",
    ),
    "flux1-fill-dev.safetensors": (
        "diffusion_models",
        f"{HF}/Comfy-Org/flux1-dev/resolve/main/split_files/diffusion_models/"
        "flux1-fill-dev.safetensors",
    ),
    "clip_l.safetensors": (
        "text_encoders",
        f"{HF}/comfyanonymous/flux_text_encoders/resolve/main/clip_l.safetensors",
    ),
    "t5xxl_fp8_e4m3fn_scaled.safetensors": (
        "text_encoders",
        f"{HF}/comfyanonymous/flux_text_encoders/resolve/main/t5xxl_fp8_e4m3fn_scaled.safetensors",
    ),
    "ae.safetensors": (
        "vae",
        f"{HF}/Comfy-Org/Lumina_Image_2.0_Repackaged/resolve/main/split_files/vae/ae.safetensors",
    ),
    "rt_detr_v4-x-hgnet_fp16.safetensors": (
        "diffusion_models",
        f"{HF}/Comfy-Org/SDPose/resolve/main/diffusion_models/rt_detr_v4-x-hgnet_fp16.safetensors",
    ),
    "qwen_image_edit_2509_fp8_e4m3fn.safetensors": (
        "diffusion_models",
        f"{HF}/Comfy-Org/Qwen-Image-Edit_ComfyUI/resolve/main/split_files/diffusion_models/"
        "qwen_image_edit_2509_fp8_e4m3fn.safetensors",
    ),
    "qwen_2.5_vl_7b_fp8_scaled.safetensors": (
        "text_encoders",
        f"{HF}/Comfy-Org/Qwen-Image_ComfyUI/resolve/main/split_files/text_encoders/"
        "qwen_2.5_vl_7b_fp8_scaled.safetensors",
    ),
    "qwen_image_vae.safetensors": (
        "vae",
        f"{HF}/Comfy-Org/Qwen-Image_ComfyUI/resolve/main/split_files/vae/qwen_image_vae.safetensors",
    ),
}
"""The stock model files the workflows name → (their folder under ``models/``, their download
URL), as ComfyUI's own templates name them."""


def stock_model_command(name: str) -> str:
    """The README's download line of a stock model file (also the workflows' notes')."""
    directory, url = STOCK_MODELS[name]
    return f"curl -L --create-dirs -o models/{directory}/{name} {url}"


def model_files() -> dict[str, dict[str, str]]:
    """Every single-file model a shipped workflow names → the frontend's model metadata
    ``{"name", "url", "directory"}``, which a loader node carries in ``properties.models`` (and
    the workflow in ``models``) so that the editor offers the download of a missing one."""
    from pinpoint.loading.kinds import PERCEPTUAL
    from pinpoint.loading.perceptual import NETWORKS
    from pinpoint.loading.suggested import SUGGESTED

    files = {
        model.name: {"name": model.name, "url": model.url, "directory": model.kind.folder}
        for model in SUGGESTED
        if model.file
    }
    for name, (directory, url) in STOCK_MODELS.items():
        files[name] = {"name": name, "url": url, "directory": directory}
    for network in NETWORKS.values():
        files[network.file] = {
            "name": network.file,
            "url": network.url,
            "directory": PERCEPTUAL.folder,
        }
    return files


def widget_values(node: dict) -> list:
    """A UI node's saved widget values (a list, or a name → value object for some nodes)."""
    values = node.get("widgets_values") or []
    return list(values.values()) if isinstance(values, dict) else list(values)


def with_model_metadata(workflow: dict) -> dict:
    """``workflow`` (UI format) with the model metadata of every single-file model a node's
    widget names: on that node (``properties.models``) and on the workflow (``models``)."""
    files = model_files()
    listed: dict[str, dict[str, str]] = {}
    for node in workflow["nodes"]:
        named = [files[value] for value in widget_values(node) if value in files]
        if named:
            node.setdefault("properties", {})["models"] = named
            listed.update((entry["name"], entry) for entry in named)
    return workflow | ({"models": list(listed.values())} if listed else {})


GAP = 40
"""Space between columns, between stacked nodes, and between groups of a row."""
ROW_GAP = 80
"""Space between rows (room for the wires that go down)."""
PAD = 20
"""Space between a group's border and its nodes."""
GROUP_TITLE = 50
"""Height of a group's title bar, in canvas units (the frontend draws about 30-34)."""
NOTE_WIDTH = 440
"""The note's width; its height follows its text (:func:`note_height`)."""
IMAGE_OUTPUT_SIZE = (320, 320)
"""Preview and Save Image nodes are tiny until a run fills them: room for the picture."""
IMAGE_OUTPUTS = ("PreviewImage", "SaveImage")
NOTE_TYPES = ("MarkdownNote", "Note")
"""Frontend-only node types: not in the API prompt, not in a stage group."""
STAGE_TITLE = re.compile(r"^\d · \S")
"""A stage group's title: its number, a middle dot, the stage ("1 · Find")."""

SCREEN = (1920, 1080)
"""The screen the whole graph must be readable on."""
SCREEN_MARGIN = (120, 160)
"""What the editor's side bar, menus and borders take of that screen (width, height)."""
MIN_FIT_ZOOM = 0.6
"""The zoom at which the whole graph fits the screen may not be smaller: below it node titles
(14 px) fall under 8.5 px."""
MAX_WIRE_SPAN = 0.7
"""No wire may run across more than this fraction of the graph's width."""


def load_layout(name: str) -> dict:
    """``workflows/layout/<name>.json``: ``{"note": str, "rows": [[{"title", "columns"}]]}``."""
    return json.loads((WORKFLOWS / "layout" / f"{name}.json").read_text(encoding="utf-8"))


def node_ids(layout: dict) -> list[str]:
    """Every node id the layout places, in reading order."""
    return [
        node
        for row in layout["rows"]
        for group in row
        for column in group["columns"]
        for node in column
    ]


@dataclass(frozen=True)
class Plan:
    """Where everything goes, in canvas units.

    Attributes:
        positions: node id → ``[x, y]`` of the node body's top-left (below its title bar).
        sizes: node id → ``[w, h]`` body size for nodes the plan resizes (image outputs).
        groups: ``{"title", "bounding": [x, y, w, h]}`` per stage group.
        note: ``{"text", "pos", "size"}`` of the note.
    """

    positions: dict[str, list[float]]
    sizes: dict[str, list[float]]
    groups: list[dict]
    note: dict


def plan(
    layout: dict, boxes: dict[str, tuple[float, float]], types: dict[str, str], title: float
) -> Plan:
    """Place the groups of each row left to right, the rows top to bottom, the note top left.

    A later row shorter than the first ends where the first ends (it sits under the first
    row's end, where its inputs come from), so no wire runs back across the whole graph.

    Args:
        layout: from :func:`load_layout`.
        boxes: node id → ``(width, height)`` as the editor draws it, title bar included.
        types: node id → node type.
        title: the height of a node's title bar (``LiteGraph.NODE_TITLE_HEIGHT``).
    """
    sizes = {node: list(IMAGE_OUTPUT_SIZE) for node, kind in types.items() if kind in IMAGE_OUTPUTS}
    outer = dict(boxes) | {node: (w, h + title) for node, (w, h) in sizes.items()}
    note = {"text": layout["note"], "pos": [0.0, title], "size": [NOTE_WIDTH, note_height(layout)]}

    def column_width(column: list[str]) -> float:
        return max(outer[node][0] for node in column)

    def group_width(group: dict) -> float:
        columns = group["columns"]
        return 2 * PAD + sum(map(column_width, columns)) + GAP * (len(columns) - 1)

    widths = [sum(group_width(g) + GAP for g in row) - GAP for row in layout["rows"]]
    widths[0] += NOTE_WIDTH + GAP
    positions: dict[str, list[float]] = {}
    groups = []
    top = 0.0
    for row_index, row in enumerate(layout["rows"]):
        left = NOTE_WIDTH + GAP if row_index == 0 else max(0.0, widths[0] - widths[row_index])
        row_height = note["size"][1] + title if row_index == 0 else 0.0
        for group in row:
            x = left + PAD
            inner_height = 0.0
            for column in group["columns"]:
                y = top + GROUP_TITLE
                for node in column:
                    positions[node] = [x, y + title]
                    y += outer[node][1] + GAP
                inner_height = max(inner_height, y - GAP - (top + GROUP_TITLE))
                x += column_width(column) + GAP
            bounding = [left, top, group_width(group), GROUP_TITLE + inner_height + PAD]
            groups.append({"title": group["title"], "bounding": bounding})
            left += bounding[2] + GAP
            row_height = max(row_height, bounding[3])
        top += row_height + ROW_GAP
    return Plan(positions, sizes, groups, note)


def note_height(layout: dict) -> float:
    """The note's height: its lines as the editor wraps them at :data:`NOTE_WIDTH`."""
    lines = 0.0
    code = False
    for line in layout["note"].splitlines():
        if line.startswith("```"):
            code = not code
            continue
        per_line = 58 if code else 72  # characters that fit, monospaced or not
        lines += max(1, -(-len(line) // per_line)) * (1.3 if line.startswith("#") else 1.0)
    return 40 + 16 * lines


# --- checks ------------------------------------------------------------------------------------


def contains(outer: list[float], inner: list[float]) -> bool:
    """Whether rectangle ``inner`` ``[x, y, w, h]`` lies inside ``outer``."""
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and inner[0] + inner[2] <= outer[0] + outer[2]
        and inner[1] + inner[3] <= outer[1] + outer[3]
    )


def overlap(a: list[float], b: list[float]) -> bool:
    """Whether rectangles ``[x, y, w, h]`` share area."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def bounds(rects: list[list[float]]) -> list[float]:
    """The rectangle ``[x, y, w, h]`` around ``rects``."""
    x0 = min(r[0] for r in rects)
    y0 = min(r[1] for r in rects)
    x1 = max(r[0] + r[2] for r in rects)
    y1 = max(r[1] + r[3] for r in rects)
    return [x0, y0, x1 - x0, y1 - y0]


def fit_zoom(rect: list[float]) -> float:
    """The zoom at which ``rect`` fits the canvas of a 1920x1080 screen (the editor's bars
    excluded)."""
    width = SCREEN[0] - SCREEN_MARGIN[0]
    height = SCREEN[1] - SCREEN_MARGIN[1]
    return min(width / rect[2], height / rect[3])


def layout_problems(
    nodes: list[dict], groups: list[dict], links: list[tuple[str, str]]
) -> list[str]:
    """What keeps a laid-out graph from being readable, as sentences (empty when none).

    Args:
        nodes: ``{"id", "type", "rect": [x, y, w, h]}`` per node, title bar included.
        groups: ``{"title", "bounding": [x, y, w, h]}`` per group.
        links: ``(source id, target id)`` per wire.
    """
    problems = []
    notes = [node for node in nodes if node["type"] in NOTE_TYPES]
    stage_nodes = [node for node in nodes if node["type"] not in NOTE_TYPES]
    if len(notes) != 1:
        problems.append(f"{len(notes)} notes instead of one")
    for node in stage_nodes:
        homes = [g["title"] for g in groups if contains(g["bounding"], node["rect"])]
        if len(homes) != 1 or not STAGE_TITLE.match(homes[0]):
            problems.append(f"node {node['id']} ({node['type']}) is in the groups {homes}")
    for group in groups:
        if not STAGE_TITLE.match(group["title"]):
            problems.append(f"group {group['title']!r} does not name a stage")
    rects = [node["rect"] for node in nodes] + [g["bounding"] for g in groups]
    everything = bounds(rects)
    if notes:
        note = notes[0]["rect"]
        left_of_all = all(note[0] <= r[0] + 1 for r in rects)
        if not left_of_all or note[1] > everything[1] + 40:
            problems.append("the note is not top left")
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            if overlap(a["rect"], b["rect"]):
                problems.append(f"nodes {a['id']} and {b['id']} overlap")
    for i, a in enumerate(groups):
        for b in groups[i + 1 :]:
            if overlap(a["bounding"], b["bounding"]):
                problems.append(f"groups {a['title']!r} and {b['title']!r} overlap")
    zoom = fit_zoom(everything)
    if zoom < MIN_FIT_ZOOM:
        problems.append(f"the whole graph fits a 1920x1080 screen only at zoom {zoom:.2f}")
    where = {node["id"]: node["rect"] for node in nodes}
    for source, target in links:
        a, b = where[source], where[target]
        span = max(a[0] + a[2], b[0] + b[2]) - min(a[0], b[0])
        if span > MAX_WIRE_SPAN * everything[2]:
            problems.append(f"the wire {source} → {target} crosses {span / everything[2]:.0%}")
    return problems


def ui_file_geometry(workflow: dict) -> tuple[list[dict], list[dict], list[tuple[str, str]]]:
    """:func:`layout_problems`' arguments from a saved UI workflow (title bars added to the
    saved body sizes, as the editor draws them)."""
    title = 30
    nodes = [
        {
            "id": str(node["id"]),
            "type": node["type"],
            "rect": [
                node["pos"][0],
                node["pos"][1] - title,
                node["size"][0],
                node["size"][1] + title,
            ],
        }
        for node in workflow["nodes"]
    ]
    groups = [
        {"title": g["title"], "bounding": list(g["bounding"])} for g in workflow.get("groups", [])
    ]
    links = [(str(link[1]), str(link[3])) for link in workflow["links"]]
    return nodes, groups, links
