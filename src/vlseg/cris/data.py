"""Referring-segmentation batches from ShapesWorld: image, one expression, the referred object's mask.

Each scene contributes one expression drawn at random among its unambiguous ones (CRIS's recipe: one random
sentence per referred object per iteration). Training leaves out expressions that name a held-out class, so the
evaluation on them measures composition; evaluation can keep them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from vlseg.data import generate_batch


@dataclass
class ReferringBatch:
    images: np.ndarray  # (B, H, W, 3) uint8
    texts: list[str]  # B expressions
    masks: Tensor  # (B, H, W) bool: the referred object
    kinds: list[str]  # attribute / spatial / relation / ordinal
    names_heldout: list[bool]


def check_referring_batch(images: np.ndarray, masks: Tensor, texts: list[str]) -> None:
    """Shapes must agree: one mask per image, of the image's size, and one expression each."""
    if masks.ndim != 3 or tuple(masks.shape) != tuple(np.shape(images)[:3]):
        raise ValueError(
            f"masks must be (B, H, W) matching images (B, H, W, 3); got {tuple(masks.shape)} and {np.shape(images)}"
        )
    if len(texts) != len(masks):
        raise ValueError(f"{len(masks)} masks for {len(texts)} expressions")


def concat_referring_batches(batches: Sequence[ReferringBatch]) -> ReferringBatch:
    """One batch from several (same image size), in order: e.g. a whole evaluation set."""
    if not batches:
        raise ValueError("no batches to concatenate")
    return ReferringBatch(np.concatenate([b.images for b in batches]), [t for b in batches for t in b.texts],
                          torch.cat([b.masks for b in batches]), [k for b in batches for k in b.kinds],
                          [h for b in batches for h in b.names_heldout])


def referring_batch(
    n_scenes: int, *, seed: int = 0, split: str = "train", block: int = 0, heldout_names: bool | None = None,
    kinds: tuple[str, ...] | None = None,
) -> ReferringBatch:
    """One expression per scene (scenes without an eligible expression are skipped, so B ≤ ``n_scenes``).

    ``heldout_names``: None keeps every expression, False drops those naming a held-out class, True keeps only
    those. ``kinds`` restricts the expression kinds.
    """
    scenes = generate_batch(n_scenes, seed=seed, split=split, block=block)
    rng = np.random.default_rng([seed, block, 31])
    keep, texts, masks, kind_list, heldout = [], [], [], [], []
    for i in range(len(scenes)):
        options = [e for e in scenes[i].referring_expressions()
                   if (heldout_names is None or e.names_heldout == heldout_names) and (kinds is None or e.kind in kinds)]
        if not options:
            continue
        expression = options[rng.integers(len(options))]
        keep.append(i)
        texts.append(expression.text)
        masks.append(scenes.instance[i] == expression.target + 1)
        kind_list.append(expression.kind)
        heldout.append(expression.names_heldout)
    if not keep:
        raise ValueError("no scene has an expression of the requested kind")
    batch = ReferringBatch(scenes.images[keep], texts, torch.as_tensor(np.stack(masks)), kind_list, heldout)
    check_referring_batch(batch.images, batch.masks, batch.texts)
    return batch
