"""Evaluating a CLIP on ShapesWorld (or the shifted test world): image-level zero-shot top-1 over all 49 class names."""

from __future__ import annotations

from typing import Any

import torch

from vlseg.clip import ClipBundle
from vlseg.data import CLASS_NAMES, heldout_mask, one_object_scenes
from vlseg.zeroshot import top1_accuracy


@torch.no_grad()
def evaluate_zero_shot(bundle: ClipBundle, n_per_class: int = 20, seed: int = 1234, world: str = "v1") -> dict[str, Any]:
    """Image-level zero-shot top-1 on one-object validation scenes, all 49 class names as candidates.

    ``world`` is one of :data:`vlseg.data.EVALUATION_WORLDS` ("v1", "v2" or "shifted"). Returns accuracies over seen
    classes, held-out classes and all, plus predictions and targets.
    """
    images, targets = one_object_scenes(world, n_per_class, seed=seed)
    predictions = bundle.classify(images, list(CLASS_NAMES)).numpy()
    heldout = heldout_mask(targets)
    return {
        "top1_seen": top1_accuracy(torch.as_tensor(predictions[~heldout]), torch.as_tensor(targets[~heldout])),
        "top1_heldout": top1_accuracy(torch.as_tensor(predictions[heldout]), torch.as_tensor(targets[heldout])),
        "top1_all": top1_accuracy(torch.as_tensor(predictions), torch.as_tensor(targets)),
        "n_per_class": n_per_class,
        "seed": seed,
        "predictions": predictions,
        "targets": targets,
    }
