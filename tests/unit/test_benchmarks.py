"""Public benchmarks in ``python -m pinpoint eval``: PIE-Bench's run-length masks decoded against
constructed masks, MagicBrush's transparent masks, the benchmark measures against hand-computed
values on constructed images (PSNR, MSE, L1, L2 exact; CLIP read off a text tower rigged onto
the picture that should be embedded; CLIP-I and DINO-I 1 for identical images and symmetric),
and both benchmarks end to end on tiny fixture sets written in their layouts: every item one
row with the new columns, the found mask's IoU with the benchmark's, the benchmark's own mask
as a second route beside it, and a broken mask that is its item's failed row while the run
goes on."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from rigs import point_texts_at

from pinpoint.benchmark_metrics import BenchmarkRequest, dino_embeddings, measure_benchmark
from pinpoint.cli import main
from pinpoint.errors import PinpointError
from pinpoint.eval_benchmarks import decode_rle, magicbrush, pie_bench, read_mask_picture
from pinpoint.images import save_image, to_uint8_arrays
from pinpoint.loading import load_model
from pinpoint.loading.kinds import DINO

HEIGHT, WIDTH = 40, 48
SQUARE = (8, 24, 12, 36)  # y0, y1, x0, x1 of the red square


def test_rle_pairs_decode_to_the_pixels_they_cover():
    expected = torch.zeros(3, 4, dtype=torch.bool)
    expected.view(-1)[2:5] = True  # (2, 3): row 0 columns 2-3, row 1 column 0
    expected.view(-1)[9:11] = True
    assert torch.equal(decode_rle([2, 3, 9, 2], 3, 4), expected)
    expected.view(-1)[11] = True  # a last run past the end is cut there
    assert torch.equal(decode_rle([2, 3, 9, 2, 11, 50], 3, 4), expected)


@pytest.mark.parametrize(
    ("runs", "fragment"),
    [
        ([2, 3, 9], "3 numbers, not start and length pairs"),
        ([12, 1], "run (12, 1) outside the 4x3 image"),
        ([-1, 2], "run (-1, 2) outside"),
        ([3, 0], "the mask is empty"),
        ([], "the mask is empty"),
        ("0 5", "not a list of whole numbers"),
        ([0, 2.5], "not a list of whole numbers"),
        ([True, 2], "not a list of whole numbers"),
    ],
)
def test_a_broken_rle_mask_is_refused(runs, fragment):
    with pytest.raises(PinpointError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        decode_rle(runs, 3, 4)


def test_magicbrush_masks_are_their_transparent_pixels_at_the_images_size(tmp_path):
    rgba = np.full((10, 8, 4), 200, dtype=np.uint8)
    rgba[2:6, 4:8, 3] = 0  # the erased area
    Image.fromarray(rgba, "RGBA").save(tmp_path / "mask.png")
    expected = torch.zeros(20, 16, dtype=torch.bool)
    expected[4:12, 8:16] = True  # nearest resize to twice the size
    assert torch.equal(read_mask_picture(tmp_path / "mask.png", 20, 16), expected)
    grey = np.zeros((20, 16), dtype=np.uint8)
    grey[4:12, 8:16] = 255  # a black and white mask without transparency: its light pixels
    Image.fromarray(grey, "L").save(tmp_path / "bw.png")
    assert torch.equal(read_mask_picture(tmp_path / "bw.png", 20, 16), expected)
    Image.fromarray(np.zeros((20, 16), dtype=np.uint8), "L").save(tmp_path / "black.png")
    with pytest.raises(PinpointError, match="marks no pixel"):
        read_mask_picture(tmp_path / "black.png", 20, 16)


@pytest.fixture(scope="module")
def dino(tiny_models):
    return load_model(DINO, tiny_models["dino"])


def constructed() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A source, its edit (new content in the area, 0.1 added to 6 pixels' red outside it), the
    area ``[H, W]`` and the unedited part."""
    source = torch.rand(1, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(0)) * 0.8
    area = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)
    area[10:30, 12:36] = True
    edit = source.clone()
    edit[0, 10:30, 12:36] = torch.rand(20, 24, 3, generator=torch.Generator().manual_seed(1))
    edit[0, 35, 2:8, 0] += 0.1
    return source, edit, area, ~area


def test_the_unedited_part_is_measured_on_every_pixel_with_the_edited_part_blacked_out(clip):
    source, edit, area, unedited = constructed()
    measured = measure_benchmark(BenchmarkRequest(clip, source, edit, "a cat", area, unedited))
    mse = 6 * 0.1**2 / (HEIGHT * WIDTH * 3)  # six red values off by 0.1 over every value
    assert measured.mse_unedited == pytest.approx(mse, rel=1e-4)
    assert measured.psnr_unedited == pytest.approx(-10 * math.log10(mse), rel=1e-4)
    assert 0 < measured.ssim_unedited < 1
    untouched = source.clone()
    untouched[0, 10:30, 12:36] = 1.0  # a change inside only: the unedited part is the source's
    same = measure_benchmark(BenchmarkRequest(clip, source, untouched, "a cat", area, unedited))
    assert same.mse_unedited == 0 and same.psnr_unedited is None
    assert same.ssim_unedited == pytest.approx(1.0, abs=1e-6)
    assert same.l1_target is None and same.clip_i is None and same.dino_i is None


def test_l1_l2_and_image_similarities_are_against_the_target(clip, dino):
    source, edit, area, unedited = constructed()
    target = edit.clone()
    target[0, :, :, 2] = (target[0, :, :, 2] + 0.25).clamp(max=1.0)
    request = BenchmarkRequest(clip, source, edit, "a cat", area, unedited, target, dino=dino)
    measured = measure_benchmark(request)
    difference = (edit - target).abs()
    assert measured.l1_target == pytest.approx(float(difference.mean()), rel=1e-5)
    assert measured.l2_target == pytest.approx(float((difference**2).mean()), rel=1e-5)
    assert measured.l1_target > 0.05
    same = measure_benchmark(BenchmarkRequest(clip, source, edit, "a cat", target=edit, dino=dino))
    assert same.l1_target == 0 and same.l2_target == 0
    assert same.clip_i == pytest.approx(1.0, abs=1e-5)
    assert same.dino_i == pytest.approx(1.0, abs=1e-5)
    assert same.clip_edited is None and same.mse_unedited is None
    swapped = measure_benchmark(BenchmarkRequest(clip, source, target, "a cat", target=edit))
    assert swapped.clip_i == pytest.approx(measured.clip_i, abs=1e-6)
    assert measured.clip_i < 1 - 1e-4
    forward, backward = (
        dino_embeddings(dino, torch.cat([edit, target])),
        dino_embeddings(dino, torch.cat([target, edit])),
    )
    assert float(forward[0] @ forward[1]) == pytest.approx(measured.dino_i, abs=1e-6)
    assert float(backward[0] @ backward[1]) == pytest.approx(measured.dino_i, abs=1e-6)
    assert measured.dino_i < 1 - 1e-4


def test_clip_reads_the_whole_edit_and_its_edited_part_alone(clip):
    source, edit, area, unedited = constructed()
    whole = to_uint8_arrays(edit)[0]
    part = to_uint8_arrays(edit * area[None, ..., None])[0]
    rigged = point_texts_at(clip, {"the whole": whole, "the part": part})

    def measure(edited: torch.Tensor, text: str):
        return measure_benchmark(BenchmarkRequest(rigged, source, edited, text, area, unedited))

    on_whole, on_part = measure(edit, "the whole"), measure(edit, "the part")
    assert on_whole.clip_whole == pytest.approx(1.0, abs=1e-3)
    assert on_part.clip_edited == pytest.approx(1.0, abs=1e-3)
    assert on_whole.clip_edited < 0.999 and on_part.clip_whole < 0.999
    outside = edit.clone()
    outside[0, :6] = 0.5  # a change outside the edited part moves the whole, not the part
    moved = measure(outside, "the part")
    assert moved.clip_edited == pytest.approx(on_part.clip_edited, abs=1e-6)
    assert moved.clip_whole != pytest.approx(on_part.clip_whole, abs=1e-4)


def square_picture(colour: tuple[float, float, float]) -> torch.Tensor:
    """``[H, W, 3]``: a square of ``colour`` on grass."""
    picture = torch.tensor([0.2, 0.55, 0.25]).expand(HEIGHT, WIDTH, 3).clone()
    y0, y1, x0, x1 = SQUARE
    picture[y0:y1, x0:x1] = torch.tensor(colour)
    return picture


def square_runs() -> list[int]:
    """PIE-Bench's run-length pairs of the square, one run per row."""
    y0, y1, x0, x1 = SQUARE
    return [value for y in range(y0, y1) for value in (y * WIDTH + x0, x1 - x0)]


def pie_set(root: Path) -> Path:
    """A PIE-Bench data folder: three images (one with a mask of three numbers)."""
    folder = root / "annotation_images" / "1_change_object_80"
    folder.mkdir(parents=True)
    entries = {}
    for number, (blended, mask) in enumerate((("square circle", None), ("", None), ("", [5]))):
        key = f"11100000000{number}"
        Image.fromarray(to_uint8_arrays(square_picture((0.9, 0.1, 0.1))[None])[0]).save(
            folder / f"{key}.jpg", quality=95
        )
        entries[key] = {
            "image_path": f"1_change_object_80/{key}.jpg",
            "original_prompt": "a red [square] on the grass",
            "editing_prompt": "a blue [circle] on the grass",
            "editing_instruction": "make the square a blue circle",
            "editing_type_id": "1",
            "blended_word": blended,
            "mask": square_runs() if mask is None else mask,
        }
    (root / "mapping_file.json").write_text(json.dumps(entries))
    return root


def magicbrush_set(root: Path) -> Path:
    """A MagicBrush test folder: one session of two turns (the second's mask black and white)."""
    folder = root / "images" / "327726"
    folder.mkdir(parents=True)
    save_image(square_picture((0.9, 0.1, 0.1)), folder / "327726-input.png")
    save_image(square_picture((0.1, 0.1, 0.9)), folder / "327726-output1.png")
    save_image(square_picture((0.9, 0.9, 0.1)), folder / "327726-output2.png")
    y0, y1, x0, x1 = SQUARE
    rgba = np.concatenate(
        [to_uint8_arrays(square_picture((0.9, 0.1, 0.1))[None])[0], np.full((40, 48, 1), 255)], -1
    ).astype(np.uint8)
    rgba[y0:y1, x0:x1, 3] = 0
    Image.fromarray(rgba, "RGBA").save(folder / "327726-mask1.png")
    grey = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    grey[y0:y1, x0:x1] = 255
    Image.fromarray(grey, "L").save(folder / "327726-mask2.png")
    turns = [
        {"input": "327726-input.png", "mask": "327726-mask1.png",
         "output": "327726-output1.png", "instruction": "make the square blue"},
        {"input": "327726-output1.png", "mask": "327726-mask2.png",
         "output": "327726-output2.png", "instruction": "now make it yellow"},
    ]  # fmt: skip
    (root / "edit_sessions.json").write_text(json.dumps({"327726": turns}))
    return root


def test_the_readers_give_each_image_its_own_edit(tmp_path):
    images = pie_bench(pie_set(tmp_path / "pie"))
    assert [image.name for image in images] == [f"11100000000{n}.jpg" for n in range(3)]
    first, second = images[0].case.edit, images[1].case.edit
    assert (first.type, first.find, first.prompt, first.source_text) == (
        "change object", "square", "a blue circle on the grass", "a red square on the grass"
    )  # fmt: skip
    assert second.find == "square"  # no blended word: the source prompt's bracketed words
    truth = images[0].case.truth(HEIGHT, WIDTH)
    y0, y1, x0, x1 = SQUARE
    assert int(truth.edit_area.sum()) == (y1 - y0) * (x1 - x0) and truth.target is None
    assert not truth.unedited[0].any() and not truth.unedited[:, -1].any()  # the protocol's rim
    assert int(truth.unedited.sum()) == (HEIGHT - 2) * (WIDTH - 2) - int(truth.edit_area.sum())
    with pytest.raises(PinpointError, match="1 numbers"):
        images[2].case.truth(HEIGHT, WIDTH)
    turns = magicbrush(magicbrush_set(tmp_path / "mb"))
    assert [(t.name, t.case.edit.type, t.case.edit.find) for t in turns] == [
        ("327726-turn1.png", "turn 1", "make the square blue"),
        ("327726-turn2.png", "turn 2", "now make it yellow"),
    ]
    assert turns[1].path.name == "327726-output1.png"
    truth = turns[0].case.truth(HEIGHT, WIDTH)
    assert torch.equal(truth.edit_area, ~truth.unedited)
    assert torch.allclose(truth.target[0], square_picture((0.1, 0.1, 0.9)), atol=1 / 255)


@pytest.mark.parametrize(
    ("write", "fragment"),
    [
        (lambda root: None, "there is no"),
        (lambda root: (root / "mapping_file.json").write_text("{not json"), "cannot read"),
        (lambda root: (root / "mapping_file.json").write_text("[]"), "lists no edits"),
        (lambda root: (root / "mapping_file.json").write_text('{"1": {"mask": []}}'), "lacks"),
    ],
)
def test_a_bad_mapping_file_is_refused_before_any_model_loads(tmp_path, write, fragment, capsys):
    write(tmp_path)
    args = ["eval", "--tiny", "--benchmark", "pie", "--data", str(tmp_path), "--out"]
    assert main([*args, str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: pinpoint eval --benchmark pie --data: ") and fragment in err
    assert ". Fix: give --data PIE-Bench's data folder" in err
    assert not (tmp_path / "report").exists()


def rows(report: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (report / "rows.csv").open(encoding="utf-8") as file:
        return {(row["image"], row["route"]): row for row in csv.DictReader(file)}


def test_pie_bench_found_and_given_masks_side_by_side(tmp_path, models_root, monkeypatch):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(models_root))
    data, report = pie_set(tmp_path / "pie"), tmp_path / "report"
    args = ["eval", "--tiny", "--benchmark", "pie", "--data", str(data), "--out", str(report)]
    assert main([*args, "--steps", "1"]) == 1  # the broken mask's row failed; the rest went on
    assert main([*args, "--steps", "1", "--mask", "benchmark"]) == 1
    found = rows(report)
    assert len(found) == 6
    for route in ("detect", "benchmark-mask"):
        broken = found[("111000000002.jpg", route)]
        assert broken["status"] == "failed" and "not start and length pairs" in broken["note"]
        for image in ("111000000000.jpg", "111000000001.jpg"):
            row = found[(image, route)]
            assert row["status"] == "ok" and row["type"] == "change object", row
            assert 0 <= float(row["bench_mask_iou"]) <= 1
            assert float(row["mse_unedited"]) >= 0 and float(row["lpips_unedited"]) >= 0
            assert -1 <= float(row["clip_whole"]) <= 1 and -1 <= float(row["clip_edited"]) <= 1
            assert 0 < float(row["ssim_unedited"]) <= 1
            assert row["l1_target"] == row["clip_i"] == row["dino_i"] == ""  # no target image
    for image in ("111000000000.jpg", "111000000001.jpg"):  # the given mask is the benchmark's
        assert float(found[(image, "benchmark-mask")]["bench_mask_iou"]) == 1
    summary = json.loads((report / "summary.json").read_text())
    assert set(summary["routes"]) == {"detect", "benchmark-mask"}
    assert summary["routes"]["benchmark-mask"]["change object"]["bench_mask_iou"]["mean"] == 1
    assert (report / "edits" / "change_object@benchmark-mask" / "111000000000.png").is_file()
    assert main([*args, "--steps", "1", "--mask", "benchmark", "--candidates", "2"]) == 1
    with (report / "rows.csv").open(encoding="utf-8") as file:
        best = [row for row in csv.DictReader(file) if row["setting"] == "candidates=2"]
    assert [row["status"] for row in best] == ["ok", "ok", "failed"]  # beside the others
    assert all(row["kept"] in ("1", "2") and row["bench_mask_iou"] == "1" for row in best[:2])


def test_magicbrush_end_to_end_measures_against_the_target(tmp_path, models_root, monkeypatch):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(models_root))
    data, report = magicbrush_set(tmp_path / "mb"), tmp_path / "report"
    (data / "images" / "327726" / "327726-output2.png").unlink()  # a missing target
    args = ["eval", "--tiny", "--benchmark", "magicbrush", "--data", str(data)]
    assert main([*args, "--out", str(report), "--steps", "1"]) == 1
    first, second = (
        rows(report)[("327726-turn1.png", "detect")],
        rows(report)[("327726-turn2.png", "detect")],
    )
    assert first["status"] == "ok" and first["type"] == "turn 1"
    for column in ("l1_target", "l2_target", "clip_i", "dino_i", "bench_mask_iou"):
        assert first[column] != "", column
    assert float(first["l1_target"]) > 0 and -1 <= float(first["dino_i"]) <= 1
    assert first["directional"] == "" and first["source_text"] == ""
    assert second["status"] == "failed" and "327726-output2.png" in second["note"]


def test_benchmark_options_are_checked_before_any_model_loads(tmp_path, capsys):
    out = ["--out", str(tmp_path / "report")]
    assert main(["eval", "--tiny", "--benchmark", "pie", *out]) == 2
    assert "pinpoint eval --benchmark pie --data: no --data folder" in capsys.readouterr().err
    assert main(["eval", "--benchmark", "pie", "--data", "d", "--images", "i", *out]) == 2
    assert "--data: --images and --coco name other images" in capsys.readouterr().err
    assert main(["eval", "--tiny", "--preset", "s1", "--mask", "benchmark", *out]) == 2
    assert "pinpoint eval --mask: --mask benchmark needs a benchmark's masks" in (
        capsys.readouterr().err
    )
    assert main(["eval", "--tiny", "--preset", "s1", *out]) == 2
    assert "pinpoint eval --images: no --images folder" in capsys.readouterr().err
    assert main(["eval", "--tiny", "--preset", "s1", "--data", "d", *out]) == 2
    assert "eval --data: --data names a benchmark's folder, but no --benchmark" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "report").exists()
