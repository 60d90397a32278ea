"""Sharing a run's items among processes started by ``accelerate launch`` (Hugging Face
Accelerate: several GPUs, several machines, or several CPU processes).

Item ``k`` of a run belongs to process ``k % count``: every process computes the same split
from the same item list, whatever the others have done, so no item is worked twice and a
resumed run may use another number of processes. There is no barrier: each process writes its
own outputs, and whichever finds every item done when it finishes writes the joint results.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .errors import PinpointError


@dataclass(frozen=True)
class Shard:
    """This process's part of a run.

    Attributes:
        index: this process's number, 0-based.
        count: how many processes share the run.
        device: the device Accelerate gives this process (``cuda:<local rank>``); None when
            not launched by Accelerate.
    """

    index: int = 0
    count: int = 1
    device: torch.device | None = None

    def mine(self, position: int) -> bool:
        """Whether the item at ``position`` of the run is this process's."""
        return position % self.count == self.index

    def __str__(self) -> str:
        return f"process {self.index + 1} of {self.count}"


def current_shard() -> Shard:
    """This process's shard: the whole run unless ``accelerate launch`` (or torchrun) started
    several processes (``WORLD_SIZE`` above 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Shard()
    try:
        from accelerate import PartialState
    except ImportError as err:
        raise PinpointError(
            "this process is one of several (WORLD_SIZE is set) but accelerate is not installed",
            "pip install accelerate, or run a single process",
        ) from err
    state = PartialState(cpu=not torch.cuda.is_available())
    return Shard(state.process_index, state.num_processes, torch.device(state.device))
