// Pinpoint frontend extension (placeholder). It only ever touches Pinpoint's own node types,
// so it cannot change the behaviour of core nodes or other packs.
import { app } from "../../scripts/app.js";

app.registerExtension({
    name: "pinpoint.core",
    async beforeRegisterNodeDef(nodeType, nodeData) {
        if (!nodeData?.name?.startsWith("Pinpoint")) {
            return;
        }
        nodeType.prototype.isPinpointNode = true;
    },
});
