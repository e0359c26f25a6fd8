"""Scoring a model on a real data set (:mod:`vlseg.data.voc`, :mod:`vlseg.data.refcoco`), one image at a time.

ShapesWorld batches are one size; real photographs are not, so these functions walk the data set item by item and
hand each image, at its own size, to a callable the chapter chooses:

* :func:`score_semantic` — ``segment(image) -> (H, W)`` class indices into the data set's ``class_names``
  (e.g. ``lambda image: pacl.segment(image, VOC_PROMPT_NAMES, background=None)[0]``, PACL's VOC-20 protocol);
  reports mIoU over the classes present (void pixels ignored), as the PACL paper does, and pixel accuracy;
* :func:`score_referring` — ``predict(image, sentence) -> (H, W) bool`` (e.g. ``cris.predict``); reports mIoU (the
  mean of per-expression IoUs, CRIS's headline), oIoU (total intersection over total union) and prec@0.5…0.9
  (e.g. ``lambda image, sentence: cris.predict(image, sentence)[0]``).

``limit`` scores the first ``limit`` items only: a quick look on a CPU before a full run on a GPU.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from vlseg.checks import check_positive_int
from vlseg.metrics import PRECISION_THRESHOLDS, IoUAccumulator, mask_ious


def _items(dataset: Any, limit: int | None) -> range:
    if limit is not None:
        check_positive_int(limit, "limit")
    if len(dataset) == 0:
        raise ValueError("the data set is empty: nothing to score")
    return range(min(len(dataset), limit) if limit is not None else len(dataset))


def _prediction(output: Any, shape: tuple[int, ...], what: str, index: int) -> Tensor:
    output = torch.as_tensor(output).cpu()
    if tuple(output.shape) != shape:
        raise ValueError(f"{what} returned shape {tuple(output.shape)} for item {index}, whose image is {shape}: "
                         "it must return one value per pixel at the image's own size")
    return output


@torch.no_grad()
def score_semantic(segment: Callable[[np.ndarray], Any], dataset: Any, limit: int | None = None,
                   progress: bool = True) -> dict[str, float]:
    """mIoU and pixel accuracy (percent) of ``segment`` on a semantic-segmentation data set of (image, label) items."""
    num_classes = len(dataset.class_names)
    void = int(getattr(dataset, "void", 255))
    accumulator = IoUAccumulator(num_classes, void)
    correct = scored = 0
    indices = _items(dataset, limit)
    for index in tqdm(indices, desc="scoring", disable=not progress):
        image, label = dataset[index]
        label = torch.as_tensor(np.asarray(label)).long()  # (H, W)
        prediction = _prediction(segment(image), tuple(label.shape), "segment", index).long()  # (H, W)
        accumulator.update(prediction, label)
        valid = label != void
        correct += int((prediction[valid] == label[valid]).sum())
        scored += int(valid.sum())
    miou, _ = accumulator.compute()
    return {"mIoU": 100 * miou, "pixel_accuracy": 100 * correct / max(scored, 1), "images": float(len(indices))}


@torch.no_grad()
def score_referring(predict: Callable[[np.ndarray, str], Any], dataset: Any, limit: int | None = None,
                    progress: bool = True) -> dict[str, float]:
    """mIoU, oIoU and prec@0.5…0.9 (percent) of ``predict`` on a referring data set of (image, mask, sentence, …)."""
    ious, intersection, union = [], 0, 0
    indices = _items(dataset, limit)
    for index in tqdm(indices, desc="scoring", disable=not progress):
        image, mask, sentence = dataset[index][:3]
        truth = torch.as_tensor(np.asarray(mask)).bool()  # (H, W)
        prediction = _prediction(predict(image, sentence), tuple(truth.shape), "predict", index)
        if prediction.dtype != torch.bool:
            raise ValueError(f"predict returned {prediction.dtype} for item {index}; it must return a bool mask")
        ious.append(mask_ious(prediction[None], truth[None])[0])
        intersection += int((prediction & truth).sum())
        union += int((prediction | truth).sum())
    iou = torch.stack(ious).double()  # (N,)
    out = {"mIoU": 100 * float(iou.mean()), "oIoU": 100 * intersection / union if union else 100.0}
    out |= {f"prec@{t}": 100 * float((iou > t).double().mean()) for t in PRECISION_THRESHOLDS}
    return out | {"expressions": float(len(indices))}
