"""How ``python -m pinpoint eval`` edits each item beyond its route: the guidance and the
candidates (best-of-N) of a run, and the label that keys its rows beside the route's, so runs
of several settings into one folder are reported side by side as runs of several routes are
(:func:`pinpoint.eval_items.run_label`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .guidance_settings import CLIP_SCALE, SOURCE_TEXT, GuidanceSettings, guidance_settings
from .ranking import Kept, RankSettings

UNGUIDED = "none"
"""``--guide``'s value, and the ``guide`` column's, for an unguided run."""


def _value(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class EvalSetting:
    """The guidance and candidates every item of a run is edited with.

    Attributes:
        guide: the kind of guidance (``clip``, ``style``) or :data:`UNGUIDED`.
        guidance: its settings; None unguided.
        files: the files the guidance reads, as (option, file name): ``("lpips", "alexnet-...")``,
            ``("vgg", ...)``, ``("decoder", ...)``.
        source_text: style guidance: what the area shows now (the style runs from it).
        candidates: how many candidates each item is painted as; the best by ``ranking`` is kept.
        ranking: the weights of ``S = alpha * S_t2i + beta * S_i2i``.
    """

    guide: str = UNGUIDED
    guidance: GuidanceSettings | None = None
    files: tuple[tuple[str, str], ...] = ()
    source_text: str = SOURCE_TEXT
    candidates: int = 1
    ranking: RankSettings = RankSettings()

    @property
    def label(self) -> str:
        """The setting as rows, the summary and output folders name it beside the route: empty
        for the default (unguided, one candidate); else ``guide=clip``, ``candidates=4``, each
        followed by every value off the usual one (the options' defaults), e.g.
        ``guide=clip scale=0.1 end=1 candidates=4 beta=0``. Two runs share a label only if
        they share these settings."""
        parts = []
        if self.guidance is not None:
            usual = guidance_settings(self.guide, CLIP_SCALE)
            parts.append(f"guide={self.guide}")
            parts += [
                f"{field.name}={_value(getattr(self.guidance, field.name))}"
                for field in dataclasses.fields(GuidanceSettings)
                if getattr(self.guidance, field.name) != getattr(usual, field.name)
            ]
            parts += [f"{option}={name}" for option, name in self.files]
            if self.guide == "style" and self.source_text != SOURCE_TEXT:
                parts.append(f"source_text={self.source_text!r}")
        if self.candidates > 1:
            parts.append(f"candidates={self.candidates}")
            usual_ranking = RankSettings()
            parts += [
                f"{name}={_value(getattr(self.ranking, name))}"
                for name in ("alpha", "beta")
                if getattr(self.ranking, name) != getattr(usual_ranking, name)
            ]
        return " ".join(parts)

    def row(self, kept: tuple[Kept, ...] = ()) -> dict[str, object]:
        """What a row records of how it was made: the guidance kind and scale, how many
        candidates were ranked, and of an edit made (``kept``: :attr:`EditResult.kept`) which
        was kept, by its number (1-based) and its ``S``."""
        return {
            "guide": self.guide,
            "guide_scale": self.guidance.scale if self.guidance is not None else None,
            "candidates": self.candidates,
            "kept": kept[0].number if kept else None,
            "kept_score": kept[0].score if kept else None,
        }
