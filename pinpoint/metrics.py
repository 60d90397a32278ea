"""Measure and rank edits: how well each edited image says what the text asks (CLIP), how much of
the source it keeps (CLIP, SSIM) and whether anything outside the mask moved (the largest
change; LPIPS, given an LPIPS backbone). :func:`frechet_distance` compares whole sets (FID).

Every edit of a batch is measured against its source in one batched CLIP pass: the masked crop
of the edit and of the source (the padded bounds of the mask, everything outside the mask
painted CLIP's neutral grey) and the texts once. :mod:`pinpoint.ranking` ranks candidates of
one edit (several seeds) by these measures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from .boxes import mask_bounds, mask_box
from .clip_embed import embed_crops, embed_texts, neutral
from .errors import PinpointError
from .images import as_mask_batch, check_image, check_prompt
from .loading.models import ClipMatcher, PerceptualNet, module_device, module_dtype
from .loading.perceptual import FID, LPIPS, check_use, lpips_module
from .match import CropMode, crop_regions
from .regions import ImageRegions, Region
from .request import Request

MASK_THRESHOLD = 0.5
"""A mask pixel is inside the edit when it is at least this."""
SSIM_WINDOW = 11
"""SSIM's Gaussian window; ``ssim_outside`` counts the pixels whose window stays outside the
mask, so an untouched outside measures exactly 1."""
FID_CHUNK = 16
"""Images per Inception pass of :func:`frechet_distance` (bounds its memory)."""


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
        ssim_image: mean SSIM (:data:`SSIM_WINDOW`-pixel Gaussian window, on the RGB
            images, averaged over the channels) over the whole image (what papers report as
            "SSIM").
        ssim_inside, ssim_outside: the same over the pixels inside the mask, and over those
            whose window lies wholly outside it; None where there are none.
        max_delta_outside: the largest change of any channel of any pixel outside the mask, in
            8-bit levels (0 for Pinpoint's own stitch).
        mask_area: the fraction of the image inside the mask.
        lpips_outside: LPIPS between the edit and the source with everything but the outside
            blacked out in both: exactly 0 for an untouched outside; None without an LPIPS
            backbone.

    Inside the mask is where it is at least :data:`MASK_THRESHOLD`; outside is where it is 0
    (so a feathered mask's soft edge, which a stitch blends, is neither).
    """

    t2i: float
    i2i: float
    directional: float | None
    success: bool | None
    ssim_image: float
    ssim_inside: float | None
    ssim_outside: float | None
    max_delta_outside: float
    mask_area: float
    lpips_outside: float | None = None


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
        lpips: an LPIPS backbone (AlexNet, VGG16 or SqueezeNet weights) to measure
            ``lpips_outside`` with; None leaves it out.
    """

    clip: ClipMatcher
    sources: torch.Tensor
    edits: torch.Tensor
    masks: torch.Tensor
    text: str
    source_text: str = ""
    context_pad: float = 0.1
    lpips: PerceptualNet | None = None

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
        if self.lpips is not None:
            check_use(self.lpips, LPIPS, "LPIPS outside the mask")
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
            text=check_prompt(self.text, "text", "a blue pickup truck"),
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
    1; so each map is computed on the changed pixels' bounds grown by a window (one more window
    of margin keeps the border's reflection padding away from any change) and is 1 elsewhere:
    the same map as over the whole image, at the cost of the edited area. Unchanged windows
    read exactly 1 (in flat areas rounding can leave the computed value a hair below).
    """
    from torchmetrics.functional.image import structural_similarity_index_measure

    batch, height, width = int(edits.shape[0]), int(edits.shape[1]), int(edits.shape[2])
    maps = torch.ones(batch, height, width)
    changed = (edits != sources).any(dim=-1)
    for index in range(batch):
        bounds = mask_bounds(changed[index])
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
    maps[_window_outside(~changed)] = 1.0
    return maps


def lpips_outside(
    net: PerceptualNet, edits: torch.Tensor, sources: torch.Tensor, masks: torch.Tensor
) -> list[float]:
    """LPIPS of each edit against its source, both ``[B, H, W, 3]``, with all but the outside
    of its mask ``[B, H, W]`` (where it is 0) blacked out: one pass over the edits whose
    outside changed, exactly 0 for the others."""
    keep = (masks == 0).to(edits.dtype)[..., None]
    edits, sources = edits * keep, sources * keep
    same = (edits == sources).flatten(1).all(dim=1)
    changed = [index for index in range(len(edits)) if not bool(same[index])]
    distances = [0.0] * len(edits)
    if changed:
        lpips = lpips_module(net)
        device, dtype = module_device(net.model), module_dtype(net.model)
        with torch.no_grad():
            measured = lpips(
                edits[changed].permute(0, 3, 1, 2).to(device, dtype),
                sources[changed].permute(0, 3, 1, 2).to(device, dtype),
                normalize=True,
            )
        for index, value in zip(changed, measured.reshape(-1).tolist(), strict=True):
            distances[index] = float(value)
    return distances


def _window_outside(outside: torch.Tensor) -> torch.Tensor:
    """``[B, H, W]``: whether every pixel of the pixel's SSIM window is ``outside`` (at the
    border the window reads the image mirrored, as SSIM does)."""
    half = SSIM_WINDOW // 2
    inside = (~outside)[:, None].to(torch.float32)
    pad_h, pad_w = min(half, inside.shape[2] - 1), min(half, inside.shape[3] - 1)
    mirrored = torch.nn.functional.pad(inside, (pad_w, pad_w, pad_h, pad_h), mode="reflect")
    near = torch.nn.functional.max_pool2d(mirrored, (2 * pad_h + 1, 2 * pad_w + 1), stride=1)[:, 0]
    return near == 0


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
    inside, outside = masks >= MASK_THRESHOLD, masks == 0
    clear = _window_outside(outside)
    ssim = _ssim_maps(edits, sources)
    delta = (edits - sources).abs().amax(dim=-1)
    lpips = None
    if request.lpips is not None:
        lpips = lpips_outside(request.lpips, edits, sources, masks)
    measured = []
    for index in range(count):
        directional = success = None
        if request.source_text:
            change = torch.nn.functional.normalize(edited[index] - original[index], dim=-1)
            wanted = torch.nn.functional.normalize(text[0] - text[1], dim=-1)
            directional = float(change @ wanted)
            success = bool(edited[index] @ text[0] > edited[index] @ text[1])
        measured.append(
            EditMetrics(
                t2i=float(t2i[index]),
                i2i=float(i2i[index]),
                directional=directional,
                success=success,
                ssim_image=float(ssim[index].mean()),
                ssim_inside=_mean_where(ssim[index], inside[index]),
                ssim_outside=_mean_where(ssim[index], clear[index]),
                max_delta_outside=float(delta[index][outside[index]].max() * 255)
                if outside[index].any()
                else 0.0,
                mask_area=float(inside[index].float().mean()),
                lpips_outside=lpips[index] if lpips is not None else None,
            )
        )
    return measured


def frechet_distance(
    net: PerceptualNet,
    sources: torch.Tensor | Iterable[torch.Tensor],
    edits: torch.Tensor | Iterable[torch.Tensor],
) -> float:
    """FID of the edited set against the source set: the Fréchet distance between Gaussians
    fitted to each set's 2048 pooled Inception features (torchmetrics'
    ``FrechetInceptionDistance`` with the loaded Inception).

    Each image is rounded to 8 bits and resized to 299x299 by the Inception itself (bilinear,
    antialiased, as torchmetrics' own FID), so the sets may hold images of any sizes, the two
    sets different ones. The sets are read once, :data:`FID_CHUNK` images at a time (a
    generator that loads images from disk keeps memory flat). FID compares distributions: it
    means little below a few hundred images a set.

    Args:
        net: the FID Inception (``weights-inception-2015-12-05-6726825d.pth``).
        sources: the reference images, IMAGE ``[N, H, W, 3]`` or an iterable of images
            (``[H, W, 3]`` or ``[B, H, W, 3]`` each) of any sizes.
        edits: the edited images, likewise.

    Returns:
        the distance (0 for two identical sets, up to rounding; never negative).

    Raises:
        PinpointError: ``net`` is not the FID Inception, an image is not RGB, or a set has
        fewer than 2 images.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    check_use(net, FID, "FID")
    device = module_device(net.model)
    fid = FrechetInceptionDistance(feature=net.model, normalize=False).to(device)
    with torch.no_grad():
        for real, images, what in ((True, sources, "sources"), (False, edits, "edits")):
            count = 0
            for batch in _uint8_batches(_images(images), device):
                fid.update(batch, real=real)
                count += int(batch.shape[0])
            if count < 2:
                raise PinpointError(
                    f"FID needs at least 2 {what} but got {count}",
                    "give at least 2 images in each set (FID compares the spread of the two sets)",
                )
        return max(0.0, float(fid.compute()))


def _images(images: torch.Tensor | Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
    """The ``[H, W, 3]`` images of an IMAGE batch or an iterable of images or batches."""
    for batch in [images] if isinstance(images, torch.Tensor) else images:
        batch = batch[None] if batch.ndim == 3 else batch
        check_image(batch)
        yield from batch.unbind(0)


def _uint8_batches(images: Iterator[torch.Tensor], device: torch.device) -> Iterator[torch.Tensor]:
    """``images`` as uint8 ``[n, 3, H, W]`` batches on ``device``, in order: runs of images
    of one size, at most :data:`FID_CHUNK` each."""
    run: list[torch.Tensor] = []
    for image in images:
        if run and (len(run) == FID_CHUNK or image.shape != run[0].shape):
            yield _to_uint8(run, device)
            run = []
        run.append(image)
    if run:
        yield _to_uint8(run, device)


def _to_uint8(images: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
    batch = torch.stack(list(images)).to(device)
    return (batch * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 3, 1, 2)
