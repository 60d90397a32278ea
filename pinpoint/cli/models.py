"""The models of ``python -m pinpoint``: the ``models`` and ``download`` commands, and the
models a run names (``--detector``/``--clip``/``--inpaint`` or ``--tiny``) found as paths."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import PinpointError, reported_as
from ..loading.kinds import KINDS, ModelKind
from ..loading.suggested import SUGGESTED
from .options import MODEL_FLAGS

TINY_BANNER = (
    "*** TINY RANDOM MODELS: Pinpoint built untrained models with random weights so the whole\n"
    "*** pipeline runs offline on any machine. Boxes, scores and the edited pixels are noise;\n"
    "*** put real models in the models folder (see `python -m pinpoint models`) for real edits."
)


def models_root(value: str | None) -> Path:
    """The models root ``--models-dir`` names (default: ``$PINPOINT_MODELS`` or ./models)."""
    return Path(value or os.environ.get("PINPOINT_MODELS") or "models")


def _resolve(kind: ModelKind, name: str | None, root: Path) -> Path:
    """The model the user named (or the first installed one) of ``kind`` under ``root``."""
    from ..loading import default_search_dirs, find_model, list_installed

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


def model_paths(args: argparse.Namespace, command: str) -> dict[str, Path]:
    """``--detector``/``--clip``/``--inpaint`` (or the tiny models) as paths, checked."""
    if args.tiny:
        from ..tiny import build_tiny_models, default_tiny_root

        print(TINY_BANNER, file=sys.stderr)
        with reported_as(f"{command} --tiny"):
            return build_tiny_models(default_tiny_root())
    root = models_root(args.models_dir)
    paths = {}
    for flag, kind in MODEL_FLAGS.items():
        with reported_as(f"{command} ({kind.title})"):
            paths[flag] = _resolve(kind, getattr(args, flag), root)
    return paths


def run_models(args: argparse.Namespace) -> int:
    """``models``: what is installed where, and what to download for each kind missing."""
    from ..loading import default_search_dirs, list_installed

    root = models_root(args.models_dir)
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


def run_download(args: argparse.Namespace) -> int:
    """``download``: fetch the suggested models named into their folders."""
    from ..download import download, find_suggested

    root = models_root(args.models_dir)
    with reported_as("pinpoint download"):
        for model in find_suggested(args.names):
            download(model, root)
    return 0
