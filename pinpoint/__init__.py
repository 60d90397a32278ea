"""Pinpoint core: text-guided, object-specific image editing without ComfyUI.

Stages, one module each: :mod:`.detect` (find candidates), :mod:`.match` (CLIP text↔region),
:mod:`.masks` (regions → masks), :mod:`.inpaint` (crop, diffusers inpaint, stitch);
:mod:`.loading` loads models from the folders a ComfyUI user has; :mod:`.pipeline` chains the
stages and :mod:`.cli` exposes them as ``python -m pinpoint``. Nothing here imports ComfyUI.
"""

__version__ = "0.1.0"
