"""PACL's vision embedder e_v: the one part PACL trains, on top of a frozen CLIP's patch tokens."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vlseg.checks import check_positive_int


class VisionEmbedder(nn.Module):
    """PACL's vision embedder e_v: a residual MLP, the only trained part. (B, T, C) → (B, T, D).

    ``e_v(x) = W_skip x + W_2 ReLU(W_1 x)``: a linear skip branch plus a two-layer MLP. ``from_projection`` starts
    the skip branch at CLIP's visual projection and the MLP's output at zero, so before training e_v gives exactly
    the projected patch tokens of chapter 02 (the paper does not say how it initialises; this choice makes
    "before alignment" the starting point).

    **Spatial context** (not in the paper, whose e_v sees one patch at a time). With ``context_kernel`` k > 1 the
    MLP's hidden layer also reads the patch's neighbours through a k × k convolution over the grid of patch tokens,

        e_v(x)_t = W_skip x_t + W_2 ReLU(W_1 x_t + Σ_{s ∈ k×k around t} C_{s-t} x_s),

    so that a patch's embedding can use the rest of its object when its own token does not know the object's
    shape. The neighbourhood goes through the non-linearity: a per-patch linear probe on the tiny CLIP's tokens
    reads an object patch's class 52 % of the time, an MLP over its 3 × 3 neighbourhood 80 % (issue 11's probe).
    Since ``W_2`` starts at zero, e_v still starts as the projected patch tokens.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int | None = None, context_kernel: int = 1) -> None:
        super().__init__()
        hidden_dim = hidden_dim or 4 * out_dim
        context_kernel = check_positive_int(context_kernel, "context_kernel")
        if context_kernel % 2 == 0:
            raise ValueError(f"context_kernel must be an odd positive integer (1 = per patch, as in PACL); "
                             f"got {context_kernel!r}")
        self.skip = nn.Linear(in_dim, out_dim, bias=False)
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))
        self.context = (nn.Conv2d(in_dim, hidden_dim, context_kernel, padding=context_kernel // 2, bias=False)
                        if context_kernel > 1 else None)

    @classmethod
    def from_projection(cls, visual_projection: nn.Linear, hidden_dim: int | None = None,
                        context_kernel: int = 1) -> "VisionEmbedder":
        out_dim, in_dim = visual_projection.weight.shape
        embedder = cls(in_dim, out_dim, hidden_dim, context_kernel)
        with torch.no_grad():
            embedder.skip.weight.copy_(visual_projection.weight)
            nn.init.zeros_(embedder.mlp[-1].weight)
            nn.init.zeros_(embedder.mlp[-1].bias)
        return embedder

    def forward(self, patch_tokens: Tensor) -> Tensor:
        if patch_tokens.ndim != 3 or patch_tokens.shape[-1] != self.skip.in_features:
            raise ValueError(
                f"patch_tokens must be (B, T, {self.skip.in_features}); got {tuple(patch_tokens.shape)}"
            )
        first, activation, second = self.mlp
        hidden = first(patch_tokens)  # (B, T, H)
        if self.context is not None:
            batch, tokens, channels = patch_tokens.shape
            grid = math.isqrt(tokens)
            if grid * grid != tokens:
                raise ValueError(f"the context branch needs a square grid of patch tokens; got T = {tokens}")
            token_grid = patch_tokens.transpose(1, 2).reshape(batch, channels, grid, grid)  # (B, C, G, G)
            hidden = hidden + self.context(token_grid).flatten(2).transpose(1, 2)  # (B, T, H)
        return self.skip(patch_tokens) + second(activation(hidden))  # (B, T, D)
