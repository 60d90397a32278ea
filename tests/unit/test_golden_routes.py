"""Golden outputs of the headless routes on the tiny models (see tests/golden.py): the edit
pipeline with one line, three lines, candidates, guidance and harmonise, and restyling a batch.
Skipped unless PINPOINT_GOLDEN is set."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from golden import SKIP, same_as_golden
from rigs import COLOURS, detector_finding, point_texts_at, solid

from pinpoint.diffusers_sampler import Scheduler
from pinpoint.edit_list import EditSettings, parse_edit_list
from pinpoint.guidance import GuidanceRecipe
from pinpoint.guidance_settings import GuidanceSettings
from pinpoint.loading import load_model
from pinpoint.loading.kinds import CLIP, DETECTOR, INPAINT
from pinpoint.pipeline import edit, restyle

pytestmark = SKIP

SQUARES = {"red": (12, 12), "green": (60, 12), "blue": (36, 60)}
LINES = ["the red one => a small red fox", "the green one => a parrot", "the blue one => a truck"]
SETTINGS = EditSettings(
    threshold=0.5,
    steps=2,
    grow_px=2,
    feather_px=4,
    context=0.25,
    seed=5,
    scheduler=Scheduler.OWN,  # the headless default before DPM-Solver++, as the files were made
)


def scene(batch: int = 1) -> torch.Tensor:
    """Noisy grey 96x96 images with a red, a green and a blue square."""
    image = 0.4 + 0.2 * torch.rand(batch, 96, 96, 3, generator=torch.Generator().manual_seed(2))
    for name, (x, y) in SQUARES.items():
        image[:, y : y + 24, x : x + 24] = torch.tensor(COLOURS[name])
    return image


@pytest.fixture(scope="module")
def models(tiny_models):
    boxes = [((x + 12) / 96, (y + 12) / 96, 24 / 96, 24 / 96) for x, y in SQUARES.values()]
    detector = detector_finding(load_model(DETECTOR, tiny_models["detector"]), boxes)
    texts = {f"the {name} one": solid(name) for name in SQUARES}
    clip = point_texts_at(load_model(CLIP, tiny_models["clip"]), texts)
    return detector, clip, load_model(INPAINT, tiny_models["inpaint"])


def run_edit(models, lines, images=None, **options):
    detector, clip, pipe = models
    settings = dataclasses.replace(SETTINGS, **options.pop("settings", {}))
    images = scene() if images is None else images
    edits = parse_edit_list(lines)
    return edit(detector, clip, pipe, images, edits, settings, **options).images


def test_one_line(models):
    same_as_golden("edit_one_line", run_edit(models, LINES[:1]))


def test_one_line_on_a_batch(models):
    same_as_golden("edit_one_line_batch", run_edit(models, LINES[:1], images=scene(2)))


def test_three_lines(models):
    same_as_golden("edit_three_lines", run_edit(models, LINES))


def test_three_lines_with_candidates(models):
    same_as_golden("edit_three_lines_candidates", run_edit(models, LINES, candidates=2))


def test_harmonise_and_a_scheduler(models):
    settings = dict(harmonise=0.7, scheduler="DPM-Solver++")
    same_as_golden("edit_harmonise_dpm", run_edit(models, LINES[:2], settings=settings))


def test_guided(models):
    clip = models[1]
    chosen = GuidanceSettings(scale=0.3, end=1.0, mse_weight=10.0, cutouts=2)
    guidance = GuidanceRecipe(clip, "anything", chosen)
    settings = dict(scheduler="DDIM")
    images = run_edit(models, LINES[:2], guidance=guidance, settings=settings)
    same_as_golden("edit_guided_ddim", images)


def test_restyle_a_batch(models):
    pipe = models[2]
    settings = dataclasses.replace(SETTINGS, strength=0.6, scheduler="DDIM", steps=3)
    result = restyle(pipe, scene(2), "a watercolor painting", settings)
    same_as_golden("restyle_batch", result.images)
