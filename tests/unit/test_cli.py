"""The headless CLI: the tiny offline default end to end, and its errors."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pinpoint.pipeline
from pinpoint.cli import main
from pinpoint.cli.options import build_parser
from pinpoint.detect import DetectRequest
from pinpoint.diffusers_sampler import DiffusersSampler, Scheduler
from pinpoint.edit_list import HEADLESS_SCHEDULER, EditLine, EditSettings
from pinpoint.errors import PinpointError
from pinpoint.guidance_settings import (
    CLIP_SCALE,
    GUIDE_KINDS,
    SOURCE_TEXT,
    STYLE,
    STYLE_SCALE,
    GuidanceSettings,
    guidance_settings,
)
from pinpoint.images import load_image, save_image
from pinpoint.loading.models import module_device, module_dtype
from pinpoint.loading.precision import Precision
from pinpoint.match import MatchRequest
from pinpoint.pipeline import load_run_models
from pinpoint.ranking import RankSettings
from pinpoint.regions import IfNothingFound
from pinpoint.repaint import Layer, RepaintRequest
from pinpoint.selection import Pick
from pinpoint.settle import EDITOR_SETTLE
from pinpoint.shards import Shard

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


# Defaults: one source of truth ------------------------------------------------------------------

OPTIONS = [field.name for field in dataclasses.fields(EditSettings) if field.name != "threshold"]
"""``edit`` options (argparse dests) named as the :class:`EditSettings` field each sets;
``--threshold`` is the exception (no default: the detector's own, or 0 with ``--tiny``)."""

STAGE_DEFAULTS = {
    "threshold": DetectRequest,
    "max_detections": DetectRequest,
    "labels": DetectRequest,
    "pick": MatchRequest,
    "top_k": MatchRequest,
    "context_pad": MatchRequest,
    "confidence_weight": MatchRequest,
    "min_probability": MatchRequest,
    "steps": DiffusersSampler,
    "cfg": DiffusersSampler,
    "strength": DiffusersSampler,
    "seed": RepaintRequest,
    "context": RepaintRequest,
    "feather_px": RepaintRequest,
    "harmonise": RepaintRequest,
}
""":class:`EditSettings` field → the stage request whose default it is."""


def edit_parser() -> argparse.ArgumentParser:
    (commands,) = [
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    return commands.choices["edit"]


def edit_option(dest: str) -> argparse.Action:
    (action,) = [action for action in edit_parser()._actions if action.dest == dest]
    return action


def test_every_edit_setting_has_an_option():
    for dest in [*OPTIONS, "threshold"]:
        assert edit_option(dest).option_strings, dest  # raises unless exactly one option


def test_parser_defaults_are_the_core_defaults():
    parsed = build_parser().parse_args(edit_args(Path("in.png"), Path("out.png")))
    defaults = EditSettings()
    for name in OPTIONS:
        assert getattr(parsed, name) == getattr(defaults, name), name
        assert edit_option(name).default == getattr(defaults, name), name
    assert parsed.threshold is None and edit_option("threshold").default is None
    assert f"default {DetectRequest.threshold}" in edit_option("threshold").help
    assert (parsed.alpha, parsed.beta) == (RankSettings.alpha, RankSettings.beta)
    style = build_parser().parse_args(["style", "--image", "i", "--style", "s", "--out", "o"])
    for command, kind, scale in (
        (parsed, "none", CLIP_SCALE),
        (style, "style", STYLE_SCALE),
    ):
        assert (command.guide, command.guide_scale) == (kind, scale)
        schedule = (command.guide_start, command.guide_end, command.guide_every)
        assert schedule == (GuidanceSettings.start, GuidanceSettings.end, GuidanceSettings.every)
        assert schedule == (STYLE.start, STYLE.end, STYLE.every)
        assert command.source_text == SOURCE_TEXT
    lpips_help = edit_option("guide_lpips").help
    assert f"S2's weight {GuidanceSettings.mse_weight:g}" in lpips_help


def test_edit_settings_defaults_are_the_stages_own():
    defaults = EditSettings()
    fields = {field.name for field in dataclasses.fields(EditSettings)}
    own = {"if_nothing_found", "grow_px", "negative_prompt", "scheduler", "settle"}
    assert set(STAGE_DEFAULTS) | own == fields
    for name, request in STAGE_DEFAULTS.items():
        assert getattr(defaults, name) == getattr(request, name), name
    assert defaults.negative_prompt == Layer.negative
    assert defaults.if_nothing_found is IfNothingFound.ERROR
    assert DetectRequest.if_nothing_found is MatchRequest.if_nothing_found is IfNothingFound.ERROR
    assert defaults.grow_px == 8  # the pipeline's own: no stage request grows the box mask
    # headless: one UNet call per step (issue 21); the diffusers node keeps the pipeline's own
    assert defaults.scheduler is HEADLESS_SCHEDULER is Scheduler.AUTO
    assert DiffusersSampler.scheduler is Scheduler.OWN


def test_choices_are_the_core_choices():
    assert edit_option("precision").choices == Precision.values()
    assert edit_option("precision").default == Precision.AUTO
    assert edit_option("if_nothing_found").choices == IfNothingFound.values()


class Captured(Exception):
    """Raised by the stand-in for :func:`pinpoint.pipeline.edit` once it has the settings."""

    def __init__(self, settings: EditSettings, edits: tuple[EditLine, ...] = ()):
        super().__init__("captured")
        self.settings, self.edits = settings, edits


@pytest.mark.parametrize(
    "options, threshold",
    [
        ((), DetectRequest.threshold),
        (("--tiny",), 0.0),
        (("--tiny", "--threshold", "0.3"), 0.3),
        (("--threshold", "0.25"), 0.25),
    ],
)
def test_the_edit_runs_with_the_core_defaults(
    options, threshold, tmp_path, tiny_models, models_root, monkeypatch
):
    def capture(detector, clip, pipe, images, edits, settings, progress, **ranking):
        raise Captured(settings, edits)

    monkeypatch.setattr(pinpoint.pipeline, "edit", capture)
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(models_root))  # reuse the session's tiny models
    source = write_input(tmp_path / "in.png")
    args = edit_args(source, tmp_path / "out.png", "--models-dir", str(models_root), *options)
    with pytest.raises(Captured) as caught:
        main(args)
    assert caught.value.settings == EditSettings(threshold=threshold)


# Edit lists ------------------------------------------------------------------------------------


def edit_list_args(tmp_path: Path, *options: str) -> list[str]:
    source = write_input(tmp_path / "in.png")
    return ["edit", "--tiny", "--image", str(source), "--out", str(tmp_path / "out.png"), *options]


def test_find_prompt_edit_and_edits_file_make_one_list(tmp_path, models_root, monkeypatch):
    def capture(detector, clip, pipe, images, edits, settings, progress, **ranking):
        raise Captured(settings, edits)

    monkeypatch.setattr(pinpoint.pipeline, "edit", capture)
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(models_root))
    listed = tmp_path / "edits.txt"
    listed.write_text("# two more\nthe sky => a sunset | top_k=2\n\nthe dog => a cat\n")
    options = ["--find", "the car", "--prompt", "a truck", "--edit", "the tree => a palm"]
    with pytest.raises(Captured) as caught:
        main(edit_list_args(tmp_path, *options, "--edits", str(listed), "--pick", "leftmost"))
    assert caught.value.edits == (
        EditLine("the car", "a truck", Pick.LEFTMOST),
        EditLine("the tree", "a palm", Pick.LEFTMOST),
        EditLine("the sky", "a sunset", Pick.LEFTMOST, top_k=2),
        EditLine("the dog", "a cat", Pick.LEFTMOST),
    )


@pytest.mark.parametrize(
    "options, fragment",
    [
        ((), "pinpoint edit: nothing to edit. Fix: give --find and --prompt, --edit"),
        (("--find", "the car"), "pinpoint edit --find/--prompt: --find and --prompt go together"),
        (("--find", " ", "--prompt", "a"), "pinpoint edit --find/--prompt: the --find is empty"),
        (("--edit", "a => b", "--edit", "the cat"), "pinpoint edit --edit: line 2: 'the cat' has"),
        (("--edits", "none.txt"), "pinpoint edit --edits none.txt: cannot read the edit list"),
    ],
)
def test_edit_list_mistakes_are_refused_before_any_model_loads(
    options, fragment, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(tmp_path / "never-built"))
    assert main(edit_list_args(tmp_path, *options)) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "never-built").exists() and not (tmp_path / "out.png").exists()


def test_a_bad_line_in_the_edits_file_is_named(tmp_path, capsys):
    listed = tmp_path / "edits.txt"
    listed.write_text("the cat => a fox\n\nthe dog a wolf\n")
    assert main(edit_list_args(tmp_path, "--edits", str(listed))) == 2
    err = capsys.readouterr().err
    assert f"error: pinpoint edit --edits {listed}: line 3: 'the dog a wolf' has no '=>'" in err


def test_two_edits_run_end_to_end_on_the_tiny_models(tmp_path, capsys, models_root, monkeypatch):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(models_root))
    options = ["--edit", "the dog => a cat", "--edit", "the car => a truck", "--steps", "2"]
    code = main(edit_list_args(tmp_path, *options, "--preview", str(tmp_path / "p.png")))
    out = capsys.readouterr().out
    assert code == 0
    assert "edit 1: the dog => a cat" in out and "edit 2: the car => a truck" in out
    assert (tmp_path / "out.png").exists() and (tmp_path / "p.png").exists()


def test_candidates_are_ranked_end_to_end_on_the_tiny_models(
    tmp_path, capsys, models_root, monkeypatch
):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(models_root))
    options = ["--edit", "the dog => a cat", "--steps", "2", "--candidates", "3", "--beta", "0"]
    assert main(edit_list_args(tmp_path, *options)) == 0
    out = capsys.readouterr().out
    assert "candidates (S = 1 * S_t2i + 0 * S_i2i per edit):" in out
    assert re.search(r"image 1: candidate [123] of 3 kept\nedit 1: \S+ \S+ \S+", out)
    assert (tmp_path / "out.png").exists()


@pytest.mark.parametrize(
    "options, fragment",
    [
        (("--candidates", "0"), "pinpoint edit --candidates: --candidates is 0"),
        (("--alpha", "0", "--beta", "0"), "pinpoint edit --candidates: alpha and beta are both 0"),
    ],
)
def test_bad_candidate_settings_are_refused_before_any_model_loads(
    options, fragment, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(tmp_path / "never-built"))
    assert main(edit_list_args(tmp_path, "--edit", "a => b", *options)) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "never-built").exists()


# Guidance and style ------------------------------------------------------------------------


def test_guide_options_build_the_recipe_each_edit_is_guided_by(tmp_path, models_root, monkeypatch):
    seen = {}

    def capture(detector, clip, pipe, images, edits, settings, progress, **kwargs):
        seen.update(kwargs)
        raise Captured(settings, edits)

    monkeypatch.setattr(pinpoint.pipeline, "edit", capture)
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(models_root))
    options = ["--edit", "the dog => a fox", "--guide", "clip", "--guide-scale", "0.2"]
    with pytest.raises(Captured):
        main(edit_list_args(tmp_path, *options, "--guide-end", "0.5", "--guide-every", "2"))
    recipe = seen["guidance"]
    assert recipe.settings == GuidanceSettings(scale=0.2, end=0.5, every=2)
    assert recipe.decoder is None and recipe.lpips_net is None  # the pipeline's VAE, no LPIPS


def test_guided_edits_and_styles_run_end_to_end_on_the_tiny_models(
    tmp_path, capsys, models_root, monkeypatch
):
    """--guide clip changes the edit, scale 0 is the plain edit bit for bit; style restyles
    the whole image, or only what --find names."""
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(models_root))
    source = write_input(tmp_path / "in.png")

    def run(name: str, *options: str) -> torch.Tensor:
        out = tmp_path / f"{name}.png"
        assert main([*options, "--tiny", "--image", str(source), "--out", str(out)]) == 0
        return load_image(out)

    steps = ["--steps", "4"]
    plain = run("plain", "edit", "--edit", "the dog => a fox", *steps)
    off = run(
        "off", "edit", "--edit", "the dog => a fox", *steps, "--guide", "clip", "--guide-scale", "0"
    )
    guided = run(
        "guided",
        "edit",
        "--edit",
        "the dog => a fox",
        *steps,
        "--guide",
        "clip",
        "--guide-scale",
        "0.3",
        "--guide-end",
        "1",
    )
    assert torch.equal(off, plain) and not torch.equal(guided, plain)
    whole = run("whole", "style", "--style", "a watercolor painting", *steps)
    assert (whole - load_image(source)).abs().amax(dim=-1).gt(0).float().mean() > 0.9
    found = run(
        "found",
        "style",
        "--style",
        "gold",
        "--find",
        "the dog",
        *steps,
        "--guide-end",
        "1",
        "--grow",
        "0",
        "--feather",
        "0",
    )
    unguided = run(
        "unguided", "style", "--style", "a watercolor painting", *steps, "--guide", "none"
    )
    assert not torch.equal(unguided, whole)  # plain img2img at strength 0.6: no guidance
    kept = (found == load_image(source)).all(dim=-1).float().mean()
    assert 0.05 < kept < 0.95  # the found object restyled, the rest as it was
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    "options, fragment",
    [
        (("--guide", "clip", "--guide-every", "0"), "pinpoint edit --guide clip: every is 0"),
        (("--guide", "clip", "--guide-vgg", "x"), "--guide-vgg is a loss of --guide style"),
        (("--guide", "style", "--source-text", " "), "the --source-text is empty"),
        (("--guide", "clip", "--guide-lpips", "none.pth"), "'none.pth' was not found"),
        (("--guide", "clip", "--guide-decoder", "none.pth"), "none.pth' does not exist"),
        (("--guide-scale", "0.1"), "--guide none: --guide-scale is an option of guidance"),
        (("--guide-end", "1", "--source-text", "a"), "--guide-end, --source-text are options"),
    ],
)
def test_bad_guidance_is_refused_before_any_model_loads(
    options, fragment, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(tmp_path / "never-built"))
    assert main(edit_list_args(tmp_path, "--edit", "a => b", *options)) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "never-built").exists()


def test_guidance_settings_turn_on_each_kinds_losses():
    clip = guidance_settings("clip", 0.2, 0.1, 0.5, 2, lpips=True)
    assert clip == GuidanceSettings(scale=0.2, start=0.1, end=0.5, every=2, lpips_weight=1000.0)
    assert clip.lpips_weight == clip.mse_weight  # S2 weighs both background losses alike
    assert guidance_settings("clip", 0.2).lpips_weight == 0.0  # no LPIPS backbone, no loss
    style = guidance_settings("style", STYLE_SCALE, content_weight=2.0)
    assert style == dataclasses.replace(STYLE, scale=STYLE_SCALE, content_weight=2.0)
    assert set(GUIDE_KINDS) == {"clip", "style"}
    with pytest.raises(PinpointError, match="the guidance is 'paint'. Fix: use one of clip, st"):
        guidance_settings("paint", 0.1)
    with pytest.raises(PinpointError, match="every is 0"):
        guidance_settings("style", 0.1, every=0)
    with pytest.raises(PinpointError, match="content_weight is -1"):
        guidance_settings("style", 0.1, content_weight=-1.0)


# Models for a run --------------------------------------------------------------------------


def test_run_models_load_on_the_device_accelerate_gives(tiny_models, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # auto alone would pick CUDA
    lines = []
    shard = Shard(1, 2, torch.device("cpu"))
    detector, clip, pipe = load_run_models(tiny_models, "auto", "auto", shard, report=lines.append)
    assert module_device(detector.model).type == module_device(clip.model).type == "cpu"
    assert module_dtype(pipe.pipe.unet) == torch.float32  # auto precision: fp16 on CUDA only
    (line,) = lines
    assert re.fullmatch(
        r"models: detector=tiny-random-detr clip=tiny-random-clip "
        r"inpaint=tiny-random-sd-inpaint on cpu \(float32\), loaded in \d+\.\ds",
        line,
    )


def test_a_model_of_the_wrong_kind_is_named_by_the_callers_place(tiny_models):
    paths = dict(tiny_models, detector=tiny_models["clip"])
    with pytest.raises(PinpointError) as caught:
        load_run_models(paths, "cpu", "fp32", where="pinpoint eval")
    assert str(caught.value).startswith("pinpoint eval (object detector): ")
    assert "clip" in caught.value.problem


def test_settle_settles_every_edit_as_an_editors_and_prints_what_it_undid(
    tmp_path, capsys, models_root, monkeypatch
):
    """``--settle`` hands the loop the editor's settling (its shift and zoom undone, the blend
    following the edit: :data:`EDITOR_SETTLE`, tested in test_settle) and prints its notes;
    without it nothing is settled."""
    import pinpoint.repaint

    real, seen = pinpoint.repaint.settle_crops, []

    def spied(plan, sampled, settings):
        seen.append(settings)
        plan, settled, _ = real(plan, sampled, settings)
        return plan, settled, ("image 1: the model shifted the picture 3.0 px right; undone",)

    monkeypatch.setattr(pinpoint.repaint, "settle_crops", spied)
    source = write_input(tmp_path / "in.png")
    models = ["--models-dir", str(models_root), "--detector", "tiny-random-detr"]
    models += ["--clip", "tiny-random-clip", "--inpaint", "tiny-random-sd-inpaint"]
    options = [*models, "--steps", "1", "--if-nothing-found", "whole image"]
    assert main(edit_args(source, tmp_path / "a.png", *options)) == 0
    assert seen == [] and "undone" not in capsys.readouterr().out
    assert main(edit_args(source, tmp_path / "b.png", *options, "--settle")) == 0
    assert seen == [EDITOR_SETTLE]
    assert "note: image 1: the model shifted the picture 3.0 px right; undone" in (
        capsys.readouterr().out
    )


def test_an_edit_runs_with_a_flux_fill_pipeline(tmp_path, capsys, models_root, monkeypatch):
    """``--inpaint`` takes a folder of another family through the same loader: the edit is
    sampled by FluxFillPipeline, at its native size, each crop side a multiple of 16."""
    import diffusers

    calls = []
    sample = diffusers.FluxFillPipeline.__call__

    def counted(self, **kwargs):
        calls.append((kwargs["height"], kwargs["width"]))
        return sample(self, **kwargs)

    monkeypatch.setattr(diffusers.FluxFillPipeline, "__call__", counted)
    source = write_input(tmp_path / "in.png")
    models = ["--models-dir", str(models_root), "--detector", "tiny-random-detr"]
    models += ["--clip", "tiny-random-clip", "--inpaint", "tiny-random-flux-fill"]
    options = [*models, "--steps", "2", "--if-nothing-found", "whole image"]
    assert main(edit_args(source, tmp_path / "out.png", *options)) == 0
    assert "inpaint=tiny-random-flux-fill" in capsys.readouterr().out
    assert calls and all(side % 16 == 0 and max(h, w) == 1024 for h, w in calls for side in (h, w))
    edited, original = load_image(tmp_path / "out.png"), load_image(source)
    assert edited.shape == original.shape and not torch.equal(edited, original)
