"""Edit lists: several edits of the same images, one per line, ``what to find => what it becomes``.

    the cat => a small red fox
    the car => a blue pickup | pick=leftmost
    # a comment; blank lines are skipped too
    the people => statues | pick=all matches; min_probability=0.2

After ``|`` a line may set Match's choice options for itself (``pick``, ``top_k``,
``min_probability``, separated by ``;``); the rest come from the caller's settings. Edits are
painted in list order: where two edits' masks overlap, the later edit's result is on top.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import PinpointError
from .match import MatchRequest
from .selection import Pick, check_top_k

ARROW = "=>"
EXAMPLE = "the cat => a small red fox"
SHAPE_FIX = f"write each edit as 'what to find {ARROW} what it becomes', e.g. '{EXAMPLE}'"


@dataclass(frozen=True)
class EditLine:
    """One edit of an edit list.

    Attributes:
        find: what to change, e.g. ``"the cat"`` (Match's text).
        prompt: what it becomes, e.g. ``"a small red fox"`` (the inpainting prompt).
        pick, top_k, min_probability: which of the matching regions the edit takes (as in
            :class:`pinpoint.match.MatchRequest`).
    """

    find: str
    prompt: str
    pick: Pick = MatchRequest.pick
    top_k: int = MatchRequest.top_k
    min_probability: float = MatchRequest.min_probability

    def __str__(self) -> str:
        return f"{self.find} {ARROW} {self.prompt}"


def _option(key: str, value: str) -> object:
    """A line option's checked value (``value`` is the text after ``=``)."""
    if key == "pick":
        return Pick.check(value, "pick")
    try:
        number = float(value) if key == "min_probability" else int(value)
    except ValueError:
        kind = "a number" if key == "min_probability" else "a whole number"
        raise PinpointError(f"{key}={value} is not {kind}", f"write {kind}, e.g. {key}=1") from None
    if key == "top_k":
        return check_top_k(int(number))
    if not 0.0 <= number <= 1.0:
        raise PinpointError(f"min_probability={value}", "use a probability from 0 to 1")
    return number


def parse_edit_line(text: str, defaults: EditLine) -> EditLine:
    """One line ``find => prompt [| key=value; ...]`` → :class:`EditLine`.

    Args:
        text: the line (not blank, not a comment).
        defaults: where unset options come from (its ``find`` and ``prompt`` are not used).

    Raises:
        PinpointError: no ``=>``, an empty side, or an unknown or bad option.
    """
    body, _, options = text.partition("|")
    if ARROW not in body:
        raise PinpointError(f"'{text.strip()}' has no '{ARROW}'", SHAPE_FIX)
    find, _, prompt = (part.strip() for part in body.partition(ARROW))
    if not find or not prompt:
        side = "what to find" if not find else "what it becomes"
        raise PinpointError(f"'{text.strip()}' does not say {side}", SHAPE_FIX)
    settings = {"pick": defaults.pick, "top_k": defaults.top_k}
    settings["min_probability"] = defaults.min_probability
    for item in options.split(";") if options.strip() else ():
        key, equals, value = (part.strip() for part in item.partition("="))
        if key not in settings or not equals or not value:
            raise PinpointError(
                f"'{item.strip()}' in '{text.strip()}' is not an option",
                f"write options after '|' as key=value separated by ';', the keys being "
                f"{', '.join(settings)} (e.g. '{EXAMPLE} | pick=leftmost; top_k=2')",
            )
        settings[key] = _option(key, value)
    return EditLine(find, prompt, **settings)  # type: ignore[arg-type]


def parse_edit_list(lines: Iterable[str], defaults: EditLine | None = None) -> tuple[EditLine, ...]:
    """Every edit of an edit list, in order.

    Args:
        lines: the list's lines (``text.splitlines()``, or one ``--edit`` value per item); blank
            lines and lines starting with ``#`` are skipped.
        defaults: the options an edit gets unless its line sets them (Match's defaults).

    Raises:
        PinpointError: naming the line (1-based, counting skipped lines) that is not an edit, or
            when there is no edit at all.
    """
    defaults = defaults or EditLine("", "")
    edits = []
    for number, text in enumerate(lines, start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            edits.append(parse_edit_line(text, defaults))
        except PinpointError as err:
            raise PinpointError(f"line {number}: {err.problem}", err.fix) from err
    if not edits:
        raise PinpointError("the edit list is empty", f"write one edit per line, e.g. '{EXAMPLE}'")
    return tuple(edits)
