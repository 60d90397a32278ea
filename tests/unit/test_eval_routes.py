"""``python -m pinpoint eval`` on every route: each run writes its route and refiner in every
row and the summary, runs of several routes into one folder are reported side by side, and the
target's box and outline IoU are measured with constructed answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_evaluate import EDITS, SHAPES, coco, rows, shapes, tiny  # noqa: F401 (a fixture)
from test_evaluate import evaluate as evaluated

from pinpoint.eval_items import EvalEdit, EvalImage, EvalItem, coco_images, route_label
from pinpoint.eval_runner import done_rows, make_row, row_route


def evaluate(tmp_path: Path, *options: str) -> int:
    """:func:`test_evaluate.evaluate` with the edits file and ``options`` (a route)."""
    if not (tmp_path / "images").exists():
        shapes(tmp_path / "images")
        (tmp_path / "edits.csv").write_text(EDITS)
    return evaluated(tmp_path, "--edits", str(tmp_path / "edits.csv"), *options)


@pytest.mark.usefixtures("tiny")
def test_runs_of_two_routes_into_one_folder_are_reported_side_by_side(tmp_path, capsys):
    assert evaluate(tmp_path) == 0
    first = rows(tmp_path)
    assert {(r["route"], r["refiner"]) for r in first} == {("detect", "none")}
    capsys.readouterr()
    refined = ("--route", "segments", "--refine", "sam2.1-hiera-small", "--fill-holes")
    assert evaluate(tmp_path, *refined) == 0
    out = capsys.readouterr()
    assert "already done" not in out.err  # the other route's rows are not this run's items
    found = rows(tmp_path)
    assert len(found) == 12 and found[:6] == first  # the first route's rows, as they were
    label = "segments+sam2.1-hiera-small"
    assert {(r["route"], r["refiner"]) for r in found[6:]} == {("segments", "sam2.1-hiera-small")}
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["summary"]["all"]["route"] == "segments"  # this run's route
    assert summary["summary"]["all"]["refiner"] == "sam2.1-hiera-small"
    assert set(summary["routes"]) == {"detect", label}
    for route, entry in summary["routes"].items():
        assert entry["all"]["items"] == 6 and entry["colour"]["items"] == 3, route
    assert summary["routes"][label]["all"] == summary["summary"]["all"]
    assert "route detect:\n" in out.out and f"route {label}:\n" in out.out
    page = (tmp_path / "report" / "report.html").read_text()
    assert f"<h2>colour ({label})</h2>" in page and "<h2>round (detect)</h2>" in page
    stem = Path(found[6]["image"]).stem
    assert (tmp_path / "report" / "edits" / "colour" / f"{stem}.png").is_file()
    assert (tmp_path / "report" / "edits" / f"colour@{label}" / f"{stem}.png").is_file()
    assert (tmp_path / "report" / "masks" / f"round@{label}" / f"{stem}.png").is_file()
    capsys.readouterr()
    assert evaluate(tmp_path, *refined) == 0  # resumed: nothing of either route is redone
    assert "6 items already done (skipped)" in capsys.readouterr().err
    assert len(rows(tmp_path)) == 12


@pytest.mark.usefixtures("tiny")
def test_the_target_box_and_outline_iou_are_measured_on_every_route(tmp_path):
    """Nothing passes the threshold, so the whole image is the edit's mask: the IoUs are the
    target's share of the image, its box's and its outline's."""
    boxes = shapes(tmp_path / "images")
    annotations = json.loads(coco(tmp_path / "instances.json", boxes).read_text())
    for note in annotations["annotations"]:
        x, y, w, h = note["bbox"]
        note["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    (tmp_path / "instances.json").write_text(json.dumps(annotations))
    (tmp_path / "edits.csv").write_text("type,find,prompt\ncolour,a {category},a red {category}\n")
    options = ["--coco", str(tmp_path / "instances.json"), "--if-nothing-found", "whole image"]
    for route in ("detect", "heatmap"):
        assert evaluate(tmp_path, *options, "--route", route, "--threshold", "2") == 0
    images, _ = coco_images(tmp_path / "instances.json", tmp_path / "images")
    found = rows(tmp_path)
    assert [r["route"] for r in found] == ["detect"] * 3 + ["heatmap"] * 3
    for row in found:
        image = next(image for image in images if image.name == row["image"])
        x0, y0, x1, y1 = SHAPES[row["image"]][1]
        share = (x1 - x0) * (y1 - y0) / (96 * 80)  # rows hold 6 significant digits
        assert float(row["target_iou"]) == pytest.approx(share, rel=1e-5)
        outline = image.target_mask(80, 96)
        assert float(row["target_mask_iou"]) == pytest.approx(float(outline.float().mean()), 1e-5)
        assert bool(outline[y0 + 1, x0 + 1]) and not bool(outline[y1 + 2, x1 + 2])


def test_a_coco_outline_is_read_from_polygons_and_uncompressed_rle():
    square = [[2.0, 1.0, 5.0, 1.0, 5.0, 3.0, 2.0, 3.0]]
    polygon = EvalImage(Path("a.png"), "a.png", "cat", (2, 1, 5, 3), square).target_mask(6, 8)
    assert polygon.shape == (6, 8) and bool(polygon[1:4, 2:6].all()) and int(polygon.sum()) == 12
    expected = torch.zeros(6, 8, dtype=torch.bool)
    expected[1:4, 2:6] = True
    runs, column = [], expected.T.flatten().tolist()  # COCO counts run down the columns
    value, count = False, 0
    for pixel in column:
        if pixel != value:
            runs.append(count)
            value, count = pixel, 0
        count += 1
    runs.append(count)
    rle = {"counts": runs, "size": [6, 8]}
    assert torch.equal(EvalImage(Path("a.png"), "a.png", outline=rle).target_mask(6, 8), expected)
    assert EvalImage(Path("a.png"), "a.png", outline={"counts": "x0y"}).target_mask(6, 8) is None
    assert EvalImage(Path("a.png"), "a.png").target_mask(6, 8) is None


def test_a_row_says_its_route_and_rows_from_before_routes_are_the_default(tmp_path):
    image, edit = EvalImage(Path("a.png"), "a.png"), EvalEdit("t", "a", "b", "a")
    label = route_label("anchors", "sam_vit_b_01ec64.pth")
    row = make_row(EvalItem(image, edit, label), "ok")
    assert (row["route"], row["refiner"]) == ("anchors", "sam_vit_b_01ec64.pth")
    assert row_route(row) == label and EvalItem(image, edit, label).folder == f"t@{label}"
    assert EvalItem(image, edit).folder == "t" and route_label("detect") == "detect"
    old = tmp_path / "shards" / "rows-000.csv"
    old.parent.mkdir()
    old.write_text("image,type,status\na.png,t,ok\n")  # a folder written before routes
    assert list(done_rows(tmp_path)) == [("a.png", "t", "detect")]
