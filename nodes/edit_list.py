"""Edit by Text: an edit list, from words to the edited image in one node, with the user's own
MODEL, CLIP and VAE; built from the same core functions as the separate nodes (the crop →
sample → stitch loop of ``pinpoint.repaint`` with the ComfyUI sampler)."""

from __future__ import annotations

import dataclasses

import comfy.model_management as mm
import torch
from comfy_api.latest import io

from ..pinpoint.detect import detect_objects
from ..pinpoint.edit_list import (
    EXAMPLE,
    EditSettings,
    draw_edits,
    edit_mask,
    edit_scores,
    match_edits,
    parse_edit_list,
)
from ..pinpoint.errors import PinpointError, reported_as
from ..pinpoint.guidance import GuidanceRecipe, guidance_notes
from ..pinpoint.loading.models import ClipMatcher, Detector, VitMatte
from ..pinpoint.matte import MatteRequest, check_band, matte_outcomes
from ..pinpoint.memory import detect_bytes, match_bytes, matte_bytes
from ..pinpoint.regions import RegionBatch
from ..pinpoint.repaint import Layer, RepaintRequest, with_masks
from . import sockets
from ._common import comfy_progress, description, on_device, repaint_on_node, report_notes
from .comfy_reference import EditMode
from .comfy_sampler import COMFY_CFG, ComfySampler, Sampling
from .inputs import (
    band_input,
    candidates_input,
    crop_inputs,
    flux_guidance_input,
    guidance_input,
    harmonise_input,
    if_nothing_found_input,
    labels_input,
    max_detections_input,
    min_probability_input,
    mode_input,
    pick_inputs,
    sampler_inputs,
    sampling_inputs,
    threshold_input,
)

TITLE = "Edit by Text (Pinpoint)"


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
                    tooltip="A ComfyUI image MODEL of any family Pinpoint knows (LoRAs and "
                    "patches applied); an inpainting model (SD inpainting, FLUX Fill) also gets "
                    "the masked image.",
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
                candidates_input(ranked_by="the matcher's CLIP, over every line"),
                guidance_input("its line's prompt (the guidance's own text is replaced by it)"),
                flux_guidance_input(),
                mode_input(),
                sockets.Matte.Input(
                    "matte",
                    optional=True,
                    tooltip="ViTMatte from 'Load ViTMatte (Pinpoint)': each line's mask edge "
                    "becomes a soft matte before inpainting (set feather_px 0 to blend through "
                    "it exactly).",
                ),
                band_input("matte_band_px", optional=True),
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
        candidates: int = 1,
        guidance: GuidanceRecipe | None = None,
        flux_guidance: float = Sampling.flux_guidance,
        mode: str = EditMode.INPAINT.value,
        matte: VitMatte | None = None,
        matte_band_px: int = MatteRequest.band_px,
    ) -> io.NodeOutput:
        # every check before any model moves
        sampling = Sampling(
            steps, cfg, sampler_name, scheduler, denoise, masked_start, flux_guidance
        )
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
        empty = torch.zeros(image.shape[:3])
        layers = tuple(
            Layer(
                empty,
                line.prompt,
                negative_prompt,
                line.prompt,
                line.find,
                dataclasses.replace(guidance, text=line.prompt) if guidance else None,
            )
            for line in lines
        )
        sampler = ComfySampler(model, vae, sampling, clip, mode)
        planned = RepaintRequest(
            sampler,
            image,
            layers,
            seed=seed,
            context=context,
            resolution=resolution,
            feather_px=feather_px,
            split=split,
            harmonise=harmonise,
            candidates=candidates,
            clip=matcher,
            settle=sampler.settle,
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
        if matte is not None:
            check_band(matte_band_px, int(image.shape[1]), int(image.shape[2]))
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
        if matte is not None:
            outcomes = matte_outcomes(
                matte,
                image,
                outcomes,
                matte_band_px,
                lambda request: on_device(matte, matte_bytes(request)),
            )
        result = repaint_on_node(with_masks(planned, [outcome.mask for outcome in outcomes]))
        ranking = filter(None, [result.ranking])
        guided = guidance_notes(layer.guidance for layer in layers)  # what CLIP cut
        shown = report_notes((*notes, *guided, *result.notes, *ranking), TITLE)
        device = mm.intermediate_device()
        return io.NodeOutput(
            result.images.to(device),
            edit_mask(outcomes).to(device),
            draw_edits(image, regions, outcomes).to(device),
            edit_scores(outcomes),
            ui=shown or None,
        )
