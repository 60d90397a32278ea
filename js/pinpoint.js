// Pinpoint frontend extension. It only ever touches Pinpoint's own node types, so it cannot
// change the behaviour of core nodes or other packs.
//
// Match Text to Regions: after a run the node lists its candidates (the "pinpoint_candidates"
// the node sends with its preview); clicking one toggles its number in the node's `pin` input.
// Queueing again re-runs only Match and what follows it, since the detector's output is cached.
import { app } from "../../scripts/app.js";

const MATCH = "PinpointMatchText";
const LIST = "pinpoint_candidates";
const HINT = "Click a candidate to pin it (its number goes into pin); queue again: detection is "
    + "not re-run, only this node and what follows it.";
const ROW_PX = 20;
const HEADER_PX = 24;
const MAX_ROWS_SHOWN = 8;
const CHOSEN_BACKGROUND = "rgba(40, 220, 90, 0.28)"; // the preview's green for chosen regions
const PIN_ITEM = /^(?:(\d+):)?(\d+)$/;

/** The pin text as one Set of candidate numbers per image (1-based); unreadable items are skipped
 * (the node itself reports them when queued). */
function readPin(text, batchSize) {
    const pinned = Array.from({ length: batchSize }, () => new Set());
    const items = String(text ?? "").replace(/\s*:\s*/g, ":").split(/[,;\s]+/);
    for (const item of items) {
        const found = PIN_ITEM.exec(item);
        if (!found || Number(found[2]) < 1) continue;
        const number = Number(found[2]);
        if (found[1] === undefined) {
            pinned.forEach((numbers) => numbers.add(number));
        } else if (Number(found[1]) >= 1 && Number(found[1]) <= batchSize) {
            pinned[Number(found[1]) - 1].add(number);
        }
    }
    return pinned;
}

/** Pin text for per-image Sets: "n, m" for a batch of one, "b:n, ..." otherwise. */
function writePin(pinned) {
    const items = [];
    pinned.forEach((numbers, index) => {
        for (const number of [...numbers].sort((a, b) => a - b)) {
            items.push(pinned.length === 1 ? `${number}` : `${index + 1}:${number}`);
        }
    });
    return items.join(", ");
}

function pinWidget(node) {
    return node.widgets?.find((widget) => widget.name === "pin");
}

function setPin(node, text) {
    const widget = pinWidget(node);
    if (!widget) return;
    widget.value = text;
    widget.callback?.(text); // redraws the list (see candidateList)
    node.setDirtyCanvas(true, true);
}

function togglePin(node, image, number, batchSize) {
    const pinned = readPin(pinWidget(node)?.value, batchSize);
    const numbers = pinned[image - 1];
    if (numbers.has(number)) numbers.delete(number);
    else numbers.add(number);
    setPin(node, writePin(pinned));
}

function element(tag, style, text) {
    const made = document.createElement(tag);
    Object.assign(made.style, style);
    if (text !== undefined) made.textContent = text;
    return made;
}

/** Pixels for the header and `rows` rows (at least one, so an empty list keeps its header). */
function listHeight(rows) {
    return HEADER_PX + ROW_PX * Math.max(1, rows) + 4;
}

/** The list widget of a Match node, made on its first run. */
function candidateList(node) {
    const existing = node.widgets?.find((widget) => widget.name === LIST);
    if (existing) return existing;
    const box = element("div", {
        display: "flex",
        flexDirection: "column",
        font: "12px monospace",
        color: "var(--input-text, #ddd)",
        background: "var(--comfy-input-bg, #222)",
        borderRadius: "4px",
        overflow: "hidden",
    });
    box.title = HINT;
    box.className = "pinpoint-candidates";
    const header = element("div", {
        display: "flex",
        alignItems: "center",
        gap: "6px",
        height: `${HEADER_PX}px`,
        padding: "0 6px",
        flex: "none",
        borderBottom: "1px solid var(--border-color, #444)",
    });
    const caption = element(
        "span",
        {
            flex: "1",
            opacity: "0.8",
            overflow: "hidden",
            textOverflow: "ellipsis",
            whiteSpace: "nowrap",
        },
        "click to pin; queue again — detection is not re-run",
    );
    const clear = element(
        "button",
        { font: "inherit", cursor: "pointer", padding: "0 6px" },
        "clear pin",
    );
    clear.className = "pinpoint-clear-pin";
    clear.title = "Empty the pin input: CLIP chooses again on the next run.";
    clear.addEventListener("click", () => setPin(node, ""));
    header.append(caption, clear);
    const rows = element("div", { overflowY: "auto", flex: "1" });
    rows.className = "pinpoint-candidate-rows";
    box.append(header, rows);
    const widget = node.addDOMWidget(LIST, "pinpoint-candidates", box, {
        serialize: false, // shown only: never in the saved workflow or the queued prompt
        hideOnZoom: false,
        getMinHeight: () => listHeight(Math.min(MAX_ROWS_SHOWN, widget.rows.length)),
        getMaxHeight: () => listHeight(widget.rows.length),
    });
    widget.serialize = false;
    widget.rows = [];
    widget.rowsElement = rows;
    const pin = pinWidget(node);
    if (pin) {
        const changed = pin.callback;
        pin.callback = function (...args) {
            const result = changed?.apply(this, args);
            showCandidates(node);
            return result;
        };
    }
    return widget;
}

function describe(row, batchSize) {
    const image = batchSize > 1 ? `img ${row.image} ` : "";
    const probability = Number(row.probability).toFixed(2);
    const score = Number(row.score).toFixed(2);
    return `${image}#${row.number} ${row.label}  p=${probability} score=${score}`;
}

/** Draw the last run's candidates; pin marks follow the pin input as it is now. */
function showCandidates(node, rows) {
    const widget = candidateList(node);
    if (rows) widget.rows = rows;
    const batchSize = Math.max(1, ...widget.rows.map((row) => row.image));
    const pinned = readPin(pinWidget(node)?.value, batchSize);
    const shown = widget.rows.map((row) => {
        const isPinned = pinned[row.image - 1].has(row.number);
        const line = element("div", {
            display: "flex",
            alignItems: "center",
            gap: "6px",
            height: `${ROW_PX}px`,
            padding: "0 6px",
            cursor: "pointer",
            whiteSpace: "nowrap",
            background: row.chosen ? CHOSEN_BACKGROUND : "transparent",
            fontWeight: row.chosen ? "bold" : "normal",
        });
        line.className = "pinpoint-candidate";
        line.dataset.image = row.image;
        line.dataset.number = row.number;
        line.dataset.chosen = row.chosen;
        line.dataset.pinned = isPinned;
        line.title = `${row.chosen ? "chosen in the last run. " : ""}${HINT}`;
        const mark = element(
            "span",
            { width: "3.2em", flex: "none", color: "#f5b942" },
            isPinned ? "[pin]" : "",
        );
        const text = element(
            "span",
            { overflow: "hidden", textOverflow: "ellipsis" },
            describe(row, batchSize),
        );
        line.append(mark, text);
        line.addEventListener("click", () => togglePin(node, row.image, row.number, batchSize));
        return line;
    });
    widget.rowsElement.replaceChildren(...shown);
    const [width, height] = node.size;
    const wanted = node.computeSize();
    node.setSize([Math.max(width, wanted[0]), Math.max(height, wanted[1])]);
    node.setDirtyCanvas(true, true);
}

app.registerExtension({
    name: "pinpoint.core",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (!nodeData?.name?.startsWith("Pinpoint")) {
            return;
        }
        nodeType.prototype.isPinpointNode = true;
        if (nodeData.name !== MATCH) {
            return;
        }
        const onExecuted = nodeType.prototype.onExecuted;
        nodeType.prototype.onExecuted = function (output) {
            const result = onExecuted?.apply(this, arguments);
            if (Array.isArray(output?.[LIST])) {
                showCandidates(this, output[LIST]);
            }
            return result;
        };
    },
});
