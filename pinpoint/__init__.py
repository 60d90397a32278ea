"""Pinpoint core: text-guided, object-specific image editing without ComfyUI.

Stages, one module each, each called through its checked request (:mod:`.request`): find
candidates (:mod:`.detect`, :mod:`.segments`, :mod:`.anchors`), choose among them (:mod:`.match`,
:mod:`.heatmap`, :mod:`.selection`), refine masks (:mod:`.refine`, :mod:`.masks`) and repaint
(:mod:`.crop`, :mod:`.inpaint`). :mod:`.loading` loads models from the folders a ComfyUI user
has; :mod:`.pipeline` chains the stages and :mod:`.cli` exposes them as ``python -m pinpoint``.
Nothing here imports ComfyUI.
"""

__version__ = "0.1.0"
