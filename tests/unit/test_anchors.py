"""Attention anchors: the DINO loader, attention maps, anchor points and square box proposals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pinpoint.anchors import (
    Anchor,
    AnchorRequest,
    anchor_points,
    draw_anchors,
    find_anchors,
    parse_box_sizes,
    patch_attention,
    patch_grid,
    square_box,
)
from pinpoint.errors import PinpointError, reported_as
from pinpoint.loading import load_model
from pinpoint.loading.kinds import DINO
from pinpoint.progress import Progress, no_progress
from pinpoint.tiny._build import STAMP
from pinpoint.tiny.dino import build_tiny_dino

FIXED = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def attention_maps(dino, images: torch.Tensor, progress: Progress = no_progress) -> torch.Tensor:
    """Where DINO looks, at the images' size: the attention of an anchor search."""
    return find_anchors(AnchorRequest(dino, images), progress).attention


def assert_house_error(caught: pytest.ExceptionInfo, where: str, *fragments: str) -> None:
    message = str(caught.value)
    assert message.startswith(f"{where}: ") and ". Fix: " in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models") / "pinpoint_dino"


@pytest.fixture(scope="module")
def dino_dir(models_dir: Path) -> Path:
    return build_tiny_dino(models_dir / "tiny-random-dino")


@pytest.fixture(scope="module")
def dino(dino_dir: Path):
    return load_model(DINO, dino_dir)


def _save_dinov2(folder: Path, registers: int) -> Path:
    """A tiny random DINOv2 (with registers when ``registers``) in facebook/dinov2-small's
    layout: a BitImageProcessor that resizes the shorter side to 73 and centre-crops 64."""
    from transformers import (
        BitImageProcessor,
        Dinov2Config,
        Dinov2Model,
        Dinov2WithRegistersConfig,
        Dinov2WithRegistersModel,
    )

    shape = dict(
        image_size=64,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
    )
    torch.manual_seed(1)
    if registers:
        model = Dinov2WithRegistersModel(
            Dinov2WithRegistersConfig(num_register_tokens=registers, **shape)
        )
    else:
        model = Dinov2Model(Dinov2Config(**shape))
    model.save_pretrained(folder)
    BitImageProcessor(
        size={"shortest_edge": 73}, crop_size={"height": 64, "width": 64}, do_center_crop=True
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def dinov2s(models_dir: Path) -> dict[int, object]:
    """``{0: DINOv2, 4: DINOv2 with 4 registers}``, loaded through the real loader."""
    return {n: load_model(DINO, _save_dinov2(models_dir / f"dinov2-reg{n}", n)) for n in (0, 4)}


def _by_hand(dino, images: torch.Tensor, rows: int, cols: int, registers: int = 0):
    """The expected map, straight from ``model(..., output_attentions=True)``: the whole image
    resized to the grid, normalised with the processor's mean/std, last layer, CLS row."""
    patch = dino.model.config.patch_size
    pixels = F.interpolate(
        images.permute(0, 3, 1, 2),
        size=(rows * patch, cols * patch),
        mode="bicubic",
        antialias=True,
    ).clamp(0, 1)
    mean = torch.tensor(dino.processor.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(dino.processor.image_std).view(1, 3, 1, 1)
    extra = {"interpolate_pos_encoding": True} if dino.model.config.model_type == "vit" else {}
    with torch.no_grad():
        out = dino.model(pixel_values=(pixels - mean) / std, output_attentions=True, **extra)
    last = out.attentions[-1]
    assert last.shape[-1] == 1 + registers + rows * cols
    grid = last[:, :, 0, 1 + registers :].mean(dim=1).reshape(-1, rows, cols)
    low = grid.amin(dim=(1, 2), keepdim=True)
    grid = (grid - low) / (grid.amax(dim=(1, 2), keepdim=True) - low)
    full = F.interpolate(grid[:, None], size=images.shape[1:3], mode="bilinear")[:, 0]
    return grid, full


# --- loader ------------------------------------------------------------------------------------


def test_tiny_dino_has_the_dino_vits16_layout(dino_dir: Path):
    from safetensors import safe_open

    names = {entry.name for entry in dino_dir.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", STAMP} <= names
    config = json.loads((dino_dir / "config.json").read_text())
    assert config["model_type"] == "vit" and config["patch_size"] == 8
    with safe_open(dino_dir / "model.safetensors", "pt") as weights:
        assert not [key for key in weights.keys() if "pooler" in key]
    before = (dino_dir / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_dino(dino_dir) == dino_dir  # idempotent: the stamp matches
    assert (dino_dir / "model.safetensors").stat().st_mtime_ns == before


def test_load_dino_round_trip(dino, dino_dir: Path):
    assert dino.name == "tiny-random-dino" and dino.path == dino_dir.resolve()
    assert type(dino.model).__name__ == "ViTModel" and dino.model.pooler is None
    assert dino.model.config._attn_implementation == "eager"
    assert not dino.model.training
    assert not any(p.requires_grad for p in dino.model.parameters())
    assert load_model(DINO, dino_dir) is dino  # cached while alive
    half = load_model(DINO, dino_dir, dtype=torch.bfloat16)
    assert half is not dino
    assert {p.dtype for p in half.model.parameters()} == {torch.bfloat16}


def test_load_dino_takes_dinov2_with_and_without_registers(dinov2s):
    assert type(dinov2s[0].model).__name__ == "Dinov2Model"
    assert type(dinov2s[4].model).__name__ == "Dinov2WithRegistersModel"
    assert dinov2s[4].model.config.num_register_tokens == 4


def test_load_dino_errors(tmp_path: Path, dino_dir: Path):
    where = "Load DINO (Pinpoint)"
    with pytest.raises(PinpointError) as caught, reported_as(where):
        load_model(DINO, tmp_path / "dino-vits16")
    assert_house_error(
        caught, where, "does not exist", "hf download facebook/dino-vits16 --local-dir"
    )

    for model_type, belongs in (
        ("clip", "models/pinpoint_clip"),
        ("detr", "models/pinpoint_detectors"),
    ):
        folder = tmp_path / model_type
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
        with pytest.raises(PinpointError) as caught, reported_as(where):
            load_model(DINO, folder)
        assert_house_error(caught, where, f"a {model_type} model", "model_type", belongs)

    for missing in ("preprocessor_config.json", "model.safetensors"):
        folder = tmp_path / f"no-{missing}"
        shutil.copytree(dino_dir, folder)
        (folder / missing).unlink()
        with pytest.raises(PinpointError) as caught, reported_as(where):
            load_model(DINO, folder)
        assert_house_error(caught, where, missing, str(folder.resolve()))

    broken = tmp_path / "broken"
    shutil.copytree(dino_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(PinpointError) as caught, reported_as(where):
        load_model(DINO, broken)
    assert_house_error(caught, where, "could not be loaded", "re-download")


# --- attention maps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "grid"),
    [(40, 96, (8, 19)), (96, 40, (19, 8)), (64, 64, (8, 8)), (16, 16, (8, 8))],
)
def test_patch_grid_keeps_the_aspect_and_the_processor_side(dino, height, width, grid):
    # the shorter side goes to the processor's 64 px (8 patches of 8 px), the longer one follows
    assert patch_grid(dino, height, width) == grid


def test_patch_grid_uses_the_crop_size_of_a_cropping_processor(dinov2s):
    # size.shortest_edge is 73 but the model sees the 64 px centre crop
    assert patch_grid(dinov2s[0], 40, 96) == (8, 19)


def test_patch_grid_is_capped_for_extreme_aspect_ratios(dino):
    rows, cols = patch_grid(dino, 16, 4000)
    assert rows * cols <= 1100 and cols / rows > 100


@pytest.mark.parametrize(("height", "width"), [(40, 96), (96, 40)])
def test_attention_maps_match_the_models_own_attentions(dino, height, width):
    torch.manual_seed(0)
    images = torch.rand(2, height, width, 3)
    rows, cols = patch_grid(dino, height, width)
    grid, full = _by_hand(dino, images, rows, cols)
    maps = attention_maps(dino, images)
    assert maps.shape == (2, height, width) and maps.dtype == torch.float32
    assert float(maps.min()) >= 0.0 and float(maps.max()) <= 1.0
    torch.testing.assert_close(maps, full, atol=1e-5, rtol=1e-4)
    patches = patch_attention(dino, images)
    torch.testing.assert_close(patches, grid, atol=1e-5, rtol=1e-4)
    assert torch.equal(patches.amax(dim=(1, 2)), torch.ones(2))
    assert torch.equal(patches.amin(dim=(1, 2)), torch.zeros(2))
    assert not torch.allclose(maps[0], maps[1])  # each image its own map


@pytest.mark.parametrize("registers", [0, 4])
def test_dinov2_attention_skips_register_tokens(dinov2s, registers):
    torch.manual_seed(0)
    images = torch.rand(1, 40, 56, 3)
    dino = dinov2s[registers]
    rows, cols = patch_grid(dino, 40, 56)
    assert (rows, cols) == (8, 11)
    _, full = _by_hand(dino, images, rows, cols, registers)
    torch.testing.assert_close(attention_maps(dino, images), full, atol=1e-5, rtol=1e-4)


def test_attention_maps_report_progress_and_refuse_bad_images(dino):
    calls = []
    attention_maps(dino, torch.rand(6, 24, 24, 3), progress=lambda *a: calls.append(a))
    assert calls == [(4, 6), (6, 6)]
    with pytest.raises(PinpointError) as caught, reported_as("Anchors"):
        AnchorRequest(dino, torch.rand(1, 24, 24, 4))
    assert_house_error(caught, "Anchors", "RGBA")


# --- anchor points -----------------------------------------------------------------------------


def _grid() -> torch.Tensor:
    grid = torch.zeros(4, 6)
    grid[1, 1], grid[1, 2], grid[3, 5], grid[0, 4], grid[2, 0] = 0.875, 0.75, 0.625, 0.5, 0.375
    return grid


def test_anchor_points_top_k_in_order_at_patch_centres():
    # 6 x 4 patches over a 60 x 40 image: 10 px per patch
    anchors = anchor_points(_grid(), k=3, min_distance=0, width=60, height=40)
    expected = [Anchor(15.0, 15.0, 0.875), Anchor(25.0, 15.0, 0.75), Anchor(55.0, 35.0, 0.625)]
    assert anchors == expected
    assert anchor_points(_grid(), k=3, min_distance=1, width=60, height=40) == anchors


def test_anchor_points_suppress_neighbours_within_min_distance():
    anchors = anchor_points(_grid(), k=4, min_distance=2, width=60, height=40)
    # (1, 2) touches (1, 1); (2, 0) is one row and column from (1, 1); then the first zero
    # patch (row-major) two patches from every anchor: (2, 3)
    assert [(a.x, a.y) for a in anchors] == [(15.0, 15.0), (55.0, 35.0), (45.0, 5.0), (35.0, 25.0)]
    assert [a.value for a in anchors] == [0.875, 0.625, 0.5, 0.0]
    far = anchor_points(_grid(), k=10, min_distance=4, width=60, height=40)
    assert [(a.x, a.y) for a in far] == [(15.0, 15.0), (55.0, 35.0)]


def test_anchor_points_pixel_centres_on_non_square_patches():
    grid = torch.zeros(3, 7)
    grid[2, 6] = 1.0
    (anchor,) = anchor_points(grid, k=1, min_distance=0, width=70, height=45)
    assert anchor == Anchor(65.0, 37.5, 1.0)


def test_anchor_points_break_ties_in_row_major_order():
    anchors = anchor_points(torch.ones(2, 3), k=6, min_distance=0, width=3, height=2)
    assert [(a.x, a.y) for a in anchors] == [(0.5, 0.5), (1.5, 0.5), (2.5, 0.5)] + [
        (0.5, 1.5),
        (1.5, 1.5),
        (2.5, 1.5),
    ]


@FIXED
@given(
    seed=st.integers(0, 10_000),
    rows=st.integers(1, 9),
    cols=st.integers(1, 9),
    k=st.integers(1, 12),
    min_distance=st.integers(0, 4),
)
def test_anchor_points_are_a_greedy_nms(seed, rows, cols, k, min_distance):
    grid = torch.rand(rows, cols, generator=torch.Generator().manual_seed(seed))
    anchors = anchor_points(grid, k, min_distance, width=cols * 10, height=rows * 10)
    cells = [(int(a.y // 10), int(a.x // 10)) for a in anchors]
    assert 1 <= len(anchors) <= k
    assert [a.value for a in anchors] == sorted((a.value for a in anchors), reverse=True)
    for (r, c), anchor in zip(cells, anchors, strict=True):
        assert anchor.value == float(grid[r, c])
    for i, (r, c) in enumerate(cells):
        for r2, c2 in cells[i + 1 :]:
            assert max(abs(r - r2), abs(c - c2)) >= min_distance
    # every stronger cell left out lies within min_distance of a stronger anchor
    for r in range(rows):
        for c in range(cols):
            if (r, c) in cells or float(grid[r, c]) <= anchors[-1].value:
                continue
            assert any(
                max(abs(r - r2), abs(c - c2)) < min_distance and a.value >= float(grid[r, c])
                for (r2, c2), a in zip(cells, anchors, strict=True)
            )


def test_anchor_points_refuse_bad_counts():
    images = torch.rand(1, 40, 60, 3)
    with pytest.raises(PinpointError) as caught, reported_as("Anchors"):
        # dino=None: the counts are checked before the model is touched
        AnchorRequest(None, images, anchors=0, min_distance=0)
    assert_house_error(caught, "Anchors", "anchors is 0")
    with pytest.raises(PinpointError) as caught, reported_as("Anchors"):
        AnchorRequest(None, images, anchors=1, min_distance=-1)
    assert_house_error(caught, "Anchors", "min_distance is -1")


# --- box proposals -----------------------------------------------------------------------------


def test_square_box_is_centred_or_shifted_inside():
    assert square_box(50.0, 30.0, 20, 100, 60) == (40.0, 20.0, 60.0, 40.0)
    assert square_box(3.0, 58.0, 20, 100, 60) == (0.0, 40.0, 20.0, 60.0)
    assert square_box(99.5, 0.5, 60, 100, 60) == (40.0, 0.0, 100.0, 60.0)
    assert square_box(10.0, 10.0, 500, 100, 60) == (0.0, 0.0, 60.0, 60.0)


@FIXED
@given(
    height=st.integers(8, 80),
    width=st.integers(8, 80),
    seed=st.integers(0, 1000),
    k=st.integers(1, 4),
    min_distance=st.integers(0, 3),
    sizes=st.lists(st.floats(0.01, 1.0, allow_nan=False), min_size=1, max_size=3, unique=True),
)
def test_anchor_regions_are_squares_around_their_anchors(
    dino, height, width, seed, k, min_distance, sizes
):
    images = torch.rand(1, height, width, 3, generator=torch.Generator().manual_seed(seed))
    request = AnchorRequest(dino, images, anchors=k, box_sizes=sizes, min_distance=min_distance)
    search = find_anchors(request)
    (anchors,), (found,) = search.anchors, search.regions
    assert (found.width, found.height) == (width, height)
    assert len(found.regions) == len(anchors) * len(sizes) and 1 <= len(anchors) <= k
    scores = [region.score for region in found.regions]
    assert scores == sorted(scores, reverse=True)
    shorter = min(width, height)
    for index, region in enumerate(found.regions):
        anchor, size = anchors[index // len(sizes)], sizes[index % len(sizes)]
        x0, y0, x1, y1 = region.box
        assert x1 - x0 == y1 - y0
        assert abs((x1 - x0) - round(size * shorter)) <= 1
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        for low, high, centre, limit in ((x0, x1, anchor.x, width), (y0, y1, anchor.y, height)):
            if low > 0 and high < limit:  # not shifted by a border
                assert abs((low + high) / 2 - centre) <= 0.5
            elif low == 0 and high < limit:
                assert (low + high) / 2 >= centre - 0.5
            elif low > 0:
                assert (low + high) / 2 <= centre + 0.5
        assert region.label == f"anchor {index // len(sizes) + 1} · {size * 100:g}%"
        assert region.confidence == region.score == anchor.value
        assert region.source == "dino:tiny-random-dino" and region.mask is None


def test_anchor_regions_of_a_batch_equal_each_image_alone(dino):
    torch.manual_seed(3)
    images = torch.rand(3, 40, 72, 3)
    together = find_anchors(
        AnchorRequest(dino, images, anchors=3, box_sizes="0.2, 0.6", min_distance=2)
    )
    for index in range(3):
        alone = find_anchors(
            AnchorRequest(
                dino, images[index : index + 1], anchors=3, box_sizes="0.2, 0.6", min_distance=2
            )
        )
        assert [r.box for r in together.regions[index].regions] == [
            r.box for r in alone.regions[0].regions
        ]
        assert [r.score for r in together.regions[index].regions] == pytest.approx(
            [r.score for r in alone.regions[0].regions], abs=1e-5
        )
        torch.testing.assert_close(together.attention[index], alone.attention[0], atol=1e-5, rtol=0)
    assert find_anchors(AnchorRequest(dino, images, 3, "0.2, 0.6", 2)).regions == together.regions


def test_parse_box_sizes():
    assert parse_box_sizes("0.15, 0.3,0.5") == (0.15, 0.3, 0.5)
    assert parse_box_sizes(" 1 , 0.5, 1, ") == (1.0, 0.5)
    assert parse_box_sizes([0.25, 1.0]) == (0.25, 1.0)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "box_sizes is empty"),
        (" , ", "box_sizes is empty"),
        ("0.2, big", "'big' is not a number"),
        ("0", "'0' is outside (0, 1]"),
        ("0.3, 1.5", "'1.5' is outside (0, 1]"),
        ("-0.2", "'-0.2' is outside (0, 1]"),
        ("nan", "'nan' is outside (0, 1]"),
    ],
)
def test_bad_box_sizes_are_refused_before_the_model_runs(text, fragment):
    with pytest.raises(PinpointError) as caught, reported_as("Anchors"):
        # dino=None: the sizes are checked before the model is touched
        AnchorRequest(None, torch.rand(1, 16, 16, 3), box_sizes=text)
    assert_house_error(caught, "Anchors", fragment, "'0.15, 0.3, 0.5'")


def test_draw_anchors_marks_every_anchor(dino):
    torch.manual_seed(5)
    images = torch.rand(2, 48, 80, 3)
    search = find_anchors(AnchorRequest(dino, images, anchors=3, box_sizes=(0.5,), min_distance=2))
    preview = draw_anchors(images, search)
    assert preview.shape == (2, 48, 80, 3) and preview.dtype == torch.float32
    assert float(preview.min()) >= 0.0 and float(preview.max()) <= 1.0
    for picture, anchors in zip(preview, search.anchors, strict=True):
        for anchor in anchors:
            assert torch.equal(picture[int(anchor.y), int(anchor.x)], torch.ones(3))


# --- the request -------------------------------------------------------------------------------


def test_anchor_request_keeps_the_defaults_and_parses_the_sizes():
    images = torch.rand(1, 16, 16, 3)
    request = AnchorRequest(None, images)
    assert (request.anchors, request.box_sizes, request.min_distance) == (5, (0.15, 0.3, 0.5), 2)
    assert AnchorRequest(None, images, box_sizes=" 1 , 0.5, 1, ").box_sizes == (1.0, 0.5)
    assert AnchorRequest(None, images, box_sizes=[0.25]).box_sizes == (0.25,)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"anchors": 0}, "anchors is 0. Fix: ask for at least 1 anchor per image"),
        ({"anchors": -2}, "anchors is -2"),
        ({"min_distance": -1}, "min_distance is -1. Fix: use 0 (anchors may touch)"),
        ({"box_sizes": ""}, "box_sizes is empty"),
        ({"box_sizes": (0.3, 0.0)}, "box size 0.0 is outside (0, 1]"),
        ({"box_sizes": "0.3, x"}, "box size 'x' is not a number"),
        ({"images": torch.rand(1, 16, 16, 4)}, "RGBA"),
        ({"images": torch.rand(16, 16, 3)}, "[B, H, W, 3]"),
    ],
)
def test_anchor_request_refuses_bad_settings(settings, fragment):
    arguments = {"images": torch.rand(1, 16, 16, 3), **settings}
    with pytest.raises(PinpointError) as caught, reported_as("Anchors"):
        AnchorRequest(None, **arguments)  # no model: everything is checked before it runs
    assert_house_error(caught, "Anchors", fragment)
