"""The one user-facing exception type of Pinpoint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class PinpointError(Exception):
    """A user-fixable problem: ``'<where>: <problem>. Fix: <remedy>.'``.

    ``where`` names the node title (or CLI stage) so the ComfyUI error dialog and the CLI show
    the message verbatim and the user knows which box to look at.
    """

    def __init__(self, where: str, problem: str, fix: str):
        self.where = where
        self.problem = problem.rstrip(".")
        self.fix = fix.rstrip(".")
        super().__init__(f"{where}: {self.problem}. Fix: {self.fix}.")


@contextmanager
def reported_as(where: str) -> Iterator[None]:
    """Re-title every :class:`PinpointError` raised inside the block with ``where``.

    Core functions raise with a stage name ("Detect", "Match", ...); a node wraps its call in
    ``with reported_as(TITLE):`` so the message starts with the node's own title.
    """
    try:
        yield
    except PinpointError as err:
        raise PinpointError(where, err.problem, err.fix) from err
