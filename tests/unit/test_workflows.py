"""The shipped workflows as files: each UI workflow is its API twin laid out by its layout data,
readable, with a note and a template thumbnail (the editor tests check the same in a browser)."""

from __future__ import annotations

import json

import pytest
import workflow_layout as wl
from PIL import Image

NAMES = sorted(path.stem for path in (wl.WORKFLOWS / "api").glob("*.json"))


def ui(name: str) -> dict:
    return json.loads((wl.WORKFLOWS / f"{name}.json").read_text(encoding="utf-8"))


def api(name: str) -> dict:
    return json.loads((wl.WORKFLOWS / "api" / f"{name}.json").read_text(encoding="utf-8"))


def test_every_workflow_has_a_layout_a_ui_file_and_a_thumbnail():
    assert len(NAMES) >= 9
    for folder, suffix in ((wl.WORKFLOWS, ".json"), (wl.WORKFLOWS / "layout", ".json")):
        assert sorted(path.stem for path in folder.glob(f"*{suffix}")) == NAMES, folder
    assert sorted(path.stem for path in wl.WORKFLOWS.glob("*.jpg")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_the_layout_places_every_node_of_the_api_twin_once(name):
    placed = wl.node_ids(wl.load_layout(name))
    assert sorted(placed) == sorted(api(name)) and len(set(placed)) == len(placed)
    for row in wl.load_layout(name)["rows"]:
        for group in row:
            assert wl.STAGE_TITLE.match(group["title"]), group["title"]


@pytest.mark.parametrize("name", NAMES)
def test_the_ui_file_is_its_layout_applied(name):
    """Positions, groups and the note are what :func:`workflow_layout.plan` gives for the node
    sizes saved in the file: layout data and UI file cannot drift apart."""
    workflow = ui(name)
    layout = wl.load_layout(name)
    title = 30
    stage = [node for node in workflow["nodes"] if node["type"] not in wl.NOTE_TYPES]
    assert sorted(str(node["id"]) for node in stage) == sorted(api(name))
    boxes = {str(n["id"]): (n["size"][0], n["size"][1] + title) for n in stage}
    types = {str(n["id"]): n["type"] for n in stage}
    expected = wl.plan(layout, boxes, types, title)
    for node in stage:
        assert node["pos"] == pytest.approx(expected.positions[str(node["id"])]), node["id"]
        if str(node["id"]) in expected.sizes:
            assert node["size"] == pytest.approx(expected.sizes[str(node["id"])])
    saved_groups = [(g["title"], g["bounding"]) for g in workflow["groups"]]
    assert [title for title, _ in saved_groups] == [g["title"] for g in expected.groups]
    for (_, bounding), group in zip(saved_groups, expected.groups, strict=True):
        assert bounding == pytest.approx(group["bounding"])
    (note,) = [node for node in workflow["nodes"] if node["type"] in wl.NOTE_TYPES]
    assert note["widgets_values"] == [layout["note"]]
    assert note["pos"] == pytest.approx(expected.note["pos"])
    assert note["size"] == pytest.approx(expected.note["size"])


@pytest.mark.parametrize("name", NAMES)
def test_the_ui_file_reads(name):
    """Every node in a stage group, the note top left, nothing over anything else, readable at
    the zoom that fits a 1920x1080 screen, no wire across the whole graph."""
    assert wl.layout_problems(*wl.ui_file_geometry(ui(name))) == []


@pytest.mark.parametrize("name", NAMES)
def test_the_note_says_what_the_readme_says(name):
    """What it does, the models with their folders and download lines, what to change first,
    what the previews show; every download line is one the README gives."""
    note = wl.load_layout(name)["note"]
    readme = (wl.REPO / "README.md").read_text(encoding="utf-8")
    for heading in ("**Models**", "**Change first**", "**Previews**"):
        assert heading in note, heading
    commands = [line for line in note.splitlines() if line.startswith(("hf ", "curl "))]
    assert commands
    for command in commands:
        assert command in readme, command


@pytest.mark.parametrize("name", NAMES)
def test_single_model_files_carry_their_download_for_the_editor(name):
    """A loader whose widget names a model file carries the frontend's model metadata (name,
    URL, folder) and so does the workflow, so the editor's missing-models list offers the
    download; the note gives the same URL."""
    workflow = ui(name)
    files = wl.model_files()
    note = wl.load_layout(name)["note"]
    listed = []
    for node in workflow["nodes"]:
        named = [value for value in wl.widget_values(node) if isinstance(value, str)]
        models = [files[value] for value in named if value in files]
        assert node.get("properties", {}).get("models", []) == models, node["type"]
        for value in named:
            if value.endswith(wl.MODEL_SUFFIXES):
                assert value in files, f"{value}: add its download URL to workflow_layout"
        for model in models:
            assert model["url"] in note, model["name"]
            listed += [model] if model not in listed else []
    assert workflow.get("models", []) == listed


def test_thumbnails_are_the_size_the_template_browser_shows():
    for name in NAMES:
        with Image.open(wl.WORKFLOWS / f"{name}.jpg") as picture:
            assert picture.format == "JPEG" and picture.size == (640, 360), name


def test_the_readme_shows_a_workflow_in_the_editor_and_names_every_workflow():
    readme = (wl.REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/workflow_in_comfyui.jpg" in readme
    assert (wl.REPO / "docs" / "workflow_in_comfyui.jpg").is_file()
    for name in NAMES:
        assert f"`{name}.json`" in readme, name


def test_problems_are_found():
    """The checks catch what they look for (a check that cannot fail is no check)."""
    workflow = ui(NAMES[0])
    nodes, groups, links = wl.ui_file_geometry(workflow)
    assert wl.layout_problems(nodes, groups, links) == []
    moved = [
        dict(node, rect=[-5000.0, *node["rect"][1:]]) if i == 1 else node
        for i, node in enumerate(nodes)
    ]
    found = " ".join(wl.layout_problems(moved, groups, links))
    assert "is in the groups []" in found and "fits a 1920x1080 screen only at zoom" in found
    piled = [dict(node, rect=[*nodes[0]["rect"][:2], *node["rect"][2:]]) for node in nodes]
    assert "overlap" in " ".join(wl.layout_problems(piled, groups, links))
    renamed = [dict(group, title="Stuff") for group in groups]
    assert "does not name a stage" in " ".join(wl.layout_problems(nodes, renamed, links))
    noteless = [node for node in nodes if node["type"] not in wl.NOTE_TYPES]
    assert "0 notes" in " ".join(wl.layout_problems(noteless, groups, links))
