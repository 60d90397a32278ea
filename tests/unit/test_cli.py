"""The headless CLI: the tiny offline default end to end, and its errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from pinpoint.cli import main
from pinpoint.images import load_image, save_image

REPO = Path(__file__).resolve().parents[2]


def write_input(path: Path, height: int = 72, width: int = 120) -> Path:
    save_image(torch.rand(1, height, width, 3, generator=torch.Generator().manual_seed(0)), path)
    return path


def edit_args(image: Path, out: Path, *options: str) -> list[str]:
    """``edit`` arguments for ``image`` → ``out`` with a placeholder find/prompt."""
    return [
        "edit",
        *options,
        "--image",
        str(image),
        "--find",
        "x",
        "--prompt",
        "y",
        "--out",
        str(out),
    ]


def test_tiny_default_runs_end_to_end_as_a_module(tmp_path, tiny_models):
    source = write_input(tmp_path / "in.png")
    env = dict(os.environ, PINPOINT_TINY_DIR=str(tmp_path / "tiny-cache"), HF_HUB_OFFLINE="1")
    command = [
        sys.executable,
        "-m",
        "pinpoint",
        "edit",
        "--tiny",
        "--image",
        str(source),
        "--find",
        "the dog",
        "--prompt",
        "a cat",
        "--out",
        str(tmp_path / "out.png"),
        "--preview",
        str(tmp_path / "preview.png"),
        "--steps",
        "2",
        "--if-nothing-found",
        "whole image",
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "TINY RANDOM MODELS" in done.stderr
    assert "tiny-random-detr" in done.stdout and "wrote" in done.stdout
    edited = load_image(tmp_path / "out.png")
    original = load_image(source)
    assert edited.shape == original.shape and not torch.equal(edited, original)
    assert load_image(tmp_path / "preview.png").shape == original.shape


def test_missing_models_say_what_to_download(tmp_path, capsys):
    source = write_input(tmp_path / "in.png")
    code = main(edit_args(source, tmp_path / "out.png", "--models-dir", str(tmp_path / "models")))
    err = capsys.readouterr().err
    assert code == 2
    assert "pinpoint_detectors" in err and "facebook/detr-resnet-50" in err
    assert "Fix:" in err and "--tiny" in err
    assert not (tmp_path / "out.png").exists()


def test_grayscale_input_is_refused_with_the_flag_to_use(tmp_path, capsys):
    from PIL import Image

    Image.new("L", (40, 30), 100).save(tmp_path / "gray.png")
    code = main(edit_args(tmp_path / "gray.png", tmp_path / "out.png", "--tiny"))
    assert code == 2 and "--convert-rgb" in capsys.readouterr().err


def test_models_command_lists_what_is_installed(tmp_path, capsys, tiny_models):
    root = tiny_models["detector"].parents[1]
    assert main(["models", "--models-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert (
        "tiny-random-detr" in out and "tiny-random-clip" in out and "tiny-random-sd-inpaint" in out
    )
    assert main(["models", "--models-dir", str(tmp_path / "none")]) == 0
    assert "hf download facebook/detr-resnet-50" in capsys.readouterr().out
