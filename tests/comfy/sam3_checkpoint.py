"""A random-weight, full-size SAM 3 checkpoint that ComfyUI's own SAM 3 route loads
(``CheckpointLoaderSimple`` → ``CLIPTextEncode`` → ``SAM3 Detect``, ComfyUI 0.3.7x and newer).

ComfyUI builds SAM 3 at its full size whatever the file holds (a ViT-L at 1008 px, ~860M
parameters), so no tiny version loads. The file uses the key names of Meta's ``sam3.pt``, which
``comfy/model_detection.py`` recognises and ``comfy/supported_models.py SAM3`` converts:
top-level ``detector.*`` and ``tracker.*``, fused attention projections (``in_proj_weight``) in
the detector, the OpenCLIP text encoder under ``detector.backbone.language_backbone.encoder``
and SAM-style names in the tracker's mask decoder. Names and shapes are read from ComfyUI's
``comfy/ldm/sam3`` modules and spelled out here; nothing imports ComfyUI or torch, and the
file is streamed to disk tensor by tensor (about 1.7 GB in fp16, written in 10-20 s).

Weights are ``N(0, 0.02)``, norms one, biases zero: forward passes stay finite.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

SAM3_CHECKPOINT = "random-sam3.safetensors"
"""The file name the tests give it under ``models/checkpoints``."""
SEED = 0
STD = 0.02

Spec = tuple[str, tuple[int, ...], str]
"""(name, shape, init) with init ``"normal"``, ``"zeros"`` or ``"ones"``."""


def _linear(p: str, out_f: int, in_f: int, bias: bool = True) -> list[Spec]:
    s = [(p + ".weight", (out_f, in_f), "normal")]
    if bias:
        s.append((p + ".bias", (out_f,), "zeros"))
    return s


def _conv(p: str, out_c: int, in_c: int, k: int) -> list[Spec]:
    return [(p + ".weight", (out_c, in_c, k, k), "normal"), (p + ".bias", (out_c,), "zeros")]


def _convT(p: str, in_c: int, out_c: int, k: int) -> list[Spec]:
    """ConvTranspose2d(in_c, out_c): weight (in_c, out_c, k, k), bias (out_c,)."""
    return [(p + ".weight", (in_c, out_c, k, k), "normal"), (p + ".bias", (out_c,), "zeros")]


def _norm(p: str, d: int) -> list[Spec]:
    return [(p + ".weight", (d,), "ones"), (p + ".bias", (d,), "zeros")]


def _embedding(p: str, n: int, d: int) -> list[Spec]:
    return [(p + ".weight", (n, d), "normal")]


def _mlp(p: str, dims: list[int]) -> list[Spec]:
    """comfy/ldm/sam3/sam.py MLP: layers.i = Linear(dims[i], dims[i+1])."""
    s: list[Spec] = []
    for i in range(len(dims) - 1):
        s += _linear(f"{p}.layers.{i}", dims[i + 1], dims[i])
    return s


def _fused_mha(p: str, d: int) -> list[Spec]:
    """torch.nn.MultiheadAttention (upstream); ComfyUI splits in_proj into q/k/v_proj (SplitMHA)."""
    return [
        (p + ".in_proj_weight", (3 * d, d), "normal"),
        (p + ".in_proj_bias", (3 * d,), "zeros"),
    ] + _linear(p + ".out_proj", d, d)


def _sep_attn(p: str, d: int, internal: int, kv_in: int | None = None) -> list[Spec]:
    """SAM-style Attention / RoPEAttention with separate q/k/v/out projections."""
    kv_in = d if kv_in is None else kv_in
    return (
        _linear(p + ".q_proj", internal, d)
        + _linear(p + ".k_proj", internal, kv_in)
        + _linear(p + ".v_proj", internal, kv_in)
        + _linear(p + ".out_proj", d, internal)
    )


def _detr_encoder_layer(p: str, d: int = 256, ff: int = 2048) -> list[Spec]:
    return (
        _fused_mha(p + ".self_attn", d)
        + _fused_mha(p + ".cross_attn_image", d)
        + _linear(p + ".linear1", ff, d)
        + _linear(p + ".linear2", d, ff)
        + _norm(p + ".norm1", d)
        + _norm(p + ".norm2", d)
        + _norm(p + ".norm3", d)
    )


def _neck(p: str) -> list[Spec]:
    """Sam3DualViTDetNeck convs, scale factors (4, 2, 1, 0.5); d_model 256, trunk dim 1024."""
    return (
        _convT(f"{p}.0.dconv_2x2_0", 1024, 512, 2)
        + _convT(f"{p}.0.dconv_2x2_1", 512, 256, 2)
        + _conv(f"{p}.0.conv_1x1", 256, 256, 1)
        + _conv(f"{p}.0.conv_3x3", 256, 256, 3)
        + _convT(f"{p}.1.dconv_2x2", 1024, 512, 2)
        + _conv(f"{p}.1.conv_1x1", 256, 512, 1)
        + _conv(f"{p}.1.conv_3x3", 256, 256, 3)
        + _conv(f"{p}.2.conv_1x1", 256, 1024, 1)
        + _conv(f"{p}.2.conv_3x3", 256, 256, 3)
        + _conv(f"{p}.3.conv_1x1", 256, 1024, 1)
        + _conv(f"{p}.3.conv_3x3", 256, 256, 3)
    )


def _specs() -> list[Spec]:
    """Every tensor of the checkpoint, in the naming of Meta's sam3.pt (SAM 3, not SAM 3.1).

    Upstream's unused ``…language_backbone.encoder.text_projection`` (1024, 512) is left out:
    ComfyUI builds a square one, and loading on the CPU path refuses the shape.
    """
    s: list[Spec] = []
    D = "detector."
    # vision trunk: ViT-L/14 at 1008 px, 32 blocks, width 1024, MLP 4736, 24x24+1 positions
    t = D + "backbone.vision_backbone.trunk"
    s += [
        (t + ".pos_embed", (1, 577, 1024), "normal"),
        (t + ".patch_embed.proj.weight", (1024, 3, 14, 14), "normal"),
    ]  # bias_patch_embed=False
    s += _norm(t + ".ln_pre", 1024)
    for i in range(32):
        b = f"{t}.blocks.{i}"
        s += _norm(b + ".norm1", 1024)
        s += _linear(b + ".attn.qkv", 3072, 1024) + _linear(b + ".attn.proj", 1024, 1024)
        s += _norm(b + ".norm2", 1024)
        s += _linear(b + ".mlp.fc1", 4736, 1024) + _linear(b + ".mlp.fc2", 1024, 4736)
        # upstream also stores blocks.{i}.attn.freqs_cis (complex RoPE buffer); ComfyUI drops it
        # (recomputed), and safetensors cannot hold complex fp16, so it is omitted here.
    s += _neck(D + "backbone.vision_backbone.convs")
    s += _neck(D + "backbone.vision_backbone.sam2_convs")
    # language backbone: OpenCLIP TextTransformer (width 1024, 24 layers, ctx 32) + resizer
    L = D + "backbone.language_backbone"
    e = L + ".encoder"
    s += [
        (e + ".token_embedding.weight", (49408, 1024), "normal"),
        (e + ".positional_embedding", (32, 1024), "normal"),
    ]
    for i in range(24):
        b = f"{e}.transformer.resblocks.{i}"
        s += _fused_mha(b + ".attn", 1024)
        s += _norm(b + ".ln_1", 1024) + _norm(b + ".ln_2", 1024)
        s += _linear(b + ".mlp.c_fc", 4096, 1024) + _linear(b + ".mlp.c_proj", 1024, 4096)
    s += _norm(e + ".ln_final", 1024)
    s += _linear(L + ".resizer", 256, 1024)
    # fusion encoder / DETR decoder
    for i in range(6):
        s += _detr_encoder_layer(f"{D}transformer.encoder.layers.{i}")
    dec = D + "transformer.decoder"
    for i in range(6):
        b = f"{dec}.layers.{i}"
        s += (
            _fused_mha(b + ".self_attn", 256)
            + _fused_mha(b + ".cross_attn", 256)
            + _fused_mha(b + ".ca_text", 256)
        )
        s += _norm(b + ".norm1", 256) + _norm(b + ".norm2", 256) + _norm(b + ".norm3", 256)
        s += _norm(b + ".catext_norm", 256)
        s += _linear(b + ".linear1", 2048, 256) + _linear(b + ".linear2", 256, 2048)
    s += _norm(dec + ".norm", 256)
    s += _embedding(dec + ".query_embed", 200, 256) + _embedding(dec + ".reference_points", 200, 4)
    s += _mlp(dec + ".ref_point_head", [512, 256, 256])
    s += _mlp(dec + ".bbox_embed", [256, 256, 256, 4])
    s += _mlp(dec + ".boxRPB_embed_x", [2, 256, 8]) + _mlp(dec + ".boxRPB_embed_y", [2, 256, 8])
    s += _embedding(dec + ".presence_token", 1, 256)
    s += _mlp(dec + ".presence_token_head", [256, 256, 256, 1])
    s += _norm(dec + ".presence_token_out_norm", 256)
    # segmentation head
    sh = D + "segmentation_head"
    for i in range(3):
        s += _conv(f"{sh}.pixel_decoder.conv_layers.{i}", 256, 256, 3) + _norm(
            f"{sh}.pixel_decoder.norms.{i}", 256
        )
    s += _mlp(sh + ".mask_predictor.mask_embed", [256, 256, 256, 256])
    s += _fused_mha(sh + ".cross_attend_prompt", 256) + _norm(sh + ".cross_attn_norm", 256)
    s += _conv(sh + ".instance_seg_head", 256, 256, 1) + _conv(sh + ".semantic_seg_head", 1, 256, 1)
    # geometry (box / point prompt) encoder
    g = D + "geometry_encoder"
    s += _linear(g + ".points_direct_project", 256, 2) + _linear(
        g + ".points_pool_project", 256, 256
    )
    s += _linear(g + ".points_pos_enc_project", 256, 256) + _linear(
        g + ".boxes_direct_project", 256, 4
    )
    s += _conv(g + ".boxes_pool_project", 256, 256, 7) + _linear(
        g + ".boxes_pos_enc_project", 256, 258
    )
    s += _embedding(g + ".label_embed", 2, 256) + _embedding(g + ".cls_embed", 1, 256)
    s += _norm(g + ".norm", 256) + _norm(g + ".img_pre_norm", 256)
    for i in range(3):
        s += _detr_encoder_layer(f"{g}.encode.{i}")
    s += _norm(g + ".encode_norm", 256) + _linear(g + ".final_proj", 256, 256)
    # scoring
    ds = D + "dot_prod_scoring"
    s += _linear(ds + ".hs_proj", 256, 256) + _linear(ds + ".prompt_proj", 256, 256)
    s += _mlp(ds + ".prompt_mlp", [256, 2048, 256]) + _norm(ds + ".prompt_mlp.out_norm", 256)

    # tracker (SAM2-style memory tracker + SAM mask decoder)
    T = "tracker."
    s += [
        (T + "maskmem_tpos_enc", (7, 1, 1, 64), "normal"),
        (T + "no_mem_embed", (1, 1, 256), "normal"),
        (T + "no_obj_embed_spatial", (1, 64), "normal"),
        (T + "no_obj_ptr", (1, 256), "normal"),
        (T + "no_mem_pos_enc", (1, 1, 256), "normal"),
    ]
    for i in range(4):  # memory attention: RoPEAttention, separate projections, memory kv dim 64
        b = f"{T}transformer.encoder.layers.{i}"
        s += _sep_attn(b + ".self_attn", 256, 256) + _sep_attn(
            b + ".cross_attn_image", 256, 256, kv_in=64
        )
        s += _linear(b + ".linear1", 2048, 256) + _linear(b + ".linear2", 256, 2048)
        s += _norm(b + ".norm1", 256) + _norm(b + ".norm2", 256) + _norm(b + ".norm3", 256)
    s += _norm(T + "transformer.encoder.norm", 256)
    md = T + "sam_mask_decoder"
    for i in range(2):  # TwoWayTransformer
        b = f"{md}.transformer.layers.{i}"
        s += _sep_attn(b + ".self_attn", 256, 256)
        s += _sep_attn(b + ".cross_attn_token_to_image", 256, 128)
        s += _sep_attn(b + ".cross_attn_image_to_token", 256, 128)
        s += _linear(b + ".mlp.lin1", 2048, 256) + _linear(b + ".mlp.lin2", 256, 2048)
        for n in (1, 2, 3, 4):
            s += _norm(f"{b}.norm{n}", 256)
    s += _sep_attn(md + ".transformer.final_attn_token_to_image", 256, 128)
    s += _norm(md + ".transformer.norm_final_attn", 256)
    s += _embedding(md + ".iou_token", 1, 256) + _embedding(md + ".mask_tokens", 4, 256)
    s += _embedding(md + ".obj_score_token", 1, 256)
    s += _convT(md + ".output_upscaling.0", 256, 64, 2) + _norm(md + ".output_upscaling.1", 64)
    s += _convT(md + ".output_upscaling.3", 64, 32, 2)
    s += _conv(md + ".conv_s0", 32, 256, 1) + _conv(md + ".conv_s1", 64, 256, 1)
    for j in range(4):
        s += _mlp(f"{md}.output_hypernetworks_mlps.{j}", [256, 256, 256, 32])
    s += _mlp(md + ".iou_prediction_head", [256, 256, 256, 4])
    s += _mlp(md + ".pred_obj_score_head", [256, 256, 256, 1])
    pe = T + "sam_prompt_encoder"
    s += [(pe + ".pe_layer.positional_encoding_gaussian_matrix", (2, 128), "normal")]
    for j in range(4):
        s += _embedding(f"{pe}.point_embeddings.{j}", 1, 256)
    s += _embedding(pe + ".not_a_point_embed", 1, 256)
    s += _conv(pe + ".mask_downscaling.0", 4, 1, 2) + _norm(pe + ".mask_downscaling.1", 4)
    s += _conv(pe + ".mask_downscaling.3", 16, 4, 2) + _norm(pe + ".mask_downscaling.4", 16)
    s += _conv(pe + ".mask_downscaling.6", 256, 16, 1)
    s += _embedding(pe + ".no_mask_embed", 1, 256)
    mb = T + "maskmem_backbone"
    chans = [1, 4, 16, 64, 256]
    for j in range(4):
        s += _conv(f"{mb}.mask_downsampler.encoder.{3 * j}", chans[j + 1], chans[j], 3)
        s += _norm(f"{mb}.mask_downsampler.encoder.{3 * j + 1}", chans[j + 1])
    s += _conv(f"{mb}.mask_downsampler.encoder.12", 256, 256, 1)
    s += _conv(mb + ".pix_feat_proj", 256, 256, 1)
    for j in range(2):
        b = f"{mb}.fuser.layers.{j}"
        s += [(b + ".gamma", (256,), "normal")]
        s += [
            (b + ".dwconv.weight", (256, 1, 7, 7), "normal"),
            (b + ".dwconv.bias", (256,), "zeros"),
        ]
        s += _norm(b + ".norm", 256)
        s += _linear(b + ".pwconv1", 1024, 256) + _linear(b + ".pwconv2", 256, 1024)
    s += _conv(mb + ".out_proj", 64, 256, 1)
    s += _mlp(T + "obj_ptr_proj", [256, 256, 256, 256])
    s += _linear(T + "obj_ptr_tpos_proj", 64, 256)
    s += _conv(T + "mask_downsample", 1, 1, 4)
    return s


def _values(rng: np.random.Generator, shape: tuple[int, ...], init: str) -> bytes:
    count = int(np.prod(shape))
    if init == "normal":
        values = rng.standard_normal(count, dtype=np.float32) * np.float32(STD)
    else:
        values = np.full(count, 1.0 if init == "ones" else 0.0, dtype=np.float32)
    return values.astype("<f2").tobytes()


def write_sam3_checkpoint(path: Path) -> Path:
    """Write the checkpoint (safetensors, fp16) to ``path`` through a temporary file; return it."""
    path = Path(path)
    specs = _specs()
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape, _ in specs:
        size = int(np.prod(shape)) * 2
        header[name] = {
            "dtype": "F16",
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    rng = np.random.Generator(np.random.PCG64(SEED))
    try:
        with open(staging, "wb") as file:
            file.write(struct.pack("<Q", len(encoded)) + encoded)
            for _, shape, init in specs:
                file.write(_values(rng, shape, init))
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path
