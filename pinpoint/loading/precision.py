"""Weight precision: the one choice every loader (node or CLI) offers."""

from __future__ import annotations

import torch

from ..choices import Choice


class Precision(Choice):
    """The dtype models are loaded in."""

    AUTO = "auto"
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"

    def dtype(self, half: bool) -> torch.dtype:
        """The dtype; ``AUTO`` is fp16 where ``half`` (the device runs half precision well,
        as the caller judges), else fp32."""
        if self is Precision.AUTO:
            return torch.float16 if half else torch.float32
        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.value]
