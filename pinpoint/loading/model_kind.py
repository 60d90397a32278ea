"""What a model kind is: :class:`ModelKind` (where a kind lives, what it holds, how it is checked
and loaded) and the formats and transformers details it names. The kinds themselves are the
table in :mod:`pinpoint.loading.kinds`; the per-kind checks import this module, the table
imports them. Nothing here imports transformers, diffusers or segment_anything.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

Config = Mapping[str, Any]
"""A parsed ``config.json``."""


class Format(Enum):
    """What a kind looks like on disk, which decides the loader."""

    TRANSFORMERS = "a Hugging Face transformers folder"
    DIFFUSERS = "a diffusers pipeline folder"
    SAM_CHECKPOINT = "an original Segment Anything checkpoint file"
    TORCH_WEIGHTS = "a PyTorch weights file"


@dataclass(frozen=True)
class Transformers:
    """How a transformers folder is loaded (one per kind, or per model type of a kind).

    Attributes:
        model_class: the transformers class that loads the weights (``"CLIPModel"``,
            ``"AutoModelForObjectDetection"``).
        processor_class: ``"AutoProcessor"`` (tokenizer and image processor) or
            ``"AutoImageProcessor"``.
        processor_files: the folder must hold one of these image processor configs.
        tokenizer: the folder must hold tokenizer files, and the processor both parts.
        wordpiece: BERT's ``vocab.txt`` also counts as tokenizer files (Grounding DINO).
        model_kwargs: passed to ``from_pretrained`` (``attn_implementation`` ...).
        prepare_config: changes the loaded ``PretrainedConfig`` before the model is built.
        complete_weights: refuse a checkpoint missing weights the model needs (transformers
            would fill them with random values: a silently broken model).
        result_fields: extra fields of the loaded object (``open_vocabulary=True``).
    """

    model_class: str
    processor_class: str = "AutoImageProcessor"
    processor_files: tuple[str, ...] = ("preprocessor_config.json",)
    tokenizer: bool = False
    wordpiece: bool = False
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    prepare_config: Callable[[Any], None] = lambda config: None
    complete_weights: bool = False
    result_fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelKind:
    """One kind of model: where it lives, what it holds, how it is checked and loaded.

    Attributes:
        key: short id used by the CLI and :mod:`pinpoint.tiny` (``"detector"``, ...).
        title: human name used in messages ("object detector").
        folder: the ComfyUI models sub-folder registered for this kind.
        format: what it is on disk (the loader that reads it).
        result: the class of the loaded object.
        expected_files: what a complete model holds, as told to users.
        example_repo: a Hugging Face repo that works, for download hints.
        example_dir: the folder name that repo is downloaded into (for a single-file kind: the
            example file's name).
        extra_folders: shared ComfyUI folders also searched (``diffusers``).
        marker: the file whose presence makes a folder a candidate (``config.json``); empty for
            a single-file kind.
        suffixes: for a single-file kind, the accepted file name endings (lower case).
        download_url: for a single-file kind, where the example file is downloaded from.
        model_types: transformers kinds: the ``config.json`` ``model_type`` values accepted.
        requirement: appended to the refusal of another model type, e.g. " (config.json
            model_type must be 'clip')".
        pick: the start of that refusal's fix, e.g. "pick a folder with a full CLIP model; ".
        transformers: transformers kinds: the folder's config → how it is loaded.
        check_config: further checks of a transformers folder before loading (raise
            :class:`~pinpoint.errors.PinpointError`).
        check_processor: a check of the loaded processor (raises likewise).
    """

    key: str
    title: str
    folder: str
    format: Format
    result: type
    expected_files: str
    example_repo: str
    example_dir: str
    extra_folders: tuple[str, ...] = ()
    marker: str = "config.json"
    suffixes: tuple[str, ...] = ()
    download_url: str = ""
    model_types: Callable[[], Collection[str]] = frozenset
    requirement: str = ""
    pick: str = ""
    transformers: Callable[[Config], Transformers] | None = None
    check_config: Callable[[ModelKind, Path, Config], None] = lambda kind, path, config: None
    check_processor: Callable[[ModelKind, Path, Any], None] = lambda kind, path, processor: None

    def download_hint(self, target: Path) -> str:
        """How to download the example model into ``target``, as a sentence fragment."""
        if self.download_url:
            return (
                f"download {self.download_url} into the folder {target.parent}, e.g. "
                f"`curl -L --create-dirs -o {target} {self.download_url}`"
            )
        return (
            f"download {self.example_repo} ({self.expected_files}) into {target}, "
            f"e.g. `hf download {self.example_repo} --local-dir {target}` "
            "(`huggingface-cli download` on older huggingface_hub)"
        )
