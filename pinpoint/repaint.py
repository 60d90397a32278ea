"""The one crop → sample → stitch loop of every inpainting route.

A :class:`CropSampler` repaints same-size crops: the diffusers sampler
(:mod:`pinpoint.diffusers_sampler`) and the ComfyUI sampler (``nodes/comfy_sampler.py``) are
the two there are. :func:`repaint` does everything around it, the same for both: it plans a
crop around every mask of every edit (:mod:`pinpoint.crop`), hands the crops to the sampler in
batches, each crop with its own edit's prompt, guidance and seed, settles each result into its
window if asked (the model's shift and zoom undone, the blend following the edit:
:mod:`pinpoint.settle`), stitches the results back through the feathered masks (harmonised if
asked), and with several candidates per image keeps the best by CLIP
(:mod:`pinpoint.ranking`). A single edit is an edit list of one line.

Pixels outside every feathered mask come back bit-identical to the input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from .crop import CropRequest, Split, cut, plan_layers
from .errors import PinpointError
from .guidance import Guidance, GuidanceRecipe
from .harmonise import check_harmonise
from .images import as_mask_batch, check_image, check_prompt
from .loading.models import ClipMatcher
from .progress import Progress, no_progress
from .ranking import Kept, RankSettings, RankTarget, check_candidates, rank_candidates
from .request import Request
from .seeds import image_seed
from .settle import SettleSettings, settle_crops
from .stitch import stitch_crops

EXAMPLE = "a blue pickup truck"
"""An example prompt for the remedies."""
CROPS_PER_CALL = 4
"""How many crops the shipped samplers take in one call."""

StepCallback = Callable[..., None]
"""A sampler call's progress in crop steps: ``on_step(done, total)``, ``total`` being the
call's steps times its crops (a step that advances n crops together counts n);
``on_step(done, total, preview)`` adds a preview image the caller may show."""


@dataclass(frozen=True)
class Layer:
    """One edit of the images: where, into what, and how it is guided.

    Attributes:
        masks: MASK ``[B, H, W]`` (or one ``[H, W]`` for every image), 1 = regenerate.
        prompt: what the area becomes, as the sampler reads it: text for the diffusers
            sampler; a CONDITIONING, or text its CLIP encodes, for the ComfyUI sampler.
        negative: what to avoid, in the same form (empty text: nothing).
        text: the prompt in words, what candidates are ranked on ("" where the caller has
            none: then nothing is ranked on it).
        find: what the area shows now (the ranking table's context; may be empty).
        guidance: CLIP guidance of this edit's crops (``None``, or a scale of 0: none).
    """

    masks: torch.Tensor
    prompt: Any
    negative: Any = ""
    text: str = ""
    find: str = ""
    guidance: GuidanceRecipe | None = None

    @property
    def guided(self) -> bool:
        """Whether guidance steers this edit (a recipe with a scale above 0)."""
        return self.guidance is not None and self.guidance.settings.scale > 0


@dataclass(frozen=True)
class CropBatch:
    """What one sampler call repaints: same-size crops, each with its own edit.

    Attributes:
        crops: ``[N, h, w, 3]`` float in [0, 1]; ``areas``: ``[N, h, w]`` 1 = regenerate.
        layers: each crop's edit (its prompt, negative and guidance).
        seeds: one per crop: crop ``i`` is sampled as if alone with ``seeds[i]``.
        guides: each crop's guidance, ready to steer (``None``: not guided).
    """

    crops: torch.Tensor
    areas: torch.Tensor
    layers: tuple[Layer, ...]
    seeds: tuple[int, ...]
    guides: tuple[Guidance | None, ...]

    def __len__(self) -> int:
        return len(self.seeds)

    def item(self, index: int) -> CropBatch:
        """Crop ``index`` alone."""
        at = slice(index, index + 1)
        return CropBatch(
            self.crops[at], self.areas[at], self.layers[at], self.seeds[at], self.guides[at]
        )


class CropSampler(Protocol):
    """A model that repaints crops: what it must tell the loop, and what it must do.

    Attributes:
        native_size: the resolution it was trained at, in pixels: the crops' longer side when
            the request's resolution is 0.
        multiple: every crop side is a multiple of this (its VAE's downscale), so no crop is
            trimmed or stretched on the way through the latent space.
        crops_per_call: the most crops one :meth:`sample` call takes.
        notes: what the user should know of its settings (a value the model does not read),
            the first notes of every result.
    """

    @property
    def native_size(self) -> int: ...

    @property
    def multiple(self) -> int: ...

    @property
    def crops_per_call(self) -> int: ...

    @property
    def notes(self) -> tuple[str, ...]: ...

    def crop_sizes(self) -> tuple[tuple[int, int], ...]:
        """The ``(width, height)`` sizes the model prefers at its native size (FLUX Kontext's
        resolutions), multiples of :attr:`multiple`; empty: any aspect at ``native_size``."""
        ...

    def check(self, layer: Layer) -> Layer:
        """``layer`` checked (and normalised) for this sampler, before any model runs: its
        prompt's form, its guidance; raises :class:`~pinpoint.errors.PinpointError`."""
        ...

    def sample(self, batch: CropBatch, on_step: StepCallback) -> Sequence[torch.Tensor]:
        """Repaint ``batch``'s areas: one ``[h', w', 3]`` image in [0, 1] per crop, any size
        with its crop's aspect."""
        ...


@dataclass(frozen=True)
class RepaintRequest(Request):
    """A checked call of :func:`repaint`.

    Attributes:
        sampler: what repaints the crops.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1], any size and aspect ratio.
        layers: the edits, painted in order (a later one on top where masks overlap).
        seed: every crop of image ``b`` is sampled with ``image_seed(seed, b)``.
        context, feather_px, split: the crop settings (see :class:`pinpoint.crop.CropRequest`).
        resolution: the crops' longer side; 0 = the sampler's native size (or the sizes it
            prefers, :meth:`CropSampler.crop_sizes`).
        harmonise: 0 (off) to 1: correct the colour shift the sampler gives each crop before
            it is pasted (:mod:`pinpoint.harmonise`).
        candidates: above 1, each image is repainted that many times in the same sampling
            passes (candidate ``j`` of image ``b`` with seed ``seed + b * candidates + j``)
            and the best by ``ranking`` on the layers' texts is kept; needs ``clip``.
        clip: the CLIP model that ranks candidates.
        ranking: the ranking weights.
        settle: undo the model's shift and zoom, and let the blend follow the edit, before
            the stitch (:mod:`pinpoint.settle`; off by default).
        batched: crops of every edit take one shared size and go through the sampler
            ``crops_per_call`` at a time (an edit list: fewer calls). Otherwise each crop
            keeps its own window's aspect and is sampled alone, so an image's result never
            depends on its batch (the single-edit routes).
    """

    sampler: CropSampler
    images: torch.Tensor
    layers: tuple[Layer, ...]
    seed: int = 0
    context: float = CropRequest.context
    resolution: int = 0
    feather_px: int = CropRequest.feather_px
    split: Split = CropRequest.split
    harmonise: float = 0.0
    candidates: int = 1
    clip: ClipMatcher | None = None
    ranking: RankSettings = RankSettings()
    settle: SettleSettings = SettleSettings()
    batched: bool = True
    crops: tuple[CropRequest, ...] = field(init=False)

    def __post_init__(self) -> None:
        check_image(self.images)
        count = check_candidates(self.candidates, clip=self.clip, ranked=True)
        if not self.layers:
            raise PinpointError("there is no edit to make", "give at least one prompt and mask")
        layers = tuple(self.sampler.check(layer) for layer in self.layers)
        if count > 1:  # candidates are ranked on each edit's text
            layers = tuple(
                dataclasses.replace(layer, text=check_prompt(layer.text, "text", EXAMPLE))
                for layer in layers
            )
        sources = self.images.repeat_interleave(count, dim=0)
        crops = tuple(
            CropRequest(
                sources,
                as_mask_batch(layer.masks, self.images).repeat_interleave(count, dim=0),
                context=self.context,
                resolution=self.resolution or self.sampler.native_size,
                feather_px=self.feather_px,
                split=self.split,
                multiple=self.sampler.multiple,
                sizes=() if self.resolution else self.sampler.crop_sizes(),
            )
            for layer in layers
        )
        self._normalise(
            layers=layers,
            split=crops[0].split,
            harmonise=check_harmonise(self.harmonise),
            crops=crops,
        )

    @property
    def guided(self) -> bool:
        """Whether guidance steers any edit."""
        return any(layer.guided for layer in self.layers)

    @property
    def crop_resolution(self) -> int:
        """The crops' longer side in pixels."""
        return self.crops[0].resolution


@dataclass(frozen=True)
class RepaintResult:
    """The outcome of :func:`repaint`.

    Attributes:
        images: ``[B, H, W, 3]`` float32, the edited images (each image's best candidate).
        notes: remarks for the user, e.g. images whose masks were all empty (left unchanged).
        ranking: with several candidates, each image's ranking table; empty otherwise.
        kept: with several candidates, the one kept for each image; empty otherwise.
    """

    images: torch.Tensor
    notes: tuple[str, ...]
    ranking: str = ""
    kept: tuple[Kept, ...] = ()


def repaint(
    request: RepaintRequest,
    progress: Progress = no_progress,
    before_ranking: Callable[[], None] = lambda: None,
) -> RepaintResult:
    """Repaint every edit's masked areas with the request's sampler and stitch them back.

    Args:
        request: the sampler, images, edits and settings.
        progress: called as ``progress(done, total)`` over every call's steps (a ComfyUI
            sampler's previews come as ``progress(done, total, preview)``).
        before_ranking: called before CLIP ranks candidates (a node moves CLIP to the GPU).

    Returns:
        :class:`RepaintResult`.
    """
    plan = plan_layers(request.crops, same_size=request.batched)
    size = request.sampler.crops_per_call if request.batched else 1
    calls = [plan.pieces[start : start + size] for start in range(0, len(plan.pieces), size)]
    sampled: list[torch.Tensor] = []
    for number, pieces in enumerate(calls):
        pairs = [cut(plan, piece) for piece in pieces]
        crops = torch.stack([crop for crop, _ in pairs])
        areas = torch.stack([area for _, area in pairs])
        layers = tuple(request.layers[piece.layer] for piece in pieces)
        guides = tuple(
            layer.guidance.for_crops(crops[i : i + 1], areas[i : i + 1])  # type: ignore[union-attr]
            if layer.guided
            else None
            for i, layer in enumerate(layers)
        )
        seeds = tuple(image_seed(request.seed, piece.image_index) for piece in pieces)
        batch = CropBatch(crops, areas, layers, seeds, guides)
        before = sum(len(call) for call in calls[:number])
        on_step = _call_progress(progress, before, len(pieces), len(plan.pieces))
        sampled.extend(request.sampler.sample(batch, on_step))
    notes = (*request.sampler.notes, *plan.notes)
    if request.settle.active:
        plan, sampled, settled = settle_crops(plan, sampled, request.settle)
        notes = (*notes, *settled)
    images = stitch_crops(plan, sampled, request.harmonise)
    count, table, kept = request.candidates, "", []
    if count > 1:
        before_ranking()
        targets = [
            RankTarget(as_mask_batch(layer.masks, request.images), layer.text, layer.find)
            for layer in request.layers
        ]
        kept, table = rank_candidates(
            request.clip,  # type: ignore[arg-type]  # the request requires it
            request.images,
            images,
            targets,
            count,
            request.ranking,
        )
        images = images[[candidate.index for candidate in kept]]
    return RepaintResult(images, notes, table, tuple(kept))


def _call_progress(progress: Progress, before: int, crops: int, total: int) -> StepCallback:
    """The step callback of a call sampling ``crops`` crops after ``before`` others, reporting
    over all ``total`` crops' steps."""

    def on_step(done: int, steps: int, *preview: Any) -> None:
        per_crop = max(1, steps // crops)
        progress(before * per_crop + min(done, steps), total * per_crop, *preview)

    return on_step


def single_edit(
    sampler: CropSampler,
    images: torch.Tensor,
    masks: torch.Tensor,
    prompt: Any,
    negative: Any = "",
    text: str = "",
    guidance: GuidanceRecipe | None = None,
    **settings: Any,
) -> RepaintRequest:
    """The request of a single-edit route: one layer, each crop sampled alone
    (``settings``: :class:`RepaintRequest`'s other fields)."""
    layer = Layer(masks, prompt, negative, text, guidance=guidance)
    return RepaintRequest(sampler, images, (layer,), batched=False, **settings)


def with_masks(request: RepaintRequest, masks: Sequence[torch.Tensor]) -> RepaintRequest:
    """``request`` with each layer's masks replaced (an edit list's, once matched)."""
    layers = tuple(
        dataclasses.replace(layer, masks=mask)
        for layer, mask in zip(request.layers, masks, strict=True)
    )
    return dataclasses.replace(request, layers=layers)
