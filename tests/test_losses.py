"""CLIP's symmetric InfoNCE against the formula written out, and the MI bound."""

import math

import pytest
import torch

from vlseg.losses import ClipLoss, clip_loss, infonce_mi_lower_bound


def direct_clip_loss(image_embeds, text_embeds, scale):
    """The formula with explicit sums (no cross_entropy), for reference."""
    u = image_embeds / image_embeds.norm(dim=1, keepdim=True)
    v = text_embeds / text_embeds.norm(dim=1, keepdim=True)
    batch = len(u)
    image_to_text = 0.0
    text_to_image = 0.0
    for i in range(batch):
        row = torch.stack([scale * u[i] @ v[j] for j in range(batch)])
        col = torch.stack([scale * u[j] @ v[i] for j in range(batch)])
        image_to_text += -(row[i] - torch.logsumexp(row, 0))
        text_to_image += -(col[i] - torch.logsumexp(col, 0))
    return 0.5 * (image_to_text + text_to_image) / batch


@pytest.mark.parametrize("scale", [1.0, 14.3, 100.0])
def test_clip_loss_matches_formula(scale):
    g = torch.Generator().manual_seed(0)
    image, text = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    assert torch.allclose(clip_loss(image, text, scale), direct_clip_loss(image, text, scale), atol=1e-5)


def test_scale_is_clamped_at_100_and_accepts_tensors():
    image, text = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.allclose(clip_loss(image, text, 1000.0), clip_loss(image, text, torch.tensor(100.0)))


def test_invariant_to_embedding_norms():
    image, text = torch.randn(6, 8), torch.randn(6, 8)
    assert torch.allclose(clip_loss(image, text, 10.0), clip_loss(3 * image, 0.1 * text, 10.0), atol=1e-6)


def test_perfect_alignment_gives_small_loss_and_bound_near_log_k():
    embeds = torch.eye(8)
    loss = clip_loss(embeds, embeds, 100.0)
    assert loss < 1e-6
    bound = infonce_mi_lower_bound(loss, 8)
    assert bound <= math.log(8) + 1e-9 and bound > math.log(8) - 1e-3


def test_bound_never_exceeds_log_k():
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        image, text = torch.randn(16, 4, generator=g), torch.randn(16, 4, generator=g)
        assert infonce_mi_lower_bound(clip_loss(image, text, 50.0), 16) <= math.log(16)


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(4, 3\)"):
        clip_loss(torch.randn(5, 3), torch.randn(4, 3), 1.0)
    with pytest.raises(ValueError, match="must be \\(B, D\\)"):
        clip_loss(torch.randn(5), torch.randn(5), 1.0)
    with pytest.raises(ValueError, match="at least 2"):
        clip_loss(torch.randn(1, 3), torch.randn(1, 3), 1.0)
    with pytest.raises(ValueError, match="batch_size"):
        infonce_mi_lower_bound(0.1, 1)


def test_module_has_learnable_temperature():
    module = ClipLoss()
    loss = module(torch.randn(4, 3), torch.randn(4, 3))
    loss.backward()
    assert module.log_scale.grad is not None
    assert math.isclose(module.log_scale.exp().item(), 1 / 0.07, rel_tol=1e-6)
