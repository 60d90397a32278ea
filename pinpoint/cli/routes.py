"""The route options of ``python -m pinpoint edit``, ``style`` and ``eval``: which finder finds
each edit's area (``--route``), how it chooses, refines (``--refine``) and shapes the mask, and
which model each route loads from which folder; checked before any model loads. What the
options mean is :mod:`pinpoint.route_settings`'s (every default is read from there)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ..edit_list import MATCH_OPTIONS, QUERY
from ..errors import PinpointError, reported_as
from ..loading.kinds import CLIP, INPAINT, MATTE, SAM, SAM_FOLDER
from ..loading.model_kind import ModelKind
from ..match import CropMode
from ..refine import POINTS_EXAMPLE
from ..route_settings import (
    FINDERS,
    NO_REFINER,
    Choose,
    RouteKind,
    RouteSettings,
    check_route_options,
)
from ..text_segments import FlorenceTask


@dataclass(frozen=True)
class RouteModel:
    """The model a route's finder loads when none is named.

    Attributes:
        suggested: the suggested model's name (``python -m pinpoint download`` fetches it).
        tiny: its tiny random stand-in (a key of :data:`pinpoint.tiny.TINY_MODELS`).
    """

    suggested: str
    tiny: str


ROUTE_MODELS = {
    RouteKind.DETECT: RouteModel("detr-resnet-50", "detector"),
    RouteKind.DETECT_BY_TEXT: RouteModel("owlv2-base-patch16-ensemble", "open_vocabulary"),
    RouteKind.SEGMENTS: RouteModel("segformer-b0-finetuned-ade-512-512", "segmenter"),
    RouteKind.HEATMAP: RouteModel("clipseg-rd64-refined", "clipseg"),
    RouteKind.TEXT_SEGMENTER: RouteModel("sam3", "text_segmenter"),
    RouteKind.ANCHORS: RouteModel("dino-vits16", "dino"),
}
"""Each route's default model, real and tiny."""
REFINER = "sam2.1-hiera-small"
"""The suggested refiner: SAM 2.1's small Hiera encoder costs a fifth of SAM vit_b's time."""
TINY_REFINERS = {SAM: "sam", SAM_FOLDER: "sam_folder"}
"""A refiner's kind → its tiny stand-in's key."""
FINDER_FLAGS = {finder.kind.key: finder.kind for finder in FINDERS.values()}
"""``--detector``, ``--segmenter``, ``--clipseg``, ``--text-segmenter``, ``--dino`` → the kind
each names (the flag is the kind's key with '-' for '_')."""
MODEL_FLAGS = FINDER_FLAGS | {kind.key: kind for kind in (CLIP, INPAINT)}
"""Every model flag of a run (``--refine`` and ``--matte`` are their own)."""
CHOICE_FIELDS = ("choose", "crop")
"""The route options every route reads (how its candidates are chosen)."""
ROUTE_FIELDS = (
    *CHOICE_FIELDS,
    "query",
    "min_area",
    "split_instances",
    "florence_task",
    "anchors",
    "box_sizes",
    "min_distance",
)
"""The options of the route group, named as the :class:`RouteSettings` field each sets (None
when not given, so the settings' own default holds and a route that does not read it is not
bothered)."""
REFINE_FIELDS = ("multimask", "points")
MASK_FIELDS = ("fill_holes", "min_island_px", "invert")
MATTE_FIELDS = ("matte_band_px",)


def routes_reading(kind: ModelKind) -> str:
    """The routes whose finder is a ``kind`` (``"detect, detect-by-text"``)."""
    return ", ".join(route.value for route, finder in FINDERS.items() if finder.kind is kind)


def add_model_flags(group: argparse._ArgumentGroup) -> None:
    """``--detector`` ... ``--inpaint`` and ``--refine`` in the models group."""
    for key, kind in MODEL_FLAGS.items():
        folders = " or ".join(f"<models>/{name}" for name in (kind.folder, *kind.extra_folders))
        routes = routes_reading(kind)
        used = f" (--route {routes})" if routes else ""
        group.add_argument(
            f"--{key.replace('_', '-')}", help=f"folder name under {folders}, or a path{used}"
        )
    group.add_argument(
        "--refine",
        default=NO_REFINER,
        metavar="none|NAME",
        help=f"refine the chosen regions to the object's outline with Segment Anything: a SAM 2 "
        f"/ SAM-HQ folder under <models>/{SAM_FOLDER.folder} (suggested: {REFINER}, "
        f"`python -m pinpoint download {REFINER}`) or an original SAM file under "
        f"<models>/{SAM.folder} (sam_vit_b_01ec64.pth: about 5x slower), or a path; none: the "
        "chosen regions' own masks, or their boxes",
    )
    group.add_argument(
        f"--{MATTE.key}",
        metavar="NAME",
        help=f"matte each edit's mask edge with ViTMatte (soft edges for hair, fur): a folder "
        f"under <models>/{MATTE.folder} (suggested: {MATTE.example_dir}), or a path; use "
        "--feather 0 to blend through the matte exactly",
    )


def add_route_options(parser: argparse.ArgumentParser) -> None:
    """The route, refine and mask options (every default None: the settings' own)."""
    base = RouteSettings()
    route = parser.add_argument_group("route (how each edit's area is found)")
    route.add_argument(
        "--route",
        default=base.route.value,
        choices=RouteKind.values(),
        help="detect: a closed-set detector's boxes (--detector); detect-by-text: an open-"
        "vocabulary detector finds the words (--detector, e.g. OWLv2); segments: a semantic "
        "segmenter's segments (--segmenter); heatmap: CLIPSeg's hot areas (--clipseg); "
        "text-segmenter: SAM 3 or Florence-2 outlines the words (--text-segmenter); anchors: "
        "boxes around where DINO looks (--dino)",
    )
    route.add_argument(
        "--choose",
        choices=Choose.values(),
        help="match: CLIP scores every candidate against the edit's text (default for detect, "
        "segments, anchors); select: the finder's own score (default for the routes that read "
        "the text)",
    )
    route.add_argument(
        "--crop",
        choices=CropMode.values(),
        help="what CLIP sees of a candidate: its box, or its mask alone (default: masked for "
        "segments, heatmap and text-segmenter)",
    )
    route.add_argument(
        "--query",
        help="the words a text route's finder is given for every edit (e.g. 'cat', while --find "
        "tells CLIP which cat); an edit line may set its own with '| query=...'; default: each "
        "edit's find text",
    )
    route.add_argument(
        "--min-area",
        type=float,
        help=f"segments, heatmap: smallest piece (default {base.min_area})",
    )
    route.add_argument(
        "--split-instances",
        action=argparse.BooleanOptionalAction,
        help="segments: one region per separate piece of a class",
    )
    route.add_argument(
        "--florence-task",
        choices=FlorenceTask.values(),
        help=f"text-segmenter with Florence-2 (default {base.florence_task.value})",
    )
    route.add_argument(
        "--anchors", type=int, help=f"anchors: attention peaks per image (default {base.anchors})"
    )
    route.add_argument(
        "--box-sizes",
        help="anchors: box sides as fractions of the shorter image side (default "
        f"{', '.join(f'{size:g}' for size in base.box_sizes)})",
    )
    route.add_argument(
        "--min-distance", type=int, help=f"anchors: patches between peaks ({base.min_distance})"
    )
    refine = parser.add_argument_group("refine (with --refine)")
    refine.add_argument(
        "--multimask",
        action=argparse.BooleanOptionalAction,
        help="keep SAM's best of three masks by predicted IoU (default on)",
    )
    refine.add_argument(
        "--points", help=f"clicks in pixels that sharpen the boxes holding them: '{POINTS_EXAMPLE}'"
    )
    shape = parser.add_argument_group(
        "mask (before --grow: fill holes, drop islands; after: invert)"
    )
    shape.add_argument(
        "--fill-holes",
        action=argparse.BooleanOptionalAction,
        help="fill the gaps enclosed by each edit's mask",
    )
    shape.add_argument(
        "--min-island",
        dest="min_island_px",
        type=int,
        help="drop separate pieces of a mask smaller than this many pixels",
    )
    shape.add_argument(
        "--invert",
        action=argparse.BooleanOptionalAction,
        help="edit everything but the found area",
    )
    shape.add_argument(
        "--matte-band",
        dest="matte_band_px",
        type=int,
        help=f"with --matte: ViTMatte decides the pixels this far inside and outside the mask's "
        f"edge (default {RouteSettings.matte_band_px})",
    )


def route_settings(args: argparse.Namespace, command: str) -> RouteSettings:
    """The route the options give, every option checked against the route (before any model
    loads): an option the route's finder does not read, a model flag of another route, or a
    refine option without --refine is refused."""
    route = RouteKind.check(args.route, "--route")
    with reported_as(f"{command} --route {route.value}"):
        given = {
            name: getattr(args, name)
            for name in (*ROUTE_FIELDS, *REFINE_FIELDS, *MASK_FIELDS, *MATTE_FIELDS)
            if getattr(args, name) is not None
        }
        asked = [name for name in ROUTE_FIELDS if name in given and name not in CHOICE_FIELDS]
        asked += ["threshold"] * (args.threshold is not None) + ["labels"] * bool(args.labels)
        check_route_options(route, asked)
        finder = FINDERS[route].kind
        for key, kind in FINDER_FLAGS.items():
            if kind is not finder and getattr(args, key) is not None:
                routes = routes_reading(kind)
                raise PinpointError(
                    f"--{key.replace('_', '-')} names the model of --route {routes}",
                    f"add --route {routes.split(',')[0]}, or name the {finder.title} with "
                    f"--{finder.key.replace('_', '-')}",
                )
        refining = [name for name in REFINE_FIELDS if name in given]
        if refining and args.refine == NO_REFINER:
            raise PinpointError(
                f"--{refining[0]} is a setting of refining, which is off",
                f"add --refine {REFINER} (or another SAM), or leave --{refining[0]} out",
            )
        if "matte_band_px" in given and args.matte is None:
            raise PinpointError(
                "--matte-band is a setting of matting, which is off",
                f"add --matte {MATTE.example_dir} (a ViTMatte folder), or leave --matte-band out",
            )
        return RouteSettings(route=route, **given)


def line_keys(route: RouteSettings) -> tuple[str, ...]:
    """The options an edit line may set on ``route`` (``query`` where the finder reads text)."""
    return (*MATCH_OPTIONS, QUERY) if route.finder.reads_text else MATCH_OPTIONS


def default_threshold(args: argparse.Namespace) -> float | None:
    """``--threshold`` when given; else the route's finder's own, 0 with --tiny (random weights
    are never confident); None for a finder without a threshold."""
    if args.threshold is not None:
        return float(args.threshold)
    own = FINDERS[RouteKind.check(args.route, "--route")].threshold
    return None if own is None else (0.0 if args.tiny else own)
