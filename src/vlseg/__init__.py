"""vlseg — from CLIP to pixels: open-vocabulary segmentation with PACL and referring segmentation with CRIS.

Modules, in the order the data flows: ``data`` (ShapesWorld) → ``text`` + ``clip`` (tokenizer, CLIP from
transformers, patch/word accessors) → ``zeroshot`` → ``patches`` / ``dense`` (patch views, MaskCLIP, ClearCLIP)
→ ``coherence`` (the semantic-coherence probe) → ``segmentation`` → ``losses`` → ``train`` → ``pretrained``,
with ``metrics`` and ``viz`` alongside.
"""

from vlseg.clip import ClipBundle, build_clip, pick_device
from vlseg.pretrained import pretrained

__all__ = ["ClipBundle", "build_clip", "pick_device", "pretrained"]
__version__ = "0.1.0"
