"""Zero-shot semantic segmentation from patch embeddings, and its evaluation.

The recipe of PACL's inference (and of every training-free baseline in chapter 02):

1. embed every class name with the prompt templates (ensemble) → ``class_embeds`` (K, D);
2. embed every patch of the image → ``patch_embeds`` (B, T, D) — *how* is the only thing methods differ in;
3. cosine of every patch with every class → (B, T, K); bilinear upsampling to pixels → (B, K, H, W); argmax.

**Evaluation protocol** (as PACL's VOC-20 numbers): the candidates are the K class names only, there is no
"background" class, and background pixels are ignored in the score — they carry label ``ignore_index``.
Two scores: **patch accuracy** (argmax per patch against the majority label of the patch, the paper's Table 1)
and **mIoU** over pixels (mmsegmentation convention, :mod:`vlseg.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from vlseg.checks import as_tensor, check_bundle, check_positive_int
from vlseg.clip import ClipBundle
from vlseg.data.vocabulary import BACKGROUND, IGNORE_INDEX, NUM_CLASSES
from vlseg.dense import check_method, dense_patch_embeds
from vlseg.images import as_images
from vlseg.metrics import IoUAccumulator, check_ignore_index
from vlseg.patches import logits_to_pixels, patch_labels, patch_logits
from vlseg.text import PROMPT_TEMPLATES, check_texts
from vlseg.zeroshot import class_text_embeds

PatchEmbedFn = Callable[[Tensor], Tensor]  # pixel_values (B, 3, S, S) → patch embeddings (B, T, D)


def class_targets(semantic: np.ndarray | Tensor, ignore_index: int = IGNORE_INDEX, background: int | None = None) -> Tensor:
    """ShapesWorld semantic masks (0 = background, c + 1 = class c) → class-index maps; background pixels get
    ``ignore_index`` (PACL's protocol), or the label ``background`` when one is given (background as a class)."""
    ignore_index = check_ignore_index(ignore_index)
    if 0 <= ignore_index < NUM_CLASSES:
        raise ValueError(f"ignore_index={ignore_index} is a class index (0…{NUM_CLASSES - 1}): ignored pixels and that "
                         "class would be one label; use 255 or -1")
    semantic = as_tensor(semantic, "semantic")
    if semantic.is_floating_point() or semantic.dtype == torch.bool:
        raise TypeError(f"semantic must be an integer mask (0 = background, c + 1 = class c, 255 = ignore); got {semantic.dtype}")
    semantic = semantic.long()
    valid = (semantic == IGNORE_INDEX) | ((semantic >= 0) & (semantic <= NUM_CLASSES))
    if not bool(valid.all()):
        raise ValueError(f"semantic must hold ShapesWorld labels 0…{NUM_CLASSES} or {IGNORE_INDEX}; got "
                         f"{sorted(set(semantic[~valid].unique().tolist()))[:5]}")
    targets = torch.where((semantic == BACKGROUND) | (semantic == IGNORE_INDEX), ignore_index, semantic - 1)
    return targets if background is None else torch.where(semantic == BACKGROUND, background, targets)


def patch_targets(targets: Tensor, bundle: ClipBundle, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Class-index maps (N, H, W) → one label per patch of the model's grid (N, G, G) (majority rule)."""
    size = bundle.image_size
    if tuple(targets.shape[-2:]) != (size, size):  # masks of another size: bring them to the model's input size
        targets = F.interpolate(targets[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()
    if ignore_index == IGNORE_INDEX:
        return patch_labels(targets, bundle.patch_size, ignore_index=ignore_index)
    # another ignore label (e.g. −1): count it as 255 for the majority rule, give it back afterwards
    labels = patch_labels(torch.where(targets == ignore_index, IGNORE_INDEX, targets), bundle.patch_size)
    return torch.where(labels == IGNORE_INDEX, ignore_index, labels)


def check_class_targets(targets: Tensor, class_names: Sequence[str], ignore_index: int) -> None:
    """Targets must index ``class_names`` (or be ``ignore_index``). Raw ShapesWorld semantic masks (0 = background,
    c + 1 = class c) are the usual mistake: they are off by one, and half their pixels are background "class 0"."""
    scored = targets[targets != ignore_index]
    if not scored.numel():
        return
    low, high = int(scored.min()), int(scored.max())
    if low < 0:
        raise ValueError(f"targets hold the label {low}, but ignore_index is {ignore_index}: pass "
                         f"ignore_index={low} if {low} marks unlabelled pixels")
    raw_hint = ("raw ShapesWorld semantic masks (0 = background, c + 1 = class c)? Convert them with "
                "vlseg.segmentation.class_targets")
    if high >= len(class_names):
        raise ValueError(f"targets hold labels up to {high} but there are {len(class_names)} class names: {raw_hint}")
    zero_share = float((scored == 0).float().mean())
    if zero_share > 0.5 and "background" not in class_names[0].lower():
        raise ValueError(f"targets: {zero_share:.0%} of the scored pixels are class 0 ({class_names[0]!r}): {raw_hint}. "
                         "(If class 0 really is background, name it so: class_names[0] = 'background'.)")


@dataclass
class SegmentationResult:
    """What :func:`evaluate_segmentation` measured, with the predictions it made."""

    patch_accuracy: float
    miou: float
    per_class_iou: Tensor  # (K,), nan for classes absent from prediction and ground truth
    patch_predictions: Tensor  # (N, G, G) class index per patch
    pixel_predictions: Tensor  # (N, H, W) class index per pixel

    def group_miou(self, class_indices: Sequence[int]) -> float:
        """mIoU over a subset of classes (e.g. the held-out ones): nan-mean of their IoUs."""
        return float(self.per_class_iou[list(class_indices)].nanmean())


@torch.no_grad()
def segment_embeds(
    patch_embeds: Tensor, class_embeds: Tensor, image_size: int | tuple[int, int], background_threshold: float | None = None
) -> tuple[Tensor, Tensor]:
    """Patch embeddings (B, T, D) and class embeddings (K, D) → patch argmax (B, T) and pixel argmax (B, H, W).

    With ``background_threshold``, a patch or pixel whose best cosine stays below it gets label K ("background",
    one past the last class) instead of a class: the optional background of PACL's inference.
    """
    logits = patch_logits(patch_embeds, class_embeds)  # (B, T, K)
    pixel_logits = logits_to_pixels(logits, image_size)  # (B, K, H, W)
    patch_best, patch_pred = logits.max(-1)
    pixel_best, pixel_pred = pixel_logits.max(1)
    if background_threshold is not None:
        background = class_embeds.shape[0]
        patch_pred = torch.where(patch_best < background_threshold, background, patch_pred)
        pixel_pred = torch.where(pixel_best < background_threshold, background, pixel_pred)
    return patch_pred, pixel_pred


@torch.no_grad()
def evaluate_segmentation(
    bundle: ClipBundle,
    images: np.ndarray,
    targets: Tensor,
    class_names: Sequence[str],
    *,
    method: str = "clip",
    patch_embed_fn: PatchEmbedFn | None = None,
    templates: Sequence[str] = PROMPT_TEMPLATES,
    batch_size: int = 256,
    ignore_index: int = IGNORE_INDEX,
    progress: bool = True,
) -> SegmentationResult:
    """Zero-shot segmentation of ``images`` (N, H, W, 3) uint8 scored against ``targets`` (N, H, W).

    ``targets`` hold indices into ``class_names`` (``ignore_index`` elsewhere). Patch embeddings come from
    ``patch_embed_fn(pixel_values)`` if given, else from the frozen CLIP with ``method``
    (``"clip"``, ``"maskclip"``, ``"clearclip"``, see :mod:`vlseg.dense`).
    """
    class_names = check_texts(class_names, "class_names", allow_single=False)
    checked = as_images(images)
    if checked.block is None:
        raise ValueError("evaluate_segmentation scores a batch of images of one size, (N, H, W, 3); got a list")
    ignore_index = check_ignore_index(ignore_index)
    batch_size = check_positive_int(batch_size, "batch_size")
    targets = torch.as_tensor(targets)
    if targets.is_floating_point() or targets.ndim != 3 or tuple(targets.shape) != tuple(checked.block.shape[:3]):
        raise ValueError(f"targets must be integer class maps (N, H, W) matching images (N, H, W, 3); got "
                         f"{targets.dtype} {tuple(targets.shape)} and {tuple(checked.block.shape)}")
    targets = targets.long()
    check_class_targets(targets, class_names, ignore_index)
    check_bundle(bundle)
    embed = patch_embed_fn or (lambda pixel_values: dense_patch_embeds(bundle, pixel_values, method))
    class_embeds = class_text_embeds(bundle, class_names, templates)  # (K, D)
    grid_targets = patch_targets(targets, bundle, ignore_index).flatten(1)  # (N, G*G)
    accumulator = IoUAccumulator(len(class_names), ignore_index)
    patch_preds, pixel_preds = [], []
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc=f"segmenting ({method if patch_embed_fn is None else 'custom'})", disable=not progress):
        pixel_values = bundle.pixel_values(checked.block[start : start + batch_size])
        patch_pred, pixel_pred = segment_embeds(embed(pixel_values), class_embeds, tuple(targets.shape[-2:]))
        accumulator.update(pixel_pred.cpu(), targets[start : start + batch_size])
        patch_preds.append(patch_pred.cpu())
        pixel_preds.append(pixel_pred.cpu().to(torch.int16))
    patch_pred = torch.cat(patch_preds)  # (N, G*G)
    scored = grid_targets != ignore_index
    if not scored.any():
        raise ValueError("no patch has a clear class label: nothing to score (are all pixels ignore_index?)")
    accuracy = float((patch_pred[scored] == grid_targets[scored]).float().mean())
    miou, per_class = accumulator.compute()
    grid = bundle.grid_size
    return SegmentationResult(accuracy, miou, per_class, patch_pred.view(-1, grid, grid), torch.cat(pixel_preds))


def zero_shot_segmenter(bundle: ClipBundle, class_names: Sequence[str], method: str = "maskclip",
                        templates: Sequence[str] = PROMPT_TEMPLATES) -> Callable[[Any], Tensor]:
    """A ``segment(image) -> (H, W)`` callable: zero-shot segmentation of one image of any size with ``method``'s
    patch embeddings (:mod:`vlseg.dense`) against ``class_names`` (embedded once, with the prompt ensemble).

    For real data sets, whose images differ in size (:func:`vlseg.scoring.score_semantic`).
    """
    class_embeds = class_text_embeds(bundle, check_texts(class_names, "class_names", allow_single=False), templates)
    check_method(method)

    @torch.no_grad()
    def segment(image: Any) -> Tensor:
        checked = as_images(image)
        if checked.block is None or len(checked.block) != 1:
            raise ValueError("segment() takes one image, (H, W, 3) uint8 or a PIL image")
        embeds = dense_patch_embeds(bundle, bundle.pixel_values(checked.block), method)  # (1, T, D)
        _, pixel_pred = segment_embeds(embeds, class_embeds, tuple(checked.block.shape[1:3]))  # (1, H, W)
        return pixel_pred[0].cpu()

    return segment
