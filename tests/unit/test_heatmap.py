"""CLIPSeg heatmaps: the loader, text → heatmap on a tiny random CLIPSeg and on a rigged stand-in
whose answer is known, heat → regions, and heat used to rescore or cut other regions."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from pinpoint import heatmap
from pinpoint.errors import PinpointError, reported_as
from pinpoint.heatmap import (
    HeatmapRequest,
    UseRegions,
    find_by_heat,
    heat_mask,
    heatmap_regions,
    intersect_regions,
    parse_texts,
    rescore_regions,
    text_heatmaps,
)
from pinpoint.loading import load_model
from pinpoint.loading.kinds import CLIP, CLIPSEG
from pinpoint.loading.models import ClipSeg, module_device, module_dtype
from pinpoint.regions import IfNothingFound, ImageRegions, Region, RegionBatch
from pinpoint.tiny.clip import build_tiny_clip
from pinpoint.tiny.clipseg import INPUT_SIZE, build_tiny_clipseg

WHERE = "Text to Heatmap · CLIPSeg (Pinpoint)"


@pytest.fixture(scope="module")
def models_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    build_tiny_clipseg(root / CLIPSEG.folder / "tiny-random-clipseg")
    build_tiny_clip(root / CLIP.folder / "tiny-random-clip")
    return root


@pytest.fixture(scope="module")
def clipseg_dir(models_root) -> Path:
    return models_root / CLIPSEG.folder / "tiny-random-clipseg"


@pytest.fixture(scope="module")
def clipseg(clipseg_dir) -> ClipSeg:
    return load_model(CLIPSEG, clipseg_dir)


def copy_model(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / folder.name))


def assert_house_error(text: str, *fragments: str) -> None:
    assert ". Fix: " in text, text
    for fragment in fragments:
        assert fragment in text, text


# Loader -------------------------------------------------------------------------------------------


def test_clipseg_round_trip(clipseg, clipseg_dir):
    from transformers import AutoProcessor, CLIPSegForImageSegmentation, CLIPSegProcessor

    assert isinstance(clipseg.model, CLIPSegForImageSegmentation)
    assert isinstance(clipseg.processor, CLIPSegProcessor)
    assert type(clipseg.processor.image_processor).__name__ == "ViTImageProcessor"
    assert clipseg.name == "tiny-random-clipseg" and clipseg.path == clipseg_dir.resolve()
    assert module_device(clipseg.model) == torch.device("cpu")
    assert module_dtype(clipseg.model) == torch.float32
    assert not clipseg.model.training
    assert all(not parameter.requires_grad for parameter in clipseg.model.parameters())
    assert load_model(CLIPSEG, clipseg_dir) is clipseg
    for loader in (AutoProcessor, CLIPSegProcessor):
        processor = loader.from_pretrained(clipseg_dir, local_files_only=True)
        assert isinstance(processor, CLIPSegProcessor)
    pixels = processor(images=[torch.zeros(40, 96, 3).numpy()], return_tensors="pt")
    assert tuple(pixels["pixel_values"].shape) == (1, 3, INPUT_SIZE, INPUT_SIZE)


def test_clipseg_dtype_is_applied(clipseg_dir, clipseg):
    half = load_model(CLIPSEG, clipseg_dir, dtype=torch.bfloat16)
    assert half is not clipseg and module_dtype(half.model) == torch.bfloat16
    heat = text_heatmaps(half, torch.rand(1, 40, 96, 3), ["a car"])
    assert heat.dtype == torch.float32 and 0.0 <= float(heat.min()) <= float(heat.max()) <= 1.0


def test_missing_folder_says_what_to_download(tmp_path):
    folder = tmp_path / CLIPSEG.folder / "clipseg-rd64-refined"
    with pytest.raises(PinpointError, match="does not exist") as excinfo, reported_as(WHERE):
        load_model(CLIPSEG, folder)
    text = str(excinfo.value)
    assert text.startswith(f"{WHERE}: ")
    assert_house_error(text, "hf download CIDAS/clipseg-rd64-refined --local-dir", str(folder))


def test_clip_folder_belongs_to_the_clip_matcher(models_root):
    folder = models_root / CLIP.folder / "tiny-random-clip"
    with pytest.raises(PinpointError) as excinfo:
        load_model(CLIPSEG, folder)
    assert_house_error(
        str(excinfo.value),
        "'tiny-random-clip' is a clip model (CLIPModel), not a CLIPSeg model",
        "; a CLIP model goes in models/pinpoint_clip",
        "hf download CIDAS/clipseg-rd64-refined",
    )


def test_clipseg_without_the_decoder_is_refused(clipseg_dir, tmp_path):
    folder = copy_model(clipseg_dir, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["CLIPSegModel"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(PinpointError, match="has no segmentation decoder") as excinfo:
        load_model(CLIPSEG, folder)
    assert_house_error(str(excinfo.value), "CLIPSegForImageSegmentation", "CIDAS/clipseg")


def test_missing_decoder_weights_are_refused_not_filled_with_noise(clipseg_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = copy_model(clipseg_dir, tmp_path)
    weights = load_file(folder / "model.safetensors")
    kept = {name: value for name, value in weights.items() if not name.startswith("decoder.")}
    assert len(kept) < len(weights)
    save_file(kept, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(PinpointError, match="lacks weights the model needs \\(decoder\\.") as ei:
        load_model(CLIPSEG, folder)
    assert_house_error(str(ei.value), "re-download the model into")


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        (["model.safetensors"], "has no weights"),
        (["preprocessor_config.json"], "has no image processor config"),
        (["tokenizer.json", "merges.txt"], "has no tokenizer files"),
    ],
)
def test_incomplete_folder(clipseg_dir, tmp_path, remove, message):
    folder = copy_model(clipseg_dir, tmp_path)
    for name in remove:
        (folder / name).unlink()
    with pytest.raises(PinpointError, match=message) as excinfo:
        load_model(CLIPSEG, folder)
    assert_house_error(str(excinfo.value), CLIPSEG.expected_files, str(folder))


def test_a_processor_that_does_not_stretch_to_a_square_is_refused(clipseg_dir, tmp_path):
    folder = copy_model(clipseg_dir, tmp_path)
    config = json.loads((folder / "preprocessor_config.json").read_text())
    config["size"] = {"height": 64, "width": 96}
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    with pytest.raises(PinpointError, match="does not resize every image to one square") as ei:
        load_model(CLIPSEG, folder)
    assert_house_error(str(ei.value), "re-download the model into")


# Text → heatmap on the tiny random CLIPSeg -------------------------------------------------------


def test_parse_texts():
    assert parse_texts(" a car | a bus \nthe dog|") == ("a car", "a bus", "the dog")
    assert parse_texts([" a car", "", "  ", "a bus "]) == ("a car", "a bus")
    for empty in ("", "   ", " | \n |", ["", "  "]):
        with pytest.raises(PinpointError) as excinfo, reported_as(WHERE):
            parse_texts(empty)
        assert str(excinfo.value).startswith(f"{WHERE}: ")
        assert_house_error(str(excinfo.value), "a car | a bus")


def test_empty_texts_and_bad_images_are_refused(clipseg):
    with pytest.raises(PinpointError, match="names nothing to find"):
        HeatmapRequest(clipseg, torch.rand(1, 40, 96, 3), ["", "  "])
    with pytest.raises(PinpointError, match="RGBA"):
        HeatmapRequest(clipseg, torch.rand(1, 40, 96, 4), ["a car"])


@pytest.mark.parametrize(("height", "width"), [(40, 96), (96, 40)])
def test_heatmaps_have_each_images_size_and_stay_in_range(clipseg, height, width):
    torch.manual_seed(0)
    heat = text_heatmaps(clipseg, torch.rand(2, height, width, 3), ["a car", "a bus"])
    assert tuple(heat.shape) == (2, height, width)
    assert heat.dtype == torch.float32 and heat.device == torch.device("cpu")
    assert 0.0 <= float(heat.min()) and float(heat.max()) <= 1.0
    assert float(heat.std()) > 0  # a random model still paints a pattern, not a constant


def test_batched_equals_one_by_one_and_texts_combine_by_max(clipseg):
    torch.manual_seed(1)
    images = torch.rand(3, 40, 96, 3)
    both = text_heatmaps(clipseg, images, ["a car", "a big red bus"])
    one_by_one = torch.cat(
        [text_heatmaps(clipseg, image[None], ["a car", "a big red bus"]) for image in images]
    )
    torch.testing.assert_close(both, one_by_one, rtol=0, atol=1e-4)
    singles = [text_heatmaps(clipseg, images, [text]) for text in ("a car", "a big red bus")]
    torch.testing.assert_close(both, torch.maximum(*singles), rtol=0, atol=1e-4)
    assert not torch.allclose(singles[0], singles[1], atol=1e-2)  # the texts matter


# Text → heatmap through a rigged model whose answer is known --------------------------------------


class RiggedClipSeg(torch.nn.Module):
    """Stands in for ``CLIPSegForImageSegmentation`` with a known answer.

    A text's embedding is its token count. An odd count makes the logits follow the brightness of
    the processed image (bright = hot), an even one its darkness; the logits come out at half
    the processor's resolution, as a decoder with a coarser grid would give them.
    """

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the module a device and dtype

    def get_conditional_embeddings(self, batch_size, input_ids, attention_mask):
        assert len(input_ids) == batch_size
        return attention_mask.sum(dim=-1, keepdim=True).to(torch.float32)

    def forward(self, pixel_values, conditional_embeddings):
        sign = 2 * (conditional_embeddings[:, :, None] % 2) - 1
        return SimpleNamespace(logits=4 * sign * F.avg_pool2d(pixel_values[:, :1], 2)[:, 0])


@pytest.fixture(scope="module")
def rigged(clipseg) -> ClipSeg:
    tokens = clipseg.processor.tokenizer(["light", "dark"])["input_ids"]
    assert [len(ids) % 2 for ids in tokens] == [1, 0]  # "light" is bright-hot, "dark" dark-hot
    return dataclasses.replace(clipseg, model=RiggedClipSeg(), name="rigged")


def rectangle_images(shape: tuple[int, int], box: tuple[int, int, int, int]) -> torch.Tensor:
    """``[1, H, W, 3]`` black with a white ``box`` (x0, y0, x1, y1)."""
    image = torch.zeros(1, *shape, 3)
    x0, y0, x1, y1 = box
    image[:, y0:y1, x0:x1] = 1.0
    return image


@pytest.mark.parametrize(
    ("shape", "box"),
    [((40, 96), (60, 10, 84, 30)), ((96, 40), (6, 51, 27, 84)), ((50, 50), (0, 0, 20, 50))],
)
def test_heat_lands_on_the_object_for_any_aspect_ratio(rigged, shape, box):
    heat = text_heatmaps(rigged, rectangle_images(shape, box), ["light"])
    assert tuple(heat.shape) == (1, *shape)
    x0, y0, x1, y1 = box
    assert float(heat[0, y0 + 3 : y1 - 3, x0 + 3 : x1 - 3].min()) > 0.99
    outside = torch.ones(shape, dtype=torch.bool)
    outside[max(0, y0 - 4) : y1 + 4, max(0, x0 - 4) : x1 + 4] = False
    assert float(heat[0][outside].max()) < 0.01
    found = heatmap_regions(heat, threshold=0.5, label="light")
    (region,) = found[0].regions
    assert all(abs(got - want) <= 1.5 for got, want in zip(region.box, box, strict=True))


def test_texts_combine_by_exact_max(rigged):
    torch.manual_seed(2)
    images = torch.rand(3, 40, 96, 3)
    light = text_heatmaps(rigged, images, ["light"])
    dark = text_heatmaps(rigged, images, ["dark"])
    assert (light > dark).any() and (dark > light).any()
    assert torch.equal(text_heatmaps(rigged, images, ["light", "dark"]), torch.maximum(light, dark))


@pytest.mark.parametrize("pairs_per_pass", [1, 4])
def test_chunking_changes_nothing_and_reports_each_pass(rigged, monkeypatch, pairs_per_pass):
    torch.manual_seed(3)
    images = torch.rand(3, 40, 96, 3)
    whole = text_heatmaps(rigged, images, ["light", "dark"])
    monkeypatch.setattr(heatmap, "MAX_PAIRS_PER_FORWARD", pairs_per_pass)
    calls: list[tuple[int, int]] = []
    chunked = text_heatmaps(
        rigged, images, ["light", "dark"], progress=lambda *call: calls.append(call)
    )
    assert torch.equal(chunked, whole)
    passes = -(-6 // pairs_per_pass)  # 3 images x 2 texts
    assert calls == [(done, passes) for done in range(1, passes + 1)]


# Heat → regions, rescoring and intersecting ------------------------------------------------------


def synthetic_heat() -> torch.Tensor:
    """``[2, 20, 30]``: image 0 holds a warm block, a hot block and a 2-pixel speck; image 1 is
    cold."""
    heat = torch.zeros(2, 20, 30)
    heat[0, 2:6, 3:9] = 0.6  # warm, 24 px
    heat[0, 10:18, 15:27] = 0.9  # hot, 96 px
    heat[0, 12:14, 16:20] = 1.0  # hotter inside the hot block
    heat[0, 0, 28:30] = 0.95  # a speck, 2 px
    return heat


def test_components_become_regions_with_exact_masks_and_boxes():
    heat = synthetic_heat()
    found = heatmap_regions(
        heat,
        0.5,
        min_area=0.0,
        max_regions=8,
        source="clipseg:test",
        label="a car",
        if_nothing_found=IfNothingFound.EMPTY_MASK,
    )
    first = found[0].regions
    assert [region.box for region in first] == [
        (28.0, 0.0, 30.0, 1.0),
        (15.0, 10.0, 27.0, 18.0),
        (3.0, 2.0, 9.0, 6.0),
    ]
    hot = first[1]
    assert hot.confidence == pytest.approx((88 * 0.9 + 8 * 1.0) / 96)
    assert hot.score == hot.confidence and hot.label == "a car" and hot.source == "clipseg:test"
    expected = torch.zeros(20, 30)
    expected[10:18, 15:27] = 1.0
    assert torch.equal(hot.mask, expected) and hot.mask.dtype == torch.float32
    assert found[1].regions == () and "no heat above threshold 0.50 for 'a car'" in found[1].note
    # min_area drops the speck (2 px < 1 % of 600 px); max_regions keeps the hottest
    bigger = heatmap_regions(heat[:1], 0.5, min_area=0.01, max_regions=1)
    assert [region.box for region in bigger[0].regions] == [(15.0, 10.0, 27.0, 18.0)]
    only_hottest = heatmap_regions(heat[:1], 0.95)
    assert [region.box for region in only_hottest[0].regions] == [
        (16.0, 12.0, 20.0, 14.0),
        (28.0, 0.0, 30.0, 1.0),
    ]


def test_heat_mask_is_the_threshold_without_small_pieces():
    heat = synthetic_heat()
    assert torch.equal(heat_mask(heat, 0.5), heat >= 0.5)
    expected = heat >= 0.5
    expected[0, 0, 28:30] = False
    assert torch.equal(heat_mask(heat, 0.5, min_area=0.01), expected)


def regions_of(*regions: Region, size: tuple[int, int] = (30, 20)) -> RegionBatch:
    return RegionBatch((ImageRegions(size[0], size[1], regions),))


def test_rescore_blends_mean_heat_and_reranks():
    heat = synthetic_heat()[:1]
    cold = Region((0.0, 10.0, 10.0, 20.0), "cold", 0.8, "detector", score=0.8)
    hot = Region((15.0, 10.0, 27.0, 18.0), "hot", 0.2, "detector", score=0.2)
    soft = torch.zeros(20, 30)
    soft[2:6, 3:9] = 0.5
    soft[10:18, 15:27] = 1.0  # weighted twice as much as the warm block
    masked = Region((0.0, 0.0, 30.0, 20.0), "masked", 0.0, "segmenter", mask=soft, score=0.0)
    batch = regions_of(cold, hot, masked)
    kept = rescore_regions(batch, heat, weight=0.0)
    assert [region.label for region in kept[0].regions] == ["cold", "hot", "masked"]
    assert [region.score for region in kept[0].regions] == [0.8, 0.2, 0.0]
    hot_heat = (88 * 0.9 + 8 * 1.0) / 96
    masked_heat = (0.5 * 24 * 0.6 + 88 * 0.9 + 8 * 1.0) / (0.5 * 24 + 96)
    blended = rescore_regions(batch, heat, weight=0.5)[0].regions
    assert [region.label for region in blended] == ["hot", "masked", "cold"]
    assert blended[0].score == pytest.approx(0.5 * 0.2 + 0.5 * hot_heat)
    assert blended[1].score == pytest.approx(0.5 * masked_heat)
    assert blended[2].score == pytest.approx(0.4)
    assert blended[0].confidence == 0.2 and blended[0].box == hot.box  # only the score changes


def test_intersect_cuts_regions_to_the_mask_and_drops_the_rest():
    inside = heat_mask(synthetic_heat()[:1], 0.5, min_area=0.01)
    half = Region((0.0, 0.0, 21.0, 20.0), "left", 0.9, "detector", score=0.9)
    outside = Region((0.0, 8.0, 10.0, 20.0), "outside", 0.8, "detector", score=0.8)
    spot = torch.zeros(20, 30)
    spot[4:12, 6:16] = 1.0
    masked = Region((6.0, 4.0, 16.0, 12.0), "masked", 0.5, "segmenter", mask=spot, score=0.5)
    cut = intersect_regions(regions_of(half, outside, masked), inside)[0].regions
    assert [region.label for region in cut] == ["left", "masked"]
    left, overlap = cut
    assert left.box == (3.0, 2.0, 21.0, 18.0) and left.score == 0.9
    expected = torch.zeros(20, 30)
    expected[2:6, 3:9] = 1.0
    expected[10:18, 15:21] = 1.0
    assert torch.equal(left.mask, expected)
    expected = torch.zeros(20, 30)
    expected[4:6, 6:9] = 1.0
    expected[10:12, 15:16] = 1.0
    assert torch.equal(overlap.mask, expected) and overlap.box == (6.0, 4.0, 16.0, 12.0)


@pytest.mark.parametrize("route", ["components", "rescore", "intersect"])
def test_nothing_found_policies(clipseg, route):
    cold = torch.zeros(1, 20, 30)
    outside = regions_of(Region((0.0, 0.0, 5.0, 5.0), "car", 0.9, "detector", score=0.9))
    empty = regions_of()

    def run(policy: IfNothingFound) -> ImageRegions:
        if route == "components":
            return heatmap_regions(cold, 0.5, if_nothing_found=policy)[0]
        if route == "rescore":
            return rescore_regions(empty, cold, 0.5, if_nothing_found=policy)[0]
        return intersect_regions(outside, cold >= 0.5, if_nothing_found=policy)[0]

    with pytest.raises(PinpointError) as excinfo, reported_as(WHERE):
        run(IfNothingFound.ERROR)
    assert str(excinfo.value).startswith(f"{WHERE}: ")
    assert_house_error(str(excinfo.value), "set if_nothing_found to 'empty mask' or 'whole image'")
    assert run(IfNothingFound.EMPTY_MASK).regions == ()
    (whole,) = run(IfNothingFound.WHOLE_IMAGE).regions
    assert whole.box == (0.0, 0.0, 30.0, 20.0) and whole.label == "whole image"
    # the policy is checked by the request of the route, before CLIPSeg runs
    regions = {"components": None, "rescore": empty, "intersect": outside}[route]
    use = UseRegions.INTERSECT if route == "intersect" else UseRegions.RESCORE
    with pytest.raises(PinpointError, match="if_nothing_found is 'skip'"):
        HeatmapRequest(
            clipseg,
            torch.zeros(1, 20, 30, 3),
            "a car",
            use_regions=use,
            if_nothing_found="skip",
            regions=regions,
        )


def test_regions_of_another_image_size_are_refused(clipseg):
    batch = regions_of(Region((0.0, 0.0, 5.0, 5.0), "car", 0.9, "detector", score=0.9))
    with pytest.raises(PinpointError, match="found on a 30x20 image but this image is 40x20"):
        HeatmapRequest(clipseg, torch.zeros(1, 20, 40, 3), "a car", regions=batch)
    with pytest.raises(PinpointError, match="the image batch has 2 image\\(s\\)"):
        HeatmapRequest(
            clipseg,
            torch.zeros(2, 20, 30, 3),
            "a car",
            use_regions=UseRegions.INTERSECT,
            regions=batch,
        )


# The request: every setting checked at construction, then find_by_heat -------------------------


def test_request_normalises_its_settings(clipseg):
    images = torch.zeros(1, 20, 30, 3)
    request = HeatmapRequest(
        clipseg,
        images,
        " a car | a bus ",
        use_regions="intersect",
        if_nothing_found="whole image",
    )
    assert request.text == ("a car", "a bus")
    assert request.use_regions is UseRegions.INTERSECT
    assert request.if_nothing_found is IfNothingFound.WHOLE_IMAGE
    defaults = HeatmapRequest(clipseg, images, ["a car"])
    assert defaults.text == ("a car",) and defaults.use_regions is UseRegions.RESCORE
    assert defaults.if_nothing_found is IfNothingFound.ERROR and defaults.regions is None


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"text": ""}, "the text is empty"),
        ({"text": " | \n"}, "names nothing to find"),
        ({"text": ["", " "]}, "names nothing to find"),
        ({"use_regions": "cut"}, "use_regions is 'cut'. Fix: pick one of 'rescore', 'intersect'"),
        (
            {"if_nothing_found": "skip"},
            "if_nothing_found is 'skip'. Fix: pick one of 'error', 'empty mask', 'whole image'",
        ),
        ({"images": torch.zeros(1, 20, 30, 4)}, "RGBA"),
        ({"regions": regions_of(size=(40, 20))}, "found on a 40x20 image but this image is 30x20"),
        ({"regions": RegionBatch()}, "the image batch has 1 image(s) but the regions cover 0"),
    ],
)
def test_request_refuses_bad_settings(clipseg, settings, fragment):
    arguments = {"images": torch.zeros(1, 20, 30, 3), "text": "a car", **settings}
    with pytest.raises(PinpointError) as excinfo, reported_as(WHERE):
        HeatmapRequest(clipseg, **arguments)
    assert str(excinfo.value).startswith(f"{WHERE}: ")
    assert_house_error(str(excinfo.value), fragment)


def test_find_by_heat_composes_the_heat_the_mask_and_each_route(rigged):
    images = rectangle_images((40, 96), (60, 10, 84, 30))
    request = HeatmapRequest(rigged, images, "light", threshold=0.5, min_area=0.01)
    calls: list[tuple[int, int]] = []
    result = find_by_heat(request, progress=lambda *call: calls.append(call))
    heat = text_heatmaps(rigged, images, ("light",))
    assert torch.equal(result.heat, heat) and calls == [(1, 1)]
    assert torch.equal(result.mask, heat_mask(heat, 0.5, 0.01))
    expected = heatmap_regions(heat, 0.5, 0.01, 8, "clipseg:rigged", "light")
    ((region,),) = [found.regions for found in result.regions]
    assert region.box == expected[0].regions[0].box and region.score == expected[0].regions[0].score
    assert region.source == "clipseg:rigged" and region.label == "light"
    given = regions_of(
        Region((0.0, 0.0, 20.0, 20.0), "left", 0.5, "detector", score=0.5),
        Region((60.0, 10.0, 90.0, 35.0), "on it", 0.1, "detector", score=0.1),
        size=(96, 40),
    )
    rescored = find_by_heat(dataclasses.replace(request, regions=given))
    assert [r.score for r in rescored.regions[0].regions] == [
        r.score for r in rescore_regions(given, heat, 0.5)[0].regions
    ]
    assert [r.label for r in rescored.regions[0].regions] == ["on it", "left"]
    cut = find_by_heat(
        HeatmapRequest(
            rigged, images, "light", 0.5, 0.01, use_regions=UseRegions.INTERSECT, regions=given
        )
    )
    ((kept,),) = [found.regions for found in cut.regions]
    assert kept.label == "on it"
    assert kept.box == intersect_regions(given, result.mask)[0].regions[0].box
