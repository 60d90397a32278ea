"""Every node checks its settings through its stage's core request, before any model moves, and
its inputs' defaults are the core's: ComfyUI imported in-process, every node called as the
executor calls it."""

from __future__ import annotations

from dataclasses import MISSING, fields
from enum import Enum

import pytest
import torch
from node_calls import assert_house_error, error_of, pack_module, run

from pinpoint.diffusers_families import SD_CFG
from pinpoint.guidance_settings import CLIP_SCALE, STYLE_SCALE
from pinpoint.ranking import RankSettings

NO_CORE_SETTINGS = {
    # loaders: model_name and precision only (Precision's default is checked below)
    "PinpointLoadDetector",
    "PinpointLoadCLIP",
    "PinpointLoadSAM",
    "PinpointLoadSAMFolder",
    "PinpointLoadTextSegmenter",
    "PinpointLoadSegmenter",
    "PinpointLoadCLIPSeg",
    "PinpointLoadDINO",
    "PinpointLoadMatte",
    "PinpointLoadInpaintPipeline",
    "PinpointLoadPerceptual",
    "PinpointStitch",  # no settings
    "PinpointSEGSToRegions",  # no settings
    "PinpointRegionsToBoxes",  # no settings
}
"""Nodes without settings of a core request."""

CORE_REQUESTS = {
    "PinpointDetect": ("detect.DetectRequest",),
    "PinpointDetectByText": ("detect.TextDetectRequest",),
    "PinpointSegment": ("segments.SegmentRequest",),
    "PinpointSegmentByText": ("text_segments.TextSegmentRequest",),
    "PinpointAttentionAnchors": ("anchors.AnchorRequest",),
    "PinpointMatchText": ("match.MatchRequest",),
    "PinpointTextHeatmap": ("heatmap.HeatmapRequest",),
    "PinpointSelectRegions": ("selection.SelectRequest",),
    "PinpointRefineSAM": ("refine.RefineRequest",),
    "PinpointRegionsToMask": ("masks.MaskOpsRequest",),
    "PinpointMaskOps": ("masks.MaskOpsRequest",),
    "PinpointMatteEdges": ("matte.MatteRequest",),
    "PinpointCropForInpaint": ("crop.CropRequest",),
    "PinpointInpaintComfy": ("repaint.RepaintRequest",),
    "PinpointInpaintDiffusers": ("diffusers_sampler.DiffusersSampler", "repaint.RepaintRequest"),
    "PinpointMaskToRegions": ("interop.MaskRegionsRequest",),
    "PinpointRegionsToSEGS": ("interop.SegsRequest",),
    "PinpointBoxesToRegions": ("box_lists.BoxesRequest",),
    "PinpointEditByText": ("edit_list.EditSettings", "repaint.RepaintRequest"),
    "PinpointRankEdits": ("metrics.MetricsRequest", "ranking.RankSettings"),
    "PinpointCLIPGuider": ("guidance_settings.GuidanceSettings",),
    "PinpointStyleGuider": ("guidance_settings.GuidanceSettings",),
    "PinpointCLIPGuidance": ("guidance_settings.GuidanceSettings",),
    "PinpointStyleGuidance": ("guidance_settings.GuidanceSettings",),
}
"""Node id → the core requests (``module.Class``) whose field defaults are the node's input
defaults."""

OWN_DEFAULTS = {
    ("PinpointInpaintComfy", "resolution"): 0,  # the MODEL's native size, read from the model
    ("PinpointEditByText", "resolution"): 0,
    ("PinpointEditByText", "cfg"): 7.0,  # ComfyUI's sampling, not the diffusers pipeline's
    ("PinpointInpaintDiffusers", "cfg"): SD_CFG,  # the core's None is "the family's usual"
    ("PinpointCLIPGuider", "scale"): CLIP_SCALE,  # the node guides; the core's 0 is "off"
    ("PinpointStyleGuider", "scale"): STYLE_SCALE,
    ("PinpointCLIPGuidance", "scale"): CLIP_SCALE,
    ("PinpointStyleGuider", "global_weight"): 1.0,  # pinpoint.guidance_settings.STYLE's
    ("PinpointStyleGuider", "patch_weight"): 1.0,
    ("PinpointStyleGuidance", "scale"): STYLE_SCALE,
    ("PinpointStyleGuidance", "global_weight"): 1.0,
    ("PinpointStyleGuidance", "patch_weight"): 1.0,
}
"""Inputs whose node default differs from the core's on purpose → the node's default."""


def _plain(value):
    return value.value if isinstance(value, Enum) else value


def test_every_node_reads_its_defaults_from_its_core_request(comfyui, facts):
    nodes = pack_module(comfyui, "nodes").NODES
    ids = {node.GET_SCHEMA().node_id for node in nodes}
    assert ids == (set(CORE_REQUESTS) | NO_CORE_SETTINGS) - facts.left_out
    compared = 0
    for node in nodes:
        schema = node.GET_SCHEMA()
        if schema.node_id not in CORE_REQUESTS:
            continue
        requests = [dotted.split(".") for dotted in CORE_REQUESTS[schema.node_id]]
        defaults = {
            f.name: f.default
            for module, name in requests
            for f in fields(getattr(pack_module(comfyui, f"pinpoint.{module}"), name))
            if f.default is not MISSING
        }
        for widget in schema.inputs:
            if widget.id in defaults and getattr(widget, "default", None) is not None:
                if (schema.node_id, widget.id) in OWN_DEFAULTS:
                    assert widget.default == OWN_DEFAULTS[schema.node_id, widget.id]
                    continue
                assert widget.default == _plain(defaults[widget.id]), (schema.node_id, widget.id)
                compared += 1
    assert compared >= 40


def test_tooltips_state_the_defaults_of_the_core(comfyui):
    """A tooltip that names a core default (the ranking weights) says the core's value."""
    weights = f"{RankSettings.alpha:g} * S_t2i + {RankSettings.beta:g} * S_i2i"
    seen = 0
    for node in pack_module(comfyui, "nodes").NODES:
        for widget in node.GET_SCHEMA().inputs:
            if widget.id == "candidates" and widget.io_type == "INT":
                assert weights in widget.tooltip, node
                seen += 1
    assert seen == 3  # the two inpaint nodes and Edit by Text


def test_the_loaders_default_to_auto_precision(comfyui):
    precision = pack_module(comfyui, "pinpoint.loading.precision").Precision
    for node in pack_module(comfyui, "nodes").NODES:
        schema = node.GET_SCHEMA()
        if schema.category == "pinpoint/loaders":
            (widget,) = [w for w in schema.inputs if w.id == "precision"]
            assert widget.options == precision.values() and widget.default == "auto"


# --- bad settings are refused before any model moves -------------------------------------------


@pytest.fixture(scope="module")
def loaded(comfyui, checkpoints):
    """Every tiny model through its loader node (loading moves nothing to the device), and the
    tiny SD 1.5 MODEL (the ComfyUI samplers read its family before the settings' checks)."""

    def load(node_id: str, key: str):
        return run(comfyui.node(node_id), model_name=comfyui.models[key].name, precision="auto")[0]

    return {
        "detector": load("PinpointLoadDetector", "detector"),
        "open_vocabulary": load("PinpointLoadDetector", "open_vocabulary"),
        "clip": load("PinpointLoadCLIP", "clip"),
        "segmenter": load("PinpointLoadSegmenter", "segmenter"),
        "clipseg": load("PinpointLoadCLIPSeg", "clipseg"),
        "dino": load("PinpointLoadDINO", "dino"),
        "matte": load("PinpointLoadMatte", "matte"),
        "sam": load("PinpointLoadSAM", "sam"),
        "text_segmenter": load("PinpointLoadTextSegmenter", "text_segmenter"),
        "pipe": load("PinpointLoadInpaintPipeline", "inpaint"),
        "model": checkpoints[False][0],
    }


@pytest.fixture
def nothing_moves(comfyui, monkeypatch):
    """Any model move (ours, or ComfyUI's sampling) fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was moved before the settings were checked")

    monkeypatch.setattr(pack_module(comfyui, "nodes.managed").ManagedModel, "acquire", refuse)
    monkeypatch.setattr(comfyui.mm, "load_models_gpu", refuse)


class _Vae:
    """A VAE that must not be used: the crop's checks come first (an SD VAE's shape)."""

    downscale_ratio, latent_channels, latent_dim, first_stage_model = 8, 4, 2, None

    def spacial_compression_encode(self) -> int:
        return 8

    def encode(self, pixels):
        raise AssertionError("the VAE encoded before the settings were checked")


class _StockClip:
    """A ComfyUI CLIP that must not be used: the settings' checks come first."""

    def tokenize(self, text):
        raise AssertionError("the prompt was encoded before the settings were checked")


IMAGE = torch.rand(1, 48, 64, 3)
MASK = torch.zeros(1, 48, 64)
MASK[:, 10:30, 20:40] = 1.0


def _regions(comfyui, width: int = 64, height: int = 48):
    regions = pack_module(comfyui, "pinpoint.regions")
    box = regions.Region((10.0, 8.0, 40.0, 30.0), "dog", 0.9, "t", score=0.9)
    return regions.RegionBatch((regions.ImageRegions(width, height, (box,)),))


def _two_images(comfyui):
    regions = pack_module(comfyui, "pinpoint.regions")
    return regions.RegionBatch((_regions(comfyui)[0],) * 2)


SAMPLING_NODES = ("PinpointInpaintComfy", "PinpointEditByText")
"""The nodes that sample with a ComfyUI MODEL (the crop node's is optional)."""


def _valid_inputs(comfyui, loaded, node_id: str) -> dict:
    """Good inputs for ``node_id``: its schema's defaults plus models, tensors and text."""
    schema = comfyui.node(node_id).GET_SCHEMA()
    inputs = {}
    for widget in schema.inputs:
        if getattr(widget, "default", None) is not None:
            inputs[widget.id] = widget.default
        elif getattr(widget, "options", None):
            inputs[widget.id] = widget.options[0]
    given = dict(
        image=IMAGE,
        mask=MASK,
        regions=_regions(comfyui),
        detector=loaded["open_vocabulary" if node_id == "PinpointDetectByText" else "detector"],
        clip=loaded["clip"],
        segmenter=loaded["text_segmenter" if node_id == "PinpointSegmentByText" else "segmenter"],
        clipseg=loaded["clipseg"],
        dino=loaded["dino"],
        matte=loaded["matte"],
        sam=loaded["sam"],
        pipe=loaded["pipe"],
        queries="a dog",
        text="a dog",
        prompt="a cat",
        resolution=64,
        vae=_Vae(),
        model=loaded["model"] if node_id in SAMPLING_NODES else None,
        positive=[],
        negative=[],
        sampler_name="euler",
        scheduler="normal",
        segs=((48, 64), []),
        source=IMAGE,
        candidates=IMAGE.repeat(2, 1, 1, 1) if node_id == "PinpointRankEdits" else 1,
        edits="the dog => a cat",
        matcher=loaded["clip"],
    )
    if node_id == "PinpointInpaintDiffusers":
        del given["scheduler"]  # its own (diffusers) schedulers: the schema's default
    if node_id == "PinpointEditByText":
        given["clip"] = _StockClip()  # the checkpoint's text encoder; the detector finds
        del given["regions"]
    names = {widget.id for widget in schema.inputs}
    return inputs | {name: value for name, value in given.items() if name in names}


def _cases():
    rgba = torch.rand(1, 48, 64, 4)
    other_size = torch.zeros(1, 30, 30)
    return [
        ("PinpointDetect", dict(if_nothing_found="skip"), "if_nothing_found is 'skip'"),
        ("PinpointDetect", dict(labels="zebra"), "has no class named 'zebra'"),
        ("PinpointDetect", dict(image=rgba), "RGB"),
        ("PinpointDetect", dict(detector="open_vocabulary"), "open-vocabulary detector"),
        ("PinpointDetectByText", dict(queries=" , \n"), "the queries are empty"),
        ("PinpointDetectByText", dict(if_nothing_found="skip"), "if_nothing_found"),
        ("PinpointDetectByText", dict(detector="detector"), "closed-set detector"),
        ("PinpointSegment", dict(labels="zebra"), "has no class named 'zebra'"),
        ("PinpointSegment", dict(if_nothing_found="skip"), "if_nothing_found"),
        ("PinpointSegment", dict(image=rgba), "RGB"),
        ("PinpointSegmentByText", dict(text=" , \n"), "the queries are empty"),
        ("PinpointSegmentByText", dict(text="the red car " * 8), "tokens long but"),
        ("PinpointSegmentByText", dict(florence_task="caption"), "florence_task is 'caption'"),
        ("PinpointSegmentByText", dict(if_nothing_found="skip"), "if_nothing_found"),
        ("PinpointSegmentByText", dict(image=rgba), "RGB"),
        ("PinpointAttentionAnchors", dict(anchors=0), "anchors is 0"),
        ("PinpointAttentionAnchors", dict(min_distance=-1), "min_distance is -1"),
        ("PinpointAttentionAnchors", dict(box_sizes="0.3, 2"), "outside (0, 1]"),
        ("PinpointAttentionAnchors", dict(box_sizes="big"), "is not a number"),
        ("PinpointMatchText", dict(text="  "), "the text is empty"),
        ("PinpointMatchText", dict(pick="left"), "pick is 'left'"),
        ("PinpointMatchText", dict(top_k=0), "top_k is 0"),
        ("PinpointMatchText", dict(crop="circle"), "crop is 'circle'"),
        ("PinpointMatchText", dict(pin="7"), "pin names candidate #7"),
        ("PinpointMatchText", dict(pin="two"), "is not a list of candidate numbers"),
        ("PinpointMatchText", dict(if_nothing_found="skip"), "if_nothing_found"),
        ("PinpointMatchText", dict(regions="other image"), "were found on a 32x32 image"),
        ("PinpointTextHeatmap", dict(text=" | "), "names nothing to find"),
        ("PinpointTextHeatmap", dict(use_regions="merge"), "use_regions is 'merge'"),
        ("PinpointTextHeatmap", dict(if_nothing_found="skip"), "if_nothing_found"),
        ("PinpointTextHeatmap", dict(regions="other image"), "were found on a 32x32 image"),
        ("PinpointSelectRegions", dict(pick="left"), "pick is 'left'"),
        ("PinpointSelectRegions", dict(top_k=0), "top_k is 0"),
        ("PinpointSelectRegions", dict(regions="other image"), "were found on a 32x32 image"),
        ("PinpointRefineSAM", dict(points="1,2,3,4"), "is not 'x,y' or 'x,y,label'"),
        ("PinpointRefineSAM", dict(points="100,10"), "lies outside the 64x48 image"),
        ("PinpointRefineSAM", dict(regions="other image"), "were found on a 32x32 image"),
        ("PinpointMaskOps", dict(operation="xor"), "operation is 'xor'"),
        ("PinpointMaskOps", dict(operation="union"), "needs the other mask"),
        ("PinpointMaskOps", dict(operation="union", other=other_size), "the masks differ in size"),
        ("PinpointMatteEdges", dict(band_px=0), "band_px is 0"),
        ("PinpointMatteEdges", dict(band_px=24), "band_px is 24 but"),
        ("PinpointMatteEdges", dict(mask=other_size), "the mask is 30x30"),
        ("PinpointCropForInpaint", dict(split="thirds"), "split is 'thirds'"),
        ("PinpointCropForInpaint", dict(resolution=4), "resolution is 4"),
        ("PinpointCropForInpaint", dict(mask=other_size), "the mask is 30x30"),
        ("PinpointCropForInpaint", dict(resolution=0), "no model is connected"),
        ("PinpointInpaintComfy", dict(sampler_name="fast"), "sampler_name is 'fast'"),
        ("PinpointInpaintComfy", dict(scheduler="soon"), "scheduler is 'soon'"),
        ("PinpointInpaintComfy", dict(masked_start="black"), "masked_start is 'black'"),
        ("PinpointInpaintComfy", dict(denoise=0.0), "denoise is 0"),
        ("PinpointInpaintComfy", dict(split="thirds"), "split is 'thirds'"),
        ("PinpointInpaintComfy", dict(mask=other_size), "the mask is 30x30"),
        ("PinpointInpaintDiffusers", dict(prompt=" "), "the prompt is empty"),
        ("PinpointInpaintDiffusers", dict(strength=0.0), "leaves no denoising step"),
        ("PinpointInpaintDiffusers", dict(cfg=-1.0), "cfg is -1.0"),
        ("PinpointInpaintDiffusers", dict(split="thirds"), "split is 'thirds'"),
        ("PinpointInpaintDiffusers", dict(mask=other_size), "the mask is 30x30"),
        ("PinpointLoadCLIP", dict(precision="fp8"), "precision is 'fp8'"),
        ("PinpointMaskToRegions", dict(mask=other_size), "the mask is 30x30"),
        ("PinpointMaskToRegions", dict(if_nothing_found="skip"), "if_nothing_found"),
        ("PinpointMaskToRegions", dict(image=rgba), "RGB"),
        ("PinpointRegionsToSEGS", dict(crop_factor=0.5), "crop_factor is 0.5"),
        ("PinpointRegionsToSEGS", dict(regions="two images"), "the regions cover 2"),
        ("PinpointSEGSToRegions", dict(segs="other image"), "made for a 30x20 image"),
        ("PinpointSEGSToRegions", dict(segs="not segs"), "not SEGS"),
        ("PinpointStitch", dict(image=rgba), "RGB"),
        ("PinpointInpaintComfy", dict(harmonise=1.5), "harmonise is 1.5"),
        ("PinpointInpaintComfy", dict(candidates=0), "candidates is 0"),
        ("PinpointInpaintComfy", dict(candidates=2, clip=None), "no CLIP is connected"),
        ("PinpointInpaintComfy", dict(candidates=2, text=" "), "text is empty"),
        ("PinpointInpaintDiffusers", dict(harmonise=-0.5), "harmonise is -0.5"),
        ("PinpointInpaintDiffusers", dict(scheduler="LMS"), "scheduler is 'LMS'"),
        ("PinpointInpaintDiffusers", dict(guidance="SD's VAE"), "another model family"),
        ("PinpointInpaintDiffusers", dict(candidates=3, clip=None), "no CLIP is connected"),
        ("PinpointStitch", dict(harmonise=2.0), "harmonise is 2.0"),
        ("PinpointCLIPGuider", dict(scale=-1.0), "scale is -1.0"),
        ("PinpointCLIPGuider", dict(start=0.9, end=0.1), "the guided part runs from 0.9 to 0.1"),
        ("PinpointCLIPGuider", dict(every=0), "every is 0"),
        ("PinpointCLIPGuider", dict(text=" "), "the text is empty"),
        ("PinpointCLIPGuider", dict(mask=other_size), "the mask is 30x30"),
        ("PinpointCLIPGuider", dict(lpips_weight=1000.0), "no LPIPS network is connected"),
        ("PinpointCLIPGuidance", dict(text=" "), "the text is empty"),
        ("PinpointCLIPGuidance", dict(lpips_weight=1.0), "no LPIPS network is connected"),
        ("PinpointCLIPGuidance", dict(start=0.5, end=0.2), "the guided part runs from 0.5"),
        ("PinpointStyleGuider", dict(source_text=" "), "need the source text"),
        ("PinpointStyleGuider", dict(content_weight=1.0), "no VGG16 is connected"),
        ("PinpointStyleGuider", dict(patch_threshold=-1.0), "patch_threshold is -1.0"),
        ("PinpointStyleGuider", dict(mask=other_size), "the mask is 30x30"),
        ("PinpointStyleGuidance", dict(source_text=" "), "need the source text"),
        ("PinpointStyleGuidance", dict(content_weight=1.0), "no VGG16 is connected"),
        ("PinpointStyleGuidance", dict(every=0), "every is 0"),
        ("PinpointRankEdits", dict(alpha=-1.0), "alpha is -1.0"),
        ("PinpointRankEdits", dict(alpha=0.0, beta=0.0), "alpha and beta are both 0"),
        ("PinpointRankEdits", dict(top_k=0), "top_k is 0"),
        ("PinpointRankEdits", dict(text=" "), "the text is empty"),
        ("PinpointRankEdits", dict(mask=torch.zeros(1, 48, 64)), "a mask is empty"),
        ("PinpointRankEdits", dict(candidates=rgba), "RGB"),
        ("PinpointRankEdits", dict(source=torch.rand(1, 30, 30, 3)), "the source is 30x30"),
        ("PinpointEditByText", dict(edits="the dog a cat"), "line 1: 'the dog a cat' has no '=>'"),
        ("PinpointEditByText", dict(edits="a => b\n => c"), "line 2: '=> c' does not say what"),
        ("PinpointEditByText", dict(edits="a => b\nc =>"), "line 2: 'c =>' does not say what it"),
        ("PinpointEditByText", dict(edits="a => b | pick=up"), "line 1: pick is 'up'"),
        ("PinpointEditByText", dict(edits=" \n# none"), "the edit list is empty"),
        ("PinpointEditByText", dict(pick="left"), "pick is 'left'"),
        ("PinpointEditByText", dict(top_k=0), "top_k is 0"),
        ("PinpointEditByText", dict(labels="zebra"), "has no class named 'zebra'"),
        ("PinpointEditByText", dict(detector="open_vocabulary"), "open-vocabulary detector"),
        ("PinpointEditByText", dict(regions="other image"), "both a detector and regions"),
        ("PinpointEditByText", dict(detector=None), "nothing finds the candidates"),
        ("PinpointEditByText", dict(detector=None, regions="x"), "were found on a 32x32 image"),
        ("PinpointEditByText", dict(sampler_name="fast"), "sampler_name is 'fast'"),
        ("PinpointEditByText", dict(denoise=0.0), "denoise is 0"),
        ("PinpointEditByText", dict(split="thirds"), "split is 'thirds'"),
        ("PinpointEditByText", dict(if_nothing_found="skip"), "if_nothing_found is 'skip'"),
        ("PinpointEditByText", dict(image=rgba), "RGB"),
        ("PinpointEditByText", dict(harmonise=1.5), "harmonise is 1.5"),
    ]


@pytest.mark.parametrize(
    ("node_id", "bad", "fragment"),
    _cases(),
    ids=[f"{node}-{'-'.join(bad)}" for node, bad, _ in _cases()],
)
def test_each_bad_setting_is_refused_before_any_model_moves(
    comfyui, loaded, nothing_moves, node_id, bad, fragment
):
    node = comfyui.node(node_id)
    if node_id == "PinpointStitch":
        crop = run(
            comfyui.node("PinpointCropForInpaint"),
            **_valid_inputs(comfyui, loaded, "PinpointCropForInpaint"),
        )
        inputs = dict(stitch=crop[2], image=crop[0])
    elif node_id == "PinpointLoadCLIP":
        inputs = dict(model_name=comfyui.models["clip"].name, precision="auto")
    else:
        inputs = _valid_inputs(comfyui, loaded, node_id)
    for name, value in bad.items():
        if name == "detector" and value is not None:
            value = loaded[value]
        elif value == "two images":
            value = _two_images(comfyui)
        elif name == "regions":
            value = _regions(comfyui, 32, 32)
        elif value == "other image":
            value = ((20, 30), [])
        elif value == "not segs":
            value = [1, 2, 3]
        elif value == "SD's VAE":  # decodes 8x: not the tiny pipeline's 2x latents
            guidance = pack_module(comfyui, "pinpoint.guidance")
            settings = pack_module(comfyui, "pinpoint.guidance_settings").GuidanceSettings(
                scale=0.05
            )
            value = guidance.GuidanceRecipe(loaded["clip"], "a dog", settings, decoder=_Vae())
        inputs[name] = value
    assert_house_error(error_of(node, **inputs), node.GET_SCHEMA().display_name, fragment)
