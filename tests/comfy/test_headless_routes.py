"""Every headless route equals the node chain it mirrors: ``pinpoint.pipeline.edit`` (what
``python -m pinpoint edit --route ...`` runs) and the shipped workflows' chain of Pinpoint nodes
(find → Match Text to Regions or Select Regions → Refine with SAM → Mask Operations → Inpaint
Region · diffusers), called as ComfyUI's executor calls them, on the same tiny models, give the
same mask and the same edited image (torch.equal)."""

from __future__ import annotations

import pytest
import torch
from node_calls import pack_module, run

SETTINGS = dict(
    max_detections=20,
    pick="best",
    top_k=1,
    context_pad=0.1,
    confidence_weight=0.0,
    min_probability=0.0,
    if_nothing_found="whole image",
    grow_px=3,
    negative_prompt="blurry",
    steps=2,
    cfg=6.0,
    strength=1.0,
    seed=7,
    context=0.3,
    feather_px=4,
    harmonise=0.0,
)
"""The edit's settings, the same on both sides."""
LOADERS = {
    "detect": ("PinpointLoadDetector", "detector"),
    "detect-by-text": ("PinpointLoadDetector", "open_vocabulary"),
    "segments": ("PinpointLoadSegmenter", "segmenter"),
    "heatmap": ("PinpointLoadCLIPSeg", "clipseg"),
    "text-segmenter": ("PinpointLoadTextSegmenter", "text_segmenter"),
    "anchors": ("PinpointLoadDINO", "dino"),
    "sam": ("PinpointLoadSAM", "sam"),
    "sam_folder": ("PinpointLoadSAMFolder", "sam_folder"),
    "clip": ("PinpointLoadCLIP", "clip"),
    "inpaint": ("PinpointLoadInpaintPipeline", "inpaint"),
}
"""A route's (or refiner's) model → its loader node and its tiny model's key."""


def load(comfyui, what: str):
    node, key = LOADERS[what]
    return run(comfyui.node(node), model_name=comfyui.models[key].name, precision="auto")[0]


def find(comfyui, route: str, finder, image, text: str, threshold: float, options: dict):
    """The route's finder node → its regions."""
    common = dict(image=image, if_nothing_found=SETTINGS["if_nothing_found"])
    if route == "detect":
        node, inputs = "PinpointDetect", dict(detector=finder, threshold=threshold, labels="")
        inputs |= dict(max_detections=SETTINGS["max_detections"])
    elif route == "detect-by-text":
        node, inputs = "PinpointDetectByText", dict(detector=finder, queries=text)
        inputs |= dict(threshold=threshold, max_detections=SETTINGS["max_detections"])
    elif route == "segments":
        node, inputs = "PinpointSegment", dict(segmenter=finder, labels="", min_area=0.001)
        inputs |= dict(split_instances=options.get("split_instances", False), max_regions=20)
    elif route == "heatmap":
        node, inputs = "PinpointTextHeatmap", dict(clipseg=finder, text=text, min_area=0.001)
        inputs |= dict(threshold=threshold, max_regions=20, use_regions="rescore", heat_weight=0.5)
    elif route == "text-segmenter":
        node, inputs = "PinpointSegmentByText", dict(segmenter=finder, text=text, max_regions=20)
        inputs |= dict(threshold=threshold, florence_task="referring segmentation")
    else:
        node, inputs = "PinpointAttentionAnchors", dict(dino=finder, anchors=5, min_distance=2)
        inputs |= dict(box_sizes=options.get("box_sizes", "0.15, 0.3, 0.5"))
        common = dict(image=image)
    return run(comfyui.node(node), **common, **inputs)[0]


def node_chain(comfyui, route: str, models: dict, image, text: str, prompt: str, case: dict):
    """The workflow's chain of nodes for ``route`` → (the mask, the edited image)."""
    regions = find(comfyui, route, models["finder"], image, text, case.get("threshold", 0), case)
    policy = SETTINGS["if_nothing_found"]
    choice = dict(image=image, regions=regions, pick="best", top_k=1, if_nothing_found=policy)
    if case["choose"] == "match":
        chosen, mask = run(
            comfyui.node("PinpointMatchText"),
            clip=models["clip"],
            text=text,
            context_pad=0.1,
            crop=case["crop"],
            confidence_weight=0.0,
            min_probability=0.0,
            pin="",
            **choice,
        )[:2]
    else:
        chosen, mask = run(comfyui.node("PinpointSelectRegions"), min_score=0.0, **choice)[:2]
    if models.get("sam") is not None:
        refined = run(
            comfyui.node("PinpointRefineSAM"),
            sam=models["sam"],
            image=image,
            regions=chosen,
            multimask=True,
            points="",
        )
        mask = refined[1]
    (mask,) = run(
        comfyui.node("PinpointMaskOps"),
        mask=mask,
        grow_px=SETTINGS["grow_px"],
        feather_px=0,
        fill_holes=case.get("fill_holes", False),
        min_island_px=case.get("min_island_px", 0),
        invert=False,
        operation="none",
    ).result
    (edited,) = run(
        comfyui.node("PinpointInpaintDiffusers"),
        pipe=models["pipe"],
        image=image,
        mask=mask,
        prompt=prompt,
        negative_prompt=SETTINGS["negative_prompt"],
        seed=SETTINGS["seed"],
        steps=SETTINGS["steps"],
        cfg=SETTINGS["cfg"],
        strength=SETTINGS["strength"],
        context=SETTINGS["context"],
        resolution=0,
        feather_px=SETTINGS["feather_px"],
        split="one per image",
        scheduler=case["scheduler"],
        harmonise=SETTINGS["harmonise"],
    ).result
    return mask, edited


CASES = {
    "detect": dict(threshold=0.5, choose="match", crop="box"),
    "detect+sam": dict(threshold=0.5, choose="match", crop="box", refine="sam", fill_holes=True),
    "detect-by-text": dict(threshold=0.0, choose="select", crop="box", refine="sam_folder"),
    "segments": dict(choose="match", crop="masked", split_instances=False, min_island_px=16),
    "heatmap": dict(threshold=0.5, choose="select", crop="masked", fill_holes=True),
    "text-segmenter": dict(threshold=0.0, choose="match", crop="masked"),
    "anchors": dict(choose="match", crop="box", refine="sam_folder", box_sizes="0.2, 0.4"),
}
"""Route (+ refiner) → its settings; the scheduler is the headless default, given to both."""


@pytest.mark.parametrize("name", CASES)
def test_the_headless_route_is_its_node_chain(comfyui, name):
    case = dict(CASES[name])
    route = name.split("+")[0]
    route_settings = pack_module(comfyui, "pinpoint.route_settings")
    edit_list = pack_module(comfyui, "pinpoint.edit_list")
    pipeline = pack_module(comfyui, "pinpoint.pipeline")
    case["scheduler"] = edit_list.HEADLESS_SCHEDULER.value
    models = dict(finder=load(comfyui, route), clip=load(comfyui, "clip"))
    models |= dict(pipe=load(comfyui, "inpaint"))
    models["sam"] = load(comfyui, case["refine"]) if "refine" in case else None
    image = 0.4 + 0.2 * torch.rand(1, 96, 128, 3, generator=torch.Generator().manual_seed(6))
    image[0, 30:70, 20:60] = torch.tensor([0.9, 0.2, 0.1])
    text, prompt = "a dog", "a small red fox"
    mask, edited = node_chain(comfyui, route, models, image, text, prompt, case)

    threshold = case.get("threshold", edit_list.EditSettings.threshold)
    settings = edit_list.EditSettings(threshold=threshold, scheduler=case["scheduler"], **SETTINGS)
    options = ("split_instances", "box_sizes", "fill_holes", "min_island_px")
    chosen = dict(choose=case["choose"], crop=case["crop"])
    given = {key: case[key] for key in options if key in case}
    route_given = route_settings.RouteSettings(route=route, **chosen, **given)
    result = pipeline.edit(
        models["finder"],
        models["clip"],
        models["pipe"],
        image,
        [edit_list.EditLine(text, prompt)],
        settings,
        route=route_given,
        sam=models["sam"],
    )
    assert torch.equal(result.mask, mask.cpu())
    assert bool(mask.any())
    assert torch.equal(result.images, edited.cpu())
