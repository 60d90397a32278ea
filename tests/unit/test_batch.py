"""Editing a folder or glob of images with the CLI on the tiny models: one output per input, a
broken image reported while the run goes on, a stopped run resumed, outputs never half-written,
and bad folders refused before any model loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import pinpoint.images
from pinpoint.batch import Item, plan_folder_edits, run_folder_edits
from pinpoint.cli import main
from pinpoint.errors import PinpointError
from pinpoint.images import save_image


def pictures(folder: Path, *names: str) -> list[Path]:
    for index, name in enumerate(names):
        picture = torch.rand(1, 64, 96, 3, generator=torch.Generator().manual_seed(index))
        save_image(picture, folder / name)
    return [folder / name for name in names]


def run(tmp_path: Path, image: str, *options: str) -> int:
    args = ["edit", "--tiny", "--image", image, "--out", str(tmp_path / "out")]
    return main([*args, "--edit", "the dog => a cat", "--steps", "1", *options])


@pytest.fixture
def tiny(models_root, monkeypatch):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(models_root))


def test_a_folder_is_edited_image_by_image_and_a_broken_one_is_reported(tmp_path, tiny, capsys):
    inputs = tmp_path / "in"
    pictures(inputs, "a.png", "b.jpg", "c.webp")
    (inputs / "notes.txt").write_text("not an image")
    (inputs / "d.png").write_bytes(b"not a png")
    assert run(tmp_path, str(inputs)) == 1  # one item failed
    captured = capsys.readouterr()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png"]
    assert "3 edited, 0 already done (skipped), 1 failed" in captured.out
    assert "failed: " in captured.out and "d.png' is not a readable image" in captured.out
    assert "[4/4] d.png: failed: pinpoint edit d.png:" in captured.err
    assert captured.out.count("models: detector=") == 1  # the models loaded once


def test_a_stopped_run_resumes_with_the_items_not_done(tmp_path, tiny, capsys):
    inputs = tmp_path / "in"
    pictures(inputs, "a.png", "b.png", "c.png")
    save_image(torch.zeros(1, 8, 8, 3), tmp_path / "out" / "b.png")  # done before
    assert run(tmp_path, str(inputs / "*.png")) == 0
    captured = capsys.readouterr()
    assert "2 edited, 1 already done (skipped), 0 failed" in captured.out
    assert "[1/2] a.png" in captured.err and "[2/2] c.png" in captured.err
    assert pinpoint.images.load_image(tmp_path / "out" / "b.png").shape == (1, 8, 8, 3)
    assert run(tmp_path, str(inputs), "--overwrite") == 0
    assert "3 edited, 0 already done" in capsys.readouterr().out


def test_an_interrupted_write_leaves_no_output(tmp_path, monkeypatch):
    def broken(self, target, *args, **kwargs):
        Path(target).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr("PIL.Image.Image.save", broken)
    with pytest.raises(KeyboardInterrupt):
        save_image(torch.zeros(1, 8, 8, 3), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []  # neither x.png nor its partial file


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda tmp: (str(tmp / "empty"), str(tmp / "out")), "'{tmp}/empty' names no image files"),
        (lambda tmp: (str(tmp / "in"), str(tmp / "file.png")), "--out {tmp}/file.png is a file"),
        (lambda tmp: (str(tmp / "twins"), str(tmp / "out")), "would both be written as a.png"),
    ],
)
def test_bad_folders_are_refused_before_any_model_loads(
    tmp_path, capsys, monkeypatch, make, fragment
):
    (tmp_path / "empty").mkdir()
    pictures(tmp_path / "in", "a.png", "b.png")
    pictures(tmp_path / "twins", "a.png", "a.jpg")
    (tmp_path / "file.png").write_text("x")
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(tmp_path / "never-built"))
    image, out = make(tmp_path)
    args = ["edit", "--tiny", "--image", image, "--out", out, "--edit", "a => b"]
    assert main(args) == 2
    assert fragment.format(tmp=tmp_path) in capsys.readouterr().err
    assert not (tmp_path / "never-built").exists()


def test_plan_folder_edits_single_file_and_folder(tmp_path):
    (single,) = pictures(tmp_path, "one.png")
    assert plan_folder_edits(str(single), str(tmp_path / "o.png")) == (
        [Item(single, tmp_path / "o.png")],
        False,
    )
    items, batch = plan_folder_edits(str(tmp_path), str(tmp_path / "out"), str(tmp_path / "p"))
    assert batch and items == [
        Item(single, tmp_path / "out" / "one.png", tmp_path / "p" / "one.png")
    ]


def test_run_folder_edits_goes_on_after_a_failure_and_counts(tmp_path):
    items = [Item(tmp_path / f"{n}.png", tmp_path / "out" / f"{n}.png") for n in "abc"]
    lines = []

    def work(item):
        if item.source.stem == "b":
            raise PinpointError("nothing matched", "lower the threshold")

    summary = run_folder_edits(items, work, lines.append)
    assert [p.stem for p in summary.edited] == ["a", "c"] and list(summary.failed) == [
        items[1].source
    ]
    assert lines[1].startswith("[2/3] b.png: failed: Pinpoint: nothing matched. Fix: lower")
    assert "about" in lines[0] and "about" not in lines[2]


def test_two_accelerate_processes_share_a_folder_without_overlap(tmp_path, models_root):
    pytest.importorskip("accelerate")
    import os
    import socket
    import subprocess
    import sys

    inputs = tmp_path / "in"
    pictures(inputs, "a.png", "b.png", "c.png")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launcher = Path(sys.executable).with_name("accelerate")
    command = [
        str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
        "-m", "pinpoint", "edit", "--tiny", "--image", str(inputs), "--out", str(tmp_path / "out"),
        "--edit", "the dog => a cat", "--steps", "1",
    ]  # fmt: skip
    env = os.environ | {"PINPOINT_TINY_DIR": str(models_root), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "process 1 of 2: 2 of the 3 images" in done.stderr
    assert "process 2 of 2: 1 of the 3 images" in done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png"]
    assert done.stdout.count("1 edited, 0 already done") + done.stdout.count("2 edited") == 2
