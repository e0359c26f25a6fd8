"""MaskCLIP and ClearCLIP as hooks on transformers' CLIP: what they compute, and that they leave the model alone."""

import pytest
import torch

from vlseg.clip import build_tiny_clip
from vlseg.data import generate_batch
from vlseg.dense import dense_patch_embeds, last_block_replaced


@pytest.fixture(scope="module")
def bundle():
    return build_tiny_clip(seed=3)


@pytest.fixture(scope="module")
def pixel_values(bundle):
    return bundle.pixel_values(generate_batch(2, seed=0, split="val").images)


@torch.no_grad()
def test_clip_method_is_the_plain_model(bundle, pixel_values):
    assert torch.equal(dense_patch_embeds(bundle, pixel_values, "clip"), bundle.patch_tokens(pixel_values))


@torch.no_grad()
def test_maskclip_is_the_value_path_of_the_last_block(bundle, pixel_values):
    before_last = bundle.vision_hidden_states(pixel_values)[-2]  # input of the last block (B, 1 + T, C)
    layer = bundle.model.vision_model.encoder.layers[-1]
    values = layer.self_attn.out_proj(layer.self_attn.v_proj(layer.layer_norm1(before_last)))
    expected = bundle.project_patches(values[:, 1:])
    assert torch.allclose(dense_patch_embeds(bundle, pixel_values, "maskclip"), expected, atol=1e-6)


@torch.no_grad()
def test_clearclip_is_query_query_attention_without_residual_or_ffn(bundle, pixel_values):
    before_last = bundle.vision_hidden_states(pixel_values)[-2]
    layer = bundle.model.vision_model.encoder.layers[-1]
    attention = layer.self_attn
    normed = layer.layer_norm1(before_last)
    queries, values = attention.q_proj(normed), attention.v_proj(normed)
    head_dim = attention.head_dim
    heads = []
    for h in range(attention.num_heads):  # one head at a time, as written in the paper
        q, v = queries[..., h * head_dim : (h + 1) * head_dim], values[..., h * head_dim : (h + 1) * head_dim]
        weights = torch.softmax(q @ q.transpose(1, 2) / head_dim**0.5, dim=-1)
        heads.append(weights @ v)
    expected = bundle.project_patches(attention.out_proj(torch.cat(heads, dim=-1))[:, 1:])
    assert torch.allclose(dense_patch_embeds(bundle, pixel_values, "clearclip"), expected, atol=1e-5)


@torch.no_grad()
def test_image_embedding_unchanged_when_disabled(bundle, pixel_values):
    original = bundle.image_embeds(pixel_values).clone()
    for method in ("maskclip", "clearclip"):
        with last_block_replaced(bundle, method):
            inside = bundle.image_embeds(pixel_values)
        assert not torch.allclose(inside, original)  # the hook really acted …
        assert torch.equal(bundle.image_embeds(pixel_values), original)  # … and is gone afterwards
    with pytest.raises(RuntimeError):
        with last_block_replaced(bundle, "maskclip"):
            raise RuntimeError("boom")
    assert torch.equal(bundle.image_embeds(pixel_values), original)  # removed after an error too


def test_unknown_method(bundle, pixel_values):
    with pytest.raises(ValueError, match="unknown dense method"):
        dense_patch_embeds(bundle, pixel_values, "sclip")
