"""Rank Edits: score candidate edits of one image with CLIP and keep the best (S4)."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.loading.models import ClipMatcher
from ..pinpoint.memory import metrics_bytes
from ..pinpoint.metrics import MetricsRequest
from ..pinpoint.preview import draw_ranked
from ..pinpoint.ranking import RankSettings, rank_edits
from . import sockets
from ._common import description, on_device, with_preview

TITLE = "Rank Edits (Pinpoint)"


class PinpointRankEdits(io.ComfyNode):
    """Scores candidate edits of one image (a batch from several seeds, prompts or regions) by
    S = alpha * S_t2i + beta * S_i2i in one CLIP pass and keeps the best: S_t2i says how well
    the edited area shows the text, S_i2i how much of the source it keeps."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointRankEdits",
            display_name=TITLE,
            category="pinpoint/measure",
            description=description(cls),
            inputs=[
                sockets.ClipMatcher.Input(
                    "clip", tooltip="From 'Load CLIP Matcher (Pinpoint)' (the matcher's CLIP)."
                ),
                io.Image.Input(
                    "source", tooltip="The image the candidates were made from (one image)."
                ),
                io.Image.Input(
                    "candidates",
                    tooltip="The candidate edits, a batch [N,H,W,3] made from the source, e.g. "
                    "by an inpaint node fed a Repeat Image Batch (image b is sampled with seed "
                    "+ b).",
                ),
                io.Mask.Input(
                    "mask", tooltip="Where the edit was meant (the inpaint node's mask)."
                ),
                io.String.Input(
                    "text",
                    default="",
                    placeholder="a fluffy white dog",
                    tooltip="What the masked area was to become (the inpainting prompt).",
                ),
                io.String.Input(
                    "source_text",
                    default=MetricsRequest.source_text,
                    placeholder="the cat (optional)",
                    tooltip="What the area showed before (the match text). With it the table "
                    "also shows the directional CLIP score and whether each edit succeeded "
                    "(closer to the text than to this).",
                ),
                io.Float.Input(
                    "alpha",
                    default=RankSettings.alpha,
                    min=0.0,
                    max=10.0,
                    step=0.05,
                    tooltip="Weight of S_t2i: how well the edited area shows the text.",
                ),
                io.Float.Input(
                    "beta",
                    default=RankSettings.beta,
                    min=0.0,
                    max=10.0,
                    step=0.05,
                    tooltip="Weight of S_i2i: how close the edited area stays to the source "
                    "(raise it to prefer gentler edits).",
                ),
                io.Int.Input(
                    "top_k",
                    default=RankSettings.top_k,
                    min=1,
                    max=64,
                    step=1,
                    tooltip="How many of the best candidates to output, best first.",
                ),
                io.Float.Input(
                    "context_pad",
                    default=MetricsRequest.context_pad,
                    min=0.0,
                    max=2.0,
                    step=0.05,
                    tooltip="CLIP sees the mask's bounds padded by this fraction of their larger "
                    "side, outside the mask painted grey.",
                ),
            ],
            outputs=[
                io.Image.Output(display_name="best", tooltip="The top_k candidates, best first."),
                io.String.Output(
                    display_name="scores",
                    tooltip="Every candidate's S, S_t2i, S_i2i, SSIM inside and outside the "
                    "mask and its largest change outside the mask, best first (* = kept).",
                ),
                io.Image.Output(
                    display_name="preview",
                    tooltip="Every candidate with its rank and S; the kept ones in green.",
                ),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(
        cls,
        clip: ClipMatcher,
        source: torch.Tensor,
        candidates: torch.Tensor,
        mask: torch.Tensor,
        alpha: float,
        beta: float,
        top_k: int,
        **settings,
    ) -> io.NodeOutput:
        metrics = MetricsRequest(clip, source, candidates, mask, **settings)
        ranking = RankSettings(alpha, beta, top_k)
        on_device(clip, metrics_bytes())
        ranked = rank_edits(metrics, ranking)
        best = candidates[list(ranked.order)]
        preview = draw_ranked(candidates.cpu(), metrics.masks, ranked.scores, ranked.order)
        return with_preview(cls, preview, best, ranked.table)
