"""Edit by Text: an edit list, from words to the edited image in one node, with the user's own
MODEL, CLIP and VAE; built from the same core functions as the separate nodes."""

from __future__ import annotations

import dataclasses

import comfy.model_management as mm
import torch
from comfy_api.latest import io

from ..pinpoint.crop import CropRequest, cut, plan_layers, stitch_crops
from ..pinpoint.detect import detect_objects
from ..pinpoint.edit_list import (
    EXAMPLE,
    EditLine,
    EditOutcome,
    EditSettings,
    draw_edits,
    edit_mask,
    edit_scores,
    match_edits,
    parse_edit_list,
)
from ..pinpoint.errors import PinpointError, reported_as
from ..pinpoint.inpaint import CROPS_PER_PASS
from ..pinpoint.loading.models import ClipMatcher, Detector
from ..pinpoint.memory import detect_bytes, match_bytes
from ..pinpoint.regions import RegionBatch
from ..pinpoint.seeds import image_seed
from . import sockets
from ._common import comfy_progress, crop_resolution, description, on_device, report_notes
from .inputs import (
    crop_inputs,
    harmonise_input,
    if_nothing_found_input,
    labels_input,
    max_detections_input,
    min_probability_input,
    pick_inputs,
    sampler_inputs,
    sampling_inputs,
    threshold_input,
)
from .sampling import COMFY_CFG, Sampling, SamplingProgress, batch_conditionings, sample_crops

TITLE = "Edit by Text (Pinpoint)"


def _encode(clip, text: str):
    """``text`` through the stock CLIP, as CLIP Text Encode does."""
    if clip is None:
        raise PinpointError(
            "the clip input is empty (the checkpoint has no text encoder)",
            "connect a CLIP from a checkpoint loader or a CLIP loader",
        )
    return clip.encode_from_tokens_scheduled(clip.tokenize(text))


class PinpointEditByText(io.ComfyNode):
    """Changes what each line of an edit list names into what the line says it becomes
    ('the cat => a small red fox'), everything in one pass: candidates from a detector (or any
    route's regions), CLIP chooses each line's regions, every crop is sampled with its own
    line's prompt, and all are stitched into one image; pixels outside the feathered masks
    stay bit-identical."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointEditByText",
            display_name=TITLE,
            category="pinpoint/edit",
            description=description(cls),
            inputs=[
                io.Image.Input("image", tooltip="Image batch to edit, [B,H,W,3]."),
                io.String.Input(
                    "edits",
                    default="",
                    multiline=True,
                    placeholder=f"{EXAMPLE}\nthe car => a blue pickup | pick=leftmost",
                    tooltip="One edit per line: 'what to find => what it becomes'. After '|' a "
                    "line may set its own pick, top_k and min_probability ('| pick=leftmost; "
                    "top_k=2'). Lines are painted in order: where two edits overlap, the later "
                    "one is on top. Blank lines and lines starting with # are skipped.",
                ),
                sockets.ClipMatcher.Input(
                    "matcher",
                    tooltip="The CLIP that chooses each line's regions, from 'Load CLIP Matcher "
                    "(Pinpoint)'.",
                ),
                io.Model.Input(
                    "model",
                    tooltip="Any ComfyUI MODEL (LoRAs and patches applied); an inpainting "
                    "checkpoint also gets the masked image.",
                ),
                io.Clip.Input(
                    "clip", tooltip="The checkpoint's CLIP: it encodes each line's prompt."
                ),
                io.Vae.Input("vae", tooltip="The VAE of the same model family."),
                io.String.Input(
                    "negative_prompt",
                    default=EditSettings.negative_prompt,
                    multiline=True,
                    placeholder="blurry, distorted",
                    tooltip="What every edit should avoid; may be empty.",
                ),
                *sampling_inputs(cfg=COMFY_CFG),
                *sampler_inputs(),
                threshold_input(
                    EditSettings.threshold,
                    "The detector's confidence threshold (not used with regions).",
                ),
                max_detections_input(),
                labels_input(),
                *pick_inputs(),
                min_probability_input(),
                if_nothing_found_input(empty="that line edits nothing in that image"),
                io.Int.Input(
                    "grow_px",
                    default=EditSettings.grow_px,
                    min=-256,
                    max=256,
                    step=1,
                    tooltip="Grow (or shrink, < 0) each chosen region's mask before inpainting.",
                ),
                *crop_inputs(resolution=0),
                harmonise_input(),
                sockets.Detector.Input(
                    "detector",
                    optional=True,
                    tooltip="A closed-set detector from 'Load Detector (Pinpoint)' that finds the "
                    "candidates; or connect regions instead.",
                ),
                sockets.Regions.Input(
                    "regions",
                    optional=True,
                    tooltip="Candidates from any route instead of a detector (Detect by Text, "
                    "Segment Image, Mask to Regions, SEGS to Regions ...).",
                ),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="The edited images, [B,H,W,3]."),
                io.Mask.Output(
                    display_name="mask", tooltip="Every edit's mask together (before feathering)."
                ),
                io.Image.Output(
                    display_name="preview",
                    tooltip="The candidates and each line's choice, captioned with its number.",
                ),
                io.String.Output(display_name="scores", tooltip="Each line's score table."),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(
        cls,
        image: torch.Tensor,
        edits: str,
        matcher: ClipMatcher,
        model,
        clip,
        vae,
        negative_prompt: str,
        seed: int,
        steps: int,
        cfg: float,
        sampler_name: str,
        scheduler: str,
        denoise: float,
        masked_start: str,
        threshold: float,
        max_detections: int,
        labels: str,
        pick: str,
        top_k: int,
        min_probability: float,
        if_nothing_found: str,
        grow_px: int,
        context: float,
        resolution: int,
        feather_px: int,
        split: str,
        harmonise: float = 0.0,
        detector: Detector | None = None,
        regions: RegionBatch | None = None,
    ) -> io.NodeOutput:
        # every check before any model moves
        sampling = Sampling(steps, cfg, sampler_name, scheduler, denoise, masked_start)
        settings = EditSettings(
            threshold=threshold,
            max_detections=max_detections,
            labels=labels,
            pick=pick,
            top_k=top_k,
            min_probability=min_probability,
            if_nothing_found=if_nothing_found,
            grow_px=grow_px,
            harmonise=harmonise,
        )
        lines = parse_edit_list(edits.splitlines(), settings.line_defaults())
        crop = CropRequest(
            image,
            torch.zeros(image.shape[:3]),
            context=context,
            resolution=crop_resolution(resolution, model),
            feather_px=feather_px,
            split=split,
            multiple=int(vae.spacial_compression_encode()),
        )
        if detector is not None and regions is not None:
            raise PinpointError(
                "both a detector and regions are connected",
                "connect one of them: the detector finds candidates itself, regions bring "
                "another route's",
            )
        if detector is None and regions is None:
            raise PinpointError(
                "nothing finds the candidates (neither a detector nor regions is connected)",
                "connect a detector from 'Load Detector (Pinpoint)' or the regions of another "
                "route (Detect by Text, Segment Image, Mask to Regions ...)",
            )
        if detector is not None:
            request = settings.detect_request(detector, image)
            on_device(detector, detect_bytes(request))
            regions = detect_objects(request, comfy_progress())
        outcomes, notes = match_edits(
            matcher,
            image,
            regions,
            lines,
            settings,
            before_clip=lambda request: on_device(matcher, match_bytes(request)),
        )
        result, sampled_notes = _inpaint(
            model, clip, vae, crop, lines, outcomes, negative_prompt, seed, sampling, harmonise
        )
        shown = report_notes((*notes, *sampled_notes), TITLE)
        device = mm.intermediate_device()
        return io.NodeOutput(
            result.to(device),
            edit_mask(outcomes).to(device),
            draw_edits(image, regions, outcomes).to(device),
            edit_scores(outcomes),
            ui=shown or None,
        )


def _inpaint(
    model,
    clip,
    vae,
    crop: CropRequest,
    lines: tuple[EditLine, ...],
    outcomes: tuple[EditOutcome, ...],
    negative: str,
    seed: int,
    sampling: Sampling,
    harmonise: float,
) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Every line's crops sampled with its own prompt, stitched line by line (a later line on
    top): :data:`CROPS_PER_PASS` crops per sampler call when the lines' conditionings can be
    joined into one batch, else one crop per call.

    Args:
        crop: the checked crop settings (its mask is replaced by each line's).

    Returns:
        ``[B, H, W, 3]`` the stitched images, and the plan's notes.
    """
    plan = plan_layers([dataclasses.replace(crop, masks=o.mask) for o in outcomes])
    if not plan.pieces:
        return crop.images.to(torch.float32), plan.notes
    positives = [_encode(clip, line.prompt) for line in lines]
    negative_cond = _encode(clip, negative.strip())
    together = batch_conditionings(positives) is not None
    size = CROPS_PER_PASS if together else 1
    passes = [plan.pieces[start : start + size] for start in range(0, len(plan.pieces), size)]
    progress = SamplingProgress(model, sampling.steps * len(passes))
    sampled: list[torch.Tensor] = []
    for done, group in enumerate(passes):
        pairs = [cut(plan, piece) for piece in group]
        if together:
            positive = batch_conditionings([positives[piece.layer] for piece in group])
        else:
            positive = positives[group[0].layer]
        decoded = sample_crops(
            model,
            vae,
            positive,
            negative_cond,
            torch.stack([pixels for pixels, _ in pairs]),
            torch.stack([area for _, area in pairs]),
            [image_seed(seed, piece.image_index) for piece in group],
            sampling,
            progress.for_pass(done * sampling.steps),
        )
        sampled.extend(decoded)
    return stitch_crops(plan, sampled, harmonise), plan.notes
