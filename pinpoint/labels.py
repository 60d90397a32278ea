"""Class-name filters of the routes whose models have their own classes (detectors, segmenters),
and the text queries of the routes that find what words name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import PinpointError


def parse_labels(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"car, Person ,dog"`` (or a sequence of names) → ``("car", "person", "dog")``:
    lower-case, stripped, empty items dropped."""
    items = text.split(",") if isinstance(text, str) else text
    return tuple(item.strip().lower() for item in items if item.strip())


def check_labels(
    labels: str | Sequence[str], classes: Mapping[int, str], model_name: str, kind: str
) -> frozenset[str]:
    """The wanted class names, each one of ``classes`` (case ignored); an unknown one is an error.

    Args:
        labels: the filter as typed (``"car, truck"``) or a sequence of names; empty keeps all.
        classes: the model's class id → name (``config.id2label``).
        model_name: the model's folder name, for the message.
        kind: what the model is (``"detector"``, ``"segmenter"``), for the message.
    """
    wanted = parse_labels(labels)
    known = {name.lower() for name in classes.values()}
    unknown = [label for label in wanted if label not in known]
    if unknown:
        listed = ", ".join(sorted(known)[:30]) + (", ..." if len(known) > 30 else "")
        raise PinpointError(
            f"'{model_name}' has no class named {', '.join(repr(u) for u in unknown)}",
            f"use class names of this {kind} ({listed}) or leave the label filter empty",
        )
    return frozenset(wanted)


def split_queries(queries: str | Sequence[str]) -> tuple[str, ...]:
    """What to find, one query per item: a string is split at commas and line breaks; items are
    stripped, empty ones and repeats (ignoring case) dropped. No query left is an error."""
    items = queries.replace("\n", ",").split(",") if isinstance(queries, str) else queries
    unique: dict[str, str] = {}
    for query in items:
        if query.strip():
            unique.setdefault(query.strip().lower(), query.strip())
    if not unique:
        raise PinpointError("the queries are empty", "type what to find, e.g. 'a red car, a dog'")
    return tuple(unique.values())
