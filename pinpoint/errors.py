"""The one user-facing exception type of Pinpoint, and the one way to say where it happened."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

UNNAMED = "Pinpoint"
"""``where`` of an error no caller has named (the core used as a library)."""


class PinpointError(Exception):
    """A user-fixable problem: ``'<where>: <problem>. Fix: <remedy>.'``.

    The core raises with the problem and the fix only, phrased for any caller; the caller names
    the place with :func:`reported_as` (a node its title, the CLI its command and stage), so the
    ComfyUI error dialog and the CLI show the message verbatim and the user knows where to look.
    """

    def __init__(self, problem: str, fix: str, where: str = UNNAMED):
        self.where = where
        self.problem = problem.rstrip(".")
        self.fix = fix.rstrip(".")
        super().__init__(f"{where}: {self.problem}. Fix: {self.fix}.")


@contextmanager
def reported_as(where: str) -> Iterator[None]:
    """Name the place of every :class:`PinpointError` raised inside: ``where`` replaces its own.

    Works as a ``with`` block and as a decorator; a node decorates its ``execute`` with its
    title (``@reported_as(TITLE)``), the CLI wraps each stage of a command.
    """
    try:
        yield
    except PinpointError as err:
        raise PinpointError(err.problem, err.fix, where) from err


@contextmanager
def concerning(subject: str) -> Iterator[None]:
    """Say which part of an input a :class:`PinpointError` raised inside is about: its problem
    becomes ``'<subject>: <problem>'`` (e.g. ``"line 3"`` of an edit list); ``where`` is kept."""
    try:
        yield
    except PinpointError as err:
        raise PinpointError(f"{subject}: {err.problem}", err.fix, err.where) from err
