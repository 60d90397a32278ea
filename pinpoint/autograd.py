"""Gradients where the host forbids them: ComfyUI runs every node under
``torch.inference_mode()``, so the weights its loader nodes create and the latents its samplers
make are inference tensors, which autograd refuses to save for a backward pass. Guidance needs
gradients through a decoder and CLIP; these helpers give it normal tensors with the same values.
"""

from __future__ import annotations

import copy
import itertools
import threading
import weakref

import torch

_copies: weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def plain(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor``, or a normal copy of it if it is an inference tensor (call outside inference
    mode)."""
    return tensor.clone() if torch.is_inference(tensor) else tensor


def differentiable(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` if its weights can take part in autograd; otherwise a copy whose weights are
    normal tensors with the same values, made once and kept while ``module`` lives, on
    ``module``'s current device (the copy costs the module's memory once more).

    Call it outside inference mode (``torch.inference_mode(False)``).
    """
    tensors = itertools.chain(module.parameters(), module.buffers())
    if not any(torch.is_inference(tensor) for tensor in tensors):
        return module
    with _lock:
        twin = _copies.get(module)
        if twin is None:
            twin = _copies[module] = _plain_copy(module)
    first = next(itertools.chain(module.parameters(), module.buffers()))
    return twin.to(first.device)


def _plain_copy(module: torch.nn.Module) -> torch.nn.Module:
    twin = copy.deepcopy(module)
    for part in twin.modules():
        for name, parameter in part._parameters.items():
            if parameter is not None and torch.is_inference(parameter):
                part._parameters[name] = torch.nn.Parameter(
                    parameter.detach().clone(), requires_grad=False
                )
        for name, buffer in part._buffers.items():
            if buffer is not None and torch.is_inference(buffer):
                part._buffers[name] = buffer.clone()
    return twin.requires_grad_(False)
