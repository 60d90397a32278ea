"""Node inputs that several nodes share, each declared once (defaults from the core requests)."""

from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from ..pinpoint.crop import CropRequest, Split
from ..pinpoint.detect import DetectRequest
from ..pinpoint.diffusers_sampler import DiffusersSampler
from ..pinpoint.masks import MaskOpsRequest
from ..pinpoint.match import MatchRequest
from ..pinpoint.matte import MatteRequest
from ..pinpoint.ranking import RankSettings
from ..pinpoint.regions import IfNothingFound
from ..pinpoint.repaint import RepaintRequest
from ..pinpoint.seeds import SEED_MODULUS
from ..pinpoint.selection import Pick, SelectRequest
from . import sockets
from .comfy_families import EDITORS, FAMILIES
from .comfy_reference import EditMode
from .comfy_sampler import DENOISE, MaskedStart, Sampling

PICK_TOOLTIP = (
    "Which candidates to keep. best: the top_k highest scores; all matches: every candidate that "
    "passes the threshold (for 'all the cars'); leftmost/rightmost/topmost/bottommost/largest/"
    "smallest/nearest to center: order the candidates that pass the threshold by box position or "
    "size and keep top_k (raise the threshold or filter the detector's labels so only the right "
    "kind of object competes)."
)


def pick_inputs() -> list[io.Input]:
    """The ``pick`` combo and ``top_k`` that Match and Select share."""
    return [
        io.Combo.Input(
            "pick", options=Pick.values(), default=SelectRequest.pick.value, tooltip=PICK_TOOLTIP
        ),
        io.Int.Input(
            "top_k",
            default=SelectRequest.top_k,
            min=1,
            max=64,
            step=1,
            tooltip="How many regions to keep per image (ignored by 'all matches').",
        ),
    ]


def if_nothing_found_input(empty: str = "edit nothing in that image") -> io.Combo.Input:
    """The ``if_nothing_found`` combo every node that can come up empty shares."""
    return io.Combo.Input(
        "if_nothing_found",
        options=IfNothingFound.values(),
        default=IfNothingFound.ERROR.value,
        tooltip=f"error: stop with a message; empty mask: {empty}; whole image: use the whole "
        "image as the only region.",
    )


def crop_inputs(resolution: int) -> list[io.Input]:
    """The crop settings of 'Crop for Inpaint' and the one-node inpaints (``resolution``: the
    node's default, 0 = the model's native size)."""
    return [
        io.Float.Input(
            "context",
            default=CropRequest.context,
            min=0.0,
            max=4.0,
            step=0.05,
            tooltip="Padding around each masked area that the sampler sees, as a fraction of the "
            "area's size; more context blends better, less gives the object more pixels.",
        ),
        io.Int.Input(
            "resolution",
            default=resolution,
            min=0,
            max=8192,
            step=8,
            tooltip="Longer side of the crops in pixels (aspect kept, sides multiples of the "
            "model's latent step: 8, 16 for FLUX and FLUX.2): small objects are upscaled to it, "
            "large ones downscaled. 0 = the model's native size (SD 1.5: 512, SD 2 768-v: 768, "
            "SDXL/SD3/FLUX: 1024, Qwen-Image: 1328).",
        ),
        io.Int.Input(
            "feather_px",
            default=CropRequest.feather_px,
            min=0,
            max=256,
            step=1,
            tooltip="Blend width outside the mask in pixels; beyond it pixels stay bit-identical.",
        ),
        io.Combo.Input(
            "split",
            options=Split.values(),
            default=CropRequest.split.value,
            tooltip="one per image: one crop around all of an image's mask. one per masked area: "
            "separate parts of the mask get their own crops (two small objects far apart are "
            "not cut out with everything between them).",
        ),
    ]


def sampling_inputs(cfg: float) -> list[io.Input]:
    """seed, steps and cfg of the one-node inpaints (``cfg``: the node's default guidance)."""
    return [
        io.Int.Input(
            "seed",
            default=RepaintRequest.seed,
            min=0,
            max=SEED_MODULUS - 1,
            control_after_generate=True,
            tooltip="Noise seed; the crops of image b use seed + b, so a result does not depend "
            "on the batch.",
        ),
        io.Int.Input(
            "steps", default=DiffusersSampler.steps, min=1, max=10000, tooltip="Sampling steps."
        ),
        io.Float.Input(
            "cfg",
            default=cfg,
            min=0.0,
            max=100.0,
            step=0.1,
            round=0.01,
            tooltip="Classifier-free guidance: how strongly to follow the prompt.",
        ),
    ]


def grow_and_feather_inputs(grow_tooltip: str, feather_tooltip: str) -> list[io.Input]:
    """``grow_px`` and ``feather_px`` of the mask nodes (each node says when they apply)."""
    return [
        io.Int.Input(
            "grow_px",
            default=MaskOpsRequest.grow_px,
            min=-256,
            max=256,
            step=1,
            tooltip=grow_tooltip,
        ),
        io.Int.Input(
            "feather_px",
            default=MaskOpsRequest.feather_px,
            min=0,
            max=256,
            step=1,
            tooltip=feather_tooltip,
        ),
    ]


def sampler_inputs() -> list[io.Input]:
    """sampler_name, scheduler, denoise and masked_start of the nodes that sample with ComfyUI."""
    return [
        io.Combo.Input(
            "sampler_name",
            options=comfy.samplers.SAMPLER_NAMES,
            tooltip="The sampling algorithm, as in KSampler.",
        ),
        io.Combo.Input(
            "scheduler",
            options=comfy.samplers.SCHEDULER_NAMES,
            tooltip="The noise schedule, as in KSampler.",
        ),
        io.Float.Input(
            "denoise",
            default=DENOISE,
            min=0.0,
            max=1.0,
            step=0.01,
            tooltip="1 replaces the masked content; lower keeps more of the original.",
        ),
        io.Combo.Input(
            "masked_start",
            options=MaskedStart.values(),
            default=MaskedStart.AUTO.value,
            tooltip="What a regular checkpoint starts from inside the mask. auto: neutral "
            "grey at denoise 1 (like VAE Encode for Inpaint), the original pixels below "
            "1 (like Set Latent Noise Mask). Inpainting checkpoints always start from "
            "the original and see the grey-masked crop (like InpaintModelConditioning).",
        ),
    ]


def threshold_input(default: float, tooltip: str) -> io.Float.Input:
    """A detector's confidence ``threshold``."""
    return io.Float.Input(
        "threshold", default=default, min=0.0, max=1.0, step=0.01, tooltip=tooltip
    )


def max_detections_input() -> io.Int.Input:
    """A detector's ``max_detections``."""
    return io.Int.Input(
        "max_detections",
        default=DetectRequest.max_detections,
        min=1,
        max=300,
        step=1,
        tooltip="At most this many candidates per image, most confident first.",
    )


def labels_input() -> io.String.Input:
    """A closed-set detector's class filter ``labels``."""
    return io.String.Input(
        "labels",
        default=DetectRequest.labels,
        multiline=False,
        placeholder="car, person (empty = every class)",
        tooltip="Comma-separated class names to keep (the detector's own names); "
        "empty keeps every class.",
    )


def min_probability_input() -> io.Float.Input:
    """Match's ``min_probability``."""
    return io.Float.Input(
        "min_probability",
        default=MatchRequest.min_probability,
        min=0.0,
        max=1.0,
        step=0.01,
        tooltip="Drop matches whose CLIP probability (among this image's candidates) is lower.",
    )


def candidates_input(ranked_by: str = "CLIP") -> io.Int.Input:
    """How many candidates each image gets (optional: older workflows load)."""
    alpha, beta = RankSettings.alpha, RankSettings.beta
    return io.Int.Input(
        "candidates",
        default=RepaintRequest.candidates,
        min=1,
        max=64,
        optional=True,
        tooltip="Repaint each image this many times in the same sampling passes (candidate "
        f"j of image b with seed + b * candidates + j) and keep the best by {ranked_by}: S = "
        f"{alpha:g} * S_t2i + {beta:g} * S_i2i (how well the area shows the prompt, how much "
        "it keeps of the source; see Rank Edits for the weights and the table). 1 = no "
        "ranking.",
    )


def candidate_inputs(text: bool = False) -> list[io.Input]:
    """``candidates`` and the CLIP that ranks them (optional: older workflows load); with
    ``text``, also the text they are ranked on (a node whose prompt is a conditioning)."""
    ranked_on = [
        io.String.Input(
            "text",
            default="",
            optional=True,
            placeholder="a blue pickup truck",
            tooltip="What the area should show, in words (your positive prompt): the "
            "candidates are ranked on it. Needed when candidates is above 1.",
        )
    ]
    return [
        candidates_input(),
        sockets.ClipMatcher.Input(
            "clip",
            optional=True,
            tooltip="From 'Load CLIP Matcher (Pinpoint)': ranks the candidates (needed when "
            "candidates is above 1).",
        ),
        *(ranked_on if text else []),
    ]


def guidance_input(steers: str, note: str = "") -> io.Input:
    """The optional guidance of an inpaint node (``steers``: what it steers towards)."""
    return sockets.Guidance.Input(
        "guidance",
        optional=True,
        tooltip="From 'CLIP Guidance' or 'Style Guidance (Pinpoint)': each crop is sampled with "
        f"CLIP steering its masked area towards {steers}{note}.",
    )


def flux_guidance_input() -> io.Float.Input:
    """The FLUX guidance of guidance-distilled models (optional: older workflows load with the
    family's default)."""
    flux, fill, flux2 = (FAMILIES[name].guidance for name in ("Flux", "FluxInpaint", "Flux2"))
    return io.Float.Input(
        "flux_guidance",
        default=Sampling.flux_guidance,
        min=0.0,
        max=100.0,
        step=0.1,
        optional=True,
        tooltip="The guidance value guidance-distilled models read (FLUX.1 dev and Fill, FLUX.2 "
        "dev; as FluxGuidance). 0 = the conditioning's own (FluxGuidance upstream) or the "
        f"family's default: {flux:g}, FLUX Fill {fill:g}, FLUX.2 {flux2:g}. These models want cfg "
        "1. Others ignore it.",
    )


def harmonise_input() -> io.Float.Input:
    """How much of the sampler's colour shift is corrected before the paste (optional: older
    workflows load with it off)."""
    return io.Float.Input(
        "harmonise",
        default=RepaintRequest.harmonise,
        min=0.0,
        max=1.0,
        step=0.05,
        optional=True,
        tooltip="0 = off. Up to 1: match the new area's colour and tone to its surroundings. "
        "The colour shift the sampler (and its VAE) gave the area around the object is measured "
        "against the original and carried smoothly into the new area, so no seam shows; the "
        "edit's own colours and detail stay, and pixels outside the feathered mask stay "
        "bit-identical.",
    )


def mode_input() -> io.Combo.Input:
    """How the ComfyUI sampler edits each crop (optional: older workflows load inpainting)."""
    return io.Combo.Input(
        "mode",
        options=EditMode.values(),
        default=EditMode.INPAINT.value,
        optional=True,
        tooltip="inpaint: regenerate the masked area. instruct: hand each crop to an "
        f"instruction editor ({EDITORS}) as its reference image, the prompt being the "
        "instruction ('make it a fox'); the editor's shift and zoom are undone and only the "
        "object (and what the edit changed next to it) is pasted back.",
    )


def band_input(name: str = "band_px", optional: bool = False) -> io.Int.Input:
    """Matte Edges' ``band_px`` (Edit by Text's optional ``matte_band_px``)."""
    return io.Int.Input(
        name,
        default=MatteRequest.band_px,
        min=1,
        max=256,
        step=1,
        optional=optional,
        tooltip="ViTMatte decides the pixels this far inside and outside the mask's edge; "
        "farther in stays 1, farther out stays 0. Under half the image's shorter side.",
    )
