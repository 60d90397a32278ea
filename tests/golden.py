"""Golden outputs: a refactor proves it changed no pixel.

With ``PINPOINT_GOLDEN=DIR`` set, each golden test saves its route's output tensor in ``DIR`` the
first time and, once it is there, checks the route still gives it bit for bit (``torch.equal``).
Run the golden tests on the commit before a change (they write), then after it (they compare):

    PINPOINT_GOLDEN=/tmp/golden .venv/bin/python -m pytest -q tests/unit/test_golden_routes.py
    PINPOINT_GOLDEN=/tmp/golden COMFYUI_DIR=... .venv/bin/python -m pytest -q \\
        tests/comfy/test_golden_routes.py

Without it the golden tests skip: outputs of random-weight models are only comparable on one
machine and one set of library versions.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

FOLDER = os.environ.get("PINPOINT_GOLDEN", "")
SKIP = pytest.mark.skipif(not FOLDER, reason="PINPOINT_GOLDEN is not set (see tests/golden.py)")


def same_as_golden(name: str, output: torch.Tensor) -> None:
    """Save ``output`` as route ``name``'s golden output, or assert it equals the saved one."""
    path = Path(FOLDER) / f"{name}.pt"
    output = output.detach().to("cpu").clone()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(output, path)
        return
    golden = torch.load(path)
    assert golden.shape == output.shape, (name, golden.shape, output.shape)
    assert torch.equal(golden, output), (name, float((golden - output).abs().max()))
