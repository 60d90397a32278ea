"""The options of ``python -m pinpoint``: the parser, its option groups, and what the options
``edit``, ``style`` and ``eval`` share mean (:func:`edit_settings`). Every default is read from
the request or settings that owns it."""

from __future__ import annotations

import argparse
import dataclasses

from ..diffusers_sampler import Scheduler
from ..edit_list import ARROW, EXAMPLE, EditSettings
from ..errors import reported_as
from ..eval_benchmarks import BENCHMARK_MASK, BENCHMARKS, MASK_CHOICES
from ..eval_items import PRESETS
from ..guidance_settings import CLIP_SCALE, GUIDE_KINDS, SOURCE_TEXT, STYLE_SCALE, GuidanceSettings
from ..loading.kinds import PERCEPTUAL
from ..loading.precision import Precision
from ..loading.suggested import SUGGESTED
from ..ranking import RankSettings
from ..regions import IfNothingFound
from ..selection import Pick
from .routes import add_model_flags, add_route_options, default_threshold


def _add_edit_options(parser: argparse.ArgumentParser, defaults: EditSettings) -> None:
    """The options ``edit``, ``style`` and ``eval`` share: the models, the route, detect and
    match, inpaint."""
    parser.add_argument(
        "--convert-rgb", action="store_true", help="accept grayscale/RGBA input (alpha is dropped)"
    )
    models = parser.add_argument_group("models")
    models.add_argument(
        "--tiny",
        action="store_true",
        help="use tiny random-weight models (offline demo, output is noise)",
    )
    models.add_argument("--models-dir", help="models root (default: $PINPOINT_MODELS or ./models)")
    add_model_flags(models)
    models.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    models.add_argument("--precision", default=Precision.AUTO.value, choices=Precision.values())
    add_route_options(parser)
    find = parser.add_argument_group("find and choose")
    find.add_argument(
        "--threshold",
        type=float,
        help=f"the finder's threshold (default {defaults.threshold} on detect; the route's own "
        "on detect-by-text, heatmap and text-segmenter; 0 with --tiny)",
    )
    find.add_argument(
        "--labels",
        default=defaults.labels,
        help='detect, segments: only these classes of the model, e.g. "car, truck"',
    )
    find.add_argument(
        "--max-detections",
        type=int,
        default=defaults.max_detections,
        help="at most this many candidates per image",
    )
    find.add_argument(
        "--pick",
        default=defaults.pick.value,
        choices=Pick.values(),
        help="which matching regions to edit: the best, all, or by position/size",
    )
    find.add_argument(
        "--top-k", type=int, default=defaults.top_k, help="how many matching regions to edit"
    )
    find.add_argument(
        "--context-pad",
        type=float,
        default=defaults.context_pad,
        help="context around each crop CLIP sees",
    )
    find.add_argument(
        "--confidence-weight",
        type=float,
        default=defaults.confidence_weight,
        help="blend detector confidence into the ranking",
    )
    find.add_argument("--min-probability", type=float, default=defaults.min_probability)
    find.add_argument(
        "--if-nothing-found",
        default=defaults.if_nothing_found.value,
        choices=IfNothingFound.values(),
    )
    paint = parser.add_argument_group("inpaint")
    paint.add_argument(
        "--grow",
        dest="grow_px",
        type=int,
        default=defaults.grow_px,
        help="grow the box mask by this many pixels",
    )
    paint.add_argument(
        "--feather",
        dest="feather_px",
        type=int,
        default=defaults.feather_px,
        help="soft blend edge in pixels",
    )
    paint.add_argument(
        "--context",
        type=float,
        default=defaults.context,
        help="crop padding around the mask (fraction of its size)",
    )
    paint.add_argument(
        "--scheduler",
        default=defaults.scheduler.value,
        choices=Scheduler.values(),
        help="the sampler: auto (DPM-Solver++ on SD-style families, the flow-matching Euler of "
        "FLUX, SD 3, Qwen-Image ...), DPM-Solver++ (one UNet call per step, good in 20 steps), "
        "DDIM or Euler (one per step), or the pipeline's own (SD 1.5 inpainting: PNDM, one call "
        "more than --steps)",
    )
    paint.add_argument(
        "--settle",
        action="store_true",
        help="for editors that move the whole picture (Qwen-Image-Edit, FLUX.1 Kontext): undo "
        "their shift and zoom, measured on the context around the object, and let the blend "
        "follow the edit up to 16 px past the mask; what was corrected is printed",
    )
    paint.add_argument(
        "--harmonise",
        type=float,
        default=defaults.harmonise,
        help="0 (off) to 1: match the new area's colour and tone to its surroundings (corrects "
        "the shift the sampler gave the crop; nothing outside the mask changes)",
    )
    paint.add_argument(
        "--negative-prompt",
        default=defaults.negative_prompt,
        help="what the new content should avoid",
    )
    paint.add_argument("--steps", type=int, default=defaults.steps)
    paint.add_argument(
        "--cfg",
        type=float,
        default=defaults.cfg,
        help="classifier-free guidance (default: the family's usual: 7.5 SD and SDXL, 7 SD 3 and "
        "Chroma, 4 Qwen-Image, 5 Z-Image, 1 (off) FLUX.1 Kontext; FLUX.1 Fill has none)",
    )
    paint.add_argument("--strength", type=float, default=defaults.strength)
    paint.add_argument("--seed", type=int, default=defaults.seed)


class _GuideOption(argparse.Action):
    """Stores a guidance option's value and notes that it was given, so that ``--guide none``
    can refuse it rather than drop it (:func:`pinpoint.cli.guide.guide_settings`)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        namespace.guide_given = (*getattr(namespace, "guide_given", ()), option_string)


def _add_guide_options(parser: argparse.ArgumentParser, guide: str, scale: float) -> None:
    """The options of CLIP guidance (:mod:`pinpoint.guided_scheduler`), ``guide`` by default."""
    folder = f"<models>/{PERCEPTUAL.folder}"
    group = parser.add_argument_group("guidance (CLIP steers the sampler at its steps)")
    group.add_argument(
        "--guide",
        default=guide,
        choices=["none", *GUIDE_KINDS],
        help="clip: pull each edited area towards its prompt and keep the outside (S2); "
        "style: turn it from --source-text towards the prompt, keeping its structure (S3)",
    )
    base = GuidanceSettings()
    group.add_argument(
        "--guide-scale",
        action=_GuideOption,
        type=float,
        default=scale,
        help="how far each guided step moves the prediction (RMS in latent units; 0.02 gentle, "
        "0.1 strong)",
    )
    group.add_argument(
        "--guide-start",
        action=_GuideOption,
        type=float,
        default=base.start,
        help="first guided step",
    )
    group.add_argument(
        "--guide-end", action=_GuideOption, type=float, default=base.end, help="last guided step"
    )
    group.add_argument(
        "--guide-every", action=_GuideOption, type=int, default=base.every, help="guide every n-th"
    )
    group.add_argument(
        "--guide-decoder",
        action=_GuideOption,
        metavar="TAESD_DECODER",
        help="decode the guided steps with this TAESD decoder file (e.g. ComfyUI's "
        "models/vae_approx/taesd_decoder.safetensors): far less memory and time than the "
        "pipeline's own VAE, the default",
    )
    group.add_argument(
        "--guide-lpips",
        metavar="NAME",
        help=f"clip: also keep the outside by LPIPS (S2's weight {GuidanceSettings.mse_weight:g}) "
        f"with this backbone (a file name under {folder} or a path, e.g. "
        "alexnet-owt-7be5be79.pth)",
    )
    group.add_argument(
        "--source-text",
        action=_GuideOption,
        default=SOURCE_TEXT,
        help="style: what the area shows now; the style runs from this text to the prompt",
    )
    group.add_argument(
        "--guide-vgg",
        metavar="NAME",
        help=f"style: keep the layout by VGG16's content loss (weight --content-weight) with "
        f"this file (under {folder} or a path: vgg16-397923af.pth)",
    )
    group.add_argument(
        "--content-weight",
        action=_GuideOption,
        type=float,
        default=1.0,
        help="style: the content loss's weight",
    )


def _add_candidate_options(parser: argparse.ArgumentParser, told: str) -> None:
    """``--candidates`` and the ranking weights (:class:`~pinpoint.ranking.RankSettings`);
    ``told``: what the command says of the ranking."""
    ranking = RankSettings()
    rank = parser.add_argument_group("candidates")
    rank.add_argument(
        "--candidates",
        type=int,
        default=1,
        help="repaint each image this many times (seeds seed, seed+1, ...) in the same sampling "
        "passes and keep the best by alpha * S_t2i + beta * S_i2i (CLIP: how well the area says "
        f"the prompt, how much it keeps of the source); {told}",
    )
    rank.add_argument("--alpha", type=float, default=ranking.alpha, help="weight of S_t2i")
    rank.add_argument("--beta", type=float, default=ranking.beta, help="weight of S_i2i")


DESCRIPTION = "``python -m pinpoint``: the edit pipeline without ComfyUI."
"""What ``--help`` says the CLI is (the package docstring's first line)."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command and its options (each default read from its owner)."""
    parser = argparse.ArgumentParser(prog="python -m pinpoint", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    defaults = EditSettings()

    edit = commands.add_parser("edit", help="find an object by text and repaint it")
    edit.add_argument(
        "--image",
        required=True,
        help="input image (RGB PNG/JPEG/WebP), or a folder or a quoted glob ('photos/*.jpg') "
        "of images: then --out (and --preview) are folders, one <name>.png per input",
    )
    edit.add_argument("--find", help='what to change, e.g. "the red car"')
    edit.add_argument("--prompt", help='what it becomes, e.g. "a blue pickup truck"')
    edit.add_argument(
        "--edit",
        action="append",
        default=[],
        help=f'one edit "what to find {ARROW} what it becomes", e.g. "{EXAMPLE}"; repeat for '
        "several edits in one pass",
    )
    edit.add_argument(
        "--edits",
        help="a text file of edits, one per line (options after '|', # comments); with "
        "--find/--prompt and --edit they make one list, painted in order",
    )
    edit.add_argument(
        "--out", required=True, help="where to write the edited image (a folder for several)"
    )
    edit.add_argument(
        "--overwrite",
        action="store_true",
        help="several images: edit those already in --out again (by default they are "
        "skipped, so a stopped run resumes)",
    )
    edit.add_argument("--preview", help="also write the detection/match preview here")
    _add_edit_options(edit, defaults)
    _add_guide_options(edit, "none", CLIP_SCALE)
    _add_candidate_options(edit, "prints the ranking")

    style = commands.add_parser(
        "style", help="restyle an image (or the object --find names) as a text says (S3)"
    )
    style.add_argument("--image", required=True, help="input image, or a folder or quoted glob")
    style.add_argument(
        "--style", required=True, help='the style, e.g. "a watercolor painting" or "made of gold"'
    )
    style.add_argument("--find", help='restyle only this object, e.g. "the cat" (default: all)')
    style.add_argument(
        "--out", required=True, help="where to write the result (a folder for several)"
    )
    style.add_argument("--overwrite", action="store_true", help="several images: redo done ones")
    style.add_argument("--preview", help="with --find: also write the detection/match preview here")
    _add_edit_options(style, EditSettings(strength=0.6, scheduler=Scheduler.DDIM))
    _add_guide_options(style, "style", STYLE_SCALE)

    evaluation = commands.add_parser(
        "eval",
        help="run edits on a set of images and measure every result (report folder)",
        description="Run edits on a set of images and measure every result. To compare routes "
        "or settings, run it once per route (--route, --refine) or setting (--guide ..., "
        "--candidates) into the same --out: each run's rows are keyed by its route and setting "
        "(e.g. 'detect', 'detect guide=clip', 'detect candidates=4') and the summary and report "
        "show every run side by side.",
    )
    evaluation.add_argument(
        "--images", help="a folder of images (with --coco: the annotated images)"
    )
    evaluation.add_argument(
        "--coco",
        metavar="ANNOTATIONS.json",
        help="COCO instance annotations of --images: each image's largest object is its target "
        "and {category} in an edit names its category",
    )
    edits = evaluation.add_mutually_exclusive_group(required=True)
    edits.add_argument(
        "--edits",
        metavar="EDITS.csv",
        help="the edits: a CSV file with the header type,find,prompt[,source_text]",
    )
    edits.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="a named edit set: s1 = S1's COCO protocol (colour, tilt left, face front, "
        "upside down; needs --coco)",
    )
    edits.add_argument(
        "--benchmark",
        choices=sorted(BENCHMARKS),
        help="a public benchmark in --data, each image with its own edit: pie = PIE-Bench "
        "(mapping_file.json, annotation_images/), magicbrush = MagicBrush's test split "
        "(edit_sessions.json, images/)",
    )
    evaluation.add_argument("--data", metavar="DIR", help="the benchmark's folder")
    evaluation.add_argument(
        "--mask",
        choices=MASK_CHOICES,
        default=MASK_CHOICES[0],
        help="with --benchmark: found = Pinpoint finds the area from the benchmark's words; "
        f"benchmark = edit inside the benchmark's own mask (editing alone, route "
        f"'{BENCHMARK_MASK}')",
    )
    evaluation.add_argument(
        "--out", required=True, help="report folder (rows.csv, summary.json, report.html, edits/)"
    )
    evaluation.add_argument("--limit", type=int, help="evaluate this many images, drawn at random")
    evaluation.add_argument("--sample-seed", type=int, default=0, help="the draw of --limit")
    folder = f"<models>/{PERCEPTUAL.folder}"
    evaluation.add_argument(
        "--lpips",
        help=f"the LPIPS backbone for LPIPS outside the mask: a file name under {folder} or a "
        "path (default: alexnet-owt-7be5be79.pth, vgg16-397923af.pth or "
        "squeezenet1_1-b8a52dc0.pth if there; else not measured)",
    )
    evaluation.add_argument(
        "--fid",
        help=f"the FID Inception: a file name under {folder} or a path (default: "
        "weights-inception-2015-12-05-6726825d.pth if there; else FID is not measured)",
    )
    _add_edit_options(evaluation, EditSettings(if_nothing_found=IfNothingFound.EMPTY_MASK))
    _add_guide_options(evaluation, "none", CLIP_SCALE)
    _add_candidate_options(
        evaluation, "each row says which was kept (kept, kept_score: its number and S)"
    )

    listing = commands.add_parser("models", help="list installed models and what to download")
    listing.add_argument("--models-dir", help="models root (default: $PINPOINT_MODELS or ./models)")
    fetch = commands.add_parser(
        "download", help="fetch suggested models from Hugging Face into the models folders"
    )
    fetch.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help="suggested models: " + ", ".join(model.name for model in SUGGESTED),
    )
    fetch.add_argument("--models-dir", help="models root (default: $PINPOINT_MODELS or ./models)")
    return parser


def edit_settings(args: argparse.Namespace, command: str) -> EditSettings:
    """The edit settings the options give (every EditSettings field is an option of the same
    name); the threshold defaults to the route's finder's (see :func:`default_threshold`)."""
    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(EditSettings)}
    threshold = default_threshold(args)
    given["threshold"] = EditSettings.threshold if threshold is None else threshold
    with reported_as(command):
        return EditSettings(**given)
