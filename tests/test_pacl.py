"""PACL's compatibility function, weights, embedder and loss; the MI bound on Gaussians."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from vlseg.losses import infonce_mi_lower_bound
from vlseg.mutual_information import gaussian_mutual_information, infonce_bound_with_optimal_critic
from vlseg.pacl import (
    PaclLoss,
    VisionEmbedder,
    pacl_compatibility,
    pacl_compatibility_naive,
    pacl_loss,
    patch_weights,
    pooled_embeds,
)


def per_pair_loop(patch_embeds, text_embeds, tau):
    """φ̂ exactly as the paper writes it, one (image, text) pair at a time."""
    out = torch.empty(len(patch_embeds), len(text_embeds))
    for i, patches in enumerate(patch_embeds):
        for j, text in enumerate(text_embeds):
            s = F.cosine_similarity(patches, text[None], dim=-1)  # (T,)
            a = torch.softmax(s / tau, dim=0)
            pooled = (a[:, None] * patches).sum(0)  # (D,)
            out[i, j] = F.cosine_similarity(pooled, text, dim=0)
    return out


@pytest.mark.parametrize("tau", [0.02, 0.3, 1.0])
@pytest.mark.parametrize("chunks", [(1, 1), (2, 3), (64, 128)])
def test_matches_a_per_pair_loop(tau, chunks):
    generator = torch.Generator().manual_seed(0)
    patches, texts = torch.randn(5, 9, 12, generator=generator), torch.randn(7, 12, generator=generator)  # B_img ≠ B_txt
    expected = per_pair_loop(patches, texts, tau)
    got = pacl_compatibility(patches, texts, tau, text_chunk_size=chunks[0], image_chunk_size=chunks[1])
    assert got.shape == (5, 7)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(pacl_compatibility_naive(patches, texts, tau), expected, atol=1e-5)


def test_weights_sum_to_one_and_pool_matching_pairs():
    generator = torch.Generator().manual_seed(1)
    patches, texts = torch.randn(4, 6, 8, generator=generator), torch.randn(3, 8, generator=generator)
    weights = patch_weights(patches, texts, 0.1)
    assert weights.shape == (4, 3, 6) and torch.all(weights >= 0)
    assert torch.allclose(weights.sum(-1), torch.ones(4, 3))
    pooled = pooled_embeds(patches[:3], texts, 0.1)  # image i with text i
    assert torch.allclose(pooled, torch.einsum("bt,btd->bd", weights[torch.arange(3), torch.arange(3)], patches[:3]), atol=1e-6)


def test_invariant_to_rescaling_the_embeddings():
    generator = torch.Generator().manual_seed(2)
    patches, texts = torch.randn(4, 6, 8, generator=generator), torch.randn(5, 8, generator=generator)
    reference = pacl_compatibility(patches, texts, 0.1)
    per_image = torch.rand(4, 1, 1, generator=generator) * 10 + 0.1
    per_text = torch.rand(5, 1, generator=generator) * 10 + 0.1
    assert torch.allclose(pacl_compatibility(patches * per_image, texts * per_text, 0.1), reference, atol=1e-5)


@pytest.mark.parametrize("tau", [1e-4, 1e3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gradients_finite_at_extreme_temperatures_and_in_bf16(tau, dtype):
    generator = torch.Generator().manual_seed(3)
    patches = torch.randn(6, 10, 16, generator=generator).to(dtype).requires_grad_()
    texts = torch.randn(6, 16, generator=generator).to(dtype).requires_grad_()
    loss = pacl_loss(patches, texts, logit_scale=100.0, patch_temperature=tau)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(patches.grad.float()).all() and torch.isfinite(texts.grad.float()).all()


class LargestTensor(TorchDispatchMode):
    """Records the largest number of elements of any tensor an operation produces."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(tensor, torch.Tensor):
                self.largest = max(self.largest, tensor.numel())
        return out


def test_never_builds_a_pairs_by_dimension_tensor():
    b, t, d = 48, 16, 64
    patches, texts = torch.randn(b, t, d), torch.randn(b, d)
    with LargestTensor() as efficient:
        pacl_compatibility(patches, texts, 0.1, text_chunk_size=8, image_chunk_size=16)
    with LargestTensor() as naive:
        pacl_compatibility_naive(patches, texts, 0.1)
    assert naive.largest >= b * b * d  # the naive version does build it …
    assert efficient.largest <= b * t * d  # … the efficient one never exceeds the size of its own input


def test_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(4, 6\).*\(3, 8\)"):
        pacl_compatibility(torch.randn(4, 6), torch.randn(3, 8))
    with pytest.raises(ValueError, match=r"\(4, 6, 8\) and \(3, 7\)"):
        pacl_compatibility(torch.randn(4, 6, 8), torch.randn(3, 7))
    with pytest.raises(ValueError, match="positive"):
        pacl_compatibility(torch.randn(4, 6, 8), torch.randn(3, 8), patch_temperature=0.0)
    with pytest.raises(ValueError, match="matching pairs"):
        pacl_loss(torch.randn(4, 6, 8), torch.randn(3, 8), 10.0)
    with pytest.raises(ValueError, match=r"\(B, T, 96\)"):
        VisionEmbedder(96, 32)(torch.randn(2, 5, 64))


def test_embedder_starts_at_the_visual_projection_and_learns():
    projection = torch.nn.Linear(12, 8, bias=False)
    embedder = VisionEmbedder.from_projection(projection)
    tokens = torch.randn(2, 5, 12)
    assert torch.allclose(embedder(tokens), projection(tokens))
    loss_fn = PaclLoss(patch_temperature=0.1)
    loss = loss_fn(embedder(tokens), torch.randn(2, 8))
    loss.backward()
    assert embedder.mlp[-1].weight.grad.abs().sum() > 0 and loss_fn.log_scale.grad is not None


def test_mi_bound_never_exceeds_log_k():
    generator = torch.Generator().manual_seed(4)
    for k in (2, 16, 128):
        patches, texts = torch.randn(k, 4, 8, generator=generator), torch.randn(k, 8, generator=generator)
        for scale in (1.0, 100.0):
            loss = pacl_loss(patches, texts, scale, 0.01)
            assert infonce_mi_lower_bound(loss, k) <= math.log(k) + 1e-6
        # even a perfect critic (huge diagonal) only reaches log k
        perfect = pacl_loss(texts[:, None, :].repeat(1, 4, 1), texts, 100.0, 0.01)
        assert infonce_mi_lower_bound(perfect, k) <= math.log(k) + 1e-6


def test_optimal_critic_bound_approaches_min_of_mi_and_log_k_from_below():
    k = 64
    low = gaussian_mutual_information(0.5, 2)  # ≈ 0.29 nats ≪ log 64
    high = gaussian_mutual_information(0.99, 8)  # ≈ 15.6 nats ≫ log 64 ≈ 4.16
    low_bound = infonce_bound_with_optimal_critic(0.5, 2, k, repeats=30)
    high_bound = infonce_bound_with_optimal_critic(0.99, 8, k, repeats=10)
    assert low_bound < low + 0.05 and low_bound == pytest.approx(low, abs=0.1)
    assert high_bound <= math.log(k) and high_bound > math.log(k) - 0.3


def test_forward_at_full_scale_stays_under_128_mib_beyond_its_inputs():
    """The issue's bound: B_img = B_txt = 512, T = 196, D = 512 (the naive pooled tensor alone is 512 MiB)."""
    from vlseg.memory import TensorMemoryTracker

    generator = torch.Generator().manual_seed(5)
    patches = torch.empty(512, 196, 512).normal_(generator=generator)
    texts = torch.empty(512, 512).normal_(generator=generator)
    with torch.no_grad(), TensorMemoryTracker() as tracker:
        result = pacl_compatibility(patches, texts, 0.1)
    assert result.shape == (512, 512)
    assert 0 < tracker.peak_bytes < 128 * 2**20


def test_memory_tracker_counts_what_it_should():
    from vlseg.memory import TensorMemoryTracker

    big = torch.zeros(1000, 1000)  # made before: not counted, nor are views of it
    with TensorMemoryTracker() as tracker:
        view = big[:500]
        kept = view + 1  # 2 MB, alive at the end
        temporary = torch.ones(2000, 1000) * 2  # 8 MB (twice: ones, then the product), freed below
        del temporary
        after = kept * 3  # noqa: F841
    assert 8_000_000 <= tracker.peak_bytes <= 2_000_000 + 16_000_000 + 100


def test_the_context_branch_starts_as_the_projection_and_reads_only_the_neighbouring_patches():
    from vlseg.pacl.embedder import VisionEmbedder

    torch.manual_seed(0)
    projection = torch.nn.Linear(12, 6, bias=False)
    per_patch = VisionEmbedder.from_projection(projection, hidden_dim=16)
    with_context = VisionEmbedder.from_projection(projection, hidden_dim=16, context_kernel=3)
    tokens = torch.randn(2, 25, 12)  # (B, T = 5 × 5, C)
    assert torch.equal(with_context(tokens), projection(tokens))  # W_2 = 0: the projected tokens to begin with
    assert torch.equal(per_patch(tokens), projection(tokens))
    torch.nn.init.normal_(with_context.mlp[-1].weight)  # as after some training
    changed = tokens.clone()
    changed[:, 12] += 1.0  # the centre patch (2, 2) of the 5 × 5 grid
    moved = (with_context(changed) - with_context(tokens)).abs().sum(-1)[0].view(5, 5) > 1e-6
    expected = torch.zeros(5, 5, dtype=torch.bool)
    expected[1:4, 1:4] = True  # its 3 × 3 neighbourhood, through the hidden layer, and nothing else
    assert torch.equal(moved, expected)
    with torch.no_grad():  # with the context weights at zero it is the paper's per-patch e_v
        with_context.context.weight.zero_()
        per_patch.mlp.load_state_dict(with_context.mlp.state_dict())
    assert torch.allclose(with_context(tokens), per_patch(tokens), atol=1e-6)
    with pytest.raises(ValueError, match="context_kernel must be an odd positive integer"):
        VisionEmbedder(12, 6, context_kernel=2)
    with pytest.raises(ValueError, match="square grid"):
        with_context(torch.randn(1, 24, 12))
