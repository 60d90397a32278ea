"""What a shipped workflow's run must show, for the runs through ``/prompt``
(``test_server.py``) and in-process (``test_qwen_edit_workflow.py``)."""

from __future__ import annotations

import numpy as np
import torch


def check_edited_only_inside(
    prompt: dict, ids: dict, images: dict[str, np.ndarray], pixels: np.ndarray, follow_px: int
) -> None:
    """The saved input is ``pixels``; the edit (``images["edited"]``) equals it outside the
    feathered route mask (``images["mask"]``; in instruct mode grown by the settle ring,
    ``follow_px``) and differs inside; the mask stayed within the picture's border."""
    from pinpoint.masks import feather_mask, grow_mask

    edited, original, mask = images["edited"], images["input"], images["mask"]
    height, width = pixels.shape[:2]
    assert np.array_equal(original, pixels)
    assert edited.shape == original.shape
    taker = prompt[ids["inpaint"]]["inputs"]
    touched = torch.from_numpy(mask[..., 0] > 0).to(torch.float32)[None]
    blend = feather_mask(touched, taker["feather_px"])
    if taker.get("mode") == "instruct":  # the blend follows the edit within the settle ring
        blend = grow_mask(blend, follow_px)
    outside = (blend[0] == 0).numpy()
    assert 0 < outside.sum() < outside.size
    assert not mask[: height // 8].any() and not mask[:, : width // 8].any()  # the bound held
    assert np.array_equal(edited[outside], original[outside])
    assert not np.array_equal(edited[~outside], original[~outside])
