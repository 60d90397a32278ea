"""The guidance and candidates ``edit``, ``style`` and ``eval`` take from their options: each
checked before any model loads (:func:`guide_settings`, :func:`guide_files`,
:func:`candidate_settings`), the guidance recipe built once the models are loaded
(:func:`guidance_recipe`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import PinpointError, reported_as
from ..guidance import GuidanceRecipe
from ..guidance_settings import SOURCE_TEXT, GuidanceSettings, guidance_settings
from ..images import check_prompt
from ..loading.kinds import PERCEPTUAL
from ..loading.models import ClipMatcher, InpaintPipe, PerceptualNet
from ..ranking import RankSettings, check_candidates
from .models import models_root


def candidate_settings(args: argparse.Namespace, command: str) -> tuple[int, RankSettings]:
    """``--candidates`` and the ranking weights ``--alpha``/``--beta`` (checked); a command
    without them (``style``) paints one candidate."""
    if not hasattr(args, "candidates"):
        return 1, RankSettings()
    with reported_as(f"{command} --candidates"):
        check_candidates(args.candidates, "--candidates")
        return args.candidates, RankSettings(alpha=args.alpha, beta=args.beta)


def guide_files(args: argparse.Namespace, command: str) -> dict[str, Path]:
    """The files the guidance options name, found before any model loads."""
    from ..loading import default_search_dirs, find_model
    from ..loading.taesd import check_taesd_path

    search = default_search_dirs(PERCEPTUAL, models_root(args.models_dir))
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


def guide_settings(args: argparse.Namespace, command: str) -> GuidanceSettings | None:
    """The guidance ``--guide`` and its options ask for (checked before any model loads)."""
    if args.guide == "none":
        return None
    with reported_as(f"{command} --guide {args.guide}"):
        settings = guidance_settings(
            args.guide,
            args.guide_scale,
            args.guide_start,
            args.guide_end,
            args.guide_every,
            lpips=bool(args.guide_lpips),
            content_weight=args.content_weight if args.guide_vgg else 0.0,
        )
        check_prompt(args.source_text, "--source-text", SOURCE_TEXT)
    return settings


def guidance_recipe(
    args: argparse.Namespace,
    command: str,
    settings: GuidanceSettings | None,
    files: dict[str, Path],
    clip: ClipMatcher | None,
    pipe: InpaintPipe,
    text: str,
) -> GuidanceRecipe | None:
    """The guidance recipe, its networks and decoder loaded where the pipeline runs."""
    from ..loading import load_model
    from ..loading.taesd import load_taesd

    if settings is None or clip is None:  # CLIP is loaded whenever guidance is asked for
        return None
    device, dtype = pipe.device, pipe.dtype
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
