"""``python -m pinpoint``: the edit pipeline without ComfyUI.

python -m pinpoint edit --image in.png --find "the red car" --prompt "a blue truck" --out out.png
python -m pinpoint edit --tiny ...  # tiny random models: runs anywhere, the output is noise
python -m pinpoint models           # what is installed where, and what to download
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from .errors import PinpointError
from .regions import IF_NOTHING_FOUND_CHOICES

TINY_BANNER = (
    "*** TINY RANDOM MODELS: Pinpoint built untrained models with random weights so the whole\n"
    "*** pipeline runs offline on any machine. Boxes, scores and the edited pixels are noise;\n"
    "*** put real models in the models folder (see `python -m pinpoint models`) for real edits."
)


def _models_root(value: str | None) -> Path:
    return Path(value or os.environ.get("PINPOINT_MODELS") or "models")


def _pick_device(choice: str) -> torch.device:
    if choice != "auto":
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _pick_dtype(choice: str, device: torch.device) -> torch.dtype:
    if choice == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[choice]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pinpoint", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    edit = commands.add_parser("edit", help="find an object by text and repaint it")
    edit.add_argument("--image", required=True, help="input image (RGB PNG/JPEG/WebP)")
    edit.add_argument("--find", required=True, help='what to change, e.g. "the red car"')
    edit.add_argument("--prompt", required=True, help='what it becomes, e.g. "a blue pickup truck"')
    edit.add_argument("--out", required=True, help="where to write the edited image")
    edit.add_argument("--negative-prompt", default="", help="what the new content should avoid")
    edit.add_argument("--preview", help="also write the detection/match preview here")
    edit.add_argument(
        "--convert-rgb", action="store_true", help="accept grayscale/RGBA input (alpha is dropped)"
    )
    models = edit.add_argument_group("models")
    models.add_argument(
        "--tiny",
        action="store_true",
        help="use tiny random-weight models (offline demo, output is noise)",
    )
    models.add_argument("--models-dir", help="models root (default: $PINPOINT_MODELS or ./models)")
    models.add_argument(
        "--detector", help="folder name under <models>/pinpoint_detectors, or a path"
    )
    models.add_argument("--clip", help="folder name under <models>/pinpoint_clip, or a path")
    models.add_argument(
        "--inpaint",
        help="folder name under <models>/pinpoint_inpaint or <models>/diffusers, or a path",
    )
    models.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    models.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    find = edit.add_argument_group("detect and match")
    find.add_argument(
        "--threshold", type=float, help="detector confidence threshold (default 0.7; 0 with --tiny)"
    )
    find.add_argument("--labels", default="", help='only these detector classes, e.g. "car, truck"')
    find.add_argument("--max-detections", type=int, default=20)
    find.add_argument("--top-k", type=int, default=1, help="how many matching regions to edit")
    find.add_argument(
        "--context-pad", type=float, default=0.1, help="context around each crop CLIP sees"
    )
    find.add_argument(
        "--confidence-weight",
        type=float,
        default=0.0,
        help="blend detector confidence into the ranking",
    )
    find.add_argument("--min-probability", type=float, default=0.0)
    find.add_argument("--if-nothing-found", default="error", choices=IF_NOTHING_FOUND_CHOICES)
    paint = edit.add_argument_group("inpaint")
    paint.add_argument("--grow", type=int, default=8, help="grow the box mask by this many pixels")
    paint.add_argument("--feather", type=int, default=8, help="soft blend edge in pixels")
    paint.add_argument(
        "--context",
        type=float,
        default=0.5,
        help="crop padding around the mask (fraction of its size)",
    )
    paint.add_argument("--steps", type=int, default=20)
    paint.add_argument("--cfg", type=float, default=7.5)
    paint.add_argument("--strength", type=float, default=1.0)
    paint.add_argument("--seed", type=int, default=0)

    listing = commands.add_parser("models", help="list installed models and what to download")
    listing.add_argument("--models-dir", help="models root (default: $PINPOINT_MODELS or ./models)")
    return parser


def _resolve(kind_key: str, name: str | None, root: Path) -> Path:
    from .loading import folders

    kind = next(kind for kind in folders.KINDS if kind.key == kind_key)
    search = folders.default_search_dirs(kind, root)
    where = f"pinpoint edit ({kind.title})"
    if name is None:
        found = folders.list_model_dirs(search, kind)
        name = found[0] if found else kind.example_dir  # a missing name raises the how-to below
    try:
        return folders.find_model_dir(name, search, kind, where)
    except PinpointError as err:
        raise PinpointError(
            err.where,
            err.problem,
            f"{err.fix} (or run with --tiny to try the pipeline on tiny random models)",
        ) from err


def _run_edit(args: argparse.Namespace) -> int:
    from . import loading
    from .detect import parse_labels
    from .images import load_image, save_image
    from .pipeline import EditSettings, edit

    device = _pick_device(args.device)
    dtype = _pick_dtype(args.precision, device)
    if args.tiny:
        from .tiny import build_tiny_models, default_tiny_root

        print(TINY_BANNER, file=sys.stderr)
        paths = build_tiny_models(default_tiny_root())
    else:
        root = _models_root(args.models_dir)
        paths = {
            key: _resolve(key, getattr(args, key), root) for key in ("detector", "clip", "inpaint")
        }
    # random weights are never confident, so the tiny demo keeps every candidate by default
    threshold = args.threshold if args.threshold is not None else (0.0 if args.tiny else 0.7)

    image = load_image(args.image, convert_rgb=args.convert_rgb, where="pinpoint edit")
    started = time.perf_counter()
    detector = loading.load_detector(paths["detector"], device, dtype)
    clip = loading.load_clip(paths["clip"], device, dtype)
    pipe = loading.load_inpaint_pipeline(paths["inpaint"], device, dtype)
    loaded = time.perf_counter()
    print(
        f"models: detector={detector.name} clip={clip.name} inpaint={pipe.name} "
        f"on {device} ({str(dtype).replace('torch.', '')}), loaded in {loaded - started:.1f}s"
    )

    def show_progress(done: int, total: int) -> None:
        last = done >= total
        if sys.stderr.isatty():
            print(f"\rinpainting: step {done}/{total}", end="\n" if last else "", file=sys.stderr)
        elif last:
            print(f"inpainting: {total} steps done", file=sys.stderr)

    settings = EditSettings(
        threshold=threshold,
        max_detections=args.max_detections,
        labels=tuple(parse_labels(args.labels)),
        top_k=args.top_k,
        context_pad=args.context_pad,
        confidence_weight=args.confidence_weight,
        min_probability=args.min_probability,
        if_nothing_found=args.if_nothing_found,
        grow_px=args.grow,
        negative_prompt=args.negative_prompt,
        steps=args.steps,
        cfg=args.cfg,
        strength=args.strength,
        seed=args.seed,
        context=args.context,
        feather_px=args.feather,
    )
    result = edit(detector, clip, pipe, image, args.find, args.prompt, settings, show_progress)
    print(result.scores)
    for note in result.notes:
        print(f"note: {note}")
    out = save_image(result.images[0], args.out)
    print(f"wrote {out} in {time.perf_counter() - loaded:.1f}s")
    if args.preview:
        print(f"wrote {save_image(result.preview[0], args.preview)}")
    if args.tiny:
        print("(tiny random models: the edit above is noise by design)")
    return 0


def _run_models(args: argparse.Namespace) -> int:
    from .loading import folders

    root = _models_root(args.models_dir)
    for kind in folders.KINDS:
        search = folders.default_search_dirs(kind, root)
        found = folders.list_installed(search, kind)
        print(f"{kind.title}: {', '.join(found) if found else 'none'}")
        print(f"  searched: {', '.join(str(p) for p in search)}")
        if not found:
            print(f"  {kind.download_hint(search[0] / kind.example_dir)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for a user error)."""
    args = _build_parser().parse_args(argv)
    try:
        return _run_edit(args) if args.command == "edit" else _run_models(args)
    except PinpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
