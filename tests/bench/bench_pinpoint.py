"""Pinpoint benchmarks: print time ratios measured in one run on this machine.

    python tests/bench/bench_pinpoint.py          # ViT-B/32-sized CLIP, 512-px SD-shaped pipeline,
                                                  # mid-size SAM encoder
    python tests/bench/bench_pinpoint.py --quick  # tiny models only (a smoke run)

1. CLIP matching: per-crop forward passes vs one batched pass, for 1, 8 and 32 regions.
2. Inpaint (crop & stitch): a 64x64 object in a 2048x2048 image vs the same object in a
   512x512 image; crop/stitch should make the ratio close to 1.
3. Model cache: second load of the same folder vs the first.
4. SAM refine: 10 boxes decoded against one shared image embedding vs one embedding per box.
5. Edit list: three edits of one image in one pass (one detection, one CLIP image pass, the
   three crops sampled together) vs three separate one-edit runs.
6. Rank Edits: 8 candidates of a 768x512 edit measured in one CLIP pass vs one call per
   candidate.
7. Evaluation throughput: ``python -m pinpoint eval`` on the tiny models (48 images x 2 edits)
   in one process vs two under ``accelerate launch`` (whole commands, start-up included).
8. CLIP guidance: one sampling step of an SD 1.5-sized UNet at 512 px (64x64 latent, CFG
   batch of 2) unguided vs guided (decode with gradients, CLIP ViT-B/32-sized on 8 cut-outs,
   background MSE, backwards), decoding with the SD VAE or with TAESD: time and peak memory,
   each in a fresh process.
9. Guidance on the diffusers route: a 5-step DDIM edit of a 512-px crop through the SD-shaped
   pipeline of benchmark 2, unguided vs every step guided (ViT-B/32-sized CLIP on 8 cut-outs),
   decoding the guided steps with TAESD (its real size) or with the pipeline's VAE. Its UNet and
   VAE are narrow, so the guidance's share is far larger than with SD's own UNet, and that VAE
   is cheaper than TAESD (SD's VAE is not: see 8); the route's cost, end to end.

Random weights: timings are real (the same layers and sizes as the real models where stated);
the pictures are noise. Nothing here asserts; read the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: rigs

from rigs import detector_finding, point_texts_at, solid  # noqa: E402
from routes import diffusers_edit, inpaint  # noqa: E402

from pinpoint.edit_list import EditSettings, parse_edit_list  # noqa: E402
from pinpoint.loading import load_model  # noqa: E402
from pinpoint.loading.kinds import CLIP, DETECTOR, INPAINT, SAM  # noqa: E402
from pinpoint.match import MatchRequest, match_text  # noqa: E402
from pinpoint.metrics import MetricsRequest  # noqa: E402
from pinpoint.pipeline import edit  # noqa: E402
from pinpoint.ranking import rank_edits  # noqa: E402
from pinpoint.refine import RefineRequest, refine_with_sam  # noqa: E402
from pinpoint.regions import ImageRegions, Region, RegionBatch  # noqa: E402
from pinpoint.repaint import repaint  # noqa: E402
from pinpoint.tiny import build_tiny_clip, build_tiny_detector, build_tiny_inpaint  # noqa: E402
from pinpoint.tiny.sam import build_tiny_sam  # noqa: E402


def timed(fn, repeat: int) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def base_clip(folder: Path) -> Path:
    """A CLIP with openai/clip-vit-base-patch32's architecture and random weights."""
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    build_tiny_clip(folder / "tiny")  # borrow the tokenizer / image processor files
    processor = CLIPProcessor.from_pretrained(folder / "tiny")
    processor.image_processor.size = {"shortest_edge": 224}
    processor.image_processor.crop_size = {"height": 224, "width": 224}
    config = CLIPConfig(
        text_config={
            "vocab_size": 514,
            "bos_token_id": 512,
            "eos_token_id": 513,
            "pad_token_id": 513,
        },
        vision_config={"image_size": 224, "patch_size": 32},
        projection_dim=512,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder / "base")
    processor.save_pretrained(folder / "base")
    return folder / "base"


def medium_inpaint(folder: Path) -> Path:
    """An SD-1.5-shaped inpaint pipeline (9-channel UNet, 8x VAE, 512 px native), narrow layers."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionInpaintPipeline,
        UNet2DConditionModel,
    )

    tiny = load_model(INPAINT, build_tiny_inpaint(folder / "tiny"))
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64, 64, 64),
        layers_per_block=1,
        sample_size=64,
        in_channels=9,
        out_channels=4,
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
        down_block_types=(
            "DownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "DownBlock2D",
        ),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 32, 64, 64],
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=512,
    )
    pipe = StableDiffusionInpaintPipeline(
        vae=vae,
        text_encoder=tiny.pipe.text_encoder,
        tokenizer=tiny.pipe.tokenizer,
        unet=unet,
        scheduler=DDIMScheduler(steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder / "medium")
    return folder / "medium"


def bench_clip(folder: Path, quick: bool) -> None:
    path = build_tiny_clip(folder / "tiny") if quick else base_clip(folder)
    clip = load_model(CLIP, path)
    print(f"\n1. CLIP matching ({'tiny' if quick else 'ViT-B/32-sized'} random CLIP, CPU)")
    print(f"   {'regions':>7} {'batched s':>10} {'per-crop s':>11} {'per-crop / batched':>19}")
    image = torch.rand(1, 512, 768, 3)
    for count in (1, 8, 32):
        regions = tuple(
            Region(
                (
                    float(20 * i % 700),
                    float(10 * i % 400),
                    float(20 * i % 700 + 60),
                    float(10 * i % 400 + 90),
                ),
                "obj",
                0.9,
                "bench",
            )
            for i in range(count)
        )
        batch = RegionBatch((ImageRegions(768, 512, regions),))
        singles = [RegionBatch((ImageRegions(768, 512, (region,)),)) for region in regions]
        batched = timed(
            lambda b=batch, k=count: match_text(MatchRequest(clip, image, b, "a red car", top_k=k)),
            3,
        )
        separate = timed(
            lambda ones=singles: [
                match_text(MatchRequest(clip, image, one, "a red car")) for one in ones
            ],
            3,
        )
        print(f"   {count:>7} {batched:>10.4f} {separate:>11.4f} {separate / batched:>19.2f}")


def bench_inpaint(folder: Path, quick: bool) -> None:
    path = build_tiny_inpaint(folder / "tiny") if quick else medium_inpaint(folder)
    pipe = load_model(INPAINT, path)
    kind = "tiny" if quick else "SD-shaped"
    print(f"\n2. Inpaint a 64x64 object ({pipe.native_size}-px {kind} random pipeline, 10 steps)")
    results = {}
    for size in (512, 2048):
        images = torch.rand(1, size, size, 3)
        masks = torch.zeros(1, size, size)
        masks[:, size // 2 : size // 2 + 64, size // 3 : size // 3 + 64] = 1
        results[size] = timed(
            lambda i=images, m=masks: inpaint(pipe, i, m, "a cat", steps=10),
            2,
        )
        print(f"   {size}x{size}: {results[size]:.3f} s")
    ratio = results[2048] / results[512]
    print(f"   2048 / 512 ratio: {ratio:.2f} (close to 1: cost follows the object, not the image)")


def bench_cache(folder: Path) -> None:
    path = build_tiny_detector(folder / "detector")
    start = time.perf_counter()
    first = load_model(DETECTOR, path)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    second = load_model(DETECTOR, path)
    warm = time.perf_counter() - start
    print("\n3. Model cache (tiny detector)")
    print(
        f"   first load {cold:.4f} s, second load {warm:.6f} s, same object: {first is second}, "
        f"second / first: {warm / cold:.5f}"
    )


def medium_sam(folder: Path) -> Path:
    """A SAM whose encoder is a third of vit_b's width and depth (256 wide, 4 blocks, 4 heads,
    one global block), random weights; the prompt encoder and mask decoder are SAM's own size.

    Full vit_b takes over a minute per embedding on a 2-core CPU; this one a few seconds, so the
    ratio below understates what sharing saves with the real encoders.
    """
    from segment_anything.build_sam import _build_sam

    torch.manual_seed(0)
    model = _build_sam(
        encoder_embed_dim=256,
        encoder_depth=4,
        encoder_num_heads=4,
        encoder_global_attn_indexes=[3],
    )
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "medium-random-sam.pth")
    return folder / "medium-random-sam.pth"


def bench_sam(folder: Path, quick: bool) -> None:
    path = build_tiny_sam(folder / "tiny-random-sam.pth") if quick else medium_sam(folder)
    sam = load_model(SAM, path)
    print(f"\n4. SAM refine, 10 boxes in one 768x512 image ({sam.variant} random SAM, CPU)")
    image = torch.rand(1, 512, 768, 3)
    regions = tuple(
        Region(
            (float(60 * i), float(30 * i), float(60 * i + 200), float(30 * i + 180)),
            "obj",
            0.9,
            "b",
        )
        for i in range(10)
    )
    batch = RegionBatch((ImageRegions(768, 512, regions),))
    singles = [RegionBatch((ImageRegions(768, 512, (region,)),)) for region in regions]
    shared = timed(lambda: refine_with_sam(RefineRequest(sam, image, batch)), 1)
    separate = timed(
        lambda: [refine_with_sam(RefineRequest(sam, image, one)) for one in singles], 1
    )
    print(
        f"   one shared embedding {shared:.2f} s, one embedding per box {separate:.2f} s, "
        f"per-box / shared: {separate / shared:.2f}"
    )


def bench_edit_list(folder: Path, quick: bool) -> None:
    clip_path = build_tiny_clip(folder / "tiny-clip") if quick else base_clip(folder / "clip")
    pipe = load_model(
        INPAINT, build_tiny_inpaint(folder / "tiny") if quick else medium_inpaint(folder)
    )
    colours = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}
    corners = {"red": (80, 100), "green": (340, 260), "blue": (600, 120)}
    image = torch.full((1, 512, 768, 3), 0.5)
    boxes = []
    for name, (x, y) in corners.items():
        image[0, y : y + 96, x : x + 96] = torch.tensor(colours[name])
        boxes.append(((x + 48) / 768, (y + 48) / 512, 96 / 768, 96 / 512))
    detector = detector_finding(load_model(DETECTOR, build_tiny_detector(folder / "det")), boxes)
    texts = {f"the {name} one": solid(name) for name in colours}
    clip = point_texts_at(load_model(CLIP, clip_path), texts)
    edits = parse_edit_list([f"the {name} one => a {name} bird" for name in colours])
    settings = EditSettings(threshold=0.5, steps=10)
    kind = "tiny" if quick else "ViT-B/32-sized CLIP, SD-shaped pipeline"
    print(f"\n5. Edit list, three 96x96 objects in one 768x512 image ({kind}, 10 steps)")
    together = timed(lambda: edit(detector, clip, pipe, image, edits, settings), 1)
    apart = timed(lambda: [edit(detector, clip, pipe, image, (one,), settings) for one in edits], 1)
    print(
        f"   one pass {together:.2f} s, three separate runs {apart:.2f} s, "
        f"separate / one pass: {apart / together:.2f}"
    )


def bench_rank(folder: Path, quick: bool) -> None:
    path = build_tiny_clip(folder / "tiny") if quick else base_clip(folder)
    clip = load_model(CLIP, path)
    source = torch.rand(1, 512, 768, 3)
    mask = torch.zeros(1, 512, 768)
    mask[0, 150:350, 250:500] = 1.0
    edits = source.repeat(8, 1, 1, 1)
    edits[:, 150:350, 250:500] = torch.rand(8, 200, 250, 3)
    kind = "tiny" if quick else "ViT-B/32-sized"
    print(f"\n6. Rank Edits, 8 candidates of a 768x512 edit ({kind} random CLIP, CPU)")
    together = timed(lambda: rank_edits(MetricsRequest(clip, source, edits, mask, "a dog")), 3)
    apart = timed(
        lambda: [
            rank_edits(MetricsRequest(clip, source, edits[i : i + 1], mask, "a dog"))
            for i in range(8)
        ],
        3,
    )
    print(
        f"   one pass {together:.3f} s, one call per candidate {apart:.3f} s, "
        f"per candidate / one pass: {apart / together:.2f}"
    )


def bench_eval(folder: Path) -> None:
    import os
    import subprocess

    from pinpoint.images import save_image
    from pinpoint.tiny import build_tiny_models

    build_tiny_models(folder / "models")
    for index in range(48):
        save_image(torch.rand(1, 384, 512, 3), folder / "images" / f"{index:02d}.png")
    (folder / "edits.csv").write_text("type,find,prompt\na,the dog,a cat\nb,the dog,a fox\n")
    env = os.environ | {"PINPOINT_TINY_DIR": str(folder / "models")}
    args = ["-m", "pinpoint", "eval", "--tiny", "--images", str(folder / "images")]
    args += ["--edits", str(folder / "edits.csv"), "--steps", "4"]
    launcher = Path(sys.executable).with_name("accelerate")
    two = [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    two += ["--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517"]
    print("\n7. Evaluation, 48 images (512x384) x 2 edits on the tiny models (whole commands, CPU)")
    seconds = {}
    for name, command in (("1 process", [sys.executable]), ("2 processes", two)):
        began = time.perf_counter()
        out = ["--out", str(folder / name.replace(" ", "_"))]
        subprocess.run([*command, *args, *out], env=env, check=True, capture_output=True)
        seconds[name] = time.perf_counter() - began
    print(
        f"   1 process {seconds['1 process']:.1f} s, 2 processes {seconds['2 processes']:.1f} s, "
        f"speed-up {seconds['1 process'] / seconds['2 processes']:.2f}x "
        f"({os.cpu_count()} CPU cores)"
    )


def guided_step(decoder: str, clip_path: Path) -> None:
    """One step as ``bench_guidance`` measures it, in this process; prints seconds and peak MB."""
    import resource

    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel

    from pinpoint.guidance import Guidance, GuidanceTarget
    from pinpoint.guidance_settings import GuidanceSettings

    torch.manual_seed(0)
    unet = UNet2DConditionModel(cross_attention_dim=768, sample_size=64).eval()  # SD 1.5 shape
    if decoder == "vae":
        vae = AutoencoderKL(
            block_out_channels=[128, 256, 512, 512],
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            layers_per_block=2,
            latent_channels=4,
            sample_size=512,
        ).eval()
    else:
        vae = AutoencoderTiny().eval()  # TAESD's architecture
    vae.requires_grad_(False)
    clip = load_model(CLIP, clip_path)
    latent = torch.randn(1, 4, 64, 64)
    text = torch.randn(2, 77, 768)
    source = torch.rand(1, 512, 512, 3)
    mask = torch.zeros(1, 512, 512)
    mask[:, 128:384, 128:384] = 1.0
    target = GuidanceTarget(clip, "a red fox", source, mask)
    guidance = Guidance(target, GuidanceSettings(scale=0.05, cutouts=8))

    def decode(z: torch.Tensor) -> torch.Tensor:
        return ((vae.decode(z / 0.18215).sample + 1) / 2).clamp(0, 1)

    began = time.perf_counter()
    with torch.no_grad():
        noise = unet(latent.repeat(2, 1, 1, 1), 500, encoder_hidden_states=text).sample
    denoised = latent - noise[:1]
    if decoder != "none":
        guidance.step(denoised, decode)
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.2f} {peak:.0f}")


def bench_guidance(folder: Path) -> None:
    import subprocess

    clip_path = base_clip(folder / "clip")
    print("\n8. CLIP guidance, one step of an SD 1.5-sized UNet at 512 px (CPU, fresh processes)")
    measured = {}
    for decoder in ("none", "taesd", "vae"):
        command = [sys.executable, __file__, "--guided-step", decoder, "--clip", str(clip_path)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        seconds, peak = (float(value) for value in out.split()[-2:])
        measured[decoder] = (seconds, peak)
    base_s, base_mb = measured["none"]
    titles = {"none": "unguided", "taesd": "guided, TAESD", "vae": "guided, VAE"}
    for decoder, title in titles.items():
        seconds, peak = measured[decoder]
        print(
            f"   {title:<14} {seconds:6.1f} s ({seconds / base_s:.2f}x)   peak {peak:6.0f} MB "
            f"(+{peak - base_mb:.0f} MB)"
        )


def bench_guided_route(folder: Path) -> None:
    from diffusers import AutoencoderTiny

    from pinpoint.guidance import GuidanceRecipe
    from pinpoint.guidance_settings import GuidanceSettings

    pipe = load_model(INPAINT, medium_inpaint(folder))
    clip = load_model(CLIP, base_clip(folder / "clip"))
    taesd = AutoencoderTiny().eval().requires_grad_(False)  # TAESD's architecture, 8x
    settings = GuidanceSettings(scale=0.05, end=1.0, cutouts=8)
    images = torch.rand(1, 512, 512, 3)
    masks = torch.zeros(1, 512, 512)
    masks[:, 128:384, 128:384] = 1
    print("\n9. Guided diffusers edit, 5 DDIM steps at 512 px (SD-shaped narrow pipeline)")
    runs = {
        "unguided": None,
        "guided, TAESD": GuidanceRecipe(clip, "a cat", settings, decoder=taesd),
        "guided, VAE": GuidanceRecipe(clip, "a cat", settings),
    }
    base = None
    for title, guidance in runs.items():
        request = diffusers_edit(
            pipe, images, masks, "a cat", steps=5, scheduler="DDIM", guidance=guidance
        )
        seconds = timed(lambda r=request: repaint(r), 1)
        base = base or seconds
        print(f"   {title:<14} {seconds:6.2f} s ({seconds / base:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny models only")
    parser.add_argument("--only", type=int, help="run only this benchmark (1-9)")
    parser.add_argument("--guided-step", choices=("none", "taesd", "vae"), help=argparse.SUPPRESS)
    parser.add_argument("--clip", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.guided_step:
        guided_step(args.guided_step, args.clip)
        return
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # keep the printed table readable
    transformers_logging.set_verbosity_error()
    diffusers_logging.set_verbosity_error()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    benches = {
        1: lambda folder: bench_clip(folder, args.quick),
        2: lambda folder: bench_inpaint(folder, args.quick),
        3: bench_cache,
        4: lambda folder: bench_sam(folder, args.quick),
        5: lambda folder: bench_edit_list(folder, args.quick),
        6: lambda folder: bench_rank(folder, args.quick),
        7: bench_eval,
        8: bench_guidance,  # full-size models only: minutes on a CPU
        9: bench_guided_route,
    }
    if args.quick and args.only is None:
        del benches[8], benches[9]
    with tempfile.TemporaryDirectory() as scratch:
        for number, bench in benches.items():
            if args.only in (None, number):
                bench(Path(scratch) / str(number))


if __name__ == "__main__":
    main()
