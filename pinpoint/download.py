"""``python -m pinpoint download NAME...``: fetch suggested models with huggingface_hub into the
folders Pinpoint reads, explicitly (nothing is ever downloaded at run time).

Each model is fetched into a hidden sibling (``.<name>.partial``) that a later run resumes,
checked as its kind's loader checks it, and only then renamed into place, so a model folder is
never half-written. With no connection (or ``HF_HUB_OFFLINE`` set) it fails at once and says
the command that fetches the model by hand.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from .errors import PinpointError
from .loading.model_kind import Format
from .loading.suggested import SUGGESTED, Suggested, suggested

OFFLINE_VALUES = {"1", "on", "yes", "true"}


def find_suggested(names: list[str]) -> list[Suggested]:
    """The suggested models ``names`` name, in order.

    Raises:
        PinpointError: a name that is not a suggested model, listing the names.
    """
    found = []
    for name in names:
        model = suggested(name)
        if model is None:
            listed = ", ".join(model.name for model in SUGGESTED)
            raise PinpointError(
                f"'{name}' is not a model Pinpoint suggests", f"name one of {listed}"
            )
        found.append(model)
    return found


def _complete(model: Suggested, path: Path) -> bool:
    """True when ``path`` holds ``model`` whole: its file, or a folder its kind's checks pass
    (a diffusers pipeline: its ``model_index.json``)."""
    from .loading import checks, transformers_folder

    if model.kind.format is Format.SAM_CHECKPOINT:
        return path.is_file()
    if model.kind.format is Format.DIFFUSERS:
        return (path / model.kind.marker).is_file()
    try:
        checks.check_model_dir(path, model.kind)
        transformers_folder.check_folder(model.kind, path)
    except PinpointError:
        return False
    return True


def is_installed(model: Suggested, root: Path) -> bool:
    """True when ``model`` is in place under the models folder ``root``."""
    return _complete(model, model.target(root))


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in OFFLINE_VALUES


def download(model: Suggested, root: Path, say: Callable[[str], None] = print) -> Path:
    """Fetch ``model`` into ``root`` (a models folder) unless it is there already.

    Returns:
        The model's folder (or file).

    Raises:
        PinpointError: offline, unreachable, refused by the Hub, or the download is not a
            complete model of its kind; the fix gives the command that fetches it by hand.
    """
    target = model.target(root)
    by_hand = f"download it by hand: {model.command(root)}"
    if is_installed(model, root):
        say(f"{model.name}: already in {target}")
        return target
    if target.exists():
        raise PinpointError(
            f"{target} exists but is not a complete {model.kind.title}",
            f"remove it and run the command again, or {by_hand}",
        )
    if _offline():
        raise PinpointError(
            f"cannot download {model.repo}: HF_HUB_OFFLINE is set", f"unset it, or {by_hand}"
        )
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    staging = target.with_name(f".{target.name}.partial")  # kept on failure: the next run resumes
    staging.mkdir(parents=True, exist_ok=True)
    say(f"{model.name}: downloading {model.repo} into {target} ...")
    try:
        if model.file:
            fetched = Path(hf_hub_download(model.repo, model.file, local_dir=staging))
        else:
            fetched = staging
            snapshot_download(
                model.repo,
                local_dir=staging,
                allow_patterns=list(model.include) or None,
                ignore_patterns=list(model.exclude) or None,
            )
    except (OSError, HfHubHTTPError) as err:
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise PinpointError(
            f"could not download {model.repo} ({reason})",
            "check the connection to huggingface.co and run the command again (it resumes), "
            f"or {by_hand}",
        ) from err
    if not _complete(model, fetched):
        raise PinpointError(
            f"the download of {model.repo} (in {staging}) is not a complete {model.kind.title}",
            f"remove {staging} and run the command again, or {by_hand}",
        )
    shutil.rmtree(staging / ".cache", ignore_errors=True)  # huggingface_hub's resume notes
    os.replace(fetched, target)
    shutil.rmtree(staging, ignore_errors=True)  # what is left of a single-file download
    say(f"{model.name}: done")
    return target
