"""mIoU (mmsegmentation convention) and referring metrics against direct computations."""

import math

import numpy as np
import pytest
import torch

from vlseg.metrics import IoUAccumulator, mask_ious, mean_iou, precision_at, referring_metrics


def direct_miou(pred, target, num_classes, ignore_index=255):
    """Per-class loop over the whole set, written as plainly as possible."""
    pred, target = np.asarray(pred).ravel(), np.asarray(target).ravel()
    keep = target != ignore_index
    pred, target = pred[keep], target[keep]
    ious = []
    for c in range(num_classes):
        inter = np.sum((pred == c) & (target == c))
        union = np.sum((pred == c) | (target == c))
        ious.append(inter / union if union else float("nan"))
    ious = np.array(ious)
    return np.nanmean(ious), ious


def test_mean_iou_matches_direct_computation_with_ignore_and_absent_classes():
    rng = np.random.default_rng(0)
    num_classes = 7
    target = rng.integers(0, 5, (4, 16, 16))  # classes 5 and 6 never in the target
    target[:, :3] = 255  # ignored rows
    pred = rng.integers(0, 6, (4, 16, 16))  # class 6 never predicted: absent from both
    pred[target == 255] = 3  # predictions on ignored pixels must not count
    miou, per_class = mean_iou(torch.from_numpy(pred), torch.from_numpy(target), num_classes)
    expected_miou, expected = direct_miou(pred, target, num_classes)
    assert math.isclose(miou, expected_miou, rel_tol=1e-12)
    assert np.allclose(per_class.numpy(), expected, equal_nan=True)
    assert math.isnan(per_class[6]) and per_class[5] == 0.0, "absent class is nan, predicted-only class is 0"


def test_perfect_and_streaming():
    torch.manual_seed(0)
    target = torch.randint(0, 4, (3, 8, 8))
    assert mean_iou(target, target, 4)[0] == 1.0
    pred = torch.randint(0, 4, (3, 8, 8))
    acc = IoUAccumulator(4)
    for i in range(3):
        acc.update(pred[i], target[i])
    assert acc.compute()[0] == pytest.approx(mean_iou(pred, target, 4)[0])
    # the set-level convention differs from averaging per-image mIoUs (it weighs pixels, not images)
    per_image = np.mean([mean_iou(pred[i], target[i], 4)[0] for i in range(3)])
    assert abs(acc.compute()[0] - per_image) > 1e-9


def test_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        mean_iou(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="integer"):
        mean_iou(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="outside"):
        mean_iou(torch.full((2, 2), 5), torch.zeros(2, 2, dtype=torch.long), 2)


def test_referring_metrics_hand_computed():
    gt = torch.zeros(2, 4, 4, dtype=torch.bool)
    pred = torch.zeros(2, 4, 4, dtype=torch.bool)
    gt[0, :2, :2] = True  # 4 pixels
    pred[0, :2, :] = True  # 8 pixels, 4 shared: IoU 0.5
    gt[1, :, :] = True  # 16 pixels
    pred[1, :, :3] = True  # 12 pixels inside: IoU 0.75
    m = referring_metrics(pred, gt)
    assert m["mIoU"] == pytest.approx((0.5 + 0.75) / 2)
    assert m["oIoU"] == pytest.approx((4 + 12) / (8 + 16))
    assert m["prec@0.5"] == 0.5 and m["prec@0.7"] == 0.5 and m["prec@0.8"] == 0.0
    with pytest.raises(ValueError, match="boolean"):
        referring_metrics(pred.float(), gt)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        referring_metrics(pred[0], gt[0])


def test_mask_ious_boundary_band_and_paired_bootstrap():
    from vlseg.metrics import boundary_band, boundary_error_fraction, mask_ious, paired_bootstrap

    gt = torch.zeros(2, 8, 8, dtype=torch.bool)
    gt[:, 2:6, 2:6] = True  # a 4×4 square: 16 pixels
    pred = gt.clone()
    pred[0, 2:6, 6] = True  # one column too many: IoU 16/20
    pred[1] = False  # nothing found: IoU 0
    assert mask_ious(pred, gt).tolist() == [0.8, 0.0]
    band = boundary_band(gt[:1], width=1)[0]
    assert int(band.sum()) == 6 * 6 - 2 * 2  # the 6×6 dilation minus the 2×2 erosion
    assert not band[0, 0] and band[1, 1] and band[2, 2] and not band[3, 3]
    assert boundary_error_fraction(pred[:1], gt[:1]) == 1.0  # the extra column touches the square
    far = gt[:1].clone()
    far[0, 0, 7] = True  # one wrong pixel far from the boundary
    assert boundary_error_fraction(far, gt[:1]) == 0.0
    mean, low, high = paired_bootstrap(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([0.0, 1.0, 2.0, 3.0]))
    assert mean == 1.0 and low == 1.0 and high == 1.0  # a constant difference has no spread
    mean, low, high = paired_bootstrap(torch.randn(500, generator=torch.Generator().manual_seed(0)), torch.zeros(500))
    assert low < mean < high and high - low < 0.3
    with pytest.raises(ValueError, match="boolean"):
        boundary_band(gt.float())


def test_precision_at_counts_ious_strictly_above_the_threshold():
    ious = torch.tensor([0.95, 0.9, 0.5, 0.1])
    assert precision_at(ious, 0.9) == 0.25 and precision_at(ious, 0.4) == 0.75
    masks = torch.zeros(4, 8, 8, dtype=torch.bool)
    masks[:, :4] = True
    truth = masks.clone()
    truth[1:, :, :4] = False  # three of four predictions cover twice their object: IoU 0.5, not above it
    assert referring_metrics(masks, truth)["prec@0.5"] == precision_at(mask_ious(masks, truth), 0.5) == 0.25
