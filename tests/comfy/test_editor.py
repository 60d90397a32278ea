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

import io
import json
import os
import shutil
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import workflow_layout
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
VIEWPORT = {"width": 1800, "height": 1000}
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
    "Comfy.Graph.CanvasInfo": False,  # the render statistics in a corner of the canvas
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
    const groups = (app.graph._groups ?? []).map((group) => ({
        title: group.title, bounding: Array.from(group._bounding),
    }));
    const all = app.graph.links instanceof Map ? [...app.graph.links.values()]
        : Object.values(app.graph.links ?? {});
    const links = all.filter(Boolean)
        .map((link) => [String(link.origin_id), String(link.target_id)]);
    const dialogs = [...document.querySelectorAll(".p-dialog, .p-toast-message")]
        .filter((dialog) => dialog.offsetParent !== null)
        .map((dialog) => dialog.innerText);
    const extensions = app.extensions.map((extension) => extension.name);
    const prompt = (await bounded(app.graphToPrompt(), "app.graphToPrompt")).output;
    return {nodes, groups, links, types, dialogs, extensions, prompt};
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
            page = browser.new_page(viewport=VIEWPORT)
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


def unknown_node_types(page, workflow: dict) -> list[str]:
    """The node types of a UI or API workflow that the editor does not know (stock nodes of a
    newer ComfyUI, such as SAM3 Detect before 0.3.7x; notes excepted)."""
    nodes = workflow["nodes"] if "nodes" in workflow else list(workflow.values())
    types = {node.get("type") or node["class_type"] for node in nodes}
    known = page.evaluate(
        "(types) => types.filter((t) => t in LiteGraph.registered_node_types)", sorted(types)
    )
    return sorted(types - set(known) - set(workflow_layout.NOTE_TYPES))


@pytest.fixture(scope="module", params=WORKFLOWS)
def loaded(editor, facts, request) -> SimpleNamespace:
    """One shipped UI workflow loaded into the editor, and what the editor made of it."""
    name = request.param
    workflow = load_json(facts, f"{name}.json")
    lacking = unknown_node_types(editor.page, workflow)
    if lacking:
        pytest.skip(f"{name} needs {', '.join(lacking)}, which this ComfyUI does not have")
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
    await new Promise((done) => setTimeout(done, 1000));  // Load Image grows to hold its picture
    await frames();
    for (const node of app.graph._nodes) {
        for (const widget of node.widgets ?? []) {
            if (widget.name === "control_after_generate") widget.value = "fixed";
        }
    }
    return {
        title: LiteGraph.NODE_TITLE_HEIGHT,
        nodes: app.graph._nodes.map((node) => ({
            id: String(node.id), type: node.type, box: Array.from(node.boundingRect).slice(2),
        })),
    };
}""".replace("BOUNDED", BOUNDED)
"""Load an API prompt as dropping the API file does; returns each node's drawn size."""

GROUP_COLORS = {
    "Find": "blue",
    "Choose": "green",
    "Refine": "purple",
    "Inpaint": "brown",
    "Rank": "cyan",
}
"""A stage group's colour, by the stage its title names (LGraphCanvas.node_colors)."""

APPLY_LAYOUT = """async ({positions, sizes, groups, note}) => {
    for (const node of app.graph._nodes) {
        const id = String(node.id);
        if (sizes[id]) node.size = sizes[id];
        if (positions[id]) node.pos = positions[id];
    }
    for (const group of groups) {
        const added = new LiteGraph.LGraphGroup(group.title);
        added.pos = group.bounding.slice(0, 2);
        added.size = group.bounding.slice(2);
        const colour = LGraphCanvas.node_colors[group.colour];
        if (colour) added.color = colour.groupcolor;
        app.graph.add(added);
    }
    const written = LiteGraph.createNode("MarkdownNote");
    written.widgets[0].value = note.text;
    written.pos = note.pos;
    written.size = note.size;
    app.graph.add(written);
    app.graph.setDirtyCanvas(true, true);
    await new Promise((done) => requestAnimationFrame(done));
}"""
"""Place the nodes, groups and note of a :class:`workflow_layout.Plan`."""

SERIALIZE = "() => JSON.parse(JSON.stringify(app.graph.serialize()))"
"""The graph as saving writes it (no undefined fields)."""

FIT_VIEW = """() => {
    const rects = app.graph._nodes.map((node) => Array.from(node.boundingRect))
        .concat((app.graph._groups ?? []).map((group) => Array.from(group._bounding)));
    const x0 = Math.min(...rects.map((r) => r[0])), y0 = Math.min(...rects.map((r) => r[1]));
    const x1 = Math.max(...rects.map((r) => r[0] + r[2]));
    const y1 = Math.max(...rects.map((r) => r[1] + r[3]));
    const canvas = app.canvas.canvas.getBoundingClientRect();
    const scale = 0.97 * Math.min(canvas.width / (x1 - x0), canvas.height / (y1 - y0));
    const offset = [canvas.width / (2 * scale) - (x0 + x1) / 2,
                    canvas.height / (2 * scale) - (y0 + y1) / 2];
    app.canvas.ds.scale = scale;
    app.canvas.ds.offset = offset;
    app.canvas.setDirty(true, true);
    return {scale, rect: {x: canvas.x + (x0 + offset[0]) * scale,
                          y: canvas.y + (y0 + offset[1]) * scale,
                          width: (x1 - x0) * scale, height: (y1 - y0) * scale}};
}"""
"""Zoom and pan so that the whole graph fills the canvas; the zoom and the graph's place on
the page."""

HIDE_CONTROLS = ".p-buttongroup { visibility: hidden !important; }"
"""The canvas's zoom buttons, which would cover part of a picture of the graph."""

THUMBNAIL = (640, 360)
"""Size of a template browser thumbnail (``workflows/<name>.jpg``, what the browser asks for)."""
README_PICTURE = "detect_match_sam_crop_ksampler_stitch"
"""The workflow shown in the README, at 1920x1080 (``docs/workflow_in_comfyui.jpg``)."""


def frame(page) -> None:
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => done()))")


def picture(page, clip: dict | None = None) -> Image.Image:
    """A screenshot of the page (or of ``clip``) without the canvas's zoom buttons."""
    style = page.add_style_tag(content=HIDE_CONTROLS)
    try:
        frame(page)
        return Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB")
    finally:
        style.evaluate("(element) => element.remove()")


def write_ui_workflow(page, facts, name: str) -> None:
    """``workflows/<name>.json`` from its API twin and layout, with its template thumbnail."""
    measured = page.evaluate(FROM_API, load_json(facts, f"api/{name}.json"))
    boxes = {node["id"]: tuple(node["box"]) for node in measured["nodes"]}
    types = {node["id"]: node["type"] for node in measured["nodes"]}
    layout = workflow_layout.load_layout(name)
    assert sorted(workflow_layout.node_ids(layout)) == sorted(boxes), name
    placed = workflow_layout.plan(layout, boxes, types, measured["title"])
    groups = [
        group | {"colour": next((c for w, c in GROUP_COLORS.items() if w in group["title"]), "")}
        for group in placed.groups
    ]
    arguments = dict(
        positions=placed.positions, sizes=placed.sizes, groups=groups, note=placed.note
    )
    page.evaluate(APPLY_LAYOUT, arguments)
    fitted = page.evaluate(FIT_VIEW)  # saved in the file: a user sees the whole graph
    workflow = workflow_layout.with_model_metadata(page.evaluate(SERIALIZE))
    target = facts.repo / "workflows" / f"{name}.json"
    target.write_text(json.dumps(workflow, indent=2, ensure_ascii=False) + "\n")
    shot = picture(page, clip=fitted["rect"])
    scale = min(THUMBNAIL[0] / shot.width, THUMBNAIL[1] / shot.height)
    shot = shot.resize((round(shot.width * scale), round(shot.height * scale)), Image.LANCZOS)
    thumbnail = Image.new("RGB", THUMBNAIL, shot.getpixel((0, 0)))
    thumbnail.paste(shot, ((THUMBNAIL[0] - shot.width) // 2, (THUMBNAIL[1] - shot.height) // 2))
    thumbnail.save(facts.repo / "workflows" / f"{name}.jpg", quality=85, optimize=True)


@pytest.mark.skipif(
    not os.environ.get("PINPOINT_WRITE_WORKFLOWS"),
    reason="writes workflows/<name>.json; set PINPOINT_WRITE_WORKFLOWS=1 to regenerate them",
)
def test_write_ui_workflows_from_their_api_twins(editor, facts):
    """Regenerate every UI workflow from its API twin through the editor's own import, laid out
    by its ``workflows/layout/<name>.json``, so graph and layout can never disagree; with the
    template browser thumbnails and the README's picture of one workflow in the editor.

    ``PINPOINT_WRITE_WORKFLOWS=1`` writes every workflow this ComfyUI has the nodes of;
    ``PINPOINT_WRITE_WORKFLOWS=name,name`` only those (one that needs a newer ComfyUI's nodes is
    written with that ComfyUI).
    """
    wanted = os.environ["PINPOINT_WRITE_WORKFLOWS"]
    names = WORKFLOWS if wanted == "1" else [name.strip() for name in wanted.split(",")]
    assert set(names) <= set(WORKFLOWS), sorted(set(names) - set(WORKFLOWS))
    for name in names:
        lacking = unknown_node_types(editor.page, load_json(facts, f"api/{name}.json"))
        if lacking:
            assert wanted == "1", f"{name} needs {lacking}, which this ComfyUI does not have"
            continue
        write_ui_workflow(editor.page, facts, name)
    if README_PICTURE not in names:
        return
    browser = editor.page.context.browser
    page = browser.new_page(viewport={"width": 1920, "height": 1080})  # no tabs of the above
    try:
        page.goto(editor.page.url, timeout=PAGE_LOAD_MS)
        page.wait_for_function(APP_READY, timeout=APP_READY_MS)
        page.evaluate(LOAD, load_json(facts, f"{README_PICTURE}.json"))
        page.evaluate(FIT_VIEW)
        picture(page).save(facts.repo / "docs" / "workflow_in_comfyui.jpg", quality=85)
    finally:
        page.close()


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


def test_the_layout_reads_in_the_editor(loaded):
    """As the frontend draws it: every node in a group named after its stage, the note top
    left, no nodes or groups over each other, the whole graph readable on a 1920x1080 screen
    (fit zoom at least workflow_layout.MIN_FIT_ZOOM), no wire across the whole graph."""
    problems = workflow_layout.layout_problems(loaded.nodes, loaded.groups, loaded.links)
    assert problems == [], problems


BROWSE_TEMPLATES = """async (pack) => {
    await app.extensionManager.command.execute("Comfy.BrowseTemplates");
    for (let i = 0; i < 100 && ![...document.querySelectorAll("*")].some(
        (element) => element.childElementCount === 0 && element.textContent.trim() === pack
    ); i++) await new Promise((done) => setTimeout(done, 100));
}"""
"""Open the template browser and wait until it lists the pack."""

TEMPLATE_CARDS = """async ([names, width]) => {
    const found = {};
    const pause = () => new Promise((done) => setTimeout(done, 100));
    // 1.49 first shows a 224-pixel stand-in, then ours through a blob URL
    const loaded = (image) => image.isConnected && image.complete && image.naturalWidth === width;
    const deadline = Date.now() + 400000;  // 1.27 loads the pictures slowly: 24 took ~4 min
    while (Date.now() < deadline && Object.keys(found).length < names.length) {
        // top to bottom, as a person scrolls (jumping about makes the list drop pictures it
        // was loading); looked up afresh each round, as the list re-renders its cards
        const cards = [...document.querySelectorAll("img")].filter(
            (img) => names.includes(img.alt) && !(img.alt in found));
        for (const image of cards) {
            const name = image.alt;
            image.scrollIntoView({block: "center"});
            for (let i = 0; i < 60 && !loaded(image); i++) await pause();
            if (loaded(image)) found[name] = [image.naturalWidth, image.naturalHeight];
        }
        // the list shows a page of cards and adds more when scrolled to its end; it drops the
        // cards scrolled far away, so it is scrolled a screen at a time (a jump to the end
        // skips the cards between) and at the end it goes round again from the top
        let box = [...document.querySelectorAll("img")].find((img) => names.includes(img.alt));
        while (box && box.scrollHeight <= box.clientHeight) box = box.parentElement;
        if (box) {
            const before = box.scrollTop;
            box.scrollTop = before + Math.max(1, Math.floor(box.clientHeight * 0.6));
            await pause();
            if (box.scrollTop === before) box.scrollTop = 0;
        }
        await pause();
    }
    return found;
}"""
"""Each named card's picture once it is ours (``width`` wide): ``{name: [width, height]}``; a
card whose picture never comes is missing from the answer."""


def test_template_browser_lists_every_workflow_with_its_thumbnail(editor, facts):
    """The template browser has the pack under its name (the folder, ``pinpoint``), a card per
    workflow, and each card shows its ``workflows/<name>.jpg``. Opened in a fresh editor tab,
    as after a start (the module's tab holds every workflow by now)."""
    page = editor.page.context.browser.new_page(viewport=VIEWPORT)
    asked: list[str] = []
    page.on(
        "response",
        lambda response: (
            response.status >= 400
            and "/workflow_templates/pinpoint/" in response.url
            and asked.append(f"HTTP {response.status}: {response.url}")
        ),
    )
    try:
        page.set_default_timeout(STEP_MS)
        page.goto(editor.page.url.split("#")[0], timeout=PAGE_LOAD_MS)
        page.wait_for_function(APP_READY, timeout=APP_READY_MS)
        page.evaluate(BROWSE_TEMPLATES, "pinpoint")
        page.get_by_text("pinpoint", exact=True).first.click()
        cards = page.evaluate(TEMPLATE_CARDS, [WORKFLOWS, THUMBNAIL[0]])
        folder = os.environ.get("PINPOINT_SCREENSHOT_DIR")
        if folder:
            page.screenshot(path=str(Path(folder) / "template_browser.png"))
    finally:
        page.close()
    assert sorted(cards) == WORKFLOWS, sorted(set(WORKFLOWS) - set(cards))
    assert all(size == list(THUMBNAIL) for size in cards.values()), cards
    assert asked == [], asked  # every picture was there


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


FRONTEND_VERSION = "() => window.__COMFYUI_FRONTEND_VERSION__"

MISSING_MODELS_DIALOG = """() => [...document.querySelectorAll(
    '.p-dialog[aria-labelledby="global-missing-models-warning"] .comfy-missing-models '
    + '[role="option"] span[title]')].map((label) => [label.textContent.trim(), label.title])"""
"""Frontend 1.2x: the Missing Models dialog's rows, ``[directory / name, url]``."""

MISSING_MODELS_PANEL = """() => [...document.querySelectorAll(
    '[data-testid="missing-model-importable-rows"] > *')].map((row) => [
        row.querySelector('[title]')?.getAttribute('title'),
        row.querySelector('[data-testid="missing-model-download"]') !== null])"""
"""Frontend 1.4x: the Errors panel's missing-model rows, ``[name, has a Download button]``."""

CLOSE_DIALOGS = """() => document.querySelectorAll('.p-dialog .p-dialog-close-button')
    .forEach((button) => button.click())"""


DOWNLOAD_HOSTS = ("https://huggingface.co/", "https://civitai.com/")
"""Where frontend 1.4x's Errors panel offers a Download button (its allow list); a model from
elsewhere (the LPIPS weights on download.pytorch.org) is listed without one, and the workflow's
note gives its download command."""


def test_missing_single_file_models_are_offered_for_download(editor, facts, server):
    """Without the model files on the server, loading a workflow lists the single-file models
    its loaders name, with the download its metadata gives: frontend 1.2x in its Missing Models
    dialog (as 'directory / name' with the URL), 1.4x in the Errors panel behind its error
    overlay (with a Download button)."""
    files = {
        model["name"]
        for name in WORKFLOWS
        for model in load_json(facts, f"{name}.json").get("models", [])
    }  # every single-file model a shipped workflow names
    hidden = [path for path in server.stand_ins.rglob("*") if path.name in files]
    assert files and {path.name for path in hidden} == files
    for path in hidden:
        path.rename(path.with_name(f".{path.name}"))
    page = editor.page.context.browser.new_page(viewport=VIEWPORT)
    try:
        page.set_default_timeout(STEP_MS)
        page.goto(editor.page.url, timeout=PAGE_LOAD_MS)
        page.wait_for_function(APP_READY, timeout=APP_READY_MS)
        version = tuple(int(part) for part in page.evaluate(FRONTEND_VERSION).split(".")[:2])
        checked = 0
        for name in WORKFLOWS:
            workflow = load_json(facts, f"{name}.json")
            if not workflow.get("models") or unknown_node_types(page, workflow):
                continue
            page.evaluate(LOAD, workflow)
            if version < (1, 40):
                rows = '.comfy-missing-models [role="option"]'
                page.wait_for_selector(rows, state="visible")
                shown = sorted(map(tuple, page.evaluate(MISSING_MODELS_DIALOG)))
                expected = sorted(
                    (f"{m['directory']} / {m['name']}", m["url"]) for m in workflow["models"]
                )
                page.evaluate(CLOSE_DIALOGS)
                page.wait_for_selector(rows, state="detached")  # gone before the next load
            else:
                page.locator('[data-testid="error-overlay-see-errors"]').first.click()
                page.wait_for_selector('[data-testid="missing-model-importable-rows"] > *')
                shown = sorted(map(tuple, page.evaluate(MISSING_MODELS_PANEL)))
                expected = sorted(
                    (m["name"], m["url"].startswith(DOWNLOAD_HOSTS)) for m in workflow["models"]
                )
                folder = os.environ.get("PINPOINT_SCREENSHOT_DIR")
                if folder:
                    page.screenshot(path=str(Path(folder) / f"missing-models-{name}.png"))
                page.keyboard.press("Escape")
            assert shown == expected, name
            checked += 1
        assert checked >= 5
    finally:
        page.close()
        for path in hidden:
            path.with_name(f".{path.name}").rename(path)
