"""Hand Pinpoint's torch modules to ComfyUI's model management (CONTRACT §5.2).

ComfyUI then moves them to the GPU when a node needs them, back to the offload device when the
UNet/VAE of another workflow need the memory, and drops them on ``/free`` or after an OOM.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import comfy.model_management as mm
import comfy.model_patcher
import torch

from ..pinpoint.loading.models import InpaintPipe


class _Holder(torch.nn.Module):
    """Plain container: ModelPatcher sets ``.device``, which HF/diffusers models make read-only."""

    def __init__(self, modules: list[torch.nn.Module]):
        super().__init__()
        self.inner = torch.nn.ModuleList(modules)


class ManagedModel:
    """The modules of one loaded core object behind one ``ModelPatcher``."""

    def __init__(self, modules: list[torch.nn.Module]):
        for module in modules:
            module.eval().requires_grad_(False)
        self.load_device = mm.get_torch_device()
        self.offload_device = mm.unet_offload_device()
        self.patcher = comfy.model_patcher.ModelPatcher(
            _Holder(modules), load_device=self.load_device, offload_device=self.offload_device
        )

    def acquire(self, memory_required: int = 0, others: Sequence[Any] = ()) -> None:
        """Move every parameter and buffer to the load device (with the ``others`` patchers),
        freeing room for activations.

        ``force_full_load``: plain ``nn.Linear``/``Conv2d`` layers cannot run partially offloaded.
        """
        mm.load_models_gpu(
            [self.patcher, *others], memory_required=memory_required, force_full_load=True
        )


_MANAGED: weakref.WeakKeyDictionary[Any, ManagedModel] = weakref.WeakKeyDictionary()


def managed(model: Any) -> ManagedModel:
    """The one wrapper of a ``Detector``/``ClipMatcher``/``InpaintPipe``, created on first use.

    Keyed weakly by the core object, which the loader node's output cache keeps alive; the
    wrapper holds only the object's modules, never the object itself.
    """
    wrapper = _MANAGED.get(model)
    if wrapper is None:
        modules = list(model.modules) if isinstance(model, InpaintPipe) else [model.model]
        wrapper = _MANAGED[model] = ManagedModel(modules)
    return wrapper
