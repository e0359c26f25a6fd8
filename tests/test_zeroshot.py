"""Zero-shot classification: prompt ensembling, validation of its inputs, confusion matrix."""

import pytest
import torch

from vlseg.clip import build_tiny_clip
from vlseg.zeroshot import (
    PROMPT_TEMPLATES,
    class_text_embeds,
    confusion_matrix,
    predict,
    prompts_for,
    top1_accuracy,
    zero_shot_logits,
)


@pytest.fixture(scope="module")
def bundle():
    return build_tiny_clip(seed=0)


def test_prompts_use_articles():
    assert prompts_for(["orange star"], ["a photo of {}."]) == ["a photo of an orange star."]
    assert len(prompts_for(["red circle", "blue star"])) == 2 * len(PROMPT_TEMPLATES)


def test_ensemble_is_the_normalised_mean_of_template_embeddings(bundle):
    names = ["red circle", "blue star"]
    with torch.no_grad():
        ensemble = class_text_embeds(bundle, names)
        per_prompt = bundle.encode_texts(prompts_for(names)).view(2, len(PROMPT_TEMPLATES), -1)
    expected = torch.nn.functional.normalize(per_prompt.mean(1), dim=-1)
    assert torch.allclose(ensemble, expected, atol=1e-6)
    assert torch.allclose(ensemble.norm(dim=-1), torch.ones(2))


def test_bad_prompts_raise(bundle):
    with pytest.raises(ValueError, match="class_names is empty"):
        class_text_embeds(bundle, [])
    with pytest.raises(ValueError, match="templates is empty"):
        class_text_embeds(bundle, ["red circle"], templates=[])
    with pytest.raises(ValueError, match="no '\\{\\}'"):
        class_text_embeds(bundle, ["red circle"], templates=["a photo"])
    with pytest.raises(ValueError, match="class_embeds"):
        zero_shot_logits(torch.randn(2, 8), torch.randn(3, 4))


def test_predict_returns_class_indices(bundle):
    from vlseg.data import generate_batch

    images = generate_batch(5, seed=0).images
    preds = predict(bundle, images, ["red circle", "blue star", "green ring"], batch_size=2)
    assert preds.shape == (5,) and preds.min() >= 0 and preds.max() < 3


def test_accuracy_and_confusion():
    preds, targets = torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2])
    assert top1_accuracy(preds, targets) == 0.75
    cm = confusion_matrix(preds, targets, 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    with pytest.raises(ValueError):
        top1_accuracy(torch.tensor([1]), torch.tensor([1, 2]))
