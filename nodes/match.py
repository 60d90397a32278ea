"""Match Text to Regions: CLIP picks the candidate(s) that fit a description."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io, ui

from ..pinpoint.errors import reported_as
from ..pinpoint.loading.models import ClipMatcher
from ..pinpoint.masks import regions_to_mask
from ..pinpoint.match import CropMode, MatchRequest, candidate_rows, format_scores, match_text
from ..pinpoint.memory import match_bytes
from ..pinpoint.preview import draw_regions
from ..pinpoint.regions import RegionBatch
from . import sockets
from ._common import comfy_progress, description, log, on_device
from .inputs import if_nothing_found_input, min_probability_input, pick_inputs

TITLE = "Match Text to Regions (Pinpoint)"


class PinpointMatchText(io.ComfyNode):
    """Scores every candidate region against a text with CLIP and keeps the best match(es)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointMatchText",
            display_name=TITLE,
            category="pinpoint/match",
            description=description(cls),
            inputs=[
                sockets.ClipMatcher.Input("clip", tooltip="From 'Load CLIP Matcher (Pinpoint)'."),
                io.Image.Input(
                    "image", tooltip="The same IMAGE that went into 'Detect Objects (Pinpoint)'."
                ),
                sockets.Regions.Input(
                    "regions",
                    tooltip="Candidates, e.g. from 'Detect Objects (Pinpoint)' or 'Segment Image "
                    "(Pinpoint)'.",
                ),
                io.String.Input(
                    "text",
                    default="",
                    multiline=True,
                    placeholder="the red car",
                    tooltip="Describe the object to edit, e.g. 'a red car'; colour and kind words "
                    "help. CLIP reads position poorly: for 'the leftmost car' write 'a car' and "
                    "set pick to leftmost.",
                ),
                *pick_inputs(),
                io.Float.Input(
                    "context_pad",
                    default=MatchRequest.context_pad,
                    min=0.0,
                    max=2.0,
                    step=0.01,
                    tooltip="Extra margin around each box, as a fraction of its size, that CLIP "
                    "sees.",
                ),
                io.Combo.Input(
                    "crop",
                    options=CropMode.values(),
                    default=MatchRequest.crop.value,
                    tooltip="box: CLIP sees each padded box as it is (detector boxes). masked: "
                    "everything outside the region's mask is painted a neutral grey first, so "
                    "CLIP judges the segment alone; use it for segments and SAM masks, whose "
                    "boxes also hold neighbouring objects.",
                ),
                io.Float.Input(
                    "confidence_weight",
                    default=MatchRequest.confidence_weight,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Blend the detector's confidence into the ranking (0 = CLIP only).",
                ),
                min_probability_input(),
                if_nothing_found_input(),
                io.String.Input(
                    "pin",
                    default=MatchRequest.pin,
                    multiline=False,
                    placeholder="e.g. 2 or 1, 3",
                    optional=True,
                    tooltip="Choose candidates yourself by their number (#) from the scores "
                    "table, or click a row in the list this node shows after a run: '2' keeps "
                    "candidate 2 of every image, '1, 3' keeps both, '2:1' keeps candidate 1 of "
                    "image 2 only. Pinned candidates are chosen whatever their scores (pick, "
                    "top_k and min_probability do not apply to that image). Changing pin re-runs "
                    "only this node and what follows it: detection is cached, not re-run. Leave "
                    "empty to let CLIP choose.",
                ),
            ],
            outputs=[
                sockets.Regions.Output(
                    display_name="regions", tooltip="The chosen region(s) per image."
                ),
                io.Mask.Output(
                    display_name="mask",
                    tooltip="The chosen regions' masks (their boxes where they have none), "
                    "[B,H,W], 1 = edit.",
                ),
                io.String.Output(
                    display_name="scores",
                    tooltip="Every candidate's CLIP score, as a table; p is the probability, a "
                    "softmax over the candidates of the same image (they sum to 1).",
                ),
                io.Image.Output(
                    display_name="preview",
                    tooltip="Candidates with probabilities; chosen ones in green.",
                ),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(
        cls, clip: ClipMatcher, image: torch.Tensor, regions: RegionBatch, **settings
    ) -> io.NodeOutput:
        request = MatchRequest(clip, image, regions, **settings)
        on_device(clip, match_bytes(request))
        result = match_text(request, comfy_progress())
        device = mm.intermediate_device()
        mask = regions_to_mask(result.chosen).to(device)
        scores = format_scores(result.scored, result.chosen, result.note)
        preview = draw_regions(image, result.scored, result.chosen).to(device)
        log.info("%s:\n%s", TITLE, scores)  # on the node, js/pinpoint.js lists the candidates
        shown = ui.PreviewImage(preview, cls=cls).as_dict() | {
            "text": [scores],
            "pinpoint_candidates": candidate_rows(result),  # the clickable list, js/pinpoint.js
        }
        return io.NodeOutput(result.chosen, mask, scores, preview, ui=shown)
