"""Exploration (temporary)."""

from __future__ import annotations

import json
import os

import pytest

if not os.environ.get("COMFYUI_DIR"):
    pytest.skip("COMFYUI_DIR", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def test_explore(server, facts):
    workflow = json.loads((facts.repo / "workflows" / "detect_match_inpaint.json").read_text())
    import urllib.request
    req = urllib.request.Request(server.client.url + "/settings/Comfy.TutorialCompleted", data=b"true", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        logs = []
        page.on("console", lambda m: logs.append((m.type, m.text)))
        page.on("pageerror", lambda e: logs.append(("pageerror", str(e), e.stack)))
        page.on("response", lambda r: r.status >= 400 and logs.append(("http", r.status, r.url)))
        page.on("console", lambda m: m.type == "error" and logs.append(("loc", m.location)))
        page.goto(server.client.url + "/", timeout=60_000)
        page.wait_for_function(
            "() => window.app?.canvas && window.LiteGraph?.registered_node_types?.PinpointDetect"
            " && app.graph?._nodes?.length > 0",
            timeout=120_000,
        )
        page.screenshot(path="/tmp/explore0.png")
        out = page.evaluate(
            """async (wf) => {
            let captured = null;
            app.registerExtension({name: "pinpoint.test", beforeConfigureGraph(g, m) { captured = m; }});
            await app.loadGraphData(wf);
            await new Promise(r => setTimeout(r, 1000));
            const nodes = app.graph._nodes.map(n => ({br: Array.from(n.boundingRect), id: n.id, type: n.type, title: n.title,
                pos: n.pos, size: n.size, title_h: LiteGraph.NODE_TITLE_HEIGHT,
                widgets: (n.widgets || []).map(w => ({name: w.name, type: w.type, value: w.value,
                    y: w.y, last_y: w.last_y, h: w.computedHeight, tooltip: w.tooltip,
                    serialize: w.options?.serialize})),
                inputs: n.inputs.map(i => ({name: i.name, tooltip: i.tooltip, pos: i.pos})),
                saved: n.serialize().widgets_values,
                nd: Object.keys(n.constructor.nodeData || {}),
            }));
            const p = await app.graphToPrompt();
            return {captured, nodes, prompt: p.output, ds: [app.canvas.ds.scale, app.canvas.ds.offset],
                    dialogs: [...document.querySelectorAll('.p-dialog')].map(d => d.innerText)};
        }""",
            workflow,
        )
        page.screenshot(path="/tmp/explore1.png")
        out["logs"] = logs
        with open("/tmp/explore.json", "w") as f:
            json.dump(out, f, indent=1)
        browser.close()
