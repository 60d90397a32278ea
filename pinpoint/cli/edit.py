"""``python -m pinpoint edit`` and ``style``: one image or many edited (or restyled) as the
options say, the edit list read from ``--find``/``--prompt``, ``--edit`` and ``--edits``, the
guidance and candidates from their options (:mod:`pinpoint.cli.guide`)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from ..batch import Item
from ..edit_list import EXAMPLE, EditLine, EditSettings, parse_edit_list
from ..errors import PinpointError, reported_as
from ..images import check_prompt
from ..matte import check_band
from ..refine import check_points
from ..route_settings import Choose, RouteSettings
from ..shards import current_shard
from .guide import candidate_settings, guidance_recipe, guide_files, guide_settings
from .models import model_paths
from .options import edit_settings
from .routes import line_keys, route_settings

EDIT = "pinpoint edit"
"""How the edit command names itself in errors."""


def _edit_list(
    args: argparse.Namespace, settings: EditSettings, route: RouteSettings
) -> tuple[EditLine, ...]:
    """``--find``/``--prompt``, then every ``--edit``, then the ``--edits`` file: one list
    (a line may set ``query`` where the route's finder reads text)."""
    defaults, keys = settings.line_defaults(), line_keys(route)
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
            edits.extend(parse_edit_list(args.edit, defaults, keys))
    if args.edits:
        with reported_as(f"{EDIT} --edits {args.edits}"):
            try:
                text = Path(args.edits).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise PinpointError(
                    f"cannot read the edit list ({err})",
                    "give a UTF-8 text file, one edit per line",
                ) from err
            edits.extend(parse_edit_list(text.splitlines(), defaults, keys))
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


def run_edit(args: argparse.Namespace) -> int:
    """``edit``, and ``style`` (the same run: with --find an edit whose prompt is the style,
    else each whole image restyled)."""
    from ..batch import plan_folder_edits, run_folder_edits
    from ..images import load_image, save_image
    from ..pipeline import edit, load_run_models, restyle

    command = f"pinpoint {args.command}"
    styling = args.command == "style"
    settings = edit_settings(args, command)
    route = route_settings(args, command)
    with reported_as(command):
        items, batch = plan_folder_edits(args.image, args.out, args.preview)
        shard = current_shard()
    candidates, ranking = candidate_settings(args, command)
    if styling:
        with reported_as(f"{command} --style"):
            text = check_prompt(args.style, "--style", "a watercolor painting")
            find = None if args.find is None else check_prompt(args.find, "--find", "the cat")
        line = dataclasses.replace(settings.line_defaults(), find=find or "", prompt=text)
        edits = (line,) if find else ()
    else:
        edits = _edit_list(args, settings, route)
        text = edits[0].prompt
    guide = guide_settings(args, command)
    files = guide_files(args, command)
    first = None
    if not batch:  # a single image is read before the models load: a bad path fails at once
        with reported_as(command):
            first = load_image(items[0].source, convert_rgb=args.convert_rgb)
        with reported_as(f"{command} --points"):
            check_points(route.points, int(first.shape[2]), int(first.shape[1]))
        if args.matte is not None:
            with reported_as(f"{command} --matte-band"):
                check_band(route.matte_band_px, int(first.shape[1]), int(first.shape[2]))
    choosing = route.choose is Choose.MATCH and bool(edits)
    paths, kinds = model_paths(args, command, route, clip=choosing or candidates > 1 or bool(guide))
    loaded = load_run_models(
        paths, args.device, args.precision, shard, where=command, report=print, kinds=kinds
    )
    models = dict(zip(kinds, loaded, strict=True))
    finder, clip, pipe = models[route.finder.kind.key], models.get("clip"), models["inpaint"]
    guidance = guidance_recipe(args, command, guide, files, clip, pipe, text)

    def work(item: Item) -> None:
        began = time.perf_counter()
        with reported_as(f"{command} {item.source.name}" if batch else command):
            image = first if first is not None else load_image(item.source, args.convert_rgb)
        if styling and not edits:
            result = restyle(pipe, image, text, settings, _show_progress, guidance)
        else:
            result = edit(
                finder,
                clip,
                pipe,
                image,
                edits,
                settings,
                _show_progress,
                candidates=candidates,
                ranking=ranking,
                guidance=guidance,
                route=route,
                sam=models.get("sam"),
                matte=models.get("matte"),
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
        found = f", the areas found in {result.localise_s:.1f}s" if result.edits else ""
        print(f"wrote {out} in {time.perf_counter() - began:.1f}s{found}")
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
