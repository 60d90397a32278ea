"""``python -m pinpoint download``: the suggested models, the README's lines, and fetching with
huggingface_hub. The Hub cannot be reached from here: the refusals run the real huggingface_hub
against an unreachable endpoint; a successful fetch runs against a stand-in for the two
huggingface_hub calls that writes a tiny model where they would write the real one."""

from __future__ import annotations

import shutil
from pathlib import Path

import huggingface_hub
import pytest
import workflow_layout

from pinpoint.cli import main
from pinpoint.download import download, is_installed
from pinpoint.errors import PinpointError
from pinpoint.loading import load_model
from pinpoint.loading.kinds import DETECTOR, KINDS, PERCEPTUAL, SAM
from pinpoint.loading.suggested import SUGGESTED, suggested

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> list[str]:
    lines = README.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.startswith(("hf download ", "curl -L "))]


def test_the_readme_lists_each_suggested_model_with_its_command():
    """Pinpoint's models, then the stock checkpoints and diffusion models the workflows name."""
    checkpoints = [
        f"curl -L --create-dirs -o models/checkpoints/{name} {url}"
        for name, url in workflow_layout.CHECKPOINTS.items()
    ] + [
        f"curl -L --create-dirs -o models/diffusion_models/{name} {url}"
        for name, url in workflow_layout.DIFFUSION_MODELS.items()
    ]
    assert readme_commands() == [model.command() for model in SUGGESTED] + checkpoints
    assert len({model.name for model in SUGGESTED}) == len(SUGGESTED)


def test_every_kind_suggests_its_example_model():
    for kind in KINDS:
        if kind is PERCEPTUAL:
            continue  # not on the Hub: download.pytorch.org and GitHub (test_perceptual.py)
        model = suggested(kind.example_dir)
        assert model is not None and model.kind is kind, kind.key
        if kind.download_url:
            assert model.url == kind.download_url
        else:
            assert model.repo == kind.example_repo


def test_an_unknown_name_lists_the_names(tmp_path, capsys):
    assert main(["download", "gpt-5", "--models-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error: pinpoint download: 'gpt-5' is not a model Pinpoint suggests" in err
    assert "detr-resnet-50, clip-vit-base-patch32, stable-diffusion-inpainting" in err


@pytest.fixture
def no_hub_calls(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the Hub was called")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)


def test_offline_fails_at_once_with_the_command_by_hand(tmp_path, monkeypatch, no_hub_calls):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = suggested("detr-resnet-50")
    with pytest.raises(PinpointError) as excinfo:
        download(model, tmp_path)
    text = str(excinfo.value)
    assert "cannot download facebook/detr-resnet-50: HF_HUB_OFFLINE is set" in text
    assert f"download it by hand: {model.command(tmp_path)}." in text
    assert not model.target(tmp_path).exists()


@pytest.mark.parametrize("name", ["detr-resnet-50", "sam_vit_b_01ec64.pth"])
def test_an_unreachable_hub_is_a_house_error_and_nothing_lands(tmp_path, monkeypatch, online, name):
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    model = suggested(name)
    with pytest.raises(PinpointError) as excinfo:
        download(model, tmp_path)
    text = str(excinfo.value)
    assert text.startswith(f"Pinpoint: could not download {model.repo} (")
    assert "run the command again (it resumes)" in text and model.command(tmp_path) in text
    assert not model.target(tmp_path).exists()


@pytest.fixture
def online(monkeypatch):
    """The suite runs with HF_HUB_OFFLINE set; these tests lift it (the Hub is a stand-in)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


class StandInHub:
    """Writes a tiny model where huggingface_hub would write the real one, and records calls."""

    def __init__(self, source: Path, complete: bool = True):
        self.source, self.complete, self.calls = source, complete, []

    def snapshot_download(self, repo_id, local_dir, allow_patterns=None, ignore_patterns=None):
        self.calls.append((repo_id, allow_patterns, ignore_patterns))
        local = Path(local_dir)
        (local / ".cache" / "huggingface").mkdir(parents=True, exist_ok=True)
        for file in self.source.iterdir():
            if self.complete or file.name == "config.json":
                shutil.copy(file, local / file.name)
        return str(local)

    def hf_hub_download(self, repo_id, filename, local_dir):
        self.calls.append((repo_id, filename))
        path = Path(local_dir) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.source, path)
        return str(path)


def test_a_folder_lands_checked_and_loads(tmp_path, monkeypatch, tiny_models, capsys, online):
    hub = StandInHub(tiny_models["detector"])
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    assert main(["download", "detr-resnet-50", "--models-dir", str(tmp_path)]) == 0
    target = tmp_path / "pinpoint_detectors" / "detr-resnet-50"
    assert hub.calls == [("facebook/detr-resnet-50", None, None)]
    assert load_model(DETECTOR, target).name == "detr-resnet-50"
    assert not (target / ".cache").exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "pinpoint_detectors"
    ]
    assert sorted(p.name for p in target.parent.iterdir()) == ["detr-resnet-50"]
    assert main(["download", "detr-resnet-50", "--models-dir", str(tmp_path)]) == 0
    assert len(hub.calls) == 1 and "already in" in capsys.readouterr().out


def test_include_and_exclude_reach_the_hub(tmp_path, monkeypatch, tiny_models, online):
    hub = StandInHub(tiny_models["inpaint"])
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    model = suggested("stable-diffusion-inpainting")
    with pytest.raises(PinpointError):  # the stand-in copies no sub-folders: not a pipeline
        download(model, tmp_path)
    assert hub.calls == [(model.repo, list(model.include), list(model.exclude))]


def test_a_single_file_lands_in_its_folder(tmp_path, monkeypatch, tiny_models, online):
    hub = StandInHub(tiny_models["sam"])
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub.hf_hub_download)
    model = suggested("sam_vit_b_01ec64.pth")
    target = download(model, tmp_path, say=lambda text: None)
    assert target == tmp_path / "sams" / "sam_vit_b_01ec64.pth" and target.is_file()
    assert hub.calls == [("ybelkada/segment-anything", "checkpoints/sam_vit_b_01ec64.pth")]
    assert load_model(SAM, target).variant.startswith("custom")
    assert sorted(p.name for p in target.parent.iterdir()) == ["sam_vit_b_01ec64.pth"]


def test_an_incomplete_download_stays_aside_to_resume(tmp_path, monkeypatch, tiny_models, online):
    hub = StandInHub(tiny_models["detector"], complete=False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    model = suggested("detr-resnet-50")
    with pytest.raises(PinpointError, match="is not a complete object detector"):
        download(model, tmp_path)
    assert not model.target(tmp_path).exists()
    staging = model.target(tmp_path).with_name(".detr-resnet-50.partial")
    assert (staging / "config.json").is_file()
    hub.complete = True
    download(model, tmp_path, say=lambda text: None)
    assert is_installed(model, tmp_path) and not staging.exists()


def test_a_broken_folder_in_the_way_is_not_overwritten(tmp_path, no_hub_calls):
    model = suggested("clip-vit-base-patch32")
    model.target(tmp_path).mkdir(parents=True)
    (model.target(tmp_path) / "notes.txt").write_text("mine")
    with pytest.raises(PinpointError, match="exists but is not a complete CLIP model"):
        download(model, tmp_path)
    assert (model.target(tmp_path) / "notes.txt").read_text() == "mine"
