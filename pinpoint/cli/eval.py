"""``python -m pinpoint eval``: a set of edits run on a set of images and every result
measured, into a report folder (:mod:`pinpoint.eval_items`, :mod:`pinpoint.eval_runner`,
:mod:`pinpoint.eval_measures`, :mod:`pinpoint.eval_report`).

Routes and settings are compared by running eval once per route (``--route``, ``--refine``)
or setting (``--guide ...``, ``--candidates``) into the same ``--out``: each run adds its rows,
keyed by its route and setting (:func:`pinpoint.eval_items.run_label`), and rewrites the
summary and report of every run in the folder side by side. One run is one route's familiar
eval (its models only, resumable, shared by several processes); nothing else is needed to join
them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..diffusers_sampler import DiffusersSampler, with_scheduler
from ..edit_list import EditLine
from ..errors import PinpointError, reported_as
from ..eval_benchmarks import BENCHMARK_MASK, BENCHMARKS, MAGICBRUSH, MASK_CHOICES
from ..eval_items import (
    NO_REFINER,
    PRESETS,
    EvalImage,
    coco_images,
    eval_folder,
    plan_eval_items,
    read_edits,
    route_label,
    run_label,
    sample,
)
from ..eval_settings import EvalSetting
from ..loading.kinds import DINO, PERCEPTUAL
from ..loading.models import Dino, InpaintPipe, PerceptualNet
from ..shards import current_shard
from .guide import candidate_settings, guidance_recipe, guide_files, guide_settings
from .models import model_paths, models_root
from .options import edit_settings
from .routes import route_settings

EVAL = "pinpoint eval"
"""How the eval command names itself in errors."""
BENCHMARK = MASK_CHOICES[1]
"""``--mask benchmark``: edit inside the benchmark's own mask."""


def _perceptual(
    args: argparse.Namespace, use: str, given: str | None, device: torch.device
) -> tuple[PerceptualNet | None, str]:
    """The perceptual network for ``use`` (``LPIPS``/``FID``): the one named, else the first
    installed file of a network for it (with --tiny: the tiny LPIPS backbone); and a note when
    there is none."""
    from ..loading import default_search_dirs, find_model, list_installed, load_model
    from ..loading.perceptual import LPIPS, NETWORKS, accepted_fix, check_use

    flag = f"--{use.lower()}"
    search = default_search_dirs(PERCEPTUAL, models_root(args.models_dir))
    with reported_as(f"{EVAL} {flag}"):
        if given is not None:
            path = find_model(given, search, PERCEPTUAL)
        elif args.tiny and use == LPIPS:
            from ..tiny import build_tiny_models, default_tiny_root

            path = build_tiny_models(default_tiny_root())["perceptual"]
        else:
            files = {n.file for n in NETWORKS.values() if n.use == use}
            found = [name for name in list_installed(search, PERCEPTUAL) if name in files]
            if not found:
                return None, f"{use} not measured: {accepted_fix(search[0], use)}"
            path = find_model(found[0], search, PERCEPTUAL)
        net = load_model(PERCEPTUAL, path, device)
        check_use(net, use, flag)
    return net, ""


def _images(args: argparse.Namespace) -> tuple[list[EvalImage], list[str]]:
    """The images of the run: a benchmark's (``--benchmark``, ``--data``), a COCO set's or a
    folder's, and notes on what was left out; refused before any model loads."""
    if args.benchmark:
        with reported_as(f"{EVAL} --benchmark {args.benchmark} --data"):
            if not args.data:
                raise PinpointError("no --data folder", "give --data the benchmark's folder")
            if args.images or args.coco:
                raise PinpointError(
                    "--images and --coco name other images", "leave them out: --data gives them"
                )
            return BENCHMARKS[args.benchmark](args.data), []
    if args.data:
        with reported_as(f"{EVAL} --data"):
            raise PinpointError(
                "--data names a benchmark's folder, but no --benchmark is given",
                f"add --benchmark ({', '.join(sorted(BENCHMARKS))}), or leave --data out",
            )
    with reported_as(f"{EVAL} --mask"):
        if args.mask == BENCHMARK:
            raise PinpointError(
                "--mask benchmark needs a benchmark's masks",
                f"give --benchmark ({', '.join(sorted(BENCHMARKS))}) and --data",
            )
    with reported_as(f"{EVAL} --coco {args.coco}" if args.coco else f"{EVAL} --images"):
        if not args.images:
            raise PinpointError("no --images folder", "give --images a folder of images")
        if args.coco:
            return coco_images(args.coco, args.images)
        return eval_folder(args.images), []


def _dino(args: argparse.Namespace, device: torch.device) -> tuple[Dino | None, str]:
    """The DINO that measures DINO-I: ``--dino``, else the first installed (with --tiny: the
    tiny one); and a note when there is none."""
    from ..loading import default_search_dirs, find_model, list_installed, load_model

    search = default_search_dirs(DINO, models_root(args.models_dir))
    with reported_as(f"{EVAL} --dino"):
        if args.dino:
            path = find_model(args.dino, search, DINO)
        elif args.tiny:
            from ..tiny import build_tiny_models, default_tiny_root

            path = build_tiny_models(default_tiny_root())[DINO.key]
        else:
            found = list_installed(search, DINO)
            if not found:
                hint = DINO.download_hint(search[0] / DINO.example_dir)
                return None, f"DINO-I not measured: {hint}"
            path = find_model(found[0], search, DINO)
        return load_model(DINO, path, device), ""


def _inpainting(pipe: InpaintPipe, sampler: DiffusersSampler) -> str:
    """A note naming the inpainting family, pipeline, scheduler and steps ``sampler`` runs."""
    scheduler = type(with_scheduler(pipe.pipe, sampler.scheduler).scheduler).__name__
    return (
        f"inpainting: {sampler.family.title} ({pipe.name}) with {scheduler}, {sampler.steps} steps"
    )


def run_eval(args: argparse.Namespace) -> int:
    """``eval``: every edit on every image, each measured; the report once all are done (by
    whichever process of several finishes last), of every run (route and setting) with rows in
    the folder."""
    from ..eval_measures import EvalModels, edit_and_measure, set_fid
    from ..eval_report import routes_text, summarise, summary_text, write_report, write_summary
    from ..eval_runner import (
        FAILED,
        check_out_folder,
        done_rows,
        folder_routes,
        merge_rows,
        row_route,
        run_eval_items,
    )
    from ..loading.models import module_device
    from ..loading.perceptual import FID, LPIPS
    from ..pipeline import load_run_models, plan_edit

    settings = edit_settings(args, EVAL)
    route = route_settings(args, EVAL)
    candidates, ranking = candidate_settings(args, EVAL)
    guide = guide_settings(args, EVAL)
    files = guide_files(args, EVAL)
    names = tuple((flag, path.name) for flag, path in files.items())
    setting = EvalSetting(args.guide, guide, names, args.source_text, candidates, ranking)
    if args.edits:
        with reported_as(f"{EVAL} --edits {args.edits}"):
            edits = read_edits(args.edits)
    else:
        edits = PRESETS.get(args.preset, ())  # a benchmark gives each image its own edit
    images, notes = _images(args)
    with reported_as(EVAL):
        images = sample(images, args.limit, args.sample_seed)
        refiner = NO_REFINER if args.refine == NO_REFINER else Path(args.refine).name
        routed = route_label(route.route.value, refiner)
        if args.mask == BENCHMARK:
            routed = BENCHMARK_MASK
        label = run_label(routed, setting.label)
        items = plan_eval_items(images, edits, routed, setting.label)
        out = check_out_folder(args.out)
        shard = current_shard()
    paths, kinds = model_paths(args, EVAL, route)
    loaded = load_run_models(
        paths, args.device, args.precision, shard, where=EVAL, report=print, kinds=kinds
    )
    by_key = dict(zip(kinds, loaded, strict=True))
    finder, clip, pipe = by_key[route.finder.kind.key], by_key["clip"], by_key["inpaint"]
    first = items[0].edit
    guidance = guidance_recipe(args, EVAL, guide, files, clip, pipe, first.prompt)
    with reported_as(EVAL):  # what every item would fail on, refused once, before any edit
        probe = torch.zeros(1, 64, 64, 3)
        line = EditLine(first.find, first.prompt)
        probed = plan_edit(pipe, probe, [line], settings, candidates, ranking, guidance, clip)
    notes.append(_inpainting(pipe, probed.sampler))  # type: ignore[arg-type]
    device = module_device(clip.model)
    lpips, lpips_note = _perceptual(args, LPIPS, args.lpips, device)
    fid, fid_note = _perceptual(args, FID, args.fid, device)
    dino, dino_note = by_key.get(DINO.key), ""
    if args.benchmark == MAGICBRUSH and dino is None:  # DINO-I against its edited images
        dino, dino_note = _dino(args, device)
    notes += [note for note in (lpips_note, fid_note, dino_note) if note]
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    models = EvalModels(
        finder,
        clip,
        pipe,
        lpips,
        fid,
        route,
        by_key.get("sam"),
        by_key.get("matte"),
        guidance,
        dino,
    )
    mine = sum(shard.mine(position) for position in range(len(items)))
    counted = f"{len(images)} images x {len(edits)} edits = {len(items)} items"
    if args.benchmark:
        counted = f"{len(items)} items of {args.benchmark}, each with its own edit"
    print(
        counted + (f"; {shard} takes {mine}" if shard.count > 1 else ""),
        file=sys.stderr,
    )
    run_eval_items(
        items,
        shard.mine,
        out,
        shard.index,
        lambda item: edit_and_measure(models, item, settings, out, args.convert_rgb, setting),
        lambda line: print(line, file=sys.stderr),
    )
    done = done_rows(out)
    left = sum(item.key not in done for item in items)
    if left:  # another process is still at work: the last to finish writes the report
        print(f"{shard}: done; {left} items of other processes are still running")
        return 0
    every = {
        run_label(*run): (run, plan_eval_items(images, edits, *run)) for run in folder_routes(out)
    }
    planned_items = [item for _, planned in every.values() for item in planned]
    rows = merge_rows(out, planned_items)

    def measure_fid(planned: list, edit_type: str | None) -> float | None:
        chosen = [item for item in planned if edit_type in (None, item.edit.type)]
        return set_fid(fid, out, chosen, rows) if fid is not None else None

    types = list(dict.fromkeys(item.edit.type for item in items))
    routes = {
        other: summarise(rows, types, lambda t, p=planned: measure_fid(p, t), *run)
        for other, (run, planned) in every.items()
    }
    write_summary(out, routes[label], notes, routes)
    report = write_report(out, rows, planned_items, routes, notes)
    print(routes_text(routes) if len(routes) > 1 else summary_text(routes[label]))
    print(f"wrote {out / 'rows.csv'}, {out / 'summary.json'} and {report}")
    if args.tiny:
        print("(tiny random models: the edits and their measures are noise by design)")
    mine = [row for row in rows if row_route(row) == label]
    return 1 if any(row["status"] == FAILED for row in mine) else 0
