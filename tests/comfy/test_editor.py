"""In a real headless browser: the example workflows in the ComfyUI editor (frontend 1.27 and 1.49).

Opens the editor served by the ``server`` fixture (conftest.py) in Chromium through Playwright,
loads each ``workflows/<name>.json`` with ``app.loadGraphData`` (what dropping the file on the
canvas does, CONTRACT.md §8.3) and checks that no node type is missing, that every widget shows
the value saved in the file, that the editor's API export (``app.graphToPrompt``) is
``workflows/api/<name>.json``, that the Pinpoint nodes and ``js/pinpoint.js`` are registered, and
that hovering a Pinpoint node's title, widgets and sockets shows its tooltips.

The UI files are made from their API twins by the editor itself:
``PINPOINT_WRITE_WORKFLOWS=1 COMFYUI_DIR=... pytest tests/comfy/test_editor.py -k write``.

Skips unless COMFYUI_DIR is set, the ``playwright`` Python package is installed and a Chromium
binary is found: $PINPOINT_CHROMIUM, else /usr/bin/chromium or chromium/chromium-browser/
google-chrome on PATH. No browser is downloaded (``pip install playwright`` plus a system
Chromium, e.g. Debian's ``apt-get install chromium``; ``playwright install`` is not needed).
With PINPOINT_SCREENSHOT_DIR=<dir> a screenshot of the loaded graph is written there.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

if not os.environ.get("COMFYUI_DIR"):
    pytest.skip(
        "COMFYUI_DIR is not set: the editor test opens a ComfyUI (>= 0.3.64) server in Chromium",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="the Python package 'playwright' is not installed (pip install playwright; "
    "no 'playwright install' needed, a system Chromium is used)",
)


def find_chromium() -> tuple[str | None, str]:
    """(path to a Chromium binary or None, why none was found)."""
    explicit = os.environ.get("PINPOINT_CHROMIUM")
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return explicit, ""
        return None, f"PINPOINT_CHROMIUM={explicit} is not an executable file"
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium", ""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found, ""
    return None, (
        "no Chromium found: set PINPOINT_CHROMIUM=/path/to/chromium or install one "
        "(Debian: apt-get install chromium)"
    )


CHROMIUM, NO_CHROMIUM = find_chromium()
if CHROMIUM is None:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_LOAD_MS = 60_000
APP_READY_MS = 120_000
STEP_MS = 15_000
WORKFLOWS = sorted(
    path.stem for path in (Path(__file__).resolve().parents[2] / "workflows" / "api").glob("*.json")
)
SETTINGS = {
    # an existing user: no template browser over the canvas on first start
    "Comfy.TutorialCompleted": True,
    "Comfy.Minimap.Visible": False,  # it would cover part of the canvas
    "LiteGraph.Node.TooltipDelay": 100,
}

APP_READY = """() => Boolean(window.app?.canvas && window.app.graph
    && window.LiteGraph?.registered_node_types?.PinpointDetect
    && window.app.graph._nodes.length > 0)"""
"""The editor finished starting: our node types are registered and its first graph is shown."""

BOUNDED = f"""const bounded = (work, what) => Promise.race([work, new Promise((_, fail) =>
    setTimeout(() => fail(new Error(what + " took over {STEP_MS} ms")), {STEP_MS}))]);"""
"""page.evaluate has no timeout of its own: every promise awaited in the page goes through this."""

LOAD = """async (workflow) => {
    BOUNDED
    if (!window.pinpointTests) {  // an extension can be registered once per page
        window.pinpointTests = {missing: null};
        app.registerExtension({
            name: "pinpoint.tests.editor",
            beforeConfigureGraph(graphData, missingNodeTypes) {
                window.pinpointTests.missing = missingNodeTypes;
            },
        });
    }
    window.pinpointTests.missing = null;
    await bounded(app.loadGraphData(workflow), "app.loadGraphData");
    for (let i = 0; i < 3; i++) {
        await bounded(new Promise((done) => requestAnimationFrame(done)), "a frame");
    }
    return window.pinpointTests.missing;
}""".replace("BOUNDED", BOUNDED)
"""Load a UI workflow as a dropped file is loaded; returns the editor's missing node types."""

INSPECT = """async () => {
    BOUNDED
    const registered = LiteGraph.registered_node_types;
    const nodes = app.graph._nodes.map((node) => ({
        id: String(node.id),  // frontend 1.27 keeps numbers, 1.49 strings
        type: node.type,
        title: node.title,
        registered: node.type in registered,
        rect: Array.from(node.boundingRect),
        // the widgets that have an entry in widgets_values (LGraphNode.configure/serialize)
        widgets: (node.widgets ?? []).filter((widget) => widget.serialize !== false)
            .map((widget) => widget.value),
        saved: node.serialize().widgets_values ?? [],
    }));
    const types = Object.fromEntries(Object.entries(registered)
        .filter(([type]) => type.startsWith("Pinpoint"))
        .map(([type, cls]) => [type, {
            title: cls.title,
            category: cls.category,
            display_name: cls.nodeData?.display_name,
            marked: cls.prototype.isPinpointNode === true,
        }]));
    const dialogs = [...document.querySelectorAll(".p-dialog")]
        .filter((dialog) => dialog.offsetParent !== null)
        .map((dialog) => dialog.innerText);
    const extensions = app.extensions.map((extension) => extension.name);
    const prompt = (await bounded(app.graphToPrompt(), "app.graphToPrompt")).output;
    return {nodes, types, dialogs, extensions, prompt};
}""".replace("BOUNDED", BOUNDED)

CENTRE = """async (nodeId) => {
    BOUNDED
    app.canvas.centerOnNode(app.graph.getNodeById(nodeId));
    app.canvas.setDirty(true, true);
    for (let i = 0; i < 3; i++) {
        await bounded(new Promise((done) => requestAnimationFrame(done)), "a frame");
    }
}""".replace("BOUNDED", BOUNDED)
"""Scroll the canvas so a node is in the middle of the viewport (big workflows do not fit)."""

TARGETS = """(nodeId) => {
    // Points (client pixels) over a node's title, canvas widgets, link inputs and outputs.
    const node = app.graph.getNodeById(nodeId);
    const canvas = app.canvas.canvas.getBoundingClientRect();
    const toClient = ([x, y]) => {
        const [left, top] = app.canvas.ds.convertOffsetToCanvas([x, y]);  // graph -> canvas px
        return [canvas.left + left, canvas.top + top];
    };
    const [x, y] = node.pos;
    const [width] = node.size;
    const targets = [{kind: "title", name: "", point: toClient([x + width / 2,
        y - LiteGraph.NODE_TITLE_HEIGHT / 2])}];
    const dom = [];
    for (const widget of node.widgets ?? []) {
        if (widget.element) {
            dom.push({name: widget.name, title: widget.element.closest(".dom-widget")?.title});
        } else if (widget.options?.serialize !== false) {
            const height = widget.computedHeight ?? LiteGraph.NODE_WIDGET_HEIGHT;
            targets.push({kind: "input", name: widget.name,
                          point: toClient([x + width / 2, y + widget.y + height / 2])});
        }
    }
    node.inputs.forEach((input, slot) => {
        if (!input.widget) {
            targets.push({kind: "input", name: input.name,
                          point: toClient(node.getConnectionPos(true, slot))});
        }
    });
    node.outputs.forEach((output, slot) => {
        targets.push({kind: "output", name: String(slot),
                      point: toClient(node.getConnectionPos(false, slot))});
    });
    return {targets, dom};
}"""


def load_json(facts, relative: str) -> dict:
    return json.loads((facts.repo / "workflows" / relative).read_text())


def store_setting(server, setting_id: str, value) -> None:
    request = urllib.request.Request(
        f"{server.client.url}/settings/{setting_id}",
        data=json.dumps(value).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, (setting_id, response.status)


@pytest.fixture(scope="module")
def editor(server, facts):
    """The editor open in headless Chromium; ``problems`` collects console errors, uncaught
    exceptions and failed requests of the page."""
    for setting_id, value in SETTINGS.items():
        store_setting(server, setting_id, value)
    # the picture the workflow's Load Image names, so its preview loads instead of a 404
    Image.open(facts.repo / "docs" / "chelsea.jpg").convert("RGB").save(
        server.input / "example.png"
    )
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=PAGE_LOAD_MS
        )
        try:
            page = browser.new_page(viewport={"width": 1800, "height": 1000})
            page.set_default_timeout(STEP_MS)

            def on_console(message) -> None:
                if message.type == "error":
                    problems.append(f"console error: {message.text} at {message.location}")

            page.on("console", on_console)
            page.on("pageerror", lambda error: problems.append(f"page error: {error.stack}"))
            page.on(
                "response",
                lambda response: (
                    response.status >= 400
                    and problems.append(f"HTTP {response.status}: {response.url}")
                ),
            )
            page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
            page.goto(server.client.url + "/", timeout=PAGE_LOAD_MS)
            page.wait_for_function(APP_READY, timeout=APP_READY_MS)
            yield SimpleNamespace(page=page, problems=problems)
        finally:
            browser.close()


@pytest.fixture(scope="module", params=WORKFLOWS)
def loaded(editor, facts, request) -> SimpleNamespace:
    """One shipped UI workflow loaded into the editor, and what the editor made of it."""
    name = request.param
    workflow = load_json(facts, f"{name}.json")
    missing = editor.page.evaluate(LOAD, workflow)
    report = editor.page.evaluate(INSPECT)
    folder = os.environ.get("PINPOINT_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        editor.page.screenshot(path=str(Path(folder) / f"{name}.png"))
    return SimpleNamespace(name=name, workflow=workflow, missing=missing, **report)


FROM_API = """async (prompt) => {
    BOUNDED
    const frames = async () => {
        for (let i = 0; i < 3; i++) {
            await bounded(new Promise((done) => requestAnimationFrame(done)), "a frame");
        }
    };
    await bounded(Promise.resolve(app.loadApiJson(prompt, "workflow.json")), "app.loadApiJson");
    await frames();
    // loadApiJson arranges before Load Image has grown to hold its picture: arrange again
    await new Promise((done) => setTimeout(done, 1000));
    app.graph.arrange();
    await frames();
    for (const node of app.graph._nodes) {
        for (const widget of node.widgets ?? []) {
            if (widget.name === "control_after_generate") widget.value = "fixed";
        }
    }
    return app.graph.serialize();
}""".replace("BOUNDED", BOUNDED)
"""The UI workflow the editor makes from an API prompt (what dropping the API file does)."""


@pytest.mark.skipif(
    not os.environ.get("PINPOINT_WRITE_WORKFLOWS"),
    reason="writes workflows/<name>.json; set PINPOINT_WRITE_WORKFLOWS=1 to regenerate them",
)
def test_write_ui_workflows_from_their_api_twins(editor, facts):
    """Regenerate every UI workflow from its API twin through the editor's own import, so the
    two files can never disagree; the layout is the editor's automatic arrangement."""
    for name in WORKFLOWS:
        workflow = editor.page.evaluate(FROM_API, load_json(facts, f"api/{name}.json"))
        target = facts.repo / "workflows" / f"{name}.json"
        target.write_text(json.dumps(workflow, indent=2, ensure_ascii=False) + "\n")


def test_workflow_loads_with_no_missing_node_types(loaded):
    assert loaded.missing == [], f"the editor reports missing node types: {loaded.missing}"
    assert loaded.dialogs == [], f"the editor shows a dialog: {loaded.dialogs}"
    assert [node for node in loaded.nodes if not node["registered"]] == []
    expected = sorted((str(node["id"]), node["type"]) for node in loaded.workflow["nodes"])
    assert sorted((node["id"], node["type"]) for node in loaded.nodes) == expected


def test_every_widget_shows_the_value_saved_in_the_file(loaded):
    shown = {node["id"]: node for node in loaded.nodes}
    for node in loaded.workflow["nodes"]:
        saved = node.get("widgets_values", [])
        assert shown[str(node["id"])]["widgets"] == saved, (node["id"], node["type"])
        assert shown[str(node["id"])]["saved"] == saved, (node["id"], node["type"])


def test_api_export_is_the_api_twin(loaded, facts):
    def comparable(prompt: dict) -> dict:
        return {
            key: {
                "class_type": node["class_type"],
                "title": node.get("_meta", {}).get("title"),
                "inputs": {
                    name: value
                    for name, value in node["inputs"].items()
                    if name != "control_after_generate"
                },
            }
            for key, node in prompt.items()
        }

    assert comparable(loaded.prompt) == comparable(load_json(facts, f"api/{loaded.name}.json"))


def test_nodes_do_not_overlap_in_the_editor(loaded):
    def overlap(a, b) -> bool:
        return (
            a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
        )

    nodes = loaded.nodes
    clashes = [
        (a["title"], b["title"])
        for i, a in enumerate(nodes)
        for b in nodes[i + 1 :]
        if overlap(a["rect"], b["rect"])
    ]
    assert clashes == [], f"nodes drawn over each other (title bar included): {clashes}"


def test_pinpoint_nodes_and_extension_are_registered(loaded, facts, server):
    object_info = server.client.get_json("/object_info")
    assert "pinpoint.core" in loaded.extensions, loaded.extensions
    assert sorted(loaded.types) == sorted(facts.nodes)
    for node_id, (category, _, _) in facts.nodes.items():
        shown = loaded.types[node_id]
        assert shown["category"] == category, node_id
        assert shown["title"] == shown["display_name"] == object_info[node_id]["display_name"]
        assert shown["marked"], f"js/pinpoint.js did not mark {node_id}"


def test_hovering_pinpoint_nodes_shows_their_tooltips(loaded, editor, server, facts):
    """Every Pinpoint node in the workflow: its title shows the node description, each widget
    and socket its input tooltip, each output its output tooltip (text areas carry it as the
    title of their element)."""
    page = editor.page
    object_info = server.client.get_json("/object_info")
    tooltip = page.locator(".node-tooltip")
    pinpoint_nodes = [
        node for node in loaded.workflow["nodes"] if node["type"].startswith("Pinpoint")
    ]
    for node in pinpoint_nodes:
        info = object_info[node["type"]]
        inputs = info["input"]["required"] | info["input"].get("optional", {})
        expected = {("title", ""): info["description"]}
        expected |= {("input", name): spec[1]["tooltip"] for name, spec in inputs.items()}
        expected |= {
            ("output", str(slot)): text for slot, text in enumerate(info["output_tooltips"])
        }
        assert all(expected.values()), (node["type"], expected)
        page.evaluate(CENTRE, node["id"])
        found = page.evaluate(TARGETS, node["id"])
        checked = set()
        for widget in found["dom"]:
            key = ("input", widget["name"])
            assert widget["title"] == expected[key], (node["type"], widget)
            checked.add(key)
        for target in found["targets"]:
            key = (target["kind"], target["name"])
            x, y = target["point"]
            under = page.evaluate("([x, y]) => document.elementFromPoint(x, y)?.nodeName", [x, y])
            assert under == "CANVAS", f"{node['type']} {key}: {under} covers the canvas there"
            page.mouse.move(5, 5)  # off the canvas: hides the previous tooltip
            page.mouse.move(x, y)
            sync_api.expect(tooltip, f"{node['type']} {key}").to_have_text(expected[key])
            checked.add(key)
        assert checked == set(expected), (node["type"], set(expected) - checked)
    page.mouse.move(5, 5)


def test_page_has_no_errors_from_pinpoint(loaded, editor):
    ours = [problem for problem in editor.problems if "pinpoint" in problem.lower()]
    assert ours == [], "\n".join(editor.problems)
