"""The whole edit in one call: find → choose → refine → mask → Inpaint (what the CLI runs).

An edit list (:mod:`pinpoint.edit_list`) runs in one pass: the route (:mod:`pinpoint.route`)
finds and chooses every edit's area (a detector runs once, CLIP embeds the candidates once and
scores them against each edit's text; SAM refines every chosen region against one embedding per
image), and every edit's crops are inpainted together, each from its own prompt, then painted
in list order (:func:`pinpoint.repaint.repaint` with the diffusers sampler). With several
candidates per image, every image is repainted with that many seeds in the same sampling passes
and the candidates are ranked (:mod:`pinpoint.ranking`); the best is kept.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .edit_list import EditLine, EditOutcome, EditSettings, draw_edits, edit_mask, edit_scores
from .errors import UNNAMED, reported_as
from .guidance import GuidanceRecipe, guidance_notes
from .loading.kinds import CLIP, DETECTOR, INPAINT
from .loading.model_kind import ModelKind
from .loading.models import ClipMatcher, InpaintPipe, SamFolder, SamModel, VitMatte
from .loading.precision import Precision
from .progress import Progress, no_progress
from .ranking import Kept, RankSettings
from .repaint import Layer, RepaintRequest, repaint, with_masks
from .route import RouteModels, localise
from .route_settings import RouteSettings
from .shards import Shard

RUN_KINDS = {kind.key: kind for kind in (DETECTOR, CLIP, INPAINT)}
"""The models of a run on the detect route, by the key :func:`load_run_models` reads."""


@dataclass(frozen=True)
class EditResult:
    """The outcome of :func:`edit`.

    Attributes:
        images: ``[B, H, W, 3]`` edited images.
        mask: ``[B, H, W]`` every edit's mask together (before feathering).
        preview: ``[B, H, W, 3]`` the candidates and what each edit chose, over the input.
        edits: one outcome per edit, in list order.
        notes: remarks from every stage (nothing found, empty masks).
        ranking: with several candidates, each image's candidates ranked (see
            :func:`rank_candidates`); empty otherwise.
        localise_s: the seconds spent finding the edits' areas (find, choose, refine, mask).
        kept: with several candidates, the one kept for each image; empty otherwise.
    """

    images: torch.Tensor
    mask: torch.Tensor
    preview: torch.Tensor
    edits: tuple[EditOutcome, ...]
    notes: tuple[str, ...]
    ranking: str = ""
    localise_s: float = 0.0
    kept: tuple[Kept, ...] = ()

    @property
    def scores(self) -> str:
        """Every edit's score table (see :func:`edit_scores`)."""
        return edit_scores(self.edits)


def edit(
    finder: Any,
    clip: ClipMatcher | None,
    pipe: InpaintPipe,
    images: torch.Tensor,
    edits: Sequence[EditLine],
    settings: EditSettings = EditSettings(),
    progress: Progress = no_progress,
    candidates: int = 1,
    ranking: RankSettings = RankSettings(),
    guidance: GuidanceRecipe | None = None,
    route: RouteSettings = RouteSettings(),
    sam: SamModel | SamFolder | None = None,
    matte: VitMatte | None = None,
) -> EditResult:
    """Find what each edit names in each image and repaint it as the edit's prompt describes.

    Args:
        finder: the route's finder (a closed-set detector on the default ``detect`` route).
        clip: the CLIP that chooses (``route.choose`` match) and ranks candidates.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1].
        edits: one or more edits, e.g. ``EditLine("the red car", "a blue pickup truck")`` (see
            :func:`pinpoint.edit_list.parse_edit_list`); painted in order, a later edit on top
            where masks overlap.
        progress: called as ``progress(done, total)`` during sampling.
        candidates: above 1, each image is repainted that many times (candidate ``j`` of
            image ``b`` with ``seed + b * candidates + j``) in the same sampling passes, and
            the best by ``ranking`` (``alpha * S_t2i + beta * S_i2i``) is kept.
        guidance: CLIP guidance of the sampling (:mod:`pinpoint.guided_scheduler`), towards
            each edit's prompt (the recipe's own text is replaced by it).
        route: how each edit's area is found (:mod:`pinpoint.route`).
        sam: Segment Anything to refine the chosen regions with (the route's refine step).
        matte: ViTMatte to matte each edit's mask edge with (``route.matte_band_px``).
    """
    planned = plan_edit(pipe, images, edits, settings, candidates, ranking, guidance, clip)
    started = time.perf_counter()
    found = localise(RouteModels(finder, clip, sam, matte), images, edits, settings, route)
    located = time.perf_counter() - started
    with reported_as("Inpaint"):
        result = repaint(with_masks(planned, [o.mask for o in found.edits]), progress)
    return EditResult(
        images=result.images,
        mask=edit_mask(found.edits),
        preview=draw_edits(images, found.candidates, found.edits),
        edits=found.edits,
        notes=(
            *found.notes,
            *guidance_notes(layer.guidance for layer in planned.layers),
            *result.notes,
        ),
        ranking=result.ranking,
        localise_s=located,
        kept=result.kept,
    )


def plan_edit(
    pipe: InpaintPipe,
    images: torch.Tensor,
    edits: Sequence[EditLine],
    settings: EditSettings,
    candidates: int = 1,
    ranking: RankSettings = RankSettings(),
    guidance: GuidanceRecipe | None = None,
    clip: ClipMatcher | None = None,
) -> RepaintRequest:
    """The inpainting :func:`edit` asks of ``pipe`` for ``edits`` on ``images`` (IMAGE
    ``[B, H, W, 3]``), every setting checked before any model runs (the prompts, the sampler,
    whether the guidance can steer it, the candidates); the masks are empty until found."""
    with reported_as("Inpaint"):
        empty = torch.zeros(images.shape[:3])
        layers = tuple(
            Layer(
                empty,
                line.prompt,
                settings.negative_prompt,
                line.prompt,
                line.find,
                dataclasses.replace(guidance, text=line.prompt) if guidance else None,
            )
            for line in edits
        )
        return settings.repaint_request(
            pipe, images, layers, candidates=candidates, clip=clip, ranking=ranking
        )


def restyle(
    pipe: InpaintPipe,
    images: torch.Tensor,
    style: str,
    settings: EditSettings = EditSettings(),
    progress: Progress = no_progress,
    guidance: GuidanceRecipe | None = None,
) -> EditResult:
    """Each whole image restyled as ``style`` says (S3 on the diffusers route): the inpainting
    pipeline over a mask of the whole image, a strength below 1 keeping the layout, steered by
    ``guidance`` (usually :data:`pinpoint.guidance_settings.STYLE`'s losses; its text is replaced by
    ``style``).

    Args:
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1].
        style: the style in words, also the prompt ("a watercolor painting").
        settings: the sampling settings (``strength``, ``steps``, ``scheduler``, ``seed`` ...).
    """
    whole = torch.ones(images.shape[:3])
    with reported_as("Restyle"):
        steer = dataclasses.replace(guidance, text=style) if guidance else None
        layer = Layer(whole, style, settings.negative_prompt, guidance=steer)
        request = settings.repaint_request(
            pipe, images, (layer,), feather_px=0, harmonise=0.0, batched=False
        )
        result = repaint(request, progress)
    notes = (*guidance_notes(layer.guidance for layer in request.layers), *result.notes)
    return EditResult(result.images, whole, images, (), notes)


def load_run_models(
    paths: Mapping[str, Path],
    device: str,
    precision: str,
    shard: Shard = Shard(),
    where: str = UNNAMED,
    report: Callable[[str], None] = lambda line: None,
    kinds: Mapping[str, ModelKind] = RUN_KINDS,
) -> tuple[Any, ...]:
    """The models of a headless run, loaded once for all of it: by default the detector, CLIP
    and inpainting pipeline of the detect route.

    Args:
        paths: the models by key (``"detector"``, ``"clip"``, ``"inpaint"`` ...), e.g. from
            :func:`pinpoint.tiny.build_tiny_models`; only the keys of ``kinds`` are read.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, or ``"auto"``: the device
            Accelerate gives this process (``shard``), else CUDA, else MPS, else the CPU.
        precision: a :class:`~pinpoint.loading.precision.Precision` (auto: fp16 on CUDA).
        where: how the caller names itself in errors; each model's read ``<where> (<kind>)``.
        report: called with one line saying what was loaded where, and how long it took.
        kinds: which models to load (key → kind), in the order they are returned.
    """
    from .loading import load_model

    if device != "auto":
        chosen = torch.device(device)
    elif shard.device is not None:
        chosen = shard.device
    elif torch.cuda.is_available():
        chosen = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        chosen = torch.device("mps")
    else:
        chosen = torch.device("cpu")
    dtype = Precision.check(precision, "precision").dtype(half=chosen.type == "cuda")
    started = time.perf_counter()
    loaded = {}
    for key, kind in kinds.items():
        with reported_as(f"{where} ({kind.title})"):
            loaded[key] = load_model(kind, paths[key], chosen, dtype)
    names = " ".join(f"{key}={model.name}" for key, model in loaded.items())
    report(
        f"models: {names} on {chosen} ({str(dtype).replace('torch.', '')}), "
        f"loaded in {time.perf_counter() - started:.1f}s"
    )
    return tuple(loaded.values())
