"""Edit by Text in-process: ComfyUI imported on CPU, the node called as its executor calls it,
an edit list of three lines on one image sampled with a tiny random SD 1.5 checkpoint loaded by
ComfyUI's own checkpoint loader, and a tiny CLIP matcher rigged to read 'the red/green/blue
one'."""

from __future__ import annotations

import pytest
import torch
from node_calls import assert_house_error, encode, error_of, pack_module, run, ui_dict
from rigs import COLOURS, point_texts_at, solid

TITLE = "Edit by Text (Pinpoint)"
SQUARES = {"red": (12, 12), "green": (60, 12), "blue": (36, 60)}
"""Colour → top-left corner of its 24x24 square: every crop window is the same square, alone
or in a batch (so a line sampled alone and in the batch see the same crop)."""
LINES = ["the red one => a small red fox", "the green one => a parrot", "the blue one => a truck"]


def three_squares(comfyui):
    """A grey 96x96 image with three coloured squares, the squares as regions, and each
    square's feathered area."""
    regions = pack_module(comfyui, "pinpoint.regions")
    feather = pack_module(comfyui, "pinpoint.masks").feather_mask
    image = torch.full((1, 96, 96, 3), 0.5)
    found, areas = [], {}
    for name, (x, y) in SQUARES.items():
        image[0, y : y + 24, x : x + 24] = torch.tensor(COLOURS[name])
        box = (float(x), float(y), float(x + 24), float(y + 24))
        found.append(regions.Region(box, name, 0.9, "test", score=0.9))
        mask = torch.zeros(1, 96, 96)
        mask[0, y : y + 24, x : x + 24] = 1
        areas[name] = feather(mask, 4)[0] > 0
    batch = regions.RegionBatch((regions.ImageRegions(96, 96, tuple(found)),))
    return image, batch, areas


@pytest.fixture(scope="module")
def matcher(comfyui):
    loaded = run(
        comfyui.node("PinpointLoadCLIP"), model_name=comfyui.models["clip"].name, precision="auto"
    )[0]
    return point_texts_at(loaded, {f"the {name} one": solid(name) for name in SQUARES})


def edit_inputs(checkpoint, matcher, image, edits, **overrides) -> dict:
    model, clip, vae = checkpoint
    settings = dict(
        negative_prompt="blurry",
        seed=3,
        steps=2,
        cfg=5.0,
        sampler_name="euler",
        scheduler="normal",
        denoise=1.0,
        masked_start="auto",
        threshold=0.5,
        max_detections=20,
        labels="",
        pick="best",
        top_k=1,
        min_probability=0.0,
        if_nothing_found="error",
        grow_px=0,
        context=0.25,
        resolution=64,
        feather_px=4,
        split="one per image",
    )
    given = dict(image=image, edits=edits, matcher=matcher, model=model, clip=clip, vae=vae)
    return given | settings | overrides


@pytest.fixture
def sampler_calls(comfyui, monkeypatch):
    """Latent batch sizes of every ``comfy.sample.sample`` call from now on."""
    import comfy.sample

    calls: list[int] = []
    real = comfy.sample.sample

    def counted(model, noise, *args, **kwargs):
        calls.append(int(noise.shape[0]))
        return real(model, noise, *args, **kwargs)

    monkeypatch.setattr(comfy.sample, "sample", counted)
    return calls


@pytest.mark.parametrize("inpainting", [True, False])
def test_three_lines_one_pass_each_area_from_its_own_prompt(
    comfyui, checkpoints, matcher, sampler_calls, inpainting
):
    image, regions, areas = three_squares(comfyui)
    node = comfyui.node("PinpointEditByText")
    checkpoint = checkpoints[inpainting]
    inputs = edit_inputs(checkpoint, matcher, image, "\n".join(LINES), regions=regions)
    output = run(node, **inputs)
    edited, mask, preview, scores = output.result
    assert sampler_calls == [3]  # three crops, each with its own prompt, in one sampler call
    assert edited.shape == image.shape and preview.shape == image.shape
    assert scores.startswith("edit 1: the red one => a small red fox\nimage 1: 3 candidate(s)")
    for name, area in areas.items():
        assert bool((mask[0] > 0)[area & (image[0].sum(-1) != 1.5)].all()), name
        assert not torch.allclose(edited[0][area], image[0][area], atol=1e-2), name
    outside = ~(areas["red"] | areas["green"] | areas["blue"])
    assert torch.equal(edited[0][outside], image[0][outside])
    # the batch gave each crop its own line's prompt: sampled alone, each line paints the same
    for line, (name, area) in zip(LINES, areas.items(), strict=True):
        (alone,) = run(node, **inputs | dict(edits=line)).result[:1]
        assert torch.allclose(edited[0][area], alone[0][area], atol=1e-3), name
    # and a changed prompt changes its own area only
    changed = "\n".join([LINES[0], "the green one => a castle", LINES[2]])
    (other,) = run(node, **inputs | dict(edits=changed)).result[:1]
    for name, area in areas.items():
        same = torch.allclose(edited[0][area], other[0][area], atol=1e-3)
        assert same == (name != "green"), name


def test_conditionings_that_cannot_be_joined_are_sampled_one_crop_at_a_time(
    comfyui, checkpoints, matcher, sampler_calls, monkeypatch
):
    image, regions, areas = three_squares(comfyui)
    node = comfyui.node("PinpointEditByText")
    inputs = edit_inputs(checkpoints[True], matcher, image, "\n".join(LINES), regions=regions)
    (together,) = run(node, **inputs).result[:1]
    module = pack_module(comfyui, "nodes.comfy_sampler")
    monkeypatch.setattr(module, "batch_conditionings", lambda conditionings: None)
    (apart,) = run(node, **inputs).result[:1]
    assert sampler_calls == [3, 1, 1, 1]
    assert torch.allclose(together, apart, atol=1e-3)


def test_batch_conditionings_joins_plain_prompts_and_refuses_the_rest(comfyui, checkpoints):
    join = pack_module(comfyui, "nodes.comfy_sampler").batch_conditionings
    _, clip, _ = checkpoints[True]
    short, long = encode(clip, "a cat"), encode(clip, "a very long prompt " * 20)
    joined = join([short, long, short])
    assert joined is not None and len(joined) == 1
    tensor, extra = joined[0]
    assert tensor.shape[0] == 3 and tensor.shape[1] == long[0][0].shape[1]
    assert torch.equal(tensor[0, : short[0][0].shape[1]], short[0][0][0])
    assert extra["pooled_output"].shape[0] == 3
    assert join([short, short + short]) is None  # two entries: not a plain prompt
    assert join([short, [[short[0][0], {"strength": 0.5}]]]) is None  # other extra keys


def test_a_line_that_finds_nothing_follows_the_policy_and_is_reported(
    comfyui, checkpoints, matcher
):
    image, regions, areas = three_squares(comfyui)
    node = comfyui.node("PinpointEditByText")
    edits = "\n".join([LINES[0], "the green one => a parrot | min_probability=0.9999999"])
    inputs = edit_inputs(checkpoints[True], matcher, image, edits, regions=regions)
    message = error_of(node, **inputs)
    assert_house_error(message, TITLE, "edit 2 ('the green one'): no region matched")
    output = run(node, **inputs | dict(if_nothing_found="empty mask"))
    edited = output.result[0]
    notes = ui_dict(output)["text"]
    assert any(note.startswith("edit 2 ('the green one'): image 1: no region") for note in notes)
    assert torch.equal(edited[0][areas["green"]], image[0][areas["green"]])
    assert not torch.allclose(edited[0][areas["red"]], image[0][areas["red"]], atol=1e-2)


def test_the_detector_route_finds_the_candidates_itself(comfyui, facts, checkpoints, matcher):
    detector = run(
        comfyui.node("PinpointLoadDetector"), model_name=facts.rigged_detector, precision="auto"
    )[0]
    image = torch.rand(1, 80, 120, 3, generator=torch.Generator().manual_seed(2))
    node = comfyui.node("PinpointEditByText")
    inputs = edit_inputs(checkpoints[False], matcher, image, "the dog => a cat", detector=detector)
    edited, mask, _, scores = run(node, **inputs).result
    cx, cy, w, h = facts.known_box
    x0, y0 = round((cx - w / 2) * 120), round((cy - h / 2) * 80)
    assert "dog" in scores and bool(mask[0, y0 + 2, x0 + 2] == 1)
    outside = pack_module(comfyui, "pinpoint.masks").feather_mask(mask, 4) == 0
    assert torch.equal(edited[outside], image[outside])


def test_harmonised_lines_keep_the_outside_and_off_is_the_plain_stitch(
    comfyui, checkpoints, matcher
):
    image, regions, areas = three_squares(comfyui)
    node = comfyui.node("PinpointEditByText")
    inputs = edit_inputs(checkpoints[False], matcher, image, "\n".join(LINES), regions=regions)
    (plain,) = run(node, **inputs).result[:1]
    (off,) = run(node, **inputs | dict(harmonise=0.0)).result[:1]
    (matched,) = run(node, **inputs | dict(harmonise=1.0)).result[:1]
    assert torch.equal(off, plain) and not torch.equal(matched, plain)
    outside = ~(areas["red"] | areas["green"] | areas["blue"])
    assert torch.equal(matched[0][outside], image[0][outside])


def test_candidates_are_sampled_together_and_the_matchers_best_is_kept(
    comfyui, checkpoints, matcher, sampler_calls
):
    """Two candidates of two lines: one sampler call of four crops; candidate j is the
    one-candidate run with seed + j, and the kept one is the one the matcher ranks first."""
    image, regions, areas = three_squares(comfyui)
    node = comfyui.node("PinpointEditByText")
    edits = "\n".join(LINES[:2])
    inputs = edit_inputs(checkpoints[False], matcher, image, edits, regions=regions)
    output = run(node, **inputs | dict(candidates=2))
    assert sampler_calls == [4]
    (best,) = output.result[:1]
    table = next(note for note in ui_dict(output)["text"] if note.startswith("image 1: "))
    kept = int(table.split("candidate ")[1].split(" of 2")[0])
    singles = [run(node, **inputs | dict(seed=3 + j)).result[0] for j in range(2)]
    assert torch.allclose(best, singles[kept - 1], atol=1e-3)
    assert not torch.allclose(singles[0], singles[1], atol=1e-2)


def test_guidance_steers_each_line_towards_its_own_prompt(comfyui, checkpoints, matcher):
    """Guidance at scale 0 is the plain node to the bit; with the matcher's text for the red
    line's prompt rigged onto a red picture, that line's area comes out redder, rigged onto a
    blue one, bluer (the guidance's own text is replaced by the line's prompt); the outside
    never moves."""
    from node_calls import clip_guidance

    image, regions, areas = three_squares(comfyui)
    node = comfyui.node("PinpointEditByText")
    inputs = edit_inputs(checkpoints[False], matcher, image, LINES[0], regions=regions, steps=4)
    (plain,) = run(node, **inputs).result[:1]
    off = clip_guidance(comfyui, matcher, 0.0)
    assert torch.equal(run(node, **inputs | dict(guidance=off)).result[0], plain)

    def redness(pixels):
        inside = pixels.detach()[0][areas["red"]]
        return float(inside[:, 0].mean() - inside[:, 2].mean())

    for colour, sign in (("red", 1), ("blue", -1)):
        texts = {f"the {name} one": solid(name) for name in SQUARES}
        rigged = point_texts_at(matcher, texts | {"a small red fox": solid(colour)})
        steer = clip_guidance(comfyui, rigged, 1.0, text="replaced by the line's prompt")
        (guided,) = run(node, **inputs | dict(matcher=rigged, guidance=steer)).result[:1]
        assert sign * (redness(guided) - redness(plain)) > 0.01, colour
        outside = ~areas["red"]
        assert torch.equal(guided[0][outside], image[0][outside])
