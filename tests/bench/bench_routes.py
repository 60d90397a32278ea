"""Benchmark 11: what finding the area costs next to the edit, and UNet calls per scheduler.

    .venv/bin/python tests/bench/bench_routes.py          # full-size random weights (minutes)
    .venv/bin/python tests/bench/bench_routes.py --quick  # tiny models (a smoke run)

One run, random weights in the real models' shapes: DETR ResNet-50, CLIP ViT-B/32, SAM vit_b
(segment_anything), SAM 2.1 hiera-small (transformers) and SD 1.5 inpainting (its UNet, VAE and
CLIP ViT-L/14 text encoder; the tokenizer is the tiny one's). On a 640x480 image:

* localisation (detect + match + refine: :func:`pinpoint.route.localise`, 20 candidates, the
  best refined) without a refiner, with SAM 2.1 small and with SAM vit_b, each after one
  warm-up call;
* a 20-step edit of a 512-px crop (the sampling alone: :func:`pinpoint.repaint.repaint` with
  the headless default, DPM-Solver++) and the UNet calls it made;
* localisation as a share of localisation + edit, for each refiner;
* UNet calls of a 20-step edit with each scheduler (counted on the tiny pipeline: the count is
  the scheduler's, not the weights'), and the pipeline's own PNDM's time from the time per call.

Nothing asserts; read the ratios. The seconds are this machine's; the shares carry over only
roughly to a GPU, where the UNet's share of the time is larger still.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pinpoint.diffusers_sampler import DiffusersSampler, Scheduler  # noqa: E402
from pinpoint.edit_list import EditLine, EditSettings  # noqa: E402
from pinpoint.loading import load_model  # noqa: E402
from pinpoint.loading.kinds import CLIP, DETECTOR, INPAINT, SAM, SAM_FOLDER  # noqa: E402
from pinpoint.loading.models import (  # noqa: E402
    ClipMatcher,
    Detector,
    InpaintPipe,
    SamFolder,
    SamModel,
)
from pinpoint.repaint import Layer, RepaintRequest, repaint  # noqa: E402
from pinpoint.route import RouteModels, localise  # noqa: E402
from pinpoint.tiny import build_tiny_models  # noqa: E402

STEPS = 20
WIDTH, HEIGHT = 640, 480


def full_size(tiny: dict[str, Path]) -> dict[str, object]:
    """Random models in the real ones' shapes (processors borrowed from the tiny folders)."""
    import diffusers
    import segment_anything
    import transformers as tf

    torch.manual_seed(0)
    detr = tf.DetrForObjectDetection(tf.DetrConfig(use_pretrained_backbone=False)).eval()
    detector = Detector(detr, tf.DetrImageProcessor(), "detr-resnet-50 (random)", Path("."))
    small_clip = load_model(CLIP, tiny["clip"])
    processor = small_clip.processor
    processor.image_processor.size = {"shortest_edge": 224}
    processor.image_processor.crop_size = {"height": 224, "width": 224}
    text = dict(vocab_size=len(processor.tokenizer), bos_token_id=512, eos_token_id=513)
    clip_config = tf.CLIPConfig(
        text_config=text | dict(pad_token_id=513),
        vision_config={"image_size": 224, "patch_size": 32},
        projection_dim=512,
    )
    clip = ClipMatcher(tf.CLIPModel(clip_config).eval(), processor, "clip-b32 (random)", Path("."))
    vit_b = segment_anything.build_sam_vit_b(checkpoint=None).eval()
    sam_b = SamModel(vit_b, "sam_vit_b (random)", Path("."), "vit_b")
    hiera = tf.Sam2HieraDetConfig(
        blocks_per_stage=[1, 2, 11, 2], global_attention_blocks=[7, 10, 13]
    )
    sam2 = tf.Sam2Model(tf.Sam2Config(vision_config=tf.Sam2VisionConfig(backbone_config=hiera)))
    sam2_processor = tf.Sam2Processor(image_processor=tf.Sam2ImageProcessor())
    sam_small = SamFolder(sam2.eval(), sam2_processor, "sam2.1-hiera-small (random)", Path("."))
    small = load_model(INPAINT, tiny["inpaint"]).pipe
    encoder = tf.CLIPTextModel(
        tf.CLIPTextConfig(
            vocab_size=len(small.tokenizer),
            bos_token_id=small.tokenizer.bos_token_id,
            eos_token_id=small.tokenizer.eos_token_id,
            pad_token_id=small.tokenizer.pad_token_id,
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            max_position_embeddings=77,
        )
    )
    vae = diffusers.AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
    )
    unet = diffusers.UNet2DConditionModel(in_channels=9, cross_attention_dim=768, sample_size=64)
    pipe = diffusers.StableDiffusionInpaintPipeline(
        vae=vae.eval(),
        text_encoder=encoder.eval(),
        tokenizer=small.tokenizer,
        unet=unet.eval(),
        scheduler=small.scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    inpaint = InpaintPipe(pipe, "sd15-inpainting (random)", Path("."), 512, 8)
    return dict(detector=detector, clip=clip, sam=sam_small, sam_b=sam_b, inpaint=inpaint)


def tiny_models(tiny: dict[str, Path]) -> dict[str, object]:
    keys = dict(detector=DETECTOR, clip=CLIP, inpaint=INPAINT)
    models: dict[str, object] = {key: load_model(kind, tiny[key]) for key, kind in keys.items()}
    models["sam"] = load_model(SAM_FOLDER, tiny["sam_folder"])
    models["sam_b"] = load_model(SAM, tiny["sam"])
    return models


def edit_seconds(pipe: InpaintPipe, image, mask, scheduler: Scheduler) -> tuple[float, int]:
    """Seconds and UNet calls of a 20-step edit of one 512-px crop."""
    sampler = DiffusersSampler(pipe, STEPS, 7.5, 1.0, scheduler)
    request = RepaintRequest(sampler, image, (Layer(mask, "a small red fox"),), seed=0)
    unet = pipe.pipe.unet
    calls: list[int] = []
    handle = unet.register_forward_pre_hook(lambda module, args: calls.append(1))
    started = time.perf_counter()
    with torch.inference_mode():
        repaint(request)
    handle.remove()
    return time.perf_counter() - started, len(calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny models only (a smoke run)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    with tempfile.TemporaryDirectory() as folder:
        tiny = build_tiny_models(Path(folder))
        models = tiny_models(tiny) if args.quick else full_size(tiny)
        small_pipe = load_model(INPAINT, tiny["inpaint"])
        generator = torch.Generator().manual_seed(0)
        image = torch.rand(1, HEIGHT, WIDTH, 3, generator=generator)
        settings = EditSettings(threshold=0.0, max_detections=20, grow_px=8)
        line = [EditLine("the cat", "a small red fox")]
        print(f"\n11. Localisation and the edit, {WIDTH}x{HEIGHT}, {STEPS} steps (random weights)")
        found = {}
        for name, sam in (("no refiner", None), ("SAM 2.1 small", "sam"), ("SAM vit_b", "sam_b")):
            route = RouteModels(models["detector"], models["clip"], models.get(sam))
            localise(route, image, line, settings)  # warm-up: first calls at a size cost more
            started = time.perf_counter()
            result = localise(route, image, line, settings)
            found[name] = time.perf_counter() - started
            print(f"   localisation, {name:<14} {found[name]:7.2f} s")
        mask = result.edits[0].mask
        pipe = models["inpaint"]
        edit, calls = edit_seconds(pipe, image, mask, EditSettings.scheduler)
        print(f"   20-step edit (DPM-Solver++)  {edit:7.2f} s, {calls} UNet calls")
        for name, seconds in found.items():
            share = seconds / (seconds + edit)
            print(f"   localisation share, {name:<14} {share:6.1%} of localisation + edit")
        base, small, vit_b = found["no refiner"], found["SAM 2.1 small"], found["SAM vit_b"]
        alone = (vit_b - base) / max(small - base, 1e-9)
        print(
            f"   SAM vit_b / SAM 2.1 small: localising {vit_b / small:.2f}x, refining {alone:.2f}x"
        )
        print("\n   UNet calls of a 20-step edit (tiny pipeline: the scheduler's count)")
        per_call = edit / calls
        for scheduler in Scheduler:
            _, count = edit_seconds(small_pipe, image, mask, scheduler)
            estimate = count * per_call
            print(f"   {scheduler.value:<16} {count:3d} calls, ~{estimate:6.1f} s at this size")


if __name__ == "__main__":
    main()
