"""In a real headless browser: the candidate list that 'Match Text to Regions' shows after a run,
and pinning a candidate with a click, which re-runs Match but not the detector.

The prompt is a shipped workflow on the tiny models (``tiny_prompt`` of test_server.py: the rigged
detector finds the same box with every query, so there are several candidates), loaded into the
editor with ``app.loadApiJson`` and queued from the page with ``app.queuePrompt``, as the Queue
button does. Uses the ``editor`` fixture of test_editor.py, so it skips where that one does.
A screenshot of the node with its list is written to $PINPOINT_PIN_SCREENSHOT (default
/tmp/pin_panel.png).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PIL import Image

if not os.environ.get("COMFYUI_DIR"):
    pytest.skip(
        "COMFYUI_DIR is not set: the editor test opens a ComfyUI (>= 0.3.64) server in Chromium",
        allow_module_level=True,
    )

from test_editor import BOUNDED, CENTRE, editor  # noqa: E402, F401 (editor: a fixture)
from test_server import IMAGE_SIZE, node_of, tiny_prompt  # noqa: E402

WORKFLOW = "detect_match_inpaint"
PICTURE = "pinpoint-pin.png"
RUN_TIMEOUT_S = 300
SCREENSHOT = os.environ.get("PINPOINT_PIN_SCREENSHOT", "/tmp/pin_panel.png")

LOAD_AND_QUEUE = """async (prompt) => {
    BOUNDED
    const frames = async () => {
        for (let i = 0; i < 3; i++) {
            await bounded(new Promise((done) => requestAnimationFrame(done)), "a frame");
        }
    };
    await bounded(Promise.resolve(app.loadApiJson(prompt, "pin.json")), "app.loadApiJson");
    await frames();
    for (const node of app.graph._nodes) {
        for (const widget of node.widgets ?? []) {
            if (widget.name === "control_after_generate") widget.value = "fixed";
        }
    }
    await bounded(app.queuePrompt(0), "app.queuePrompt");
}""".replace("BOUNDED", BOUNDED)
"""Load an API prompt into the editor (what dropping the file does) and queue it."""

QUEUE = """async () => {
    BOUNDED
    await bounded(app.queuePrompt(0), "app.queuePrompt");
}""".replace("BOUNDED", BOUNDED)

SHOWN = """(nodeId) => {
    const node = app.graph.getNodeById(nodeId);
    const list = node.widgets?.find((widget) => widget.name === "pinpoint_candidates");
    const rows = [...(list?.element.querySelectorAll(".pinpoint-candidate") ?? [])];
    return {
        pin: node.widgets.find((widget) => widget.name === "pin").value,
        listSaved: list !== undefined && (list.serialize !== false
                                           || list.options.serialize !== false),
        rows: rows.map((row) => ({
            image: Number(row.dataset.image),
            number: Number(row.dataset.number),
            chosen: row.dataset.chosen === "true",
            pinned: row.dataset.pinned === "true",
            text: row.innerText,
            title: row.title,
        })),
    };
}"""
"""What the Match node shows: its pin value, the rows of its list and whether the list is saved."""

SHOWS_ROWS = """([nodeId, pinned]) => {
    const node = app.graph.getNodeById(nodeId);
    const list = node?.widgets?.find((widget) => widget.name === "pinpoint_candidates");
    const rows = [...(list?.element.querySelectorAll(".pinpoint-candidate") ?? [])];
    return rows.length > 0 && rows.some((row) => row.dataset.chosen === "true"
        && (pinned === null || (row.dataset.number === String(pinned)
                                && row.dataset.pinned === "true")));
}"""
"""The list is shown (with the ``pinned`` number chosen and marked, unless null)."""


@pytest.fixture(scope="module")
def picture(server):
    """The test picture, in the server's input folder before the editor lists that folder."""
    width, height = IMAGE_SIZE
    pixels = np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(server.input / PICTURE)
    return PICTURE


def finished_run(server, before: set[str]) -> dict:
    """The /history entry of the one prompt queued since ``before`` (prompt ids), once done."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        new = {
            key: entry
            for key, entry in server.client.get_json("/history").items()
            if key not in before
        }
        if new:
            assert len(new) == 1, sorted(new)
            return next(iter(new.values()))
        time.sleep(0.5)
    raise TimeoutError(f"the queued prompt did not finish within {RUN_TIMEOUT_S} s")


def cached_nodes(entry: dict) -> set[str]:
    (cached,) = [data for kind, data in entry["status"]["messages"] if kind == "execution_cached"]
    return set(cached["nodes"])


def chosen_numbers(scores: str) -> list[int]:
    """Numbers of the rows marked chosen (``*#n``) in Match's scores table."""
    return [int(line.split()[0][2:]) for line in scores.splitlines() if line.startswith(" *#")]


def test_clicking_a_candidate_pins_it_and_rerun_skips_detection(
    picture,
    editor,  # noqa: F811 (the fixture imported above)
    server,
    facts,
    comfy_models,
):
    page = editor.page
    prompt, _ = tiny_prompt(facts, comfy_models, WORKFLOW, picture, IMAGE_SIZE)
    match, detect = node_of(prompt, "PinpointMatchText"), node_of(prompt, "PinpointDetect")
    match_id = int(match)

    before = set(server.client.get_json("/history"))
    page.evaluate(LOAD_AND_QUEUE, prompt)
    first = finished_run(server, before)
    assert first["status"]["status_str"] == "success", first["status"]
    sent = first["outputs"][match]["pinpoint_candidates"]
    assert len(sent) >= 2 and all(row["label"] == "dog" for row in sent)
    assert sorted(row["number"] for row in sent) == list(range(1, len(sent) + 1))
    assert chosen_numbers(first["outputs"][match]["text"][0]) == [
        row["number"] for row in sent if row["chosen"]
    ]

    page.wait_for_function(SHOWS_ROWS, arg=[match_id, None], timeout=RUN_TIMEOUT_S * 1000)
    page.evaluate("() => { app.canvas.ds.scale = 1; }")
    page.evaluate(CENTRE, match_id)
    shown = page.evaluate(SHOWN, match_id)
    assert shown["pin"] == ""
    assert [(row["number"], row["chosen"], row["pinned"]) for row in shown["rows"]] == [
        (row["number"], row["chosen"], False) for row in sent
    ]
    for row in shown["rows"]:
        assert f"#{row['number']} dog" in row["text"] and "img" not in row["text"]
        assert "queue again: detection is not re-run" in row["title"]
    assert shown["listSaved"] is False  # neither in widgets_values nor in the queued prompt

    target = [row["number"] for row in sent if not row["chosen"]][-1]
    page.locator(f'.pinpoint-candidate[data-number="{target}"]').click()
    assert page.evaluate(SHOWN, match_id)["pin"] == str(target)
    page.locator(".pinpoint-clear-pin").click()
    assert page.evaluate(SHOWN, match_id)["pin"] == ""
    page.locator(f'.pinpoint-candidate[data-number="{target}"]').click()
    clicked = page.evaluate(SHOWN, match_id)
    assert clicked["pin"] == str(target)
    assert [row["number"] for row in clicked["rows"] if row["pinned"]] == [target]

    before = set(server.client.get_json("/history"))
    page.evaluate(QUEUE)
    second = finished_run(server, before)
    assert second["status"]["status_str"] == "success", second["status"]
    queued = second["prompt"][2][match]["inputs"]
    assert set(queued) == set(prompt[match]["inputs"]) and queued["pin"] == str(target)
    cached = cached_nodes(second)
    assert detect in cached and match not in cached, sorted(cached)
    assert chosen_numbers(second["outputs"][match]["text"][0]) == [target]
    assert "pinned #" + str(target) in second["outputs"][match]["text"][0]
    resent = second["outputs"][match]["pinpoint_candidates"]
    assert [row["number"] for row in resent if row["chosen"]] == [target]
    assert [row["number"] for row in resent if row["pinned"]] == [target]

    page.wait_for_function(SHOWS_ROWS, arg=[match_id, target], timeout=RUN_TIMEOUT_S * 1000)
    page.evaluate(CENTRE, match_id)
    page.screenshot(path=SCREENSHOT)
    ours = [problem for problem in editor.problems if "pinpoint" in problem.lower()]
    assert ours == [], "\n".join(editor.problems)
