"""The measures editing papers report on public benchmarks (PIE-Bench, MagicBrush), for one edit
against its source, the benchmark's mask and its edited image where it gives them.

* PIE-Bench's protocol: PSNR, MSE, SSIM and LPIPS of the edit against the source with the
  benchmark's edited part blacked out in both (the *unedited part*; each over the whole picture,
  so the blacked-out pixels count as equal), and the CLIP similarity of the whole edit and of
  the edit with all but the edited part blacked out to the target text.
* MagicBrush's: L1 and L2 (mean absolute and mean squared difference) of the edit against the
  benchmark's edited image, and the cosine similarity of their CLIP (CLIP-I) and DINO (DINO-I)
  image embeddings.

Images are float in [0, 1]; CLIP and DINO read 8-bit pixels through their own processors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .clip_embed import embed_crops, embed_texts
from .errors import PinpointError
from .images import check_image, check_prompt, to_uint8_arrays
from .loading.models import ClipMatcher, Dino, PerceptualNet, module_device, module_dtype
from .loading.perceptual import LPIPS, check_use
from .metrics import lpips_outside
from .request import Request


@dataclass(frozen=True)
class BenchmarkMetrics:
    """How one edit measures by the benchmarks' protocols (None: not measurable here).

    Attributes:
        clip_whole: CLIP cosine similarity of the whole edited image to the target text.
        clip_edited: the same with everything but the benchmark's edited part blacked out.
        psnr_unedited: PSNR in dB (peak 1) of the edit against the source with the edited part
            blacked out in both; None where nothing there changed (infinite).
        mse_unedited: their mean squared difference, over every pixel and channel.
        ssim_unedited: their SSIM (11-pixel Gaussian window, mean over the image).
        lpips_unedited: their LPIPS (None without an LPIPS backbone).
        l1_target, l2_target: mean absolute and mean squared difference of the edit and the
            benchmark's edited image.
        clip_i: CLIP cosine similarity of the edit's and the edited image's embeddings.
        dino_i: the same with DINO's ``[CLS]`` embeddings (None without a DINO model).
    """

    clip_whole: float
    clip_edited: float | None = None
    psnr_unedited: float | None = None
    mse_unedited: float | None = None
    ssim_unedited: float | None = None
    lpips_unedited: float | None = None
    l1_target: float | None = None
    l2_target: float | None = None
    clip_i: float | None = None
    dino_i: float | None = None


@dataclass(frozen=True)
class BenchmarkRequest(Request):
    """A checked call of :func:`measure_benchmark`.

    Attributes:
        clip: the CLIP model.
        source: IMAGE ``[1, H, W, 3]``, the image the edit was made from.
        edit: IMAGE ``[1, H, W, 3]``, the edited image.
        text: the target text (the inpainting prompt).
        edited_part: ``[H, W]`` bool, the benchmark's edited part (its mask); None without one.
        unedited: ``[H, W]`` bool, the part measured as unedited; None without a mask.
        target: IMAGE ``[1, H, W, 3]``, the benchmark's edited image; None without one.
        lpips: an LPIPS backbone for ``lpips_unedited``; None leaves it out.
        dino: a DINO model for ``dino_i``; None leaves it out.
    """

    clip: ClipMatcher
    source: torch.Tensor
    edit: torch.Tensor
    text: str
    edited_part: torch.Tensor | None = None
    unedited: torch.Tensor | None = None
    target: torch.Tensor | None = None
    lpips: PerceptualNet | None = None
    dino: Dino | None = None

    def __post_init__(self) -> None:
        size = tuple(self.edit.shape[1:3])
        for image in (self.source, self.edit, self.target):
            if image is None:
                continue
            check_image(image)
            if int(image.shape[0]) != 1 or tuple(image.shape[1:3]) != size:
                raise PinpointError(
                    f"an image is {tuple(image.shape)} where the edit is {tuple(self.edit.shape)}",
                    "give one source, edit and target image of one size",
                )
        for mask in (self.edited_part, self.unedited):
            if mask is not None and tuple(mask.shape) != size:
                raise PinpointError(
                    f"a mask is {tuple(mask.shape)} for a {size} image",
                    "give the benchmark's mask at the image's size",
                )
        if self.lpips is not None:
            check_use(self.lpips, LPIPS, "LPIPS of the unedited part")

        def cpu(image: torch.Tensor | None) -> torch.Tensor | None:
            return None if image is None else image.detach().to("cpu", torch.float32)

        self._normalise(
            source=cpu(self.source),
            edit=cpu(self.edit),
            target=cpu(self.target),
            text=check_prompt(self.text, "text", "a blue pickup truck"),
        )


def dino_embeddings(dino: Dino, images: torch.Tensor) -> torch.Tensor:
    """``[N, D]`` L2-normalised DINO ``[CLS]`` embeddings of IMAGE ``[N, H, W, 3]``, each
    prepared by the model's own processor (resized and cropped as it was trained)."""
    inputs = dino.processor(images=to_uint8_arrays(images), return_tensors="pt")
    pixels = inputs["pixel_values"].to(module_device(dino.model), module_dtype(dino.model))
    with torch.inference_mode():
        hidden = dino.model(pixel_values=pixels).last_hidden_state
    return F.normalize(hidden[:, 0].float(), dim=-1).cpu()


def _ssim(edit: torch.Tensor, source: torch.Tensor) -> float:
    """Mean SSIM of two ``[H, W, 3]`` images (11-pixel Gaussian window; smaller on tiny images)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    window = (min(11, int(edit.shape[0]), int(edit.shape[1])) - 1) // 2 * 2 + 1
    value = structural_similarity_index_measure(
        edit.permute(2, 0, 1)[None], source.permute(2, 0, 1)[None], data_range=1.0,
        kernel_size=window,
    )  # fmt: skip
    return float(value)


def measure_benchmark(request: BenchmarkRequest) -> BenchmarkMetrics:
    """Measure one edit by the benchmarks' protocols (see :class:`BenchmarkMetrics`); one CLIP
    pass over the whole edit, the edit's edited part and the target."""
    clip, edit, source, target = request.clip, request.edit, request.source, request.target
    shown = [edit[0]]
    if request.edited_part is not None:
        shown.append(edit[0] * request.edited_part[..., None])
    if target is not None:
        shown.append(target[0])
    embedded, _ = embed_crops(clip, to_uint8_arrays(torch.stack(shown)))
    text = embed_texts(clip, [request.text])[0]
    measured: dict[str, float | None] = {"clip_whole": float(embedded[0] @ text)}
    if request.edited_part is not None:
        measured["clip_edited"] = float(embedded[1] @ text)
    if request.unedited is not None:
        keep = request.unedited[..., None].to(torch.float32)
        kept_edit, kept_source = edit[0] * keep, source[0] * keep
        mse = float(((kept_edit - kept_source) ** 2).mean())
        measured |= {
            "mse_unedited": mse,
            "psnr_unedited": -10 * math.log10(mse) if mse > 0 else None,
            "ssim_unedited": _ssim(kept_edit, kept_source),
        }
        if request.lpips is not None:
            masks = (~request.unedited)[None].to(torch.float32)
            measured["lpips_unedited"] = lpips_outside(request.lpips, edit, source, masks)[0]
    if target is not None:
        difference = edit - target
        measured |= {
            "l1_target": float(difference.abs().mean()),
            "l2_target": float((difference**2).mean()),
            "clip_i": float(embedded[0] @ embedded[-1]),
        }
        if request.dino is not None:
            pair = dino_embeddings(request.dino, torch.cat([edit, target]))
            measured["dino_i"] = float(pair[0] @ pair[1])
    return BenchmarkMetrics(**measured)  # type: ignore[arg-type]


def mask_iou(found: torch.Tensor, given: torch.Tensor) -> float | None:
    """IoU of two ``[H, W]`` bool masks; None where both are empty."""
    union = int((found | given).sum())
    return int((found & given).sum()) / union if union else None
