"""``python -m pinpoint eval`` with guidance and candidates (best-of-N) on the tiny models:
runs of several settings into one folder are keyed and reported side by side as routes are,
each row says how it was made and which candidate it kept (checked against the candidate's own
seed), a folder an earlier version wrote resumes, a non-SD family (FLUX.1 Fill) is evaluated
and named, and bad settings are refused with the house error."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import torch
from test_evaluate import EDITS, SHAPES, rows, shapes, tiny  # noqa: F401 (a fixture)
from test_evaluate import evaluate as evaluated

from pinpoint.eval_runner import ROW_COLUMNS, ROW_MADE, read_rows, shard_path
from pinpoint.eval_settings import EvalSetting
from pinpoint.guidance_settings import guidance_settings
from pinpoint.images import load_image
from pinpoint.ranking import RankSettings
from pinpoint.tiny.taesd import build_tiny_taesd

ONE_EDIT = "type,find,prompt\ncolour,the red square,a blue square\n"


def evaluate(tmp_path: Path, *options: str, edits: str = EDITS) -> int:
    """:func:`test_evaluate.evaluate` of the shapes with ``edits`` and ``options``."""
    if not (tmp_path / "images").exists():
        shapes(tmp_path / "images")
        (tmp_path / "edits.csv").write_text(edits)
    return evaluated(tmp_path, "--edits", str(tmp_path / "edits.csv"), *options)


def edited(tmp_path: Path, folder: str, image: str) -> torch.Tensor:
    return load_image(tmp_path / "report" / "edits" / folder / f"{Path(image).stem}.png")


def test_a_setting_is_labelled_by_what_is_off_the_usual():
    assert EvalSetting().label == ""  # the default: rows and folders as before settings
    clip = guidance_settings("clip", 0.05)
    assert EvalSetting("clip", clip).label == "guide=clip"
    strong = dataclasses.replace(clip, scale=0.3, end=1.0)
    files = (("decoder", "taesd_decoder.pth"),)
    assert EvalSetting("clip", strong, files).label == (
        "guide=clip scale=0.3 end=1 decoder=taesd_decoder.pth"
    )
    style = guidance_settings("style", 0.05)
    assert EvalSetting("style", style, source_text="a dog").label == (
        "guide=style source_text='a dog'"
    )
    assert EvalSetting(candidates=4).label == "candidates=4"
    ranked = EvalSetting(candidates=4, ranking=RankSettings(beta=0.0))
    assert ranked.label == "candidates=4 beta=0"
    assert EvalSetting(ranking=RankSettings(beta=0.0)).label == ""  # one candidate: no ranking


@pytest.mark.usefixtures("tiny")
def test_guided_and_unguided_runs_into_one_folder_are_reported_side_by_side(tmp_path, capsys):
    assert evaluate(tmp_path) == 0
    plain = rows(tmp_path)
    assert {(r["setting"], r["guide"], r["guide_scale"]) for r in plain} == {("", "none", "")}
    capsys.readouterr()
    guided = ("--guide", "clip", "--guide-scale", "0.3", "--guide-end", "1")
    assert evaluate(tmp_path, *guided) == 0
    out = capsys.readouterr()
    assert "already done" not in out.err  # the unguided rows are not this run's items
    found = rows(tmp_path)
    assert len(found) == 12 and found[:6] == plain  # the unguided rows, as they were
    setting = "guide=clip scale=0.3 end=1"
    label = f"detect {setting}"
    assert {(r["route"], r["setting"], r["guide"]) for r in found[6:]} == {
        ("detect", setting, "clip")
    }
    assert {r["guide_scale"] for r in found[6:]} == {"0.3"}
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["summary"]["all"]["setting"] == setting  # this run's
    assert set(summary["routes"]) == {"detect", label}
    assert summary["routes"]["detect"]["all"]["setting"] == ""
    for run, entry in summary["routes"].items():
        assert entry["all"]["items"] == 6 and entry["all"]["ok"] == 6, run
    assert "route detect:\n" in out.out and f"route {label}:\n" in out.out
    page = (tmp_path / "report" / "report.html").read_text()
    assert f"<h2>colour ({label})</h2>" in page and "<h2>colour (detect)</h2>" in page
    folder = "colour@detect_guide_clip_scale_0.3_end_1"
    pairs = [
        (edited(tmp_path, folder, image), edited(tmp_path, "colour", image)) for image in SHAPES
    ]
    assert not all(torch.equal(*pair) for pair in pairs)  # the guidance steered the edits
    capsys.readouterr()
    assert evaluate(tmp_path) == 0  # the unguided run resumed: nothing of either is redone
    assert "6 items already done (skipped)" in capsys.readouterr().err
    assert rows(tmp_path)[:6] == plain and len(rows(tmp_path)) == 12


@pytest.mark.usefixtures("tiny")
def test_best_of_n_rows_say_how_many_were_ranked_and_which_was_kept(tmp_path, capsys):
    """Candidate j of an item is painted with seed + j (0-based), as a run of that seed alone
    is: the kept edit is the run of its candidate's seed (to one 8-bit step: the candidates
    are sampled in one batch) and far from the other seeds' runs."""
    assert evaluate(tmp_path, "--candidates", "3", "--beta", "0", edits=ONE_EDIT) == 0
    found = rows(tmp_path)
    assert {(r["setting"], r["candidates"]) for r in found} == {("candidates=3 beta=0", "3")}
    assert all(r["kept"] in ("1", "2", "3") and r["kept_score"] != "" for r in found)
    page = (tmp_path / "report" / "report.html").read_text()
    assert "of 3 kept)" in page
    folder = "colour@detect_candidates_3_beta_0"
    kept = {r["image"]: edited(tmp_path, folder, r["image"]) for r in found}
    by_seed = {}
    for seed in range(3):
        alone = tmp_path / f"seed{seed}"
        alone.mkdir()
        (alone / "images").symlink_to(tmp_path / "images")
        (alone / "edits.csv").write_text(ONE_EDIT)
        assert evaluate(alone, "--seed", str(seed)) == 0
        by_seed[seed] = {image: edited(alone, "colour", image) for image in kept}
    for row in found:
        image, number = row["image"], int(row["kept"])
        gaps = [float((kept[image] - by_seed[seed][image]).abs().max()) for seed in range(3)]
        assert gaps[number - 1] <= 1 / 255 + 1e-6, (row, gaps)  # its seed's edit (8-bit)
        assert all(gap > 0.1 for seed, gap in enumerate(gaps) if seed != number - 1), gaps
    capsys.readouterr()


@pytest.mark.usefixtures("tiny")
def test_a_folder_an_earlier_version_wrote_resumes_and_a_newer_ones_is_refused(tmp_path, capsys):
    assert evaluate(tmp_path) == 0
    first = rows(tmp_path)
    shard = shard_path(tmp_path / "report", 0)
    old = [c for c in ROW_COLUMNS if c not in ROW_MADE]  # the header before settings
    with shard.open("w", newline="") as file:
        writer = csv.DictWriter(file, old, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(first[:5])  # the last row not written yet
    capsys.readouterr()
    assert evaluate(tmp_path) == 0
    err = capsys.readouterr().err
    assert "5 items already done (skipped)" in err and "[1/1] sea.png / round:" in err
    assert tuple(next(csv.reader(shard.open()))) == ROW_COLUMNS  # rewritten under this header
    again = rows(tmp_path)
    assert [r["t2i"] for r in again] == [r["t2i"] for r in first]  # the old rows' values kept
    assert [r["guide"] for r in again] == [""] * 5 + ["none"]  # unknown before: left empty
    lines = shard.read_text().splitlines()
    newer = "\n".join([lines[0] + ",future_metric", *(line + ",1" for line in lines[1:])]) + "\n"
    shard.write_text(newer)
    assert evaluate(tmp_path) == 2
    captured = capsys.readouterr()
    assert f"pinpoint eval: {shard} has the columns future_metric" in captured.err
    assert "models: detector" not in captured.out
    assert shard.read_text() == newer and len(read_rows(shard)) == 6  # left as it was


@pytest.mark.usefixtures("tiny")
def test_a_flux_fill_folder_is_evaluated_and_named_and_what_it_cannot_do_is_refused_once(
    tmp_path, capsys
):
    flux = ("--inpaint", "tiny-random-flux-fill")
    assert evaluate(tmp_path, *flux, edits=ONE_EDIT) == 0
    found = rows(tmp_path)
    assert [r["status"] for r in found] == ["ok"] * 3
    assert all(float(r["max_delta_outside"]) == 0 for r in found)  # stitched: outside kept
    notes = json.loads((tmp_path / "report" / "summary.json").read_text())["notes"]
    family = "FLUX.1 Fill (tiny-random-flux-fill) with FlowMatchEulerDiscreteScheduler, 1 steps"
    assert f"inpainting: {family}" in notes
    _, sd_decoder = build_tiny_taesd(tmp_path / "taesd")  # SD's 4-channel latents
    refused = {
        ("--guide", "clip", "--guide-decoder", str(sd_decoder)): "another model family",
        ("--negative-prompt", "blurry"): "FLUX.1 Fill takes no negative prompt",
    }
    for options, fragment in refused.items():
        capsys.readouterr()
        assert evaluate(tmp_path, *flux, *options) == 2
        err = capsys.readouterr().err
        assert "error: pinpoint eval: " in err and fragment in err, err
        assert "x 1 edits" not in err  # refused once, before any item
    assert len(rows(tmp_path)) == 3 and len(read_rows(shard_path(tmp_path / "report", 0))) == 3


@pytest.mark.parametrize(
    "options, fragment",
    [
        (("--candidates", "0"), "pinpoint eval --candidates: --candidates is 0"),
        (("--candidates", "2", "--alpha", "0", "--beta", "0"), "alpha and beta are both 0"),
        (("--guide", "clip", "--guide-vgg", "x"), "--guide-vgg is a loss of --guide style"),
        (("--guide", "style", "--guide-lpips", "x"), "--guide-lpips is a loss of --guide clip"),
        (("--guide", "clip", "--guide-every", "0"), "pinpoint eval --guide clip: every is 0"),
        (("--guide", "clip", "--guide-end", "2"), "the guided part runs from 0.0 to 2.0"),
        (("--guide", "style", "--source-text", " "), "the --source-text is empty"),
    ],
)
def test_bad_settings_are_refused_before_any_model_loads(
    options, fragment, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(tmp_path / "never-built"))
    assert evaluate(tmp_path, *options) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "never-built").exists() and not (tmp_path / "report").exists()
