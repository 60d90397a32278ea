"""The one loader of every transformers kind (detectors, CLIP, segmenters, CLIPSeg, DINO): the
folder is checked against its :class:`~pinpoint.loading.kinds.ModelKind` entry before
transformers is asked to load anything, then loaded offline and cached."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from ..errors import PinpointError
from .cache import cached, model_key
from .checks import (
    WEIGHT_FILES,
    check_model_dir,
    describe_config,
    load_failed,
    read_json,
    redownload_fix,
    require_any,
    require_tokenizer,
)
from .kinds import INPAINT, KINDS
from .model_kind import ModelKind, Transformers


def _article(title: str) -> str:
    return ("an " if title[0].lower() in "aeiou" else "a ") + title


def belongs_elsewhere(path: Path, model_type: str | None) -> str:
    """A hint naming the kind and folder a misplaced model belongs to ('' when unknown)."""
    if (path / INPAINT.marker).is_file():
        kind: ModelKind | None = INPAINT
    else:
        kind = next((k for k in KINDS if model_type and model_type in k.model_types()), None)
    return f"; {_article(kind.title)} goes in models/{kind.folder}" if kind else ""


def read_model_config(path: Path, kind: ModelKind) -> dict[str, Any]:
    """Read a transformers folder's ``config.json`` and check its ``model_type`` is the kind's.

    Raises:
        PinpointError: for a diffusers pipeline folder or a model of another type, naming the
            folder, what it holds, how to download the right model and, when the folder is a
            model of another kind, where that kind goes.
    """
    not_it = f"not {_article(kind.title)}"
    fix = kind.pick + kind.download_hint(path.parent / kind.example_dir)
    if (path / INPAINT.marker).is_file() and not (path / "config.json").is_file():
        raise PinpointError(
            f"'{path.name}' is a diffusers pipeline, {not_it} ({path})",
            fix + belongs_elsewhere(path, None),
        )
    config = read_json(path, "config.json", kind)
    model_type = config.get("model_type")
    if model_type not in kind.model_types():
        raise PinpointError(
            f"'{path.name}' is {describe_config(config)}, {not_it}{kind.requirement} ({path})",
            fix + belongs_elsewhere(path, model_type),
        )
    return config


def check_folder(kind: ModelKind, path: Path) -> dict[str, Any]:
    """Everything a folder of ``kind`` must hold, checked without loading it.

    Returns:
        the parsed config.json.

    Raises:
        PinpointError: another model type, or missing weights, tokenizer or processor files.
    """
    config = read_model_config(path, kind)
    kind.check_config(kind, path, config)
    spec = _spec(kind, config)
    require_any(path, WEIGHT_FILES, "weights", kind)
    if spec.tokenizer:
        require_tokenizer(path, kind, wordpiece=spec.wordpiece)
    require_any(path, spec.processor_files, "image processor config", kind)
    return config


def _spec(kind: ModelKind, config: dict[str, Any]) -> Transformers:
    assert kind.transformers is not None, f"{kind.key} is not a transformers kind"
    return kind.transformers(config)


def load_transformers(
    kind: ModelKind,
    path: Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Any:
    """Load a model of ``kind`` and its processor from a Hugging Face folder, offline.

    Returns:
        a ``kind.result`` in eval mode with gradients off; the same object as an earlier call
        with the same unchanged folder, device and dtype while that object is still alive.

    Raises:
        PinpointError: the folder is missing, incomplete, of another kind, or fails to load.
    """
    path = check_model_dir(path, kind)
    config = check_folder(kind, path)
    key = model_key(kind.key, path, device, dtype)
    return cached(key, lambda: _load(kind, path, _spec(kind, config), device, dtype))


_MISSING_PACKAGE = re.compile(r"requires the (\S+) library")
"""How transformers names a package a model needs (e.g. a timm backbone)."""


def _load(
    kind: ModelKind,
    path: Path,
    spec: Transformers,
    device: torch.device | str,
    dtype: torch.dtype,
) -> Any:
    import transformers

    for name in (spec.model_class, spec.processor_class):
        if not hasattr(transformers, name):
            raise PinpointError(
                f"'{path.name}' needs transformers' {name}, which transformers "
                f"{transformers.__version__} does not have ({path})",
                "upgrade transformers (`pip install -U transformers`) in the Python environment "
                "that runs Pinpoint, then restart",
            )
    try:
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
        spec.prepare_config(config)
        model_class = getattr(transformers, spec.model_class)
        model, info = model_class.from_pretrained(
            path,
            config=config,
            local_files_only=True,
            output_loading_info=True,
            **spec.model_kwargs,
        )
        processor_class = getattr(transformers, spec.processor_class)
        processor = processor_class.from_pretrained(path, local_files_only=True)
    except ImportError as err:
        package = _MISSING_PACKAGE.search(str(err))
        if package is None:
            raise load_failed(kind, path, err) from err
        raise PinpointError(
            f"'{path.name}' needs the {package[1]} package, which is not installed ({path})",
            f"run `pip install {package[1]}` in the Python environment that runs Pinpoint, "
            "then restart",
        ) from err
    except Exception as err:
        raise load_failed(kind, path, err) from err
    missing = sorted(info.get("missing_keys") or ())
    if spec.complete_weights and missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise PinpointError(
            f"'{path.name}' lacks weights the model needs ({', '.join(missing[:3])}{more}) "
            f"({path})",
            redownload_fix(kind, path),
        )
    if spec.tokenizer and not (
        hasattr(processor, "tokenizer") and hasattr(processor, "image_processor")
    ):
        raise PinpointError(
            f"'{path.name}' loads a {type(processor).__name__}, not a processor with a "
            f"tokenizer and an image processor ({path})",
            redownload_fix(kind, path),
        )
    kind.check_processor(kind, path, processor)
    model.eval().requires_grad_(False)
    model.to(device=torch.device(device), dtype=dtype)
    return kind.result(
        model=model, processor=processor, name=path.name, path=path, **spec.result_fields
    )
