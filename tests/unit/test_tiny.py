"""Tiny random models: layout, determinism, idempotence, and the hand-written CLIP vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import pinpoint.tiny as tiny
from pinpoint.errors import PinpointError
from pinpoint.loading.folders import default_search_dirs, list_installed


def test_docstring_says_the_weights_are_random_and_outputs_noise():
    assert "RANDOM" in tiny.__doc__ and "NOISE" in tiny.__doc__


def test_models_sit_where_a_comfyui_user_keeps_real_ones(tiny_models, models_root):
    assert tiny_models == {
        key: models_root / kind.folder / name for key, (kind, name, _) in tiny.TINY_MODELS.items()
    }
    assert tiny_models["detector"] == models_root / "pinpoint_detectors" / "tiny-random-detr"
    assert tiny_models["sam"] == models_root / "sams" / "tiny-random-sam.pth"
    for key, (kind, name, _) in tiny.TINY_MODELS.items():
        assert name in list_installed(default_search_dirs(kind, models_root), kind), key
        if not kind.suffixes:  # a single file: its stamp is a sidecar (test_sam, test_perceptual)
            stamp = json.loads((tiny_models[key] / tiny.STAMP).read_text())
            assert stamp["version"] == tiny.BUILDER_VERSION and "noise" in stamp["note"]
    assert {p.name for p in tiny_models["clip"].iterdir()} >= {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "vocab.json",
        "merges.txt",
        "tokenizer_config.json",
    }
    inpaint = tiny_models["inpaint"]
    assert {p.name for p in inpaint.iterdir() if p.is_dir()} == {
        "unet",
        "vae",
        "text_encoder",
        "tokenizer",
        "scheduler",
    }


def test_builds_are_deterministic_and_leave_the_global_rng_alone(tmp_path):
    torch.manual_seed(1234)
    expected_next = torch.rand(3)
    torch.manual_seed(1234)
    first = tiny.build_tiny_detector(tmp_path / "a")
    assert torch.equal(torch.rand(3), expected_next)
    second = tiny.build_tiny_detector(tmp_path / "b")
    weights_a = load_file(first / "model.safetensors")
    weights_b = load_file(second / "model.safetensors")
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[name], weights_b[name]) for name in weights_a)
    assert len({float(w.float().std()) for w in weights_a.values() if w.numel() > 8}) > 5


def test_second_build_is_skipped_and_stale_builds_are_replaced(tmp_path):
    folder = tiny.build_tiny_clip(tmp_path / "clip")
    weights = folder / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert tiny.build_tiny_clip(folder) == folder
    assert weights.stat().st_mtime_ns == before

    stamp = json.loads((folder / tiny.STAMP).read_text())
    (folder / tiny.STAMP).write_text(json.dumps({**stamp, "version": 0}))
    (folder / "leftover.txt").write_text("from an older build")
    tiny.build_tiny_clip(folder)
    assert json.loads((folder / tiny.STAMP).read_text())["version"] == tiny.BUILDER_VERSION
    assert not (folder / "leftover.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_different_labels_rebuild_the_detector(tmp_path):
    folder = tiny.build_tiny_detector(tmp_path / "det", labels=("a", "b"))
    tiny.build_tiny_detector(folder, labels=("x", "y", "z"))
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "x", "1": "y", "2": "z"}


def test_refuses_to_overwrite_a_folder_it_did_not_build(tmp_path):
    folder = tmp_path / "tiny-random-detr"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(PinpointError, match="is not a Pinpoint tiny-model build.*Fix: remove"):
        tiny.build_tiny_detector(folder)
    assert (folder / "config.json").read_text() == "{}"


def test_default_tiny_root(monkeypatch, tmp_path):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(tmp_path / "here"))
    assert tiny.default_tiny_root() == tmp_path / "here"
    monkeypatch.delenv("PINPOINT_TINY_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert tiny.default_tiny_root() == tmp_path / "cache" / "pinpoint" / "tiny-models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert tiny.default_tiny_root() == Path.home() / ".cache" / "pinpoint" / "tiny-models"


def test_byte_table_covers_every_byte_with_a_printable_character():
    table = tiny.bytes_to_unicode()
    assert sorted(table) == list(range(256))
    assert len(set(table.values())) == 256
    assert all(character.isprintable() and not character.isspace() for character in table.values())
    assert table[ord("a")] == "a" and table[ord(" ")] == "Ġ"  # as in GPT-2 / CLIP


def test_clip_tokenizer_handles_any_text_and_truncates_to_77(tiny_models):
    from transformers import AutoProcessor

    tokenizer = AutoProcessor.from_pretrained(tiny_models["clip"], local_files_only=True).tokenizer
    ids = tokenizer("Zebra, naïve café 🚲")["input_ids"]
    assert ids[0] == 512 and ids[-1] == 513 and all(0 <= i < 514 for i in ids)
    assert tokenizer.decode(ids, skip_special_tokens=True).strip() == "zebra , naïve café 🚲"
    long = tokenizer("word " * 200, truncation=True)["input_ids"]
    assert len(long) == 77 and long[-1] == 513
