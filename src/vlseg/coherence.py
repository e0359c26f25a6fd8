"""The semantic-coherence probe (PACL, section 4): do patches of the same class look alike to an encoder?

Collect the patch representations of an encoder over labelled scenes: ``patch_features`` (N, D) with their
labels ``patch_labels`` (N,). Draw pairs of patches ``(i, j)``. Each pair is a sample of a binary problem:

* its **label** is 1 when the two patches carry the same class, 0 otherwise;
* its **score** is the cosine similarity of the two representations, ``cos(f_i, f_j)``.

The probe reports how well the score separates the two kinds of pairs: the area under the ROC curve,

.. math::

    \\mathrm{AUC} = P\\big(\\cos(f_i, f_j) > \\cos(f_k, f_l)\\big)
    \\quad\\text{for a random same-class pair } (i, j) \\text{ and different-class pair } (k, l),

ties counting one half. AUC 1 means a threshold on the cosine alone tells same-class pairs from the rest; 0.5
means the cosine knows nothing about classes. No parameters are fitted, so a high AUC is a property of the
encoder: its feature space already groups patches by meaning, and a *light* head can then align those groups
with text. That is the argument PACL makes before training anything.

The AUC does not depend on the ratio of positive to negative pairs, so pairs are drawn uniformly (among those a
``pair_filter`` keeps); ``ignore_index`` patches never take part, and a patch is never paired with itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from vlseg.checks import as_tensor, check_finite, check_positive_int, check_seed
from vlseg.metrics import check_ignore_index
from vlseg.data.vocabulary import COLOUR_IDS, SHAPE_IDS

PairFilter = Callable[[Tensor, Tensor], Tensor]
PAIR_SCOPES = ("any", "within", "across")


# ---- ROC -------------------------------------------------------------------------------------------
def _check_scores(scores: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    scores, labels = as_tensor(scores, "scores").flatten().double(), as_tensor(labels, "labels").flatten()
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels differ in size: {tuple(scores.shape)} vs {tuple(labels.shape)}")
    check_finite(scores, "scores")
    if labels.dtype != torch.bool:
        if not bool(((labels == 0) | (labels == 1)).all()):
            raise ValueError(f"labels must be boolean or 0/1; got values {sorted(set(labels.unique().tolist()))[:5]}")
        labels = labels.bool()
    positives = int(labels.sum())
    if positives == 0 or positives == labels.numel():
        raise ValueError(f"ROC needs both positive and negative samples; got {positives} of {labels.numel()} positive")
    return scores, labels


def roc_auc(scores: Tensor, labels: Tensor) -> float:
    """Area under the ROC curve via ranks (Mann–Whitney U), ties counted as one half. (N,), (N,) → float."""
    scores, labels = _check_scores(scores, labels)
    sorted_scores, order = torch.sort(scores)
    _, counts = torch.unique_consecutive(sorted_scores, return_counts=True)
    ends = torch.cumsum(counts, 0).double()  # 1-based rank of the last member of each tie group
    mean_rank = ends - (counts.double() - 1) / 2  # tied scores share the mean of their ranks
    ranks = torch.empty_like(scores)
    ranks[order] = torch.repeat_interleave(mean_rank, counts)
    n_pos = labels.sum().double()
    n_neg = labels.numel() - n_pos
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(scores: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """False- and true-positive rates at every distinct threshold, from (0, 0) to (1, 1): (fpr, tpr, thresholds)."""
    scores, labels = _check_scores(scores, labels)
    sorted_scores, order = torch.sort(scores, descending=True)
    hits = labels[order].double()
    true_pos = torch.cumsum(hits, 0)
    false_pos = torch.cumsum(1 - hits, 0)
    last_of_tie = torch.ones_like(sorted_scores, dtype=torch.bool)
    last_of_tie[:-1] = sorted_scores[1:] != sorted_scores[:-1]  # one point per distinct threshold
    zero = torch.zeros(1, dtype=torch.float64)
    tpr = torch.cat([zero, true_pos[last_of_tie] / true_pos[-1]])
    fpr = torch.cat([zero, false_pos[last_of_tie] / false_pos[-1]])
    thresholds = torch.cat([torch.tensor([float("inf")], dtype=torch.float64), sorted_scores[last_of_tie]])
    return fpr, tpr, thresholds


# ---- pairs -----------------------------------------------------------------------------------------
def _attribute_filter(attribute_ids: tuple[int, ...], same: bool) -> PairFilter:
    table = torch.tensor([-1, *attribute_ids])  # semantic label (0 = background, c + 1 = class c) → id; background −1

    def keep(first: Tensor, second: Tensor) -> Tensor:
        a, b = table[first.clamp(0, len(table) - 1)], table[second.clamp(0, len(table) - 1)]
        objects = (a >= 0) & (b >= 0)  # both patches on objects, not background
        return objects & ((a == b) if same else (a != b))

    return keep


def same_colour(first: Tensor, second: Tensor) -> Tensor:
    """Pair filter on ShapesWorld semantic labels: both patches on objects of the same colour.

    Within such pairs "same class" means "same shape", so the AUC measures shape, not colour.
    """
    return _attribute_filter(COLOUR_IDS, same=True)(first, second)


def same_shape(first: Tensor, second: Tensor) -> Tensor:
    """Pair filter on ShapesWorld semantic labels: both patches on objects of the same shape (AUC measures colour)."""
    return _attribute_filter(SHAPE_IDS, same=True)(first, second)


def sample_pairs(
    patch_labels: Tensor,
    num_pairs: int,
    *,
    seed: int = 0,
    image_ids: Tensor | None = None,
    scope: str = "any",
    pair_filter: PairFilter | None = None,
    ignore_index: int = 255,
    max_rounds: int = 50,
) -> tuple[Tensor, Tensor]:
    """Up to ``num_pairs`` index pairs (first, second) of distinct, labelled patches, drawn uniformly.

    ``scope``: ``"any"`` (any two patches), ``"within"`` (same image) or ``"across"`` (different images); the
    last two need ``image_ids`` (N,). ``pair_filter(labels_first, labels_second) -> bool`` keeps a subset.
    Fewer pairs come back only if the filter keeps too few of ``max_rounds`` rounds of draws.
    """
    num_pairs = check_positive_int(num_pairs, "num_pairs")
    ignore_index = check_ignore_index(ignore_index)
    seed = check_seed(seed)
    labels = as_tensor(patch_labels, "patch_labels").flatten().long()
    if image_ids is not None and as_tensor(image_ids, "image_ids").numel() != labels.numel():
        raise ValueError(f"image_ids has {as_tensor(image_ids, 'image_ids').numel()} entries for {labels.numel()} "
                         "patches: give one image id per patch")
    if scope not in PAIR_SCOPES:
        raise ValueError(f"unknown scope {scope!r}; expected one of {PAIR_SCOPES}")
    if scope != "any" and image_ids is None:
        raise ValueError(f"scope={scope!r} needs image_ids (N,) saying which image each patch comes from")
    valid = torch.nonzero(labels != ignore_index).flatten()  # indices of the patches that take part
    if valid.numel() < 2:
        raise ValueError(f"need at least 2 labelled patches; got {valid.numel()}")
    generator = torch.Generator().manual_seed(seed)
    if scope == "within":
        images = torch.as_tensor(image_ids).flatten()[valid]
        images, by_image = torch.sort(images, stable=True)
        valid = valid[by_image]  # labelled patches grouped by image
        _, counts = torch.unique_consecutive(images, return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        group = torch.repeat_interleave(torch.arange(len(counts)), counts)  # group of each position in `valid`
    firsts, seconds, found = [], [], 0
    for _ in range(max_rounds):
        draw = 2 * (num_pairs - found) + 64
        first = torch.randint(len(valid), (draw,), generator=generator)
        if scope == "within":
            offsets = (torch.rand(draw, generator=generator) * counts[group[first]]).long()
            second = starts[group[first]] + offsets
        else:
            second = torch.randint(len(valid), (draw,), generator=generator)
        first, second = valid[first], valid[second]
        keep = first != second
        if scope == "across":
            ids = torch.as_tensor(image_ids).flatten()
            keep &= ids[first] != ids[second]
        if pair_filter is not None:
            keep &= pair_filter(labels[first], labels[second])
        firsts.append(first[keep])
        seconds.append(second[keep])
        found += int(keep.sum())
        if found >= num_pairs:
            break
    return torch.cat(firsts)[:num_pairs], torch.cat(seconds)[:num_pairs]


# ---- the probe -------------------------------------------------------------------------------------
@dataclass
class CoherenceResult:
    """The probe's outcome: AUC, ROC curve and the pairs it was measured on."""

    auc: float
    fpr: Tensor
    tpr: Tensor
    num_positive: int
    num_negative: int


def _check_features(patch_features: Tensor, patch_labels: Tensor) -> tuple[Tensor, Tensor]:
    features, labels = as_tensor(patch_features, "patch_features"), as_tensor(patch_labels, "patch_labels").flatten()
    if features.ndim != 2:
        raise ValueError(f"patch_features must be (N, D); got {tuple(features.shape)}")
    if labels.numel() != features.shape[0]:
        raise ValueError(f"patch_labels has {labels.numel()} entries for {features.shape[0]} patch features")
    if features.is_floating_point() and not bool(torch.isfinite(features).all()):
        raise ValueError("patch_features contain NaN or infinite values: a cosine with them means nothing")
    return features, labels


def pair_scores(patch_features: Tensor, first: Tensor, second: Tensor) -> Tensor:
    """Cosine similarity of each pair: (N, D) features, (P,) and (P,) indices → (P,)."""
    unit = F.normalize(torch.as_tensor(patch_features).float(), dim=-1)  # (N, D)
    return (unit[first] * unit[second]).sum(-1)  # (P,)


def coherence_roc(
    patch_features: Tensor,
    patch_labels: Tensor,
    *,
    num_pairs: int = 200_000,
    seed: int = 0,
    image_ids: Tensor | None = None,
    scope: str = "any",
    pair_filter: PairFilter | None = None,
    ignore_index: int = 255,
) -> CoherenceResult:
    """The probe with its ROC curve; see :func:`coherence_auc` for the arguments."""
    features, labels = _check_features(patch_features, patch_labels)
    first, second = sample_pairs(
        labels, num_pairs, seed=seed, image_ids=image_ids, scope=scope, pair_filter=pair_filter, ignore_index=ignore_index
    )
    scores = pair_scores(features, first, second)  # (P,)
    same = labels[first] == labels[second]  # (P,)
    if bool(same.all()) or not bool(same.any()):
        raise ValueError(f"patch_labels: every one of the {len(same)} pairs drawn is "
                         f"{'same' if bool(same.all()) else 'different'}-class (is there only one class, or a filter "
                         "that keeps one kind?): the probe needs both kinds of pairs")
    fpr, tpr, _ = roc_curve(scores, same)
    positives = int(same.sum())
    return CoherenceResult(roc_auc(scores, same), fpr.float(), tpr.float(), positives, len(same) - positives)


def coherence_auc(
    patch_features: Tensor,
    patch_labels: Tensor,
    *,
    num_pairs: int = 200_000,
    seed: int = 0,
    image_ids: Tensor | None = None,
    scope: str = "any",
    pair_filter: PairFilter | None = None,
    ignore_index: int = 255,
) -> float:
    """ROC-AUC of "same class?" scored by the cosine of two patch features.

    Args:
        patch_features: (N, D) one representation per patch (any encoder, any layer).
        patch_labels: (N,) the class of each patch; ``ignore_index`` patches are left out.
        num_pairs: pairs to draw (uniformly, with replacement).
        seed: the draw is a function of the seed.
        image_ids, scope: restrict pairs to the same image (``"within"``) or to different ones (``"across"``).
        pair_filter: keep only pairs for which ``pair_filter(label_i, label_j)`` is True
            (e.g. :func:`same_colour`: the AUC then measures shape alone).
    """
    return coherence_roc(
        patch_features, patch_labels, num_pairs=num_pairs, seed=seed, image_ids=image_ids, scope=scope,
        pair_filter=pair_filter, ignore_index=ignore_index,
    ).auc


# ---- what a light head can read ----------------------------------------------------------------------
def linear_probe_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    *,
    steps: int = 300,
    lr: float = 1e-2,
    seed: int = 0,
    ignore_index: int = 255,
) -> tuple[float, Tensor]:
    """Accuracy of a linear classifier trained on frozen features: the *supervised* cousin of the probe.

    Features are standardised with the training set's statistics; a ``Linear`` layer is fitted by full-batch Adam
    on cross-entropy. Returns the test accuracy and the test predictions (for the scored test patches, in order).
    Where the coherence AUC asks "does the cosine already group classes?", this asks "can *any* linear map read
    the class off a single patch feature?" — an upper bound for what a linear head aligned by captions can do.
    """
    train_features, train_labels = _check_features(train_features, train_labels)
    test_features, test_labels = _check_features(test_features, test_labels)
    keep, keep_test = train_labels != ignore_index, test_labels != ignore_index
    inputs, targets = train_features[keep].float(), train_labels[keep].long()
    classes = torch.unique(torch.cat([targets, test_labels[keep_test].long()]))
    targets = torch.searchsorted(classes, targets)  # labels → 0 … C − 1
    mean, std = inputs.mean(0), inputs.std(0) + 1e-6
    torch.manual_seed(seed)
    head = torch.nn.Linear(inputs.shape[1], len(classes))
    optimizer = torch.optim.Adam(head.parameters(), lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad()
            F.cross_entropy(head((inputs - mean) / std), targets).backward()
            optimizer.step()
    with torch.no_grad():
        predictions = classes[head((test_features[keep_test].float() - mean) / std).argmax(-1)]
    return float((predictions == test_labels[keep_test]).float().mean()), predictions
