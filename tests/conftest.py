"""Shared test setup: import ``pinpoint`` without ComfyUI, stay offline, build tiny models once.

The repository root is the ComfyUI pack, and ComfyUI imports it as a package (the pack's
``nodes/`` is ``<pack>.nodes`` there). The tests import the core library alone, as the top-level
package ``pinpoint``, without putting the root on ``sys.path``: the root's ``nodes/`` would
otherwise shadow ComfyUI's own ``nodes`` module.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _import_core() -> None:
    """``import pinpoint`` from ``REPO/pinpoint`` (what ``python -m pinpoint`` runs)."""
    if "pinpoint" in sys.modules:
        return
    folder = REPO / "pinpoint"
    spec = importlib.util.spec_from_file_location(
        "pinpoint", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pinpoint"] = module
    spec.loader.exec_module(module)


_import_core()

# Before anything imports huggingface_hub: a test that reaches for the network must fail.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

collect_ignore = ["bench"]  # benchmark scripts, run by hand


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"detector", "clip", "inpaint"}`` → tiny random-weight model folders, laid out as
    ``<models_root>/pinpoint_detectors/tiny-random-detr`` etc. Built once per session."""
    from pinpoint.tiny import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def clip(tiny_models: dict[str, Path]):
    """The tiny CLIP matcher, loaded once per test module (a module may rig it)."""
    from pinpoint.loading import load_model
    from pinpoint.loading.kinds import CLIP

    return load_model(CLIP, tiny_models["clip"])


@pytest.fixture(scope="session")
def models_root(tiny_models: dict[str, Path]) -> Path:
    """The models root holding the tiny models (like ``ComfyUI/models``)."""
    return tiny_models["detector"].parents[1]


@pytest.fixture(scope="session")
def inception_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A random-weight FID Inception weights file (96 MB: the real architecture), built once per
    session in a ``pinpoint_perceptual`` folder of its own."""
    from pinpoint.tiny.perceptual import build_tiny_perceptual

    folder = tmp_path_factory.mktemp("perceptual") / "pinpoint_perceptual"
    file = build_tiny_perceptual(folder / "random-inception.pth", "inception_fid")
    yield file
    file.unlink()  # not kept with pytest's last temporary folders
