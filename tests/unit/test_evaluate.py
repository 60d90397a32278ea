"""``python -m pinpoint eval`` on a tiny synthetic set (shapes on backgrounds, their masks and
COCO annotations known): the edits file and annotations are checked with line numbers, every
(image, edit) is one row, a stopped or killed run resumes without doing an item twice, and two
processes under ``accelerate launch`` write the same rows as one."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pinpoint.cli import main
from pinpoint.errors import PinpointError
from pinpoint.eval_items import (
    PRESETS,
    EvalEdit,
    EvalImage,
    EvalItem,
    coco_images,
    parse_edits,
    plan_eval_items,
    sample,
)
from pinpoint.eval_runner import (
    ROW_COLUMNS,
    append_row,
    check_out_folder,
    done_rows,
    make_row,
    read_rows,
    run_eval_items,
    shard_path,
)
from pinpoint.images import save_image

EDITS = "type,find,prompt\ncolour,the red square,a blue square\nround,the red square,a circle\n"
SHAPES = {  # name: (background, box of the red square)
    "park.png": ((40, 140, 60), (20, 16, 60, 52)),
    "sea.png": ((30, 90, 200), (40, 10, 84, 50)),
    "road.png": ((90, 90, 90), (8, 30, 40, 70)),
}
"""The synthetic set: a red square on a plain background, each 96x80."""


def shapes(folder: Path) -> dict[str, tuple[int, int, int, int]]:
    """Write :data:`SHAPES` into ``folder``; their boxes by file name."""
    for name, (background, (x0, y0, x1, y1)) in SHAPES.items():
        picture = torch.tensor(background, dtype=torch.float32).div(255).expand(80, 96, 3).clone()
        picture[y0:y1, x0:x1] = torch.tensor([0.9, 0.1, 0.1])
        save_image(picture, folder / name)
    return {name: box for name, (_, box) in SHAPES.items()}


def coco(path: Path, boxes: dict[str, tuple[int, int, int, int]], extra: int = 0) -> Path:
    """COCO instances of the shapes (each a "stop sign", plus a smaller crowd and a smaller
    object per image that are not the target); ``extra`` images listed but not on disk."""
    names = [*boxes, *(f"missing{index}.png" for index in range(extra))]
    annotations = []
    for image_id, name in enumerate(names, start=1):
        x0, y0, x1, y1 = boxes.get(name, (0, 0, 10, 10))
        big = {"bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0)}
        annotations += [
            {"id": 3 * image_id, "image_id": image_id, "category_id": 13, "iscrowd": 0, **big},
            {"id": 3 * image_id + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
             "bbox": [0, 0, 4, 4], "area": 16},
            {"id": 3 * image_id + 2, "image_id": image_id, "category_id": 1, "iscrowd": 1,
             "bbox": [0, 0, 90, 70], "area": 6300},
        ]  # fmt: skip
    listed = [{"id": i, "file_name": n, "width": 96, "height": 80} for i, n in enumerate(names, 1)]
    data = {
        "images": listed,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person"}, {"id": 13, "name": "stop sign"}],
    }  # fmt: skip
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def tiny(models_root, monkeypatch):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(models_root))


def evaluate(tmp_path: Path, *options: str) -> int:
    images = tmp_path / "images"
    if not images.exists():
        shapes(images)
    if not (tmp_path / "edits.csv").exists():
        (tmp_path / "edits.csv").write_text(EDITS)
    args = ["eval", "--tiny", "--images", str(images), "--out", str(tmp_path / "report")]
    return main([*args, "--steps", "1", *(options or ("--edits", str(tmp_path / "edits.csv")))])


def rows(tmp_path: Path) -> list[dict[str, str]]:
    with (tmp_path / "report" / "rows.csv").open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_every_image_and_edit_is_one_row_measured_and_reported(tmp_path, tiny, capsys):
    assert evaluate(tmp_path) == 0
    captured = capsys.readouterr()
    found = rows(tmp_path)
    assert [(r["image"], r["type"]) for r in found] == [
        (image, edit) for image in sorted(SHAPES) for edit in ("colour", "round")
    ]
    for row in found:
        assert row["status"] == "ok", row  # threshold 0 on the tiny models: always a region
        assert float(row["ms"]) > 0 and float(row["peak_mb"]) > 0
        assert float(row["max_delta_outside"]) == 0  # Pinpoint's stitch: outside untouched
        assert float(row["ssim_outside"]) == 1 and float(row["lpips_outside"]) == 0
        assert 0 < float(row["ssim_image"]) < 1  # the edit changed the inside
        assert row["success"] in ("0", "1") and -1 <= float(row["t2i"]) <= 1
        assert row["target_iou"] == ""  # no annotations
        stem = Path(row["image"]).stem
        assert (tmp_path / "report" / "edits" / row["type"] / f"{stem}.png").is_file()
        assert (tmp_path / "report" / "masks" / row["type"] / f"{stem}.png").is_file()
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())["summary"]
    assert summary["all"]["items"] == 6 and summary["colour"]["ok"] == 3
    assert summary["round"]["max_delta_outside"]["mean"] == 0
    rate = sum(r["success"] == "1" for r in found) / 6
    assert summary["all"]["success_rate"] == pytest.approx(rate)
    assert summary["all"]["fid"] is None  # no FID Inception installed
    assert "FID not measured: use one of the weights files" in captured.err
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count("<svg") >= 5 and "<h2>colour</h2>" in page and "<h2>round</h2>" in page
    assert page.count("data:image/png;base64,") == 6  # 3 best per type (3 edits: none "worst")
    assert "colour" in captured.out and "wrote " in captured.out
    assert captured.out.count("models: detector=") == 1


def test_a_second_run_skips_what_is_done_and_a_cut_line_is_redone(tmp_path, tiny, capsys):
    assert evaluate(tmp_path) == 0
    first = rows(tmp_path)
    shard = shard_path(tmp_path / "report", 0)
    text = shard.read_text()
    shard.write_text(text[: text.rindex("\n", 0, -1) + 20])  # the last row cut short by a crash
    capsys.readouterr()
    assert evaluate(tmp_path) == 0
    err = capsys.readouterr().err
    assert "5 items already done (skipped)" in err and "[1/1] sea.png / round" in err
    again = rows(tmp_path)
    assert [(r["image"], r["type"]) for r in again] == [(r["image"], r["type"]) for r in first]
    assert again[-1]["t2i"] == first[-1]["t2i"]  # the same edit again (fixed seeds)


def test_a_killed_run_resumes_where_it_stopped(tmp_path, models_root):
    shapes(tmp_path / "images")
    (tmp_path / "edits.csv").write_text(EDITS)
    command = [
        sys.executable, "-m", "pinpoint", "eval", "--tiny", "--images", str(tmp_path / "images"),
        "--edits", str(tmp_path / "edits.csv"), "--out", str(tmp_path / "report"), "--steps", "1",
    ]  # fmt: skip
    env = os.environ | {"PINPOINT_TINY_DIR": str(models_root)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    shard = shard_path(tmp_path / "report", 0)
    deadline = time.monotonic() + 120
    while len(read_rows(shard)) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()
    process.wait()
    done = len(read_rows(shard))
    assert 2 <= done < 6 or process.returncode == 0  # killed mid-run (or it was very fast)
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    if done < 6:
        assert f"{done} items already done (skipped)" in finished.stderr
    keys = [(r["image"], r["type"]) for r in rows(tmp_path)]
    assert len(keys) == len(set(keys)) == 6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_accelerate_processes_write_the_rows_of_one(tmp_path, models_root):
    pytest.importorskip("accelerate")
    boxes = shapes(tmp_path / "images")
    coco(tmp_path / "instances.json", boxes)
    common = [
        "-m", "pinpoint", "eval", "--tiny", "--images", str(tmp_path / "images"),
        "--coco", str(tmp_path / "instances.json"), "--preset", "s1", "--steps", "1",
    ]  # fmt: skip
    env = os.environ | {"PINPOINT_TINY_DIR": str(models_root), "OMP_NUM_THREADS": "1"}
    single = subprocess.run(
        [sys.executable, *common, "--out", str(tmp_path / "one")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr
    launcher = Path(sys.executable).with_name("accelerate")
    shared = subprocess.run(
        [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
         str(free_port()), *common, "--out", str(tmp_path / "two")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert shared.returncode == 0, shared.stderr
    assert "process 1 of 2 takes 6" in shared.stderr and "process 2 of 2 takes 6" in shared.stderr
    shards = sorted((tmp_path / "two" / "shards").iterdir())
    assert [len(read_rows(path)) for path in shards] == [6, 6]  # 12 items, none twice
    measured = [c for c in ROW_COLUMNS if c not in ("ms", "peak_mb")]
    with (
        (tmp_path / "one" / "rows.csv").open() as one,
        (tmp_path / "two" / "rows.csv").open() as two,
    ):
        expected = [{c: r[c] for c in measured} for r in csv.DictReader(one)]
        got = [{c: r[c] for c in measured} for r in csv.DictReader(two)]
    assert got == expected and len(got) == 12
    assert {r["find"] for r in got} == {"a stop sign"}
    assert {r["prompt"] for r in got if r["type"] == "upside down"} == {"a stop sign upside down"}
    assert all(r["target_iou"] != "" for r in got if r["status"] == "ok")


def test_the_edits_file_is_read_with_its_line_numbers():
    edits = parse_edits('Type,Find,Prompt,Source_Text\n\ncolour,the car,"a red, shiny car",a car\n')
    assert edits == (EvalEdit("colour", "the car", "a red, shiny car", "a car"),)
    assert parse_edits(EDITS)[1] == EvalEdit(
        "round", "the red square", "a circle", "the red square"
    )
    bad = {
        "type,find\nx,y\n": "line 1: the header is type,find",
        "type,find,prompt,colour\n": "line 1: the header is type,find,prompt,colour",
        "type,find,prompt\na,b,c\nd,e,f,g\n": "line 3: 4 fields where the header has 3",
        "type,find,prompt\na,b,c\n\nd,,f\n": "line 4: the find is empty",
        "type,find,prompt\na,b,c\na,e,f\n": "line 3: the type 'a' is used twice",
        "type,find,prompt\n": "the edits file has no edits",
        "\n\n": "the edits file is empty",
    }
    for text, problem in bad.items():
        with pytest.raises(PinpointError, match=problem):
            parse_edits(text)


def test_coco_annotations_give_each_image_its_largest_object(tmp_path):
    boxes = shapes(tmp_path)
    images, notes = coco_images(coco(tmp_path / "instances.json", boxes, extra=4), tmp_path)
    assert [image.name for image in images] == sorted(SHAPES)
    park = images[[i.name for i in images].index("park.png")]
    assert park.category == "stop sign" and park.box == (20, 16, 60, 52)
    assert notes == [
        f"4 annotated images are not in {tmp_path} and were left out: missing0.png, "
        "missing1.png, missing2.png, ..."
    ]
    with pytest.raises(PinpointError, match="none of the 2 annotated images is in"):
        coco_images(coco(tmp_path / "other.json", {}, extra=2), tmp_path)
    (tmp_path / "broken.json").write_text('{"images": []}')
    with pytest.raises(PinpointError, match=r"cannot read the annotations .*KeyError"):
        coco_images(tmp_path / "broken.json", tmp_path)


def test_items_are_planned_and_checked():
    images = [EvalImage(Path("a.png"), "a.png", "dog"), EvalImage(Path("b.jpg"), "b.jpg", "cat")]
    items = plan_eval_items(images, PRESETS["s1"])
    assert len(items) == 8 and items[1].edit.prompt == "a dog tilted slightly to the left"
    assert items[4].edit.find == "a cat" and items[1].edit.folder == "tilt_left"
    with pytest.raises(PinpointError, match="names \\{category\\}, which only COCO"):
        plan_eval_items([EvalImage(Path("a.png"), "a.png")], PRESETS["s1"])
    with pytest.raises(PinpointError, match="would both be written as a.png"):
        plan_eval_items([*images, EvalImage(Path("a.jpg"), "a.jpg", "x")], PRESETS["s1"])
    twins = [EvalEdit("tilt left", "a", "b", "a"), EvalEdit("tilt-left?", "a", "b", "a")]
    assert plan_eval_items(images[:1], twins[:1])
    with pytest.raises(PinpointError, match="would share the folder"):
        plan_eval_items(images[:1], [twins[0], EvalEdit("tilt  left", "a", "b", "a")])
    drawn = sample([EvalImage(Path(f"{n}.png"), f"{n}.png") for n in range(10)], 4, seed=3)
    assert drawn == sample([EvalImage(Path(f"{n}.png"), f"{n}.png") for n in range(10)], 4, 3)
    assert [d.name for d in drawn] == sorted(d.name for d in drawn) and len(drawn) == 4


def test_rows_are_appended_whole_and_shared_between_processes(tmp_path):
    items = [
        EvalItem(EvalImage(Path(f"{n}.png"), f"{n}.png"), EvalEdit("t", "a", "b", "a"))
        for n in range(5)
    ]
    worked = []

    def work(item):
        worked.append(item.image.name)
        return make_row(item, "ok", ms=1.0)

    lines = []
    assert run_eval_items(items, lambda k: k % 2 == 1, tmp_path, 1, work, lines.append) == 2
    assert worked == ["1.png", "3.png"] and len(read_rows(shard_path(tmp_path, 1))) == 2
    assert run_eval_items(items, lambda k: k % 2 == 0, tmp_path, 0, work, lines.append) == 3
    assert run_eval_items(items, lambda k: True, tmp_path, 0, work, lines.append) == 0  # all done
    assert "5 items already done (skipped)" in lines[-1] and len(done_rows(tmp_path)) == 5
    path = tmp_path / "more.csv"
    append_row(path, make_row(items[0], "failed", note='a "quoted", note'))
    append_row(path, make_row(items[1], "ok"))
    assert path.read_text().count("image,type") == 1
    assert [r["note"] for r in read_rows(path)] == ['a "quoted", note', ""]
    (tmp_path / "file").write_text("x")
    with pytest.raises(PinpointError, match="is a file, but a report needs a folder"):
        check_out_folder(tmp_path / "file")


def test_bad_input_is_refused_before_any_model_loads(tmp_path, tiny, capsys):
    shapes(tmp_path / "images")
    (tmp_path / "edits.csv").write_text("type,find,prompt\na,b,c\nd,e\n")
    assert evaluate(tmp_path) == 2
    assert (
        f"pinpoint eval --edits {tmp_path / 'edits.csv'}: line 3: 2 fields"
        in capsys.readouterr().err
    )
    (tmp_path / "report").write_text("a file")
    assert evaluate(tmp_path, "--preset", "s1") == 2
    err = capsys.readouterr().err
    assert "pinpoint eval: the edit 'colour' names {category}, which only COCO" in err
    (tmp_path / "edits.csv").write_text(EDITS)
    assert evaluate(tmp_path) == 2
    assert "pinpoint eval: --out" in capsys.readouterr().err
    assert "models: detector" not in capsys.readouterr().out


def test_fid_is_measured_per_edit_type_with_the_inception_given(tmp_path, tiny, inception_file):
    assert (
        evaluate(tmp_path, "--edits", str(write_edits(tmp_path)), "--fid", str(inception_file)) == 0
    )
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())["summary"]
    for edit_type in ("colour", "round", "all"):
        assert summary[edit_type]["fid"] > 0  # noise painted over the squares
    assert evaluate(tmp_path, "--preset", "s1", "--fid", str(inception_file)) == 2


def write_edits(tmp_path: Path) -> Path:
    (tmp_path / "edits.csv").write_text(EDITS)
    return tmp_path / "edits.csv"


def test_an_unreadable_image_is_a_failed_row_and_the_run_goes_on(tmp_path, tiny, capsys):
    shapes(tmp_path / "images")
    (tmp_path / "images" / "zz.png").write_bytes(b"not a png")
    assert evaluate(tmp_path, "--edits", str(write_edits(tmp_path))) == 1  # a failure
    found = {(r["image"], r["type"]): r for r in rows(tmp_path)}
    assert len(found) == 8 and found[("zz.png", "round")]["status"] == "failed"
    assert "is not a readable image" in found[("zz.png", "colour")]["note"]
    assert sum(r["status"] == "ok" for r in found.values()) == 6
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())["summary"]
    assert summary["all"]["failed"] == 2 and (tmp_path / "report" / "report.html").is_file()
