r"""Segmentation metrics.

**Semantic segmentation (mIoU, mmsegmentation convention).** Over the whole evaluation set, accumulate per
class :math:`c` the intersection :math:`I_c` and union :math:`U_c` of predicted and true pixels, ignoring pixels
labelled ``ignore_index``; then :math:`\mathrm{IoU}_c = \sum I_c / \sum U_c` and mIoU is the mean over the
classes with :math:`U_c > 0` (a nan-mean: classes absent from both prediction and ground truth do not count).
Per-image averaging would weigh small images like large ones; this convention does not.

**Referring segmentation.** One binary mask per expression. ``mIoU`` is the mean of per-expression IoUs
(what CRIS reports as "IoU"), ``oIoU`` the total intersection over the total union (what most later papers
report), and ``prec@X`` the fraction of expressions with IoU > X.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from vlseg.checks import as_tensor, check_positive_int, check_probability, check_seed


def check_ignore_index(ignore_index: Any) -> int:
    """The label of pixels that are not scored: an integer (255 by convention; −1 also works)."""
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"ignore_index must be an integer label (e.g. 255 or -1); got {ignore_index!r}. "
                        "With nothing to ignore, pass a label that never occurs, e.g. 255")
    return int(ignore_index)


def _check_label_maps(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int) -> tuple[Tensor, Tensor]:
    ignore_index = check_ignore_index(ignore_index)
    check_positive_int(num_classes, "num_classes")
    pred, target = as_tensor(pred, "pred"), as_tensor(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    if pred.is_floating_point() or target.is_floating_point():
        raise ValueError("pred and target must be integer label maps (take the argmax of logits first)")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    pred, target = pred.long(), target.long()  # so that -1 never equals 255 in a uint8 map
    valid = target != ignore_index
    for name, labels in (("pred", pred[valid]), ("target", target[valid])):
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{name} has labels from {int(labels.min())} to {int(labels.max())}, outside "
                             f"[0, {num_classes}) (other than ignore_index={ignore_index})")
    return pred, target


def intersection_and_union(
    pred: Tensor, target: Tensor, num_classes: int, ignore_index: int = 255
) -> tuple[Tensor, Tensor]:
    """Per-class pixel counts of intersection and union, (K,) each, by three bincounts (no loop over pixels)."""
    pred, target = _check_label_maps(pred, target, num_classes, ignore_index)
    valid = target != ignore_index
    pred, target = pred[valid].long(), target[valid].long()  # (P,)
    intersection = torch.bincount(target[pred == target], minlength=num_classes)
    area_pred = torch.bincount(pred, minlength=num_classes)
    area_target = torch.bincount(target, minlength=num_classes)
    return intersection, area_pred + area_target - intersection


def iou_from_counts(intersection: Tensor, union: Tensor) -> tuple[float, Tensor]:
    """(mIoU, per-class IoU) from accumulated counts; nan for classes with an empty union."""
    iou = intersection.double() / union.double()
    iou[union == 0] = float("nan")
    present = ~torch.isnan(iou)
    miou = float(iou[present].mean()) if present.any() else float("nan")
    return miou, iou


def mean_iou(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int = 255) -> tuple[float, Tensor]:
    """mIoU of integer label maps of equal shape (any shape, e.g. (N, H, W)); also the (K,) per-class IoU."""
    return iou_from_counts(*intersection_and_union(pred, target, num_classes, ignore_index))


class IoUAccumulator:
    """Streaming mIoU: ``update`` batch after batch, ``compute`` at the end (same result as one big call)."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.ignore_index = check_ignore_index(ignore_index)
        self.intersection = torch.zeros(num_classes, dtype=torch.long)
        self.union = torch.zeros(num_classes, dtype=torch.long)

    def update(self, pred: Tensor, target: Tensor) -> None:
        intersection, union = intersection_and_union(pred, target, self.num_classes, self.ignore_index)
        self.intersection += intersection.cpu()
        self.union += union.cpu()

    def compute(self) -> tuple[float, Tensor]:
        return iou_from_counts(self.intersection, self.union)


PRECISION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def _check_referring_masks(pred_masks: Tensor, gt_masks: Tensor) -> tuple[Tensor, Tensor]:
    pred_masks, gt_masks = as_tensor(pred_masks, "pred_masks"), as_tensor(gt_masks, "gt_masks")
    if pred_masks.shape != gt_masks.shape or pred_masks.ndim != 3:
        raise ValueError(
            f"pred_masks {tuple(pred_masks.shape)} and gt_masks {tuple(gt_masks.shape)} must both be (N, H, W)"
        )
    if pred_masks.dtype != torch.bool or gt_masks.dtype != torch.bool:
        raise ValueError("pred_masks and gt_masks must be boolean (threshold the probabilities first)")
    if len(pred_masks) == 0:
        raise ValueError("pred_masks and gt_masks are empty (shape (0, H, W)): no expressions to score")
    return pred_masks, gt_masks


def mask_ious(pred_masks: Tensor, gt_masks: Tensor) -> Tensor:
    """Per-expression IoU (N,) of boolean masks (N, H, W); 1 where prediction and truth are both empty."""
    pred_masks, gt_masks = _check_referring_masks(pred_masks, gt_masks)
    intersection = (pred_masks & gt_masks).flatten(1).sum(1).double()  # (N,)
    union = (pred_masks | gt_masks).flatten(1).sum(1).double()  # (N,)
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


def precision_at(ious: Tensor, threshold: float) -> float:
    """prec@X: the fraction of expressions whose IoU (any shape) is above ``threshold``."""
    return float((torch.as_tensor(ious) > threshold).double().mean())


def referring_metrics(pred_masks: Tensor, gt_masks: Tensor) -> dict[str, float]:
    """mIoU, oIoU and prec@0.5…0.9 of boolean masks (N, H, W), one per expression; fractions in [0, 1].

    An expression whose prediction and ground truth are both empty counts as IoU 1 (nothing to find, nothing found).
    """
    pred_masks, gt_masks = _check_referring_masks(pred_masks, gt_masks)
    iou = mask_ious(pred_masks, gt_masks)
    intersection = (pred_masks & gt_masks).sum().double()
    union = (pred_masks | gt_masks).sum().double()
    out = {"mIoU": float(iou.mean()), "oIoU": float(intersection / union) if union > 0 else 1.0}
    for threshold in PRECISION_THRESHOLDS:
        out[f"prec@{threshold}"] = precision_at(iou, threshold)
    return out


def boundary_band(masks: Tensor, width: int = 1) -> Tensor:
    """Pixels within ``width`` pixels (chessboard distance) of a mask's boundary, inside or out: (N, H, W) bool."""
    masks = as_tensor(masks, "masks")
    if masks.ndim != 3 or masks.dtype != torch.bool:
        raise ValueError(f"masks must be boolean (N, H, W); got {masks.dtype} {tuple(masks.shape)}")
    width = check_positive_int(width, "width")
    size = 2 * width + 1
    as_float = masks[:, None].float()  # (N, 1, H, W)
    dilated = torch.nn.functional.max_pool2d(as_float, size, stride=1, padding=width)
    eroded = -torch.nn.functional.max_pool2d(-as_float, size, stride=1, padding=width)
    return (dilated != eroded)[:, 0]


def boundary_error_fraction(pred_masks: Tensor, gt_masks: Tensor, width: int = 1) -> float:
    """The fraction of wrongly labelled pixels that lie within ``width`` pixels of the true mask's boundary."""
    pred_masks, gt_masks = _check_referring_masks(pred_masks, gt_masks)
    wrong = pred_masks ^ gt_masks
    return float((wrong & boundary_band(gt_masks, width)).sum() / wrong.sum().clamp(min=1))


def paired_bootstrap(scores_a: Tensor, scores_b: Tensor, n_resamples: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``scores_a − scores_b`` over paired items (N,), and its bootstrap confidence interval (low, high)."""
    n_resamples = check_positive_int(n_resamples, "n_resamples")
    level = check_probability(level, "level")
    seed = check_seed(seed)
    scores_a, scores_b = as_tensor(scores_a, "scores_a").double(), as_tensor(scores_b, "scores_b").double()
    if scores_a.shape != scores_b.shape or scores_a.ndim != 1 or len(scores_a) == 0:
        raise ValueError(f"expected two (N,) score vectors; got {tuple(scores_a.shape)} and {tuple(scores_b.shape)}")
    difference = scores_a - scores_b
    if not bool(torch.isfinite(difference).all()):
        raise ValueError("scores_a and scores_b must be finite; they contain NaN or infinite values")
    generator = torch.Generator().manual_seed(seed)
    resampled = difference[torch.randint(len(difference), (n_resamples, len(difference)), generator=generator)].mean(1)
    tail = (1 - level) / 2
    low, high = torch.quantile(resampled, torch.tensor([tail, 1 - tail], dtype=torch.float64)).tolist()
    return float(difference.mean()), low, high
