"""Progress callbacks handed by the caller (ComfyUI node, CLI) into long-running core work."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each unit of work (an image, a sampling step).

A ComfyUI node's callback moves the node's progress bar and raises ComfyUI's interrupt exception
when the user pressed Cancel, so core loops stop between steps."""


def no_progress(done: int, total: int) -> None:
    """The default callback: does nothing."""
