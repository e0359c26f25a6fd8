"""Zero-shot image classification with prompt templates and ensembling (CLIP, section 3.1.4).

Each class name is put into several templates ("a photo of a {}."); the text embeddings of one
class are L2-normalised, averaged and normalised again (the *ensemble*). An image is assigned the
class whose ensemble embedding has the highest cosine with its image embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from vlseg.checks import as_tensor, check_bundle, check_positive_int
from vlseg.images import as_images
from vlseg.text import PROMPT_TEMPLATES, check_texts, prompts_for


@torch.no_grad()
def class_text_embeds(bundle, class_names: Sequence[str], templates: Sequence[str] = PROMPT_TEMPLATES) -> Tensor:
    """Ensembled, L2-normalised class embeddings (K, D) for K class names."""
    class_names = check_texts(class_names, "class_names", allow_single=False)
    templates = list(templates) if not isinstance(templates, str) else templates
    embeds = bundle.encode_texts(prompts_for(class_names, templates), normalize=True)  # (K * P, D)
    embeds = embeds.view(len(class_names), len(templates), -1).mean(dim=1)  # (K, D)
    return F.normalize(embeds, dim=-1)


def zero_shot_logits(image_embeds: Tensor, class_embeds: Tensor) -> Tensor:
    """Cosine similarities (B, K) between image embeddings (B, D) and class embeddings (K, D)."""
    if image_embeds.ndim != 2 or class_embeds.ndim != 2 or image_embeds.shape[1] != class_embeds.shape[1]:
        raise ValueError(
            f"expected image_embeds (B, D) and class_embeds (K, D); got {tuple(image_embeds.shape)} and "
            f"{tuple(class_embeds.shape)}"
        )
    return F.normalize(image_embeds, dim=-1) @ F.normalize(class_embeds, dim=-1).t()


@torch.no_grad()
def predict(
    bundle: Any,
    images: Any,
    class_names: Sequence[str],
    templates: Sequence[str] = PROMPT_TEMPLATES,
    batch_size: int = 512,
) -> Tensor:
    """Zero-shot predictions: for each image the index of its class in ``class_names``, LongTensor (N,).

    ``images``: anything :func:`vlseg.images.as_images` accepts (one image, a batch, PIL, a list of any sizes).
    """
    check_bundle(bundle)
    checked = as_images(images)
    batch_size = check_positive_int(batch_size, "batch_size")
    class_embeds = class_text_embeds(bundle, class_names, templates)  # (K, D)
    predictions = []
    for chunk in checked.split(batch_size):
        image_embeds = bundle.image_embeds(bundle.pixel_values(chunk))  # (b, D)
        predictions.append(zero_shot_logits(image_embeds, class_embeds).argmax(dim=-1).cpu())
    return torch.cat(predictions)


def top1_accuracy(predictions: Tensor, targets: Tensor) -> float:
    """Fraction of predictions equal to their target."""
    predictions, targets = torch.as_tensor(predictions), torch.as_tensor(targets)
    if predictions.shape != targets.shape or predictions.ndim != 1:
        raise ValueError(f"predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} must be equal 1-D")
    if len(targets) == 0:
        raise ValueError("no predictions to score")
    return float((predictions == targets).float().mean())


def confusion_matrix(predictions: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """(K, K) counts: row = true class, column = predicted class (one bincount, no loop).

    Both must hold class indices in [0, K); anything else (an "ignore" label, −1) is refused rather than counted in
    another cell.
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    predictions, targets = as_tensor(predictions, "predictions"), as_tensor(targets, "targets")
    if predictions.shape != targets.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} differ in shape")
    for name, values in (("predictions", predictions), ("targets", targets)):
        if values.is_floating_point() or values.dtype == torch.bool:
            raise TypeError(f"{name} must hold integer class indices; got dtype {values.dtype}")
        if values.numel() and (int(values.min()) < 0 or int(values.max()) >= num_classes):
            raise ValueError(f"{name} must lie in [0, {num_classes}); got values from {int(values.min())} to "
                             f"{int(values.max())} (drop ignored entries first)")
    flat = targets.long().flatten() * num_classes + predictions.long().flatten()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)
