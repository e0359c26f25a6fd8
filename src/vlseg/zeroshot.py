"""Zero-shot image classification with prompt templates and ensembling (CLIP, section 3.1.4).

Each class name is put into several templates ("a photo of a {}."); the text embeddings of one
class are L2-normalised, averaged and normalised again (the *ensemble*). An image is assigned the
class whose ensemble embedding has the highest cosine with its image embedding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vlseg.data.captions import with_article

# "{}" receives the class name with its article: "a red circle", "an orange star".
PROMPT_TEMPLATES: tuple[str, ...] = (
    "a photo of {}.",
    "{}.",
    "a picture of {}.",
    "there is {} in the image.",
    "a drawing of {}.",
)


def prompts_for(class_names: Sequence[str], templates: Sequence[str] = PROMPT_TEMPLATES) -> list[str]:
    """Every template filled with every class name (class-major order: K × P prompts)."""
    check_prompts(class_names, templates)
    return [template.format(with_article(name)) for name in class_names for template in templates]


def check_prompts(class_names: Sequence[str], templates: Sequence[str]) -> None:
    if len(class_names) == 0:
        raise ValueError("empty list of class names: zero-shot classification needs at least one class")
    if len(templates) == 0:
        raise ValueError("empty list of prompt templates: give at least one, e.g. 'a photo of {}.'")
    for template in templates:
        if "{}" not in template:
            raise ValueError(f"prompt template {template!r} has no '{{}}' for the class name")


@torch.no_grad()
def class_text_embeds(bundle, class_names: Sequence[str], templates: Sequence[str] = PROMPT_TEMPLATES) -> Tensor:
    """Ensembled, L2-normalised class embeddings (K, D) for K class names."""
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
    bundle,
    images: np.ndarray | Tensor,
    class_names: Sequence[str],
    templates: Sequence[str] = PROMPT_TEMPLATES,
    batch_size: int = 512,
) -> Tensor:
    """Zero-shot predictions: index into ``class_names`` for each image (B,)."""
    class_embeds = class_text_embeds(bundle, class_names, templates)
    predictions = []
    for start in range(0, len(images), batch_size):
        image_embeds = bundle.image_embeds(bundle.pixel_values(images[start : start + batch_size], resize=True))
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
    """(K, K) counts: row = true class, column = predicted class (one bincount, no loop)."""
    flat = torch.as_tensor(targets).long() * num_classes + torch.as_tensor(predictions).long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)
