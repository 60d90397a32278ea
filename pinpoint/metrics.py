"""Measure and rank edits: how well each edited image says what the text asks (CLIP), how much of
the source it keeps (CLIP, SSIM) and whether anything outside the mask moved.

Every edit of a batch is measured against its source in one batched CLIP pass: the masked crop
of the edit and of the source (the padded bounds of the mask, everything outside the mask
painted CLIP's neutral grey) and the texts once. Candidates of one edit (several seeds) are
ranked by ``S = alpha * S_t2i + beta * S_i2i``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .boxes import mask_bounds, mask_box
from .errors import PinpointError
from .images import as_mask_batch, check_image, check_prompt
from .loading.models import ClipMatcher
from .match import CropMode, crop_regions, embed_crops, embed_texts, neutral
from .regions import ImageRegions, Region
from .request import Request

MASK_THRESHOLD = 0.5
"""A mask pixel is inside the edit when it is at least this."""
SSIM_WINDOW = 11
"""SSIM's Gaussian window; ``ssim_outside`` counts the pixels whose window stays outside the
mask, so an untouched outside measures exactly 1."""


@dataclass(frozen=True)
class EditMetrics:
    """How one edit measures against its source.

    Attributes:
        t2i: ``S_t2i``, CLIP cosine similarity of the edit's masked crop to the target text.
        i2i: ``S_i2i``, CLIP cosine similarity of the edit's masked crop to the source's.
        directional: cosine between the image change ``E_I(edit) - E_I(source)`` and the text
            change ``E_T(target) - E_T(source text)``; None without a source text.
        success: the edit's crop is closer in CLIP to the target text than to the source text
            (None without a source text).
        ssim_inside, ssim_outside: mean SSIM (:data:`SSIM_WINDOW`-pixel Gaussian window, on
            the RGB images, averaged over the channels) over the pixels inside the mask, and
            over those whose window lies wholly outside it; None where there are none.
        max_delta_outside: the largest change of any channel of any pixel outside the mask, in
            8-bit levels (0 for Pinpoint's own stitch).
        mask_area: the fraction of the image inside the mask.
    """

    t2i: float
    i2i: float
    directional: float | None
    success: bool | None
    ssim_inside: float | None
    ssim_outside: float | None
    max_delta_outside: float
    mask_area: float


@dataclasses.dataclass(frozen=True)
class MetricsRequest(Request):
    """A checked call of :func:`measure_edits`.

    Attributes:
        clip: the CLIP model (the matcher's).
        sources: IMAGE ``[B, H, W, 3]``, or one ``[1, H, W, 3]`` for every edit (stored as
            ``[B, H, W, 3]`` float32 on the CPU, like ``edits``).
        edits: IMAGE ``[B, H, W, 3]``, the edited images (or candidates of one edit).
        masks: MASK ``[B, H, W]`` or one ``[H, W]`` for every edit: where the edit was meant.
        text: what the masked area was to become (the inpainting prompt).
        source_text: what it was ("a cat"); empty leaves out the directional score and success.
        context_pad: CLIP's crop around the mask's bounds, as a fraction of their larger side.
    """

    clip: ClipMatcher
    sources: torch.Tensor
    edits: torch.Tensor
    masks: torch.Tensor
    text: str
    source_text: str = ""
    context_pad: float = 0.1

    def __post_init__(self) -> None:
        check_image(self.edits)
        check_image(self.sources)
        batch = int(self.edits.shape[0])
        if tuple(self.sources.shape[1:]) != tuple(self.edits.shape[1:]):
            raise PinpointError(
                f"the source is {self.sources.shape[2]}x{self.sources.shape[1]} but the edits "
                f"are {self.edits.shape[2]}x{self.edits.shape[1]}",
                "measure each edit against the image it was made from",
            )
        if int(self.sources.shape[0]) not in (1, batch):
            raise PinpointError(
                f"there are {self.sources.shape[0]} sources for {batch} edits",
                "give one source for every edit, or one source for all",
            )
        if self.context_pad < 0:
            raise PinpointError(f"context_pad is {self.context_pad}", "use 0 or more")
        masks = as_mask_batch(self.masks, self.edits).cpu()
        if not bool((masks >= MASK_THRESHOLD).any(dim=(1, 2)).all()):
            raise PinpointError(
                "a mask is empty: there is no edited area to measure",
                "connect the mask the edit was made with",
            )
        self._normalise(
            edits=self.edits.detach().to("cpu", torch.float32),
            sources=self.sources.detach().to("cpu", torch.float32).expand(batch, -1, -1, -1),
            masks=masks,
            text=check_prompt(self.text, "the text", "a blue pickup truck"),
            source_text=self.source_text.strip(),
        )


def _masked_crops(clip: ClipMatcher, images: torch.Tensor, masks: torch.Tensor, pad: float) -> list:
    """One masked crop per image of ``[B, H, W, 3]`` around its mask ``[B, H, W]``."""
    height, width = int(images.shape[1]), int(images.shape[2])
    crops = []
    for image, mask in zip(images, masks, strict=True):
        inside = (mask >= MASK_THRESHOLD).to(torch.float32)
        box = mask_box(inside)
        assert box is not None  # the request refuses empty masks
        found = ImageRegions(width, height, (Region(box, "edit", 1.0, "edit", mask=inside),))
        crops.extend(crop_regions(image, found, pad, CropMode.MASKED, neutral(clip)))
    return crops


def _ssim_maps(edits: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """``[B, H, W]`` SSIM map (mean over RGB) of each edit against its source (both
    ``[B, H, W, 3]`` float32 on the CPU).

    SSIM at a pixel reads only its window, and a window whose pixels are all unchanged gives
    exactly 1; so each map is computed on the changed pixels' bounds grown by a window (one
    more window of margin keeps the border's reflection padding away from any change) and is 1
    elsewhere: the same map as over the whole image, at the cost of the edited area.
    """
    from torchmetrics.functional.image import structural_similarity_index_measure

    batch, height, width = int(edits.shape[0]), int(edits.shape[1]), int(edits.shape[2])
    maps = torch.ones(batch, height, width)
    for index in range(batch):
        bounds = mask_bounds((edits[index] != sources[index]).any(dim=-1))
        if bounds is None:
            continue
        x0, y0, x1, y1 = bounds
        x0, y0 = max(0, x0 - SSIM_WINDOW), max(0, y0 - SSIM_WINDOW)
        x1, y1 = min(width, x1 + SSIM_WINDOW), min(height, y1 + SSIM_WINDOW)
        window = (min(SSIM_WINDOW, y1 - y0, x1 - x0) - 1) // 2 * 2 + 1  # tiny images: smaller
        _, full = structural_similarity_index_measure(
            edits[index, y0:y1, x0:x1].permute(2, 0, 1)[None],
            sources[index, y0:y1, x0:x1].permute(2, 0, 1)[None],
            data_range=1.0,
            kernel_size=window,
            return_full_image=True,
            reduction="none",
        )
        maps[index, y0:y1, x0:x1] = full[0].mean(dim=0)
    return maps


def _mean_where(values: torch.Tensor, where: torch.Tensor) -> float | None:
    return float(values[where].mean()) if bool(where.any()) else None


def measure_edits(request: MetricsRequest) -> list[EditMetrics]:
    """Measure every edit of the batch against its source (see :class:`EditMetrics`)."""
    clip, edits, sources, masks = request.clip, request.edits, request.sources, request.masks
    count = int(edits.shape[0])
    crops = _masked_crops(
        clip, torch.cat([edits, sources]), torch.cat([masks, masks]), request.context_pad
    )
    images, _ = embed_crops(clip, crops)
    edited, original = images[:count], images[count:]
    texts = [request.text] + ([request.source_text] if request.source_text else [])
    text = embed_texts(clip, texts)
    t2i = edited @ text[0]
    i2i = (edited * original).sum(dim=-1)
    inside = masks >= MASK_THRESHOLD
    near = torch.nn.functional.max_pool2d(
        inside[:, None].to(torch.float32), SSIM_WINDOW, stride=1, padding=SSIM_WINDOW // 2
    )[:, 0]
    clear = near == 0  # every pixel of its window is outside the mask
    ssim = _ssim_maps(edits, sources)
    delta = (edits - sources).abs().amax(dim=-1)
    measured = []
    for index in range(count):
        directional = success = None
        if request.source_text:
            change = torch.nn.functional.normalize(edited[index] - original[index], dim=-1)
            wanted = torch.nn.functional.normalize(text[0] - text[1], dim=-1)
            directional = float(change @ wanted)
            success = bool(edited[index] @ text[0] > edited[index] @ text[1])
        outside = ~inside[index]
        measured.append(
            EditMetrics(
                t2i=float(t2i[index]),
                i2i=float(i2i[index]),
                directional=directional,
                success=success,
                ssim_inside=_mean_where(ssim[index], inside[index]),
                ssim_outside=_mean_where(ssim[index], clear[index]),
                max_delta_outside=float(delta[index][outside].max() * 255)
                if outside.any()
                else 0.0,
                mask_area=float(inside[index].float().mean()),
            )
        )
    return measured


@dataclasses.dataclass(frozen=True)
class RankSettings(Request):
    """How candidates of one edit (several seeds, prompts or regions) are ranked: by
    ``S = alpha * S_t2i + beta * S_i2i``.

    Attributes:
        alpha: weight of ``S_t2i`` (says what the text asks).
        beta: weight of ``S_i2i`` (keeps what the source shows).
        top_k: how many of the best to keep.
    """

    alpha: float = 1.0
    beta: float = 0.5
    top_k: int = 1

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            if getattr(self, name) < 0:
                raise PinpointError(f"{name} is {getattr(self, name)}", "use 0 or more")
        if self.alpha == 0 and self.beta == 0:
            raise PinpointError("alpha and beta are both 0", "give at least one a weight")
        if self.top_k < 1:
            raise PinpointError(f"top_k is {self.top_k}", "keep at least 1")

    def score(self, measured: EditMetrics) -> float:
        """``S`` of one candidate."""
        return self.alpha * measured.t2i + self.beta * measured.i2i


@dataclass(frozen=True)
class RankResult:
    """The outcome of :func:`rank_edits`.

    Attributes:
        order: candidate indices (0-based, into the request's edits), best first, at most
            ``top_k``.
        scores: ``S`` of every candidate, in input order.
        metrics: every candidate's measures, in input order.
        table: a text table of every candidate, best first, the kept ones marked.
    """

    order: tuple[int, ...]
    scores: tuple[float, ...]
    metrics: tuple[EditMetrics, ...]
    table: str


def rank_edits(metrics: MetricsRequest, settings: RankSettings = RankSettings()) -> RankResult:
    """Measure every candidate of ``metrics`` once (one CLIP pass for all) and rank by ``S``."""
    measured = measure_edits(metrics)
    scores = tuple(settings.score(m) for m in measured)
    ranked = sorted(range(len(scores)), key=lambda index: scores[index], reverse=True)
    kept = tuple(ranked[: settings.top_k])
    return RankResult(kept, scores, tuple(measured), _table(ranked, kept, scores, measured))


def _table(
    ranked: Sequence[int],
    kept: Sequence[int],
    scores: Sequence[float],
    measured: Sequence[EditMetrics],
) -> str:
    lines = ["  rank  candidate       S     t2i     i2i  ssim_in  ssim_out  max_delta_out"]
    for rank, index in enumerate(ranked, start=1):
        m = measured[index]
        mark = "*" if index in kept else " "
        inside = f"{m.ssim_inside:7.3f}" if m.ssim_inside is not None else "      -"
        outside = f"{m.ssim_outside:8.3f}" if m.ssim_outside is not None else "       -"
        lines.append(
            f"{mark} {rank:4d}  {index + 1:9d}  {scores[index]:6.3f}  {m.t2i:6.3f}  {m.i2i:6.3f}"
            f"  {inside}  {outside}  {m.max_delta_outside:13.1f}"
        )
    return "\n".join(lines)
