"""PACL's vision embedder e_v: the one part PACL trains, on top of a frozen CLIP's patch tokens."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class VisionEmbedder(nn.Module):
    """PACL's vision embedder e_v: a residual MLP, the only trained part. (B, T, C) → (B, T, D).

    ``e_v(x) = W_skip x + W_2 ReLU(W_1 x)``: a linear skip branch plus a two-layer MLP. ``from_projection`` starts
    the skip branch at CLIP's visual projection and the MLP's output at zero, so before training e_v gives exactly
    the projected patch tokens of chapter 02 (the paper does not say how it initialises; this choice makes
    "before alignment" the starting point).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int | None = None) -> None:
        super().__init__()
        hidden_dim = hidden_dim or 4 * out_dim
        self.skip = nn.Linear(in_dim, out_dim, bias=False)
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))

    @classmethod
    def from_projection(cls, visual_projection: nn.Linear, hidden_dim: int | None = None) -> "VisionEmbedder":
        out_dim, in_dim = visual_projection.weight.shape
        embedder = cls(in_dim, out_dim, hidden_dim)
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
        return self.skip(patch_tokens) + self.mlp(patch_tokens)  # (B, T, D)
