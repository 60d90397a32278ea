"""Loading: folders, validation messages, the shared cache, and round trips of the tiny models."""

from __future__ import annotations

import gc
import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path

import pytest
import torch

from pinpoint.errors import PinpointError, reported_as
from pinpoint.loading import (
    Detector,
    default_search_dirs,
    find_model,
    list_installed,
    load_model,
    module_device,
    module_dtype,
)
from pinpoint.loading import cache as model_cache
from pinpoint.loading.kinds import CLIP, DETECTOR, INPAINT, KINDS
from pinpoint.tiny import TINY_MODELS

KIND_OF = {"detector": DETECTOR, "clip": CLIP, "inpaint": INPAINT}


def copy_model(tiny_models: dict[str, Path], key: str, tmp_path: Path) -> Path:
    """A private copy of a tiny model folder, safe to break."""
    return Path(shutil.copytree(tiny_models[key], tmp_path / tiny_models[key].name))


def assert_frozen(module: torch.nn.Module) -> None:
    assert not module.training
    assert all(not parameter.requires_grad for parameter in module.parameters())


def article(title: str) -> str:
    """``"an object detector"``, ``"a CLIP model"``."""
    return ("an " if title[0] in "aeiou" else "a ") + title


def error_text(excinfo: pytest.ExceptionInfo[PinpointError]) -> str:
    return str(excinfo.value)


# Round trips --------------------------------------------------------------------------------------


def test_detector_round_trip(tiny_models):
    from transformers import DetrForObjectDetection

    detector = load_model(DETECTOR, tiny_models["detector"])
    assert isinstance(detector.model, DetrForObjectDetection)
    assert type(detector.processor).__name__.startswith("DetrImageProcessor")
    assert detector.name == "tiny-random-detr"
    assert detector.path == tiny_models["detector"].resolve()
    assert detector.labels == {0: "car", 1: "dog", 2: "person", 3: "cat", 4: "bicycle"}
    assert module_device(detector.model) == torch.device("cpu")
    assert module_dtype(detector.model) == torch.float32
    assert_frozen(detector.model)
    outputs = detector.model(pixel_values=torch.rand(1, 3, 64, 80))
    assert outputs.logits.shape == (1, 10, 6)  # 10 queries, 5 labels + "no object"


def test_detector_dtype_is_applied_and_keyed_separately(tiny_models):
    full = load_model(DETECTOR, tiny_models["detector"])
    half = load_model(DETECTOR, tiny_models["detector"], dtype=torch.bfloat16)
    assert half is not full
    assert module_dtype(half.model) == torch.bfloat16 and module_dtype(full.model) == torch.float32


def test_clip_round_trip(tiny_models):
    from transformers import CLIPModel

    clip = load_model(CLIP, tiny_models["clip"])
    assert isinstance(clip.model, CLIPModel)
    assert type(clip.processor).__name__ == "CLIPProcessor"
    assert type(clip.processor.tokenizer).__name__.startswith("CLIPTokenizer")
    assert type(clip.processor.image_processor).__name__.startswith("CLIPImageProcessor")
    assert_frozen(clip.model)
    assert module_device(clip.model) == torch.device("cpu")
    ids = clip.processor.tokenizer(["the green one"])["input_ids"][0]
    assert ids[0] == 512 and ids[-1] == 513 and max(ids) < 514
    pixels = clip.processor.image_processor(
        images=[torch.zeros(40, 50, 3, dtype=torch.uint8).numpy()], return_tensors="pt"
    )["pixel_values"]
    assert pixels.shape == (1, 3, 32, 32)
    pooled = clip.model.text_model(input_ids=torch.tensor([ids])).pooler_output
    assert clip.model.text_projection(pooled).shape == (1, 32)


def test_inpaint_round_trip(tiny_models):
    from diffusers import StableDiffusionInpaintPipeline

    pipe = load_model(INPAINT, tiny_models["inpaint"], dtype=torch.bfloat16)
    assert isinstance(pipe.pipe, StableDiffusionInpaintPipeline)
    assert pipe.name == "tiny-random-sd-inpaint"
    assert (pipe.native_size, pipe.multiple) == (64, 8)
    assert pipe.pipe.safety_checker is None and pipe.pipe.unet.config.in_channels == 9
    assert pipe.pipe._progress_bar_config == {"disable": True}
    assert {type(m).__name__ for m in pipe.modules} == {
        "UNet2DConditionModel",
        "AutoencoderKL",
        "CLIPTextModel",
    }
    for module in pipe.modules:
        assert_frozen(module)
        assert module_dtype(module) == torch.bfloat16
        assert module_device(module) == torch.device("cpu")


def test_timm_backbone_detector_loads_offline(tmp_path):
    if importlib.util.find_spec("timm") is None:
        pytest.skip("timm is not installed (pip install timm)")
    from safetensors.torch import load_file

    from pinpoint.tiny import build_tiny_detector

    folder = build_tiny_detector(tmp_path / "timm-detr", timm_backbone=True)
    on_disk = json.loads((folder / "config.json").read_text())
    # The facebook/detr-resnet-50 way of saying "timm ResNet, fetch ImageNet weights".
    assert on_disk["use_timm_backbone"] is True and on_disk["use_pretrained_backbone"] is True
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    detector = load_model(DETECTOR, folder)
    backbone = getattr(detector.model.config, "backbone_config", None)
    assert getattr(backbone, "model_type", "timm_backbone") == "timm_backbone"
    # Every saved tensor (the random backbone included) was loaded, none re-initialised. Matched
    # by value: transformers 5 renames keys between the file and the module.
    saved = load_file(folder / "model.safetensors")
    loaded = list(detector.model.state_dict().values())
    backbone_convs = [name for name in saved if "backbone" in name and "conv" in name]
    assert backbone_convs and len(saved) == len(loaded)
    for name, tensor in saved.items():
        assert any(t.shape == tensor.shape and torch.equal(t, tensor) for t in loaded), (
            f"{name} was not loaded from the file"
        )
    assert detector.model(pixel_values=torch.rand(1, 3, 64, 64)).pred_boxes.shape == (1, 10, 4)


# The loader table -----------------------------------------------------------------------------

FOLDER_MODELS = [key for key, (kind, _, _) in TINY_MODELS.items() if not kind.suffixes]
"""The tiny models that are folders (every kind but the single-file SAM checkpoint)."""


def test_every_kind_has_its_own_key_and_folder():
    for attribute in ("key", "folder"):
        values = [getattr(kind, attribute) for kind in KINDS]
        assert len(set(values)) == len(values) == len(KINDS), attribute
    assert {kind for kind, _, _ in TINY_MODELS.values()} == set(KINDS)  # each has a tiny model


@pytest.mark.parametrize("key", list(TINY_MODELS))
def test_load_model_loads_every_tiny_model_as_its_kind(key, tiny_models):
    kind, name, _ = TINY_MODELS[key]
    loaded = load_model(kind, tiny_models[key])
    assert type(loaded) is kind.result
    assert loaded.name == name and loaded.path == tiny_models[key].resolve()
    assert load_model(kind, tiny_models[key]) is loaded  # cached
    if kind.transformers is not None:
        assert_frozen(loaded.model)
        assert module_dtype(loaded.model) == torch.float32
    if isinstance(loaded, Detector):
        assert loaded.open_vocabulary == (key == "open_vocabulary")


def test_every_transformers_kind_has_a_tiny_model():
    transformers_kinds = {kind for kind in KINDS if kind.transformers is not None}
    tiny_kinds = {kind for kind, _, _ in TINY_MODELS.values() if kind.transformers is not None}
    assert transformers_kinds == tiny_kinds and len(transformers_kinds) == 8


@pytest.mark.parametrize(
    "key, kind",
    [
        (key, kind)
        for key in FOLDER_MODELS
        for kind in KINDS
        if kind.transformers is not None and kind is not TINY_MODELS[key][0]
    ],
    ids=lambda value: value if isinstance(value, str) else value.key,
)
def test_a_model_of_another_kind_names_the_folder_it_belongs_in(key, kind, tiny_models):
    home = TINY_MODELS[key][0]
    with pytest.raises(PinpointError) as excinfo:
        load_model(kind, tiny_models[key])
    text = error_text(excinfo)
    assert text.startswith(f"Pinpoint: '{tiny_models[key].name}' is ")
    assert f", not {article(kind.title)} (" in text
    assert text.endswith(f"; {article(home.title)} goes in models/{home.folder}.")
    assert f"download {kind.example_repo}" in text


# Cache --------------------------------------------------------------------------------------------


def test_cache_returns_the_same_object_until_files_change(tiny_models, tmp_path, caplog):
    folder = copy_model(tiny_models, "detector", tmp_path)
    with caplog.at_level(logging.INFO, logger="pinpoint"):
        first = load_model(DETECTOR, folder)
        again = load_model(DETECTOR, str(folder))
    assert again is first
    loads = [r.getMessage() for r in caplog.records if r.getMessage().startswith("loaded detector")]
    assert len(loads) == 1 and "tiny-random-detr" in loads[0] and "float32 on cpu" in loads[0]

    weights = folder / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    reloaded = load_model(DETECTOR, folder)
    assert reloaded is not first
    assert load_model(DETECTOR, folder) is reloaded


def test_cache_does_not_keep_models_alive(tiny_models, tmp_path):
    folder = copy_model(tiny_models, "clip", tmp_path)
    clip = load_model(CLIP, folder)
    key = model_cache.model_key(CLIP.key, folder, "cpu", torch.float32)
    assert model_cache._entries.get(key) is clip
    del clip
    gc.collect()
    assert model_cache._entries.get(key) is None


def test_cached_calls_the_factory_once_per_live_key():
    calls = []

    class Thing:
        pass

    def factory() -> Thing:
        calls.append(1)
        return Thing()

    held = model_cache.cached(("test", 1), factory)
    assert model_cache.cached(("test", 1), factory) is held
    assert model_cache.cached(("test", 2), factory) is not held
    assert len(calls) == 2


# Folders ------------------------------------------------------------------------------------------


def make_model_dir(folder: Path, marker: str = "config.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / marker).write_text("{}")
    return folder


def test_list_model_dirs_finds_nested_folders_and_skips_missing_dirs(tmp_path):
    first, second = tmp_path / "pinpoint_detectors", tmp_path / "elsewhere"
    make_model_dir(first / "detr-resnet-50")
    make_model_dir(first / "facebook" / "detr-resnet-101")
    make_model_dir(first / "a" / "b" / "three-deep")
    make_model_dir(first / "a" / "b" / "c" / "four-deep")  # too deep
    make_model_dir(first / "detr-resnet-50" / "nested")  # inside a model folder
    make_model_dir(first / ".cache" / "hidden")
    make_model_dir(first / "pipeline", marker="model_index.json")  # not this kind's marker
    (first / "empty").mkdir()
    make_model_dir(second / "detr-resnet-50")  # same name twice: listed once
    make_model_dir(second / "yolos-tiny")
    found = list_installed([tmp_path / "missing", first, second], DETECTOR)
    assert found == [
        "a/b/three-deep",
        "detr-resnet-50",
        "facebook/detr-resnet-101",
        "yolos-tiny",
    ]
    assert list_installed([first], INPAINT) == ["pipeline"]
    assert list_installed([tmp_path / "missing"], CLIP) == []


def test_list_model_dirs_sees_the_tiny_models(models_root):
    expected = {
        "detector": ["tiny-random-detr", "tiny-random-owlv2"],
        "clip": ["tiny-random-clip"],
        "inpaint": [
            "tiny-random-chroma-inpaint",
            "tiny-random-flux-fill",
            "tiny-random-flux-kontext",
            "tiny-random-qwen-image-edit",
            "tiny-random-qwen-image-inpaint",
            "tiny-random-sd-inpaint",
            "tiny-random-sd3-inpaint",
            "tiny-random-sdxl-inpaint",
            "tiny-random-z-image-inpaint",
        ],
    }
    for key, kind in KIND_OF.items():
        assert list_installed(default_search_dirs(kind, models_root), kind) == expected[key]


def test_default_search_dirs(tmp_path):
    assert default_search_dirs(INPAINT, tmp_path) == [
        tmp_path / "pinpoint_inpaint",
        tmp_path / "diffusers",
    ]
    assert default_search_dirs(DETECTOR, tmp_path) == [tmp_path / "pinpoint_detectors"]


def test_find_model_dir_by_name_and_by_path(tmp_path, monkeypatch):
    first, second = tmp_path / "one", tmp_path / "two"
    nested = make_model_dir(second / "facebook" / "detr-resnet-50")
    shadow = make_model_dir(first / "same")
    make_model_dir(second / "same")
    search = [first, second]
    assert find_model("facebook/detr-resnet-50", search, DETECTOR) == nested.resolve()
    assert find_model("same", search, DETECTOR) == shadow.resolve()  # first dir wins
    assert find_model(str(nested), [], DETECTOR) == nested.resolve()
    monkeypatch.chdir(tmp_path)
    assert find_model("two/facebook/detr-resnet-50", search, DETECTOR) == nested.resolve()


def test_find_model_dir_not_found_says_what_to_download_where(tmp_path):
    search = [tmp_path / "pinpoint_detectors", tmp_path / "other"]
    with pytest.raises(PinpointError) as excinfo, reported_as("Load Detector (Pinpoint)"):
        find_model("detr-resnet-50", search, DETECTOR)
    text = error_text(excinfo)
    assert text.startswith("Load Detector (Pinpoint): object detector folder 'detr-resnet-50'")
    assert str(search[0]) in text and str(search[1]) in text
    target = search[0] / "detr-resnet-50"
    expected = DETECTOR.expected_files
    assert f"Fix: download facebook/detr-resnet-50 ({expected}) into {target}" in text
    assert f"hf download facebook/detr-resnet-50 --local-dir {target}" in text


def test_find_model_dir_lists_installed_choices_and_rejects_files(tmp_path):
    make_model_dir(tmp_path / "clip" / "clip-vit-large-patch14")
    with pytest.raises(PinpointError, match="Fix: pick one of clip-vit-large-patch14, or download"):
        find_model("clip-vit-base-patch32", [tmp_path / "clip"], CLIP)
    single = tmp_path / "model.safetensors"
    single.write_bytes(b"\0")
    with pytest.raises(PinpointError, match="is a file, but a CLIP model is a folder"):
        find_model(str(single), [tmp_path / "clip"], CLIP)


# Validation messages --------------------------------------------------------------------------


def assert_helpful(text: str, folder: Path, kind_key: str) -> None:
    assert folder.name in text
    assert KIND_OF[kind_key].expected_files in text
    assert ". Fix: " in text


@pytest.mark.parametrize("key", ["detector", "clip", "inpaint"])
def test_missing_folder(key, tmp_path):
    folder = tmp_path / "not-downloaded"
    with pytest.raises(PinpointError, match="does not exist") as excinfo:
        load_model(KIND_OF[key], folder)
    assert_helpful(error_text(excinfo), folder, key)
    assert KIND_OF[key].example_repo in error_text(excinfo)


@pytest.mark.parametrize("key", ["detector", "clip", "inpaint"])
def test_empty_folder(key, tmp_path):
    folder = tmp_path / "half-downloaded"
    (folder / ".cache").mkdir(parents=True)  # what an interrupted `hf download` leaves
    with pytest.raises(PinpointError, match="is empty") as excinfo:
        load_model(KIND_OF[key], folder)
    assert_helpful(error_text(excinfo), folder, key)


@pytest.mark.parametrize("key", ["detector", "clip"])
def test_missing_weights(key, tiny_models, tmp_path):
    folder = copy_model(tiny_models, key, tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(PinpointError, match="has no weights \\(model.safetensors") as excinfo:
        load_model(KIND_OF[key], folder)
    assert_helpful(error_text(excinfo), folder, key)


def test_missing_unet_weights(tiny_models, tmp_path):
    folder = copy_model(tiny_models, "inpaint", tmp_path)
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(PinpointError, match="unet' has no weights") as excinfo:
        load_model(INPAINT, folder)
    assert_helpful(error_text(excinfo), folder, "inpaint")


def test_missing_component_folder(tiny_models, tmp_path):
    folder = copy_model(tiny_models, "inpaint", tmp_path)
    shutil.rmtree(folder / "vae")
    with pytest.raises(PinpointError, match="lacks the folder\\(s\\) vae/") as excinfo:
        load_model(INPAINT, folder)
    assert_helpful(error_text(excinfo), folder, "inpaint")


@pytest.mark.parametrize("key", ["detector", "clip", "inpaint"])
def test_malformed_config(key, tiny_models, tmp_path):
    folder = copy_model(tiny_models, key, tmp_path)
    marker = KIND_OF[key].marker
    (folder / marker).write_text('{"model_type": "detr",')  # cut off mid-download
    with pytest.raises(PinpointError, match=f"{marker} in '{folder.name}' is not valid JSON") as ei:
        load_model(KIND_OF[key], folder)
    assert_helpful(error_text(ei), folder, key)


def test_missing_processor_and_tokenizer_files(tiny_models, tmp_path):
    detector = copy_model(tiny_models, "detector", tmp_path)
    (detector / "preprocessor_config.json").unlink()
    with pytest.raises(PinpointError, match="has no image processor config") as excinfo:
        load_model(DETECTOR, detector)
    assert_helpful(error_text(excinfo), detector, "detector")

    clip = copy_model(tiny_models, "clip", tmp_path)
    (clip / "tokenizer.json").unlink()
    (clip / "merges.txt").unlink()
    with pytest.raises(PinpointError, match="has no tokenizer files") as excinfo:
        load_model(CLIP, clip)
    assert_helpful(error_text(excinfo), clip, "clip")


def test_clip_folder_given_to_the_detector_loader(tiny_models):
    with pytest.raises(PinpointError) as excinfo:
        load_model(DETECTOR, tiny_models["clip"])
    text = error_text(excinfo)
    assert "'tiny-random-clip' is a clip model (CLIPModel), not an object detector" in text
    assert "; a CLIP model goes in models/pinpoint_clip" in text
    assert_helpful(text, tiny_models["clip"], "detector")


def test_detector_folder_given_to_the_clip_loader(tiny_models):
    with pytest.raises(PinpointError) as excinfo:
        load_model(CLIP, tiny_models["detector"])
    text = error_text(excinfo)
    assert "'tiny-random-detr' is a detr model (DetrForObjectDetection), not a CLIP model" in text
    assert "; an object detector goes in models/pinpoint_detectors" in text
    assert_helpful(text, tiny_models["detector"], "clip")


def test_detector_folder_given_to_the_inpaint_loader(tiny_models):
    with pytest.raises(PinpointError) as excinfo:
        load_model(INPAINT, tiny_models["detector"])
    text = error_text(excinfo)
    assert "'tiny-random-detr' is a transformers detr model, not a diffusers pipeline" in text
    assert "stable-diffusion-v1-5/stable-diffusion-inpainting" in text
    assert_helpful(text, tiny_models["detector"], "inpaint")


def test_pipeline_folder_given_to_the_model_loaders(tiny_models):
    for kind in ("detector", "clip"):
        with pytest.raises(PinpointError, match="is a diffusers pipeline, not a") as excinfo:
            load_model(KIND_OF[kind], tiny_models["inpaint"])
        assert "; a diffusers inpainting pipeline goes in models/pinpoint_inpaint" in (
            error_text(excinfo)
        )
        assert_helpful(error_text(excinfo), tiny_models["inpaint"], kind)


def test_pipeline_component_folder_points_to_its_pipeline(tiny_models):
    with pytest.raises(PinpointError, match="is the UNet2DConditionModel part of a") as ei:
        load_model(INPAINT, tiny_models["inpaint"] / "unet")
    assert f"Fix: pick the pipeline folder {tiny_models['inpaint'].resolve()}" in error_text(ei)


def test_unsupported_pipeline_class(tiny_models, tmp_path):
    folder = copy_model(tiny_models, "inpaint", tmp_path)
    index = json.loads((folder / "model_index.json").read_text())
    index["_class_name"] = "FluxPipeline"
    (folder / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(PinpointError, match="is a FluxPipeline; Pinpoint drives Stable Diffusion"):
        load_model(INPAINT, folder)


def test_damaged_weights_are_reported_as_a_load_failure(tiny_models, tmp_path):
    folder = copy_model(tiny_models, "detector", tmp_path)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(PinpointError, match="'tiny-random-detr' could not be loaded \\(") as ei:
        load_model(DETECTOR, folder)
    assert "Fix: re-download the model into" in error_text(ei)
    assert_helpful(error_text(ei), folder, "detector")


def test_missing_timm_is_reported_before_loading(tiny_models, tmp_path, monkeypatch):
    folder = copy_model(tiny_models, "detector", tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config.update(backbone_config=None, use_timm_backbone=True, backbone="resnet50")
    (folder / "config.json").write_text(json.dumps(config))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "timm" else real_find_spec(name, *args),
    )
    with pytest.raises(PinpointError, match="timm backbone \\(resnet50\\).*`pip install timm`"):
        load_model(DETECTOR, folder)
