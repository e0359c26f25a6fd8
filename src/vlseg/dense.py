"""Training-free dense features from a frozen CLIP: raw patches, MaskCLIP and ClearCLIP.

CLIP's last vision block was trained to feed the CLS token. Its patch outputs are a by-product, and in big CLIPs
they are poorly aligned with text. Two training-free fixes change *only the last block* of the vision
transformer, at inference:

* **MaskCLIP** (Zhou et al., 2022). Query–key attention mixes every patch with the whole image. Skip it: each
  patch keeps its own *value* embedding, ``out_proj(v_proj(LN₁(x)))``, with no residual and no feed-forward
  network. The result then goes through CLIP's ``post_layernorm`` and visual projection, as the CLS token does.
* **ClearCLIP** (Lan et al., 2024). Keep the attention but make it *self-similar*: weights
  ``softmax(q qᵀ / √d)`` (query–query instead of query–key), so each patch attends to patches that look like
  itself; then ``out_proj``, again without the residual and without the feed-forward network.

Both are implemented as a **forward hook** on ``transformers``' last ``CLIPEncoderLayer``: the hook takes the
layer's input and returns the replacement output, reusing the layer's own ``layer_norm1``, ``q_proj``,
``v_proj`` and ``out_proj`` weights. Nothing is forked or copied. The hook lives only inside the
:func:`last_block_replaced` context, so the model is unchanged outside it (a test checks this).

The CLS token goes through the same replacement, so inside the context the *image* embedding changes too; only
the patch embeddings are meant to be used there.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
from torch import Tensor, nn

from vlseg.clip import ClipBundle

DENSE_METHODS = ("clip", "maskclip", "clearclip")


def _split_heads(states: Tensor, num_heads: int) -> Tensor:
    """(B, N, C) → (B, H, N, C/H)."""
    batch, tokens, width = states.shape
    return states.view(batch, tokens, num_heads, width // num_heads).transpose(1, 2)


def maskclip_block(layer: nn.Module, hidden_states: Tensor) -> Tensor:
    """MaskCLIP's last block: value path only. (B, N, C) → (B, N, C)."""
    attention = layer.self_attn
    return attention.out_proj(attention.v_proj(layer.layer_norm1(hidden_states)))


def clearclip_block(layer: nn.Module, hidden_states: Tensor) -> Tensor:
    """ClearCLIP's last block: query–query attention, no residual, no FFN. (B, N, C) → (B, N, C)."""
    attention = layer.self_attn
    normed = layer.layer_norm1(hidden_states)  # (B, N, C)
    heads = attention.num_heads
    queries = _split_heads(attention.q_proj(normed), heads)  # (B, H, N, C/H)
    values = _split_heads(attention.v_proj(normed), heads)  # (B, H, N, C/H)
    weights = torch.softmax(queries @ queries.transpose(-1, -2) * attention.scale, dim=-1)  # (B, H, N, N)
    mixed = (weights @ values).transpose(1, 2).reshape(hidden_states.shape)  # (B, N, C)
    return attention.out_proj(mixed)


_BLOCKS: dict[str, Callable[[nn.Module, Tensor], Tensor]] = {"maskclip": maskclip_block, "clearclip": clearclip_block}


def check_method(method: str) -> str:
    if method not in DENSE_METHODS:
        raise ValueError(f"unknown dense method {method!r}; expected one of {DENSE_METHODS}")
    return method


@contextmanager
def last_block_replaced(bundle: ClipBundle, method: str) -> Iterator[ClipBundle]:
    """Inside this context, the last vision block of ``bundle`` computes ``method`` instead of itself.

    ``method="clip"`` replaces nothing (the plain model). The hook is removed on exit, even after an error.
    """
    check_method(method)
    if method == "clip":
        yield bundle
        return
    layer = bundle.model.vision_model.encoder.layers[-1]
    block = _BLOCKS[method]

    def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Tensor:
        hidden_states = args[0] if args else kwargs["hidden_states"]  # the layer's input (B, 1 + T, C)
        return block(module, hidden_states)

    handle = layer.register_forward_hook(hook, with_kwargs=True)
    try:
        yield bundle
    finally:
        handle.remove()


@torch.no_grad()
def dense_patch_embeds(bundle: ClipBundle, pixel_values: Tensor, method: str = "clip") -> Tensor:
    """Projected patch embeddings (B, T, D) of a frozen CLIP with the last block as ``method`` computes it."""
    with last_block_replaced(bundle, method):
        return bundle.image_and_patch_embeds(pixel_values)[1]
