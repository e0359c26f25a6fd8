"""The semantic-coherence probe: ROC-AUC, ROC curve, pair sampling."""

import pytest
import torch

from vlseg.coherence import coherence_auc, coherence_roc, roc_auc, roc_curve, same_colour, same_shape, sample_pairs
from vlseg.data import class_index


def brute_force_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """P(score of a positive > score of a negative), ties one half, over every (positive, negative) pair."""
    pos, neg = scores[labels], scores[~labels]
    wins = (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
    return float(wins.mean())


def test_auc_matches_brute_force_with_ties():
    generator = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 6, (300,), generator=generator).float()  # many ties
    labels = torch.rand(300, generator=generator) < 0.3 + 0.1 * scores / 5
    assert roc_auc(scores, labels) == pytest.approx(brute_force_auc(scores, labels), abs=1e-12)


def test_roc_curve_runs_from_origin_to_one_and_its_area_is_the_auc():
    generator = torch.Generator().manual_seed(1)
    scores = torch.randn(500, generator=generator)
    labels = torch.rand(500, generator=generator) < torch.sigmoid(2 * scores)
    fpr, tpr, thresholds = roc_curve(scores, labels)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert torch.all(fpr[1:] >= fpr[:-1]) and torch.all(tpr[1:] >= tpr[:-1]) and torch.all(thresholds[1:] < thresholds[:-1])
    assert float(torch.trapezoid(tpr, fpr)) == pytest.approx(roc_auc(scores, labels), abs=1e-9)


def test_separable_features_give_one_and_random_features_give_one_half():
    generator = torch.Generator().manual_seed(2)
    labels = torch.randint(0, 5, (2000,), generator=generator)
    separable = torch.nn.functional.one_hot(labels, 5).float() + 0.01 * torch.randn(2000, 5, generator=generator)
    assert coherence_auc(separable, labels, num_pairs=20_000) == 1.0
    random = torch.randn(2000, 32, generator=generator)
    assert coherence_auc(random, labels, num_pairs=50_000) == pytest.approx(0.5, abs=0.02)


def test_ignored_patches_never_pair_and_no_patch_pairs_with_itself():
    labels = torch.tensor([1, 1, 255, 2, 2, 255, 1])
    first, second = sample_pairs(labels, 500, seed=0)
    assert len(first) == 500
    assert not torch.isin(torch.cat([first, second]), torch.tensor([2, 5])).any()
    assert torch.all(first != second)


def test_scopes_keep_pairs_within_or_across_images():
    labels = torch.arange(40) % 3
    image_ids = torch.arange(40) // 8  # five images of eight patches
    within = sample_pairs(labels, 300, seed=0, image_ids=image_ids, scope="within")
    across = sample_pairs(labels, 300, seed=0, image_ids=image_ids, scope="across")
    assert torch.all(image_ids[within[0]] == image_ids[within[1]]) and torch.all(within[0] != within[1])
    assert torch.all(image_ids[across[0]] != image_ids[across[1]])
    with pytest.raises(ValueError, match="image_ids"):
        sample_pairs(labels, 10, scope="within")


def test_colour_and_shape_filters_on_semantic_labels():
    red_star, red_circle, blue_star = (class_index(name) + 1 for name in ("red star", "red circle", "blue star"))
    first = torch.tensor([red_star, red_star, red_star, 0])
    second = torch.tensor([red_circle, blue_star, red_star, red_star])
    assert same_colour(first, second).tolist() == [True, False, True, False]  # background has no colour
    assert same_shape(first, second).tolist() == [False, True, True, False]
    # within same-colour pairs, "same class" is "same shape": features that know only colour score 0.5
    labels = torch.tensor([red_star, red_circle] * 200)
    colour_only = torch.ones(400, 3) + 0.001 * torch.randn(400, 3, generator=torch.Generator().manual_seed(0))
    assert coherence_auc(colour_only, labels, num_pairs=5000, pair_filter=same_colour) == pytest.approx(0.5, abs=0.05)


def test_result_reports_counts_and_bad_inputs_raise():
    labels = torch.arange(100) % 4
    result = coherence_roc(torch.randn(100, 8), labels, num_pairs=1000)
    assert result.num_positive + result.num_negative == 1000 and 0 < result.num_positive < 1000
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        coherence_auc(torch.randn(100), labels)
    with pytest.raises(ValueError, match="entries"):
        coherence_auc(torch.randn(99, 8), labels)
    with pytest.raises(ValueError, match="both positive and negative"):
        roc_auc(torch.randn(10), torch.ones(10, dtype=torch.bool))


def test_linear_probe_reads_a_linear_code_and_not_noise():
    from vlseg.coherence import linear_probe_accuracy

    generator = torch.Generator().manual_seed(3)
    labels = torch.randint(1, 6, (1200,), generator=generator)
    labels[::10] = 255  # ignored patches are neither trained on nor scored
    code = torch.randn(256, 16, generator=generator)[labels.clamp(max=255)] + 0.3 * torch.randn(1200, 16, generator=generator)
    accuracy, predictions = linear_probe_accuracy(code[:600], labels[:600], code[600:], labels[600:])
    assert accuracy > 0.95 and len(predictions) == int((labels[600:] != 255).sum())
    noise = torch.randn(1200, 16, generator=generator)
    chance, _ = linear_probe_accuracy(noise[:600], labels[:600], noise[600:], labels[600:])
    assert chance < 0.35  # five classes: chance is 0.2
