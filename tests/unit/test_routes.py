"""Every route of ``python -m pinpoint edit`` on the tiny models: the route's finder proposes the
regions, the chosen (and refined) regions make the mask, every pixel outside the feathered mask
is the input's; bad route options are refused before any model loads; refining an edit list
embeds each image once."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import pinpoint.pipeline
from pinpoint.cli import main
from pinpoint.edit_list import MATCH_OPTIONS, QUERY, EditLine, EditSettings, parse_edit_list
from pinpoint.errors import PinpointError
from pinpoint.images import load_image, save_image
from pinpoint.loading import load_model
from pinpoint.loading.kinds import CLIP, DETECTOR, SAM, SAM_FOLDER
from pinpoint.masks import feather_mask, regions_to_mask
from pinpoint.route import RouteModels, localise
from pinpoint.route_settings import (
    FINDERS,
    Choose,
    RouteKind,
    RouteSettings,
    check_route_options,
)

SOURCES = {
    RouteKind.DETECT: "detector:",
    RouteKind.DETECT_BY_TEXT: "open-vocabulary:",
    RouteKind.SEGMENTS: "segmenter:",
    RouteKind.HEATMAP: "clipseg:",
    RouteKind.TEXT_SEGMENTER: "sam3:",
    RouteKind.ANCHORS: "dino:",
}
"""What each route's regions say made them."""
TEXT_KEYS = (*MATCH_OPTIONS, QUERY)


def scene(path) -> torch.Tensor:
    """A 96x128 picture: a noisy grey ground with a bright disc and a dark bar (shapes for the
    random finders to split), saved as PNG; the image as read back."""
    image = 0.4 + 0.2 * torch.rand(1, 96, 128, 3, generator=torch.Generator().manual_seed(3))
    ys, xs = torch.meshgrid(torch.arange(96), torch.arange(128), indexing="ij")
    image[0][(ys - 40) ** 2 + (xs - 40) ** 2 < 18**2] = torch.tensor([0.9, 0.8, 0.2])
    image[0, 60:80, 70:120] = torch.tensor([0.1, 0.1, 0.3])
    save_image(image[0], path)
    return load_image(path)


@pytest.fixture
def outlining_sams(tiny_models):
    """The tiny SAMs the CLI loads (the cache hands it these objects) rigged to outline the same
    top-left block (a sixteenth of the low-resolution mask) whatever the box: a partial mask,
    where random weights may cover the whole image."""
    sams = [load_model(SAM, tiny_models["sam"]), load_model(SAM_FOLDER, tiny_models["sam_folder"])]

    def block(low_res: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(low_res, -10.0)
        out[..., : low_res.shape[-2] // 4, : low_res.shape[-1] // 4] = 10.0
        return out

    def folder(module, args, kwargs, output):
        return dataclasses.replace(output, pred_masks=block(output.pred_masks))

    def original(module, args, output):
        return block(output[0]), output[1]

    handles = [
        sams[0].model.mask_decoder.register_forward_hook(original),
        sams[1].model.register_forward_hook(folder, with_kwargs=True),
    ]
    yield sams
    for handle in handles:
        handle.remove()


@pytest.fixture
def captured(monkeypatch, models_root):
    """The results of the real :func:`pinpoint.pipeline.edit` calls the CLI makes, with the
    route and refiner it was given."""
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(models_root))
    real, results = pinpoint.pipeline.edit, []

    def recording(*args, **kwargs):
        result = real(*args, **kwargs)
        results.append((result, kwargs["route"], kwargs["sam"]))
        return result

    monkeypatch.setattr(pinpoint.pipeline, "edit", recording)
    return results


ROUTE_CASES = [
    ("detect", ()),
    ("detect", ("--refine", "sam2.1-hiera-small")),
    ("detect-by-text", ("--refine", "tiny-random-sam.pth")),
    ("segments", ("--split-instances", "--min-island", "4")),
    ("heatmap", ("--threshold", "0.5", "--fill-holes")),
    ("text-segmenter", ("--threshold", "0.1", "--choose", "match")),
    ("anchors", ("--refine", "sam2.1-hiera-small", "--box-sizes", "0.2, 0.4")),
]


@pytest.mark.parametrize("route, options", ROUTE_CASES)
def test_every_route_edits_end_to_end_on_the_tiny_models(
    route, options, tmp_path, captured, outlining_sams
):
    source = scene(tmp_path / "in.png")
    args = ["edit", "--tiny", "--image", str(tmp_path / "in.png"), "--out", str(tmp_path / "o.png")]
    args += ["--find", "the disc", "--prompt", "a moon", "--steps", "2", "--route", route]
    assert main([*args, "--grow", "2", "--feather", "4", *options]) == 0
    ((result, settings, sam),) = captured
    assert settings.route == route and (sam is not None) == ("--refine" in options)
    (outcome,) = result.edits
    chosen = outcome.chosen[0].regions
    assert chosen and all(region.source.startswith(SOURCES[settings.route]) for region in chosen)
    if sam is not None:  # refined: SAM's masks, each with its predicted IoU
        assert all(region.mask is not None and region.mask_iou is not None for region in chosen)
    expected = settings.mask_ops(regions_to_mask(outcome.chosen), 2)  # the regions reach it
    assert torch.equal(outcome.mask, expected) and bool(outcome.mask.any())
    outside = feather_mask(outcome.mask, 4)[0] == 0
    assert bool(outside.any())
    edited = load_image(tmp_path / "o.png")
    assert torch.equal(edited[0][outside], source[0][outside])
    assert not torch.equal(edited, source)


@pytest.mark.parametrize(
    "options, fragment",
    [
        (("--route", "heatmap", "--labels", "car"), "--route heatmap: the heatmap route does not "
         "read labels. Fix: leave labels out, or use a route that reads it (detect, segments)"),
        (("--route", "segments", "--threshold", "0.3"), "the segments route does not read thre"),
        (("--anchors", "3"), "the detect route does not read anchors"),
        (("--query", "cat"), "the detect route does not read query"),
        (("--route", "anchors", "--box-sizes", "2"), "box size '2' is outside (0, 1]"),
        (("--route", "anchors", "--anchors", "0"), "anchors is 0"),
        (("--points", "10,20"), "--points is a setting of refining, which is off. Fix: add "
         "--refine sam2.1-hiera-small"),
        (("--refine", "x", "--points", "1,2,5"), "item 1 of points, '1,2,5', is not 'x,y'"),
        (("--refine", "x", "--points", "500,20"), "point (500, 20) lies outside the 120x72"),
        (("--segmenter", "s"), "--segmenter names the model of --route segments. Fix: add "
         "--route segments"),
        (("--min-island", "-1"), "min_island_px is -1"),
        (("--edit", "a => b | query=cat"), "'query=cat' in 'a => b | query=cat' is not an option"),
        (("--route", "heatmap", "--edit", "a => b | tone=3"), "the keys being pick, top_k, "
         "min_probability, query"),
    ],
)  # fmt: skip
def test_bad_route_options_are_refused_before_any_model_loads(
    options, fragment, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(tmp_path / "never-built"))
    image = tmp_path / "in.png"
    save_image(torch.rand(72, 120, 3), image)
    given = ["--find", "a", "--prompt", "b"] if "--edit" not in options else []
    args = ["edit", "--tiny", "--image", str(image), "--out", str(tmp_path / "o.png"), *given]
    assert main([*args, *options]) == 2
    err = capsys.readouterr().err
    assert fragment in err, err
    assert not (tmp_path / "never-built").exists() and not (tmp_path / "o.png").exists()


def test_every_option_a_route_reads_is_its_finders():
    for route, finder in FINDERS.items():
        for name in finder.options:
            check_route_options(route, [name])
        if finder.reads_text:
            check_route_options(route, ["query"])
        with pytest.raises(PinpointError, match=f"the {route.value} route does not read"):
            check_route_options(route, ["threshold" if finder.threshold is None else "nothing"])
    text_routes = {route for route, finder in FINDERS.items() if finder.reads_text}
    assert text_routes == {RouteKind.DETECT_BY_TEXT, RouteKind.HEATMAP, RouteKind.TEXT_SEGMENTER}
    assert RouteSettings(RouteKind.HEATMAP).choose is Choose.SELECT
    assert RouteSettings(RouteKind.HEATMAP, choose="match").choose is Choose.MATCH
    assert RouteSettings().choose is Choose.MATCH and RouteSettings().crop == "box"
    (line,) = parse_edit_list(["the cat on the left => a fox | query=cat"], keys=TEXT_KEYS)
    assert RouteSettings(query="animal").query_of(line) == "cat"
    assert RouteSettings(query="animal").query_of(EditLine("the cat", "a fox")) == "animal"
    assert RouteSettings().query_of(EditLine("the cat", "a fox")) == "the cat"


def test_refining_an_edit_list_embeds_each_image_once(tiny_models, monkeypatch):
    """Two lines, each choosing its own box, refined in one call: one image embedding for the
    image, each line's regions its own (their match scores), each mask from its own regions."""
    from rigs import detector_finding, point_texts_at, solid

    boxes = [(0.25, 0.3, 0.3, 0.3), (0.7, 0.6, 0.3, 0.3)]
    detector = detector_finding(load_model(DETECTOR, tiny_models["detector"]), boxes)
    texts = {"the red one": solid("red"), "the blue one": solid("blue")}
    clip = point_texts_at(load_model(CLIP, tiny_models["clip"]), texts)
    sam = load_model(SAM_FOLDER, tiny_models["sam_folder"])
    image = torch.full((1, 64, 64, 3), 0.5)
    image[0, 10:29, 6:26] = torch.tensor([0.9, 0.1, 0.1])
    image[0, 29:48, 35:54] = torch.tensor([0.1, 0.1, 0.9])
    embedded = []
    real = sam.model.get_image_embeddings

    def counting(*args, **kwargs):
        embedded.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sam.model, "get_image_embeddings", counting)
    lines = parse_edit_list(["the red one => a", "the blue one => b"])
    settings = EditSettings(threshold=0.5, grow_px=1)
    route = RouteSettings(fill_holes=True)
    found = localise(RouteModels(detector, clip, sam), image, lines, settings, route)
    assert len(embedded) == 1
    plain = localise(RouteModels(detector, clip), image, lines, settings, route)
    assert plain.edits[0].chosen[0].regions[0].box != plain.edits[1].chosen[0].regions[0].box
    for refined, unrefined in zip(found.edits, plain.edits, strict=True):
        (region,), (before,) = refined.chosen[0].regions, unrefined.chosen[0].regions
        assert region.mask_iou is not None and before.mask_iou is None
        assert (region.similarity, region.number) == (before.similarity, before.number)
        assert torch.equal(refined.mask, route.mask_ops(regions_to_mask(refined.chosen), 1))
        assert refined.scores == unrefined.scores  # the choice, before refining


def test_style_restyles_what_a_route_finds(tmp_path, captured, outlining_sams):
    source = scene(tmp_path / "in.png")
    args = [
        "style",
        "--tiny",
        "--image",
        str(tmp_path / "in.png"),
        "--out",
        str(tmp_path / "o.png"),
    ]
    args += ["--style", "a watercolor painting", "--find", "disc", "--steps", "2"]
    args += ["--route", "text-segmenter", "--threshold", "0.1", "--refine", "sam2.1-hiera-small"]
    assert main([*args, "--guide", "none"]) == 0
    ((result, settings, _),) = captured
    assert settings.route == RouteKind.TEXT_SEGMENTER and settings.choose is Choose.SELECT
    (outcome,) = result.edits
    assert outcome.edit.prompt == "a watercolor painting" and outcome.edit.find == "disc"
    assert all(r.source.startswith("sam3:") for r in outcome.chosen[0].regions)
    outside = feather_mask(outcome.mask, EditSettings.feather_px)[0] == 0
    edited = load_image(tmp_path / "o.png")
    assert bool(outside.any()) and torch.equal(edited[0][outside], source[0][outside])


def test_models_lists_each_kind_with_the_flag_and_routes_that_use_it(models_root, capsys):
    assert main(["models", "--models-dir", str(models_root)]) == 0
    out = capsys.readouterr().out
    assert "object detector [--detector --route detect, detect-by-text]: " in out
    assert "tiny-random-owlv2" in out and "tiny-random-detr" in out
    assert "semantic segmentation model [--segmenter --route segments]: " in out
    sam2 = "(SAM 2, SAM-HQ or SAM, transformers layout) [--refine; suggested: sam2.1-hiera-small]"
    assert sam2 in out and "checkpoint [--refine]: tiny-random-sam.pth" in out


def test_a_missing_refiner_says_how_to_get_the_suggested_one(tmp_path, models_root, capsys):
    image = tmp_path / "in.png"
    save_image(torch.rand(72, 120, 3), image)
    args = ["edit", "--models-dir", str(models_root), "--image", str(image), "--find", "a"]
    args += ["--prompt", "b", "--out", str(tmp_path / "o.png"), "--refine", "sam2.1-hiera-small"]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert "pinpoint edit --refine: " in err and "'sam2.1-hiera-small' was not found" in err
    assert "`python -m pinpoint download sam2.1-hiera-small`" in err
    assert "models: " not in out and not (tmp_path / "o.png").exists()  # nothing loaded
