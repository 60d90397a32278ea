"""The one way a stage is called: build its request (checked, cheap), then run it.

Every stage that a node or the CLI runs has a frozen ``<Stage>Request`` dataclass in its module:
the model (if any), the inputs, then every setting with its default, the one place defaults are
written (node schemas and the CLI read them from there). Building a request checks everything
that can be checked without running a model (settings, choices, that the inputs fit each other
and the model) and stores the settings normalised (choices as members, parsed text); a bad one
raises a :class:`~pinpoint.errors.PinpointError`. The stage's run function takes only a request,
so it never sees an unchecked setting::

    request = DetectRequest(detector, images, threshold=0.5, labels="car")  # checks, no model
    on_device(detector, memory.detect_bytes(request))                      # a node: the GPU
    regions = detect_objects(request, progress)                             # runs the model
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    """Base of every stage's request; subclasses check themselves in ``__post_init__``."""

    def _normalise(self, **values: object) -> None:
        """Store checked, normalised settings from ``__post_init__`` (requests are frozen)."""
        for name, value in values.items():
            object.__setattr__(self, name, value)
