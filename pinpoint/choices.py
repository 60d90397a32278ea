"""Option sets a user picks from (a node's combo, a CLI choice), and the one check for them.

Every fixed set of options is a :class:`Choice`: its members are the strings a user sees, so a
node lists ``Pick.values()``, a request stores ``Pick.check(value, "pick")`` and the core
compares ``pick == Pick.ALL`` (true for the member and for its text). Lists that only ComfyUI
knows at run time (sampler names) go through :func:`check_choice` directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TypeVar

from .errors import PinpointError

C = TypeVar("C", bound="Choice")


def check_choice(value: object, options: Sequence[str], name: str) -> str:
    """``value`` if it is one of ``options``; a :class:`PinpointError` naming them otherwise.

    ComfyUI does not check V3 combo values against their options, and saved workflows or API
    prompts may carry a value a newer version renamed, so every choice is checked here.
    """
    if value not in options:
        listed = ", ".join(repr(option) for option in options)
        raise PinpointError(f"{name} is {value!r}", f"pick one of {listed}")
    return str(value)


class Choice(str, Enum):
    """Base of every option set; a member equals (and prints as) the text the user picks."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def values(cls) -> list[str]:
        """The options as the user sees them, in order (a node's combo, a CLI's choices)."""
        return [member.value for member in cls]

    @classmethod
    def check(cls: type[C], value: object, name: str) -> C:
        """``value`` (a member or its text) as a member; an unknown one is a PinpointError.

        Args:
            name: the setting's name as the user sees it (``"pick"``), for the message.
        """
        return cls(check_choice(value, cls.values(), name))
