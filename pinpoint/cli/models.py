"""The models of ``python -m pinpoint``: the ``models`` and ``download`` commands, and the
models a run names (its route's finder, ``--clip``, ``--inpaint``, ``--refine`` and ``--matte``, or
``--tiny``) found as paths."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import PinpointError, reported_as
from ..loading.kinds import CLIP, INPAINT, KINDS, MATTE, PERCEPTUAL, SAM, SAM_FOLDER, ModelKind
from ..loading.suggested import SUGGESTED, suggested
from ..route_settings import NO_REFINER, RouteSettings
from .routes import REFINER, ROUTE_MODELS, TINY_REFINERS, routes_reading

TINY_BANNER = (
    "*** TINY RANDOM MODELS: Pinpoint built untrained models with random weights so the whole\n"
    "*** pipeline runs offline on any machine. Boxes, scores and the edited pixels are noise;\n"
    "*** put real models in the models folder (see `python -m pinpoint models`) for real edits."
)


def models_root(value: str | None) -> Path:
    """The models root ``--models-dir`` names (default: ``$PINPOINT_MODELS`` or ./models)."""
    return Path(value or os.environ.get("PINPOINT_MODELS") or "models")


def _resolve(kind: ModelKind, name: str | None, root: Path, preferred: str = "") -> Path:
    """The model the user named of ``kind`` under ``root``; unnamed: ``preferred`` if it is
    installed, else the first installed one."""
    from ..loading import default_search_dirs, find_model, list_installed

    search = default_search_dirs(kind, root)
    if name is None:
        found = list_installed(search, kind)
        name = preferred if preferred in found or not found else found[0]
        name = name or kind.example_dir  # a missing name raises the how-to below
    try:
        return find_model(name, search, kind)
    except PinpointError as err:
        fetch = f" (or `python -m pinpoint download {name}`)" if suggested(name) else ""
        raise PinpointError(
            err.problem,
            f"{err.fix}{fetch} (or run with --tiny to try the pipeline on tiny random models)",
        ) from err


def _refiner(name: str, root: Path) -> tuple[ModelKind, Path]:
    """``--refine NAME``: an original SAM file under ``sams``, or a SAM 2 / SAM-HQ folder under
    ``pinpoint_sam`` (or a path to either)."""
    from ..loading import default_search_dirs, find_model

    kind = SAM if Path(name).suffix.lower() in SAM.suffixes else SAM_FOLDER
    try:
        return kind, find_model(name, default_search_dirs(kind, root), kind)
    except PinpointError as err:
        raise PinpointError(
            err.problem,
            f"name an original SAM file (.pth) under {root / SAM.folder} or a SAM 2 / SAM-HQ "
            f"folder under {root / SAM_FOLDER.folder}; the suggested one: "
            f"`python -m pinpoint download {REFINER}` (or run with --tiny)",
        ) from err


def model_paths(
    args: argparse.Namespace, command: str, route: RouteSettings, clip: bool = True
) -> tuple[dict[str, Path], dict[str, ModelKind]]:
    """The models of a run as paths, checked, and their kinds, by key: the route's finder (its
    kind's key: ``"detector"``, ``"segmenter"`` ...), ``"clip"`` (when ``clip``),
    ``"inpaint"``, ``"sam"`` with ``--refine`` and ``"matte"`` with ``--matte``. With --tiny,
    a name found among the tiny models is that one, any other the tiny model of its kind."""
    finder = route.finder.kind
    kinds = {finder.key: finder, **({CLIP.key: CLIP} if clip else {}), INPAINT.key: INPAINT}
    tiny = {finder.key: ROUTE_MODELS[route.route].tiny, CLIP.key: "clip", INPAINT.key: "inpaint"}
    if args.tiny:
        from ..tiny import build_tiny_models, default_tiny_root

        print(TINY_BANNER, file=sys.stderr)
        with reported_as(f"{command} --tiny"):
            built = build_tiny_models(default_tiny_root())
        root = default_tiny_root()
    else:
        root = models_root(args.models_dir)
    paths = {}
    for key, kind in kinds.items():
        with reported_as(f"{command} ({kind.title})"):
            name = getattr(args, key)
            if not args.tiny:
                preferred = ROUTE_MODELS[route.route].suggested if kind is finder else ""
                paths[key] = _resolve(kind, name, root, preferred)
                continue
            try:
                paths[key] = _resolve(kind, name, root) if name else built[tiny[key]]
            except PinpointError:
                paths[key] = built[tiny[key]]
    if args.matte is not None:
        with reported_as(f"{command} --matte"):
            kinds[MATTE.key] = MATTE
            try:
                paths[MATTE.key] = _resolve(MATTE, args.matte, root)
            except PinpointError:
                if not args.tiny:
                    raise
                paths[MATTE.key] = built[MATTE.key]
    if args.refine != NO_REFINER:
        with reported_as(f"{command} --refine"):
            try:
                kinds["sam"], paths["sam"] = _refiner(args.refine, root)
            except PinpointError:
                if not args.tiny:
                    raise
                kinds["sam"] = SAM if Path(args.refine).suffix in SAM.suffixes else SAM_FOLDER
                paths["sam"] = built[TINY_REFINERS[kinds["sam"]]]
    return paths, kinds


def _uses(kind: ModelKind) -> str:
    """The options (and routes) that name a model of ``kind``."""
    if kind in (SAM, SAM_FOLDER):
        return "--refine" + (f"; suggested: {REFINER}" if kind is SAM_FOLDER else "")
    if kind is PERCEPTUAL:
        return "eval --lpips/--fid, --guide-lpips/--guide-vgg"
    flag = f"--{kind.key.replace('_', '-')}"
    routes = routes_reading(kind)
    return f"{flag} --route {routes}" if routes else flag


def run_models(args: argparse.Namespace) -> int:
    """``models``: what is installed where, and what to download for each kind missing."""
    from ..loading import default_search_dirs, list_installed

    root = models_root(args.models_dir)
    for kind in KINDS:
        search = default_search_dirs(kind, root)
        found = list_installed(search, kind)
        print(f"{kind.title} [{_uses(kind)}]: {', '.join(found) if found else 'none'}")
        print(f"  searched: {', '.join(str(p) for p in search)}")
        if not found:
            print(f"  {kind.download_hint(search[0] / kind.example_dir)}")
            names = [model.name for model in SUGGESTED if model.kind is kind]
            if names:
                print(f"  or: python -m pinpoint download {' '.join(names)}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    """``download``: fetch the suggested models named into their folders."""
    from ..download import download, find_suggested

    root = models_root(args.models_dir)
    with reported_as("pinpoint download"):
        for model in find_suggested(args.names):
            download(model, root)
    return 0
