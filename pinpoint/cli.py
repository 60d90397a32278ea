"""``python -m pinpoint``: the edit pipeline without ComfyUI.

python -m pinpoint edit --image in.png --find "the red car" --prompt "a blue truck" --out out.png
python -m pinpoint edit --image in.png --edit "the cat => a fox" --edit "..." --out out.png
python -m pinpoint edit --image in.png --edits edits.txt --out out.png  # one edit per line
python -m pinpoint edit ... --candidates 4  # 4 seeds in one pass, the best by CLIP kept
python -m pinpoint edit ... --guide clip --guide-scale 0.05  # CLIP steers the sampler (S2)
python -m pinpoint style --image in.png --style "a watercolor painting" --out out.png  # S3
python -m pinpoint edit --image "photos/*.jpg" --out edited/ ...  # many images, resumable
python -m pinpoint edit --tiny ...  # tiny random models: runs anywhere, the output is noise
python -m pinpoint eval --images val2017/ --coco instances_val2017.json --preset s1 --out report/
python -m pinpoint models           # what is installed where, and what to download
python -m pinpoint download detr-resnet-50 clip-vit-base-patch32 ...  # fetch suggested models
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from .batch import Item
from .edit_list import ARROW, EXAMPLE, EditLine, EditSettings, parse_edit_list
from .errors import PinpointError, reported_as
from .eval_items import PRESETS
from .guidance import STYLE, GuidanceRecipe, GuidanceSettings
from .images import check_prompt
from .inpaint import Scheduler
from .loading.kinds import CLIP, DETECTOR, INPAINT, KINDS, PERCEPTUAL, ModelKind
from .loading.models import ClipMatcher, Detector, InpaintPipe, PerceptualNet
from .loading.precision import Precision
from .loading.suggested import SUGGESTED
from .metrics import RankSettings
from .regions import IfNothingFound
from .selection import Pick
from .shards import Shard, current_shard

TINY_BANNER = (
    "*** TINY RANDOM MODELS: Pinpoint built untrained models with random weights so the whole\n"
    "*** pipeline runs offline on any machine. Boxes, scores and the edited pixels are noise;\n"
    "*** put real models in the models folder (see `python -m pinpoint models`) for real edits."
)
EDIT = "pinpoint edit"
"""How the edit command names itself in errors."""
EVAL = "pinpoint eval"
"""How the eval command names itself in errors."""
MODEL_FLAGS = {"detector": DETECTOR, "clip": CLIP, "inpaint": INPAINT}
"""``--detector``/``--clip``/``--inpaint`` → the kind of model each names."""


def _models_root(value: str | None) -> Path:
    return Path(value or os.environ.get("PINPOINT_MODELS") or "models")


def _pick_device(choice: str, shard: Shard) -> torch.device:
    if choice != "auto":
        return torch.device(choice)
    if shard.device is not None:
        return shard.device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _add_edit_options(parser: argparse.ArgumentParser, defaults: EditSettings) -> None:
    """The options ``edit`` and ``eval`` share: the models, detect and match, inpaint."""
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
    for flag, kind in MODEL_FLAGS.items():
        folders = " or ".join(f"<models>/{name}" for name in (kind.folder, *kind.extra_folders))
        models.add_argument(f"--{flag}", help=f"folder name under {folders}, or a path")
    models.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    models.add_argument("--precision", default=Precision.AUTO.value, choices=Precision.values())
    find = parser.add_argument_group("detect and match")
    find.add_argument(
        "--threshold",
        type=float,
        help=f"detector confidence threshold (default {defaults.threshold}; 0 with --tiny)",
    )
    find.add_argument(
        "--labels", default=defaults.labels, help='only these detector classes, e.g. "car, truck"'
    )
    find.add_argument("--max-detections", type=int, default=defaults.max_detections)
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
        help="the sampler: the pipeline's own (SD 1.5 inpainting: PNDM, one UNet call more "
        "than --steps), DDIM, Euler or DPM-Solver++ (one call per step)",
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
    paint.add_argument("--cfg", type=float, default=defaults.cfg)
    paint.add_argument("--strength", type=float, default=defaults.strength)
    paint.add_argument("--seed", type=int, default=defaults.seed)


GUIDES = {"none": None, "clip": GuidanceSettings(), "style": STYLE}
"""``--guide`` → the losses it turns on (their weights; the scale and schedule are options)."""


def _add_guide_options(parser: argparse.ArgumentParser, guide: str, scale: float) -> None:
    """The options of CLIP guidance (:mod:`pinpoint.guided_scheduler`), ``guide`` by default."""
    folder = f"<models>/{PERCEPTUAL.folder}"
    group = parser.add_argument_group("guidance (CLIP steers the sampler at its steps)")
    group.add_argument(
        "--guide",
        default=guide,
        choices=list(GUIDES),
        help="clip: pull each edited area towards its prompt and keep the outside (S2); "
        "style: turn it from --source-text towards the prompt, keeping its structure (S3)",
    )
    base = GuidanceSettings()
    group.add_argument(
        "--guide-scale",
        type=float,
        default=scale,
        help="how far each guided step moves the prediction (RMS in latent units; 0.02 gentle, "
        "0.1 strong)",
    )
    group.add_argument("--guide-start", type=float, default=base.start, help="first guided step")
    group.add_argument("--guide-end", type=float, default=base.end, help="last guided step")
    group.add_argument("--guide-every", type=int, default=base.every, help="guide every n-th")
    group.add_argument(
        "--guide-decoder",
        metavar="TAESD_DECODER",
        help="decode the guided steps with this TAESD decoder file (e.g. ComfyUI's "
        "models/vae_approx/taesd_decoder.safetensors): far less memory and time than the "
        "pipeline's own VAE, the default",
    )
    group.add_argument(
        "--guide-lpips",
        metavar="NAME",
        help=f"clip: also keep the outside by LPIPS (S2's weight 1000) with this backbone (a "
        f"file name under {folder} or a path, e.g. alexnet-owt-7be5be79.pth)",
    )
    group.add_argument(
        "--source-text",
        default="a photo",
        help="style: what the area shows now; the style runs from this text to the prompt",
    )
    group.add_argument(
        "--guide-vgg",
        metavar="NAME",
        help=f"style: keep the layout by VGG16's content loss (weight --content-weight) with "
        f"this file (under {folder} or a path: vgg16-397923af.pth)",
    )
    group.add_argument(
        "--content-weight", type=float, default=1.0, help="style: the content loss's weight"
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pinpoint", description=__doc__.splitlines()[0])
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
    _add_guide_options(edit, "none", 0.05)
    ranking = RankSettings()
    rank = edit.add_argument_group("candidates")
    rank.add_argument(
        "--candidates",
        type=int,
        default=1,
        help="repaint each image this many times (seeds seed, seed+1, ...) in the same sampling "
        "passes and keep the best by alpha * S_t2i + beta * S_i2i (CLIP: how well the area says "
        "the prompt, how much it keeps of the source); prints the ranking",
    )
    rank.add_argument("--alpha", type=float, default=ranking.alpha, help="weight of S_t2i")
    rank.add_argument("--beta", type=float, default=ranking.beta, help="weight of S_i2i")

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
    _add_guide_options(style, "style", 0.1)

    evaluation = commands.add_parser(
        "eval", help="run edits on a set of images and measure every result (report folder)"
    )
    evaluation.add_argument(
        "--images", required=True, help="a folder of images (with --coco: the annotated images)"
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


def _resolve(kind: ModelKind, name: str | None, root: Path) -> Path:
    """The model the user named (or the first installed one) of ``kind`` under ``root``."""
    from .loading import default_search_dirs, find_model, list_installed

    search = default_search_dirs(kind, root)
    if name is None:
        found = list_installed(search, kind)
        name = found[0] if found else kind.example_dir  # a missing name raises the how-to below
    try:
        return find_model(name, search, kind)
    except PinpointError as err:
        raise PinpointError(
            err.problem,
            f"{err.fix} (or run with --tiny to try the pipeline on tiny random models)",
        ) from err


def _edit_list(args: argparse.Namespace, settings: EditSettings) -> tuple[EditLine, ...]:
    """``--find``/``--prompt``, then every ``--edit``, then the ``--edits`` file: one list."""
    defaults = settings.line_defaults()
    edits: list[EditLine] = []
    if args.find is not None or args.prompt is not None:
        with reported_as(f"{EDIT} --find/--prompt"):
            if args.find is None or args.prompt is None:
                raise PinpointError(
                    "--find and --prompt go together",
                    f'give both, or write the edit as --edit "{EXAMPLE}"',
                )
            find = check_prompt(args.find, "--find", "the red car")
            prompt = check_prompt(args.prompt, "--prompt", "a blue pickup truck")
            edits.append(dataclasses.replace(defaults, find=find, prompt=prompt))
    if args.edit:
        with reported_as(f"{EDIT} --edit"):
            edits.extend(parse_edit_list(args.edit, defaults))
    if args.edits:
        with reported_as(f"{EDIT} --edits {args.edits}"):
            try:
                text = Path(args.edits).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise PinpointError(
                    f"cannot read the edit list ({err})",
                    "give a UTF-8 text file, one edit per line",
                ) from err
            edits.extend(parse_edit_list(text.splitlines(), defaults))
    if not edits:
        with reported_as(EDIT):
            raise PinpointError(
                "nothing to edit",
                f'give --find and --prompt, --edit "{EXAMPLE}" (repeatable) or --edits FILE',
            )
    return tuple(edits)


def _show_progress(done: int, total: int) -> None:
    last = done >= total
    if sys.stderr.isatty():
        print(f"\rinpainting: step {done}/{total}", end="\n" if last else "", file=sys.stderr)
    elif last:
        print(f"inpainting: {total} steps done", file=sys.stderr)


def _settings(args: argparse.Namespace, command: str) -> EditSettings:
    """The edit settings the options give (every EditSettings field is an option of the same
    name); random weights are never confident, so with --tiny the threshold defaults to 0."""
    threshold = args.threshold
    if threshold is None:
        threshold = 0.0 if args.tiny else EditSettings.threshold
    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(EditSettings)}
    with reported_as(command):
        return EditSettings(**given | dict(threshold=threshold))


def _model_paths(args: argparse.Namespace, command: str) -> dict[str, Path]:
    """``--detector``/``--clip``/``--inpaint`` (or the tiny models) as paths, checked."""
    if args.tiny:
        from .tiny import build_tiny_models, default_tiny_root

        print(TINY_BANNER, file=sys.stderr)
        with reported_as(f"{command} --tiny"):
            return build_tiny_models(default_tiny_root())
    root = _models_root(args.models_dir)
    paths = {}
    for flag, kind in MODEL_FLAGS.items():
        with reported_as(f"{command} ({kind.title})"):
            paths[flag] = _resolve(kind, getattr(args, flag), root)
    return paths


def _load_models(
    args: argparse.Namespace, paths: dict[str, Path], command: str, shard: Shard
) -> tuple[Detector, ClipMatcher, InpaintPipe]:
    """The detector, CLIP and inpainting pipeline, loaded once for the whole run on the
    device ``--device`` names (``auto``: the one Accelerate gives this process, or the best)."""
    from .loading import load_model

    device = _pick_device(args.device, shard)
    precision = Precision.check(args.precision, "--precision")
    dtype = precision.dtype(half=device.type == "cuda")
    started = time.perf_counter()
    loaded = {}
    for flag, kind in MODEL_FLAGS.items():
        with reported_as(f"{command} ({kind.title})"):
            loaded[flag] = load_model(kind, paths[flag], device, dtype)
    detector, clip, pipe = loaded["detector"], loaded["clip"], loaded["inpaint"]
    print(
        f"models: detector={detector.name} clip={clip.name} inpaint={pipe.name} "
        f"on {device} ({str(dtype).replace('torch.', '')}), "
        f"loaded in {time.perf_counter() - started:.1f}s"
    )
    return detector, clip, pipe


def _guide_files(args: argparse.Namespace, command: str) -> dict[str, Path]:
    """The files the guidance options name, found before any model loads."""
    from .loading import default_search_dirs, find_model
    from .loading.taesd import check_taesd_path

    search = default_search_dirs(PERCEPTUAL, _models_root(args.models_dir))
    files = {}
    for flag, wanted in (("lpips", "clip"), ("vgg", "style")):
        name = getattr(args, f"guide_{flag}")
        if name is None:
            continue
        with reported_as(f"{command} --guide-{flag}"):
            if args.guide != wanted:
                raise PinpointError(
                    f"--guide-{flag} is a loss of --guide {wanted}, not of --guide {args.guide}",
                    f"add --guide {wanted}, or leave --guide-{flag} out",
                )
            files[flag] = find_model(name, search, PERCEPTUAL)
    if args.guide_decoder is not None:
        with reported_as(f"{command} --guide-decoder"):
            files["decoder"] = check_taesd_path(Path(args.guide_decoder))
    return files


def _guide_settings(args: argparse.Namespace, command: str) -> GuidanceSettings | None:
    """The guidance ``--guide`` and its options ask for (checked before any model loads)."""
    base = GUIDES[args.guide]
    if base is None:
        return None
    with reported_as(f"{command} --guide {args.guide}"):
        settings = dataclasses.replace(
            base,
            scale=args.guide_scale,
            start=args.guide_start,
            end=args.guide_end,
            every=args.guide_every,
            lpips_weight=1000.0 if args.guide_lpips else 0.0,
            content_weight=args.content_weight if args.guide_vgg else 0.0,
        )
        check_prompt(args.source_text, "--source-text", "a photo")
    return settings


def _guidance(
    args: argparse.Namespace,
    command: str,
    settings: GuidanceSettings | None,
    files: dict[str, Path],
    clip: ClipMatcher,
    pipe: InpaintPipe,
    text: str,
) -> GuidanceRecipe | None:
    """The guidance recipe, its networks and decoder loaded where the pipeline runs."""
    from .loading import load_model
    from .loading.models import module_device, module_dtype
    from .loading.taesd import load_taesd

    if settings is None:
        return None
    device, dtype = module_device(pipe.pipe.unet), module_dtype(pipe.pipe.unet)
    nets: dict[str, PerceptualNet | None] = {"lpips": None, "vgg": None}
    for flag in nets:
        if flag in files:
            with reported_as(f"{command} --guide-{flag}"):
                nets[flag] = load_model(PERCEPTUAL, files[flag], device)
    decoder = None
    if "decoder" in files:
        with reported_as(f"{command} --guide-decoder"):
            decoder = load_taesd(files["decoder"], device, dtype)
    with reported_as(f"{command} --guide {args.guide}"):
        return GuidanceRecipe(
            clip,
            text,
            settings,
            lpips_net=nets["lpips"],
            decoder=decoder,
            source_text=args.source_text,
            vgg_net=nets["vgg"],
        )


def _run_edit(args: argparse.Namespace) -> int:
    """``edit``, and ``style`` (the same run: with --find an edit whose prompt is the style,
    else each whole image restyled)."""
    from .batch import plan_folder_edits, run_folder_edits
    from .images import load_image, save_image
    from .pipeline import check_candidates, edit, restyle

    command = f"pinpoint {args.command}"
    styling = args.command == "style"
    settings = _settings(args, command)
    with reported_as(command):
        items, batch = plan_folder_edits(args.image, args.out, args.preview)
        shard = current_shard()
    candidates = 1 if styling else args.candidates
    with reported_as(f"{command} --candidates"):
        check_candidates(candidates, "--candidates")
        ranking = RankSettings() if styling else RankSettings(alpha=args.alpha, beta=args.beta)
    if styling:
        with reported_as(f"{command} --style"):
            text = check_prompt(args.style, "--style", "a watercolor painting")
            find = None if args.find is None else check_prompt(args.find, "--find", "the cat")
        line = dataclasses.replace(settings.line_defaults(), find=find or "", prompt=text)
        edits = (line,) if find else ()
    else:
        edits = _edit_list(args, settings)
        text = edits[0].prompt
    guide = _guide_settings(args, command)
    files = _guide_files(args, command)
    paths = _model_paths(args, command)
    first = None
    if not batch:  # a single image is read before the models load: a bad path fails at once
        with reported_as(command):
            first = load_image(items[0].source, convert_rgb=args.convert_rgb)
    detector, clip, pipe = _load_models(args, paths, command, shard)
    guidance = _guidance(args, command, guide, files, clip, pipe, text)

    def work(item: Item) -> None:
        began = time.perf_counter()
        with reported_as(f"{command} {item.source.name}" if batch else command):
            image = first if first is not None else load_image(item.source, args.convert_rgb)
        if styling and not edits:
            result = restyle(pipe, image, text, settings, _show_progress, guidance)
        else:
            result = edit(
                detector,
                clip,
                pipe,
                image,
                edits,
                settings,
                _show_progress,
                candidates=candidates,
                ranking=ranking,
                guidance=guidance,
            )
        if batch:
            print(f"{item.source.name}:")
        if result.edits:
            print(result.scores)
        if result.ranking:
            weights = f"S = {ranking.alpha:g} * S_t2i + {ranking.beta:g} * S_i2i per edit"
            print(f"candidates ({weights}):")
            print(result.ranking)
        for note in result.notes:
            print(f"note: {note}")
        out = save_image(result.images[0], item.out)
        print(f"wrote {out} in {time.perf_counter() - began:.1f}s")
        if item.preview is not None:
            print(f"wrote {save_image(result.preview[0], item.preview)}")

    failed = False
    if batch:
        mine = [item for position, item in enumerate(items) if shard.mine(position)]
        if shard.count > 1:
            print(f"{shard}: {len(mine)} of the {len(items)} images", file=sys.stderr)
        summary = run_folder_edits(
            mine, work, lambda line: print(line, file=sys.stderr), overwrite=args.overwrite
        )
        print(summary)
        failed = bool(summary.failed)
    elif shard.mine(0):  # one image: the first of several processes edits it
        work(items[0])
    if args.tiny:
        print("(tiny random models: the edit above is noise by design)")
    return 1 if failed else 0


def _perceptual(
    args: argparse.Namespace, use: str, given: str | None, device: torch.device
) -> tuple[PerceptualNet | None, str]:
    """The perceptual network for ``use`` (``LPIPS``/``FID``): the one named, else the first
    installed file of a network for it (with --tiny: the tiny LPIPS backbone); and a note when
    there is none."""
    from .loading import default_search_dirs, find_model, list_installed, load_model
    from .loading.perceptual import LPIPS, NETWORKS, accepted_fix, check_use

    flag = f"--{use.lower()}"
    search = default_search_dirs(PERCEPTUAL, _models_root(args.models_dir))
    with reported_as(f"{EVAL} {flag}"):
        if given is not None:
            path = find_model(given, search, PERCEPTUAL)
        elif args.tiny and use == LPIPS:
            from .tiny import build_tiny_models, default_tiny_root

            path = build_tiny_models(default_tiny_root())["perceptual"]
        else:
            files = {n.file for n in NETWORKS.values() if n.use == use}
            found = [name for name in list_installed(search, PERCEPTUAL) if name in files]
            if not found:
                return None, f"{use} not measured: {accepted_fix(search[0], use)}"
            path = find_model(found[0], search, PERCEPTUAL)
        net = load_model(PERCEPTUAL, path, device)
        check_use(net, use, flag)
    return net, ""


def _run_eval(args: argparse.Namespace) -> int:
    from .eval_items import coco_images, eval_folder, plan_eval_items, read_edits, sample
    from .eval_measures import EvalModels, edit_and_measure, set_fid
    from .eval_report import summarise, summary_text, write_report, write_summary
    from .eval_runner import FAILED, check_out_folder, done_rows, merge_rows, run_eval_items
    from .loading.models import module_device
    from .loading.perceptual import FID, LPIPS

    settings = _settings(args, EVAL)
    if args.edits:
        with reported_as(f"{EVAL} --edits {args.edits}"):
            edits = read_edits(args.edits)
    else:
        edits = PRESETS[args.preset]
    notes: list[str] = []
    with reported_as(f"{EVAL} --coco {args.coco}" if args.coco else f"{EVAL} --images"):
        if args.coco:
            images, notes = coco_images(args.coco, args.images)
        else:
            images = eval_folder(args.images)
    with reported_as(EVAL):
        images = sample(images, args.limit, args.sample_seed)
        items = plan_eval_items(images, edits)
        out = check_out_folder(args.out)
        shard = current_shard()
    paths = _model_paths(args, EVAL)
    detector, clip, pipe = _load_models(args, paths, EVAL, shard)
    device = module_device(clip.model)
    lpips, lpips_note = _perceptual(args, LPIPS, args.lpips, device)
    fid, fid_note = _perceptual(args, FID, args.fid, device)
    notes += [note for note in (lpips_note, fid_note) if note]
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    models = EvalModels(detector, clip, pipe, lpips, fid)
    mine = sum(shard.mine(position) for position in range(len(items)))
    print(
        f"{len(images)} images x {len(edits)} edits = {len(items)} items"
        + (f"; {shard} takes {mine}" if shard.count > 1 else ""),
        file=sys.stderr,
    )
    run_eval_items(
        items,
        shard.mine,
        out,
        shard.index,
        lambda item: edit_and_measure(models, item, settings, out, args.convert_rgb),
        lambda line: print(line, file=sys.stderr),
    )
    done = done_rows(out)
    left = sum(item.key not in done for item in items)
    if left:  # another process is still at work: the last to finish writes the report
        print(f"{shard}: done; {left} items of other processes are still running")
        return 0
    rows = merge_rows(out, items)

    def measure_fid(edit_type: str | None) -> float | None:
        chosen = [item for item in items if edit_type in (None, item.edit.type)]
        return set_fid(fid, out, chosen, rows) if fid is not None else None

    summary = summarise(rows, [edit.type for edit in edits], measure_fid)
    write_summary(out, summary, notes)
    report = write_report(out, rows, items, summary, notes)
    print(summary_text(summary))
    print(f"wrote {out / 'rows.csv'}, {out / 'summary.json'} and {report}")
    if args.tiny:
        print("(tiny random models: the edits and their measures are noise by design)")
    return 1 if any(row["status"] == FAILED for row in rows) else 0


def _run_models(args: argparse.Namespace) -> int:
    from .loading import default_search_dirs, list_installed

    root = _models_root(args.models_dir)
    for kind in KINDS:
        search = default_search_dirs(kind, root)
        found = list_installed(search, kind)
        print(f"{kind.title}: {', '.join(found) if found else 'none'}")
        print(f"  searched: {', '.join(str(p) for p in search)}")
        if not found:
            print(f"  {kind.download_hint(search[0] / kind.example_dir)}")
            names = [model.name for model in SUGGESTED if model.kind is kind]
            if names:
                print(f"  or: python -m pinpoint download {' '.join(names)}")
    return 0


def _run_download(args: argparse.Namespace) -> int:
    from .download import download, find_suggested

    root = _models_root(args.models_dir)
    with reported_as("pinpoint download"):
        for model in find_suggested(args.names):
            download(model, root)
    return 0


COMMANDS = {
    "edit": _run_edit,
    "style": _run_edit,
    "eval": _run_eval,
    "models": _run_models,
    "download": _run_download,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for a user error)."""
    args = _build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PinpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
