"""Pinpoint for ComfyUI: text-guided object editing (detect → match text → mask → inpaint).

Importing this package has no side effects and needs no ComfyUI (pytest imports it, since the
repository root is the pack); ComfyUI then calls :func:`comfy_entrypoint`, which registers the
model folders and returns the nodes. Models load only when a loader node runs.
"""

from __future__ import annotations

import logging
import os

WEB_DIRECTORY = "./js"


def _register_model_folders() -> None:
    """Add models/<folder> per model kind without clobbering extra_model_paths.yaml entries."""
    import folder_paths

    from .pinpoint.loading.kinds import KINDS

    for kind in KINDS:
        default = os.path.join(folder_paths.models_dir, kind.folder)
        known = kind.folder in folder_paths.folder_names_and_paths
        folder_paths.add_model_folder_path(kind.folder, default)
        if kind.suffixes and known:
            continue  # a folder shared with other packs (sams): keep their extensions
        paths, extensions = folder_paths.folder_names_and_paths[kind.folder]
        own = set(kind.suffixes) or set(extensions)  # never shared
        folder_paths.folder_names_and_paths[kind.folder] = (paths, own)


async def comfy_entrypoint():  # -> nodes.PinpointExtension (a comfy_api ComfyExtension)
    """ComfyUI's V3 entry point, called once right after this package is imported."""
    try:
        from .nodes import PinpointExtension

        _register_model_folders()
    except Exception:
        logging.getLogger("pinpoint").exception("Pinpoint failed to load")  # ComfyUI logs no trace
        raise
    return PinpointExtension()
