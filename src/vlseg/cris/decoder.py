r"""CRIS's vision-language decoder: visual tokens attend to each other and to the words.

``n`` pre-norm layers of width ``d``; with visual tokens :math:`x` (the flattened F_v, with 2-D sine positions
:math:`P_v`) and word features :math:`w` (with 1-D sine positions :math:`P_w` and a padding mask):

.. math::

    x &\leftarrow x + \mathrm{SelfAttn}(q = k = \mathrm{LN}(x) + P_v,\; v = \mathrm{LN}(x)) \\
    x &\leftarrow x + \mathrm{CrossAttn}(q = \mathrm{LN}(x) + P_v,\; k = w + P_w,\; v = w;\ \text{padding masked}) \\
    x &\leftarrow x + \mathrm{FFN}(\mathrm{LN}(x))

then a final LayerNorm gives F_c (B, h·w, d). Cross-attention is where each pixel reads the sentence word by
word; its weights (averaged over heads) are returned for pictures.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sine_positions_1d(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """Transformer sine/cosine positions (L, d): sin on even channels, cos on odd, wavelengths up to 10⁴·2π."""
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]  # (L, 1)
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


def sine_positions_2d(height: int, width: int, dim: int, device: torch.device | None = None) -> Tensor:
    """2-D positions (h·w, d): half the channels encode the row, half the column (row-major token order)."""
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4, got {dim}")
    rows = sine_positions_1d(height, dim // 2, device)  # (h, d/2)
    cols = sine_positions_1d(width, dim // 2, device)  # (w, d/2)
    return torch.cat([rows[:, None, :].expand(height, width, -1), cols[None, :, :].expand(height, width, -1)], dim=-1).reshape(
        height * width, dim
    )


class DecoderLayer(nn.Module):
    """One pre-norm layer: self-attention, cross-attention to words, FFN."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm_self, self.norm_cross, self.norm_ffn = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ffn_dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, visual: Tensor, visual_pos: Tensor, words: Tensor, word_pos: Tensor, padding_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        normed = self.norm_self(visual)  # (B, N, d)
        visual = visual + self.dropout(self.self_attn(normed + visual_pos, normed + visual_pos, normed, need_weights=False)[0])
        normed = self.norm_cross(visual)
        attended, weights = self.cross_attn(normed + visual_pos, words + word_pos, words, key_padding_mask=padding_mask)
        visual = visual + self.dropout(attended)
        visual = visual + self.dropout(self.ffn(self.norm_ffn(visual)))
        return visual, weights  # (B, N, d), (B, N, L)


class VisionLanguageDecoder(nn.Module):
    """F_v (B, d, h, w) and word features (B, L, C_t) with padding mask (B, L) → F_c (B, h·w, d)."""

    def __init__(self, dim: int, word_dim: int, layers: int = 3, heads: int = 8, ffn_dim: int | None = None,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.word_proj = nn.Linear(word_dim, dim) if word_dim != dim else nn.Identity()
        self.layers = nn.ModuleList(DecoderLayer(dim, heads, ffn_dim or 4 * dim, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, visual_map: Tensor, word_features: Tensor, padding_mask: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Returns F_c (B, h·w, d) and the cross-attention weights of every layer, each (B, h·w, L)."""
        batch, dim, height, width = visual_map.shape
        if word_features.ndim != 3 or word_features.shape[0] != batch or padding_mask.shape != word_features.shape[:2]:
            raise ValueError(
                f"expected word_features (B, L, C) and padding_mask (B, L) with B = {batch}; got "
                f"{tuple(word_features.shape)} and {tuple(padding_mask.shape)}"
            )
        if padding_mask.all(dim=1).any():
            raise ValueError("an expression has no words: every position of its padding mask is True")
        visual = visual_map.flatten(2).transpose(1, 2)  # (B, h·w, d)
        visual_pos = sine_positions_2d(height, width, dim, visual.device)[None]  # (1, h·w, d)
        words = self.word_proj(word_features)  # (B, L, d)
        word_pos = sine_positions_1d(words.shape[1], dim, words.device)[None]  # (1, L, d)
        attention = []
        for layer in self.layers:
            visual, weights = layer(visual, visual_pos, words, word_pos, padding_mask.bool())
            attention.append(weights)
        return self.norm(visual), attention
