"""vlseg — from CLIP to pixels: open-vocabulary segmentation with PACL and referring segmentation with CRIS.

The library in layers, each importing only from the ones before it:

* foundations: ``data`` (ShapesWorld), ``images`` (what an image argument may be), ``text`` (tokenizer, prompts),
  ``device``, ``checkpoint`` (safetensors), ``clip`` (CLIP from transformers + patch/word accessors), ``zeroshot``,
  ``patches``, ``dense`` (MaskCLIP, ClearCLIP), ``segmentation``, ``coherence``, ``metrics``, ``losses``,
  ``training`` (the one training loop), ``viz``;
* one package per method: ``clip_training``, ``pacl``, ``cris`` — each with its model, loss, training and evaluation;
* on top, ``registry`` (the shipped models), from which ``shipped`` (``pretrained``, ``model_card``) and the command
  line ``python -m vlseg.train NAME`` are derived.

The public calls: ``pretrained("tiny-clip-shapes").classify(images, class_names)``,
``pretrained("pacl-shapes").segment(images, class_names)`` and ``.query_maps(images, texts)``,
``pretrained("cris-shapes").predict(images, texts)``.
"""

from vlseg.clip import ClipBundle, build_clip
from vlseg.device import pick_device
from vlseg.shipped import model_card, pretrained

__all__ = ["ClipBundle", "build_clip", "model_card", "pick_device", "pretrained"]
__version__ = "0.1.0"
