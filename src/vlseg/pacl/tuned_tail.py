"""Route (c) of the course: PACL with CLIP's last vision block(s) fine-tuned — a trainable *copy* of the tail.

The paper freezes the whole CLIP and trains e_v alone. If the last block's patch tokens do not carry their object's
shape, a light head on top cannot add it; fine-tuning the blocks that produce the tokens can. To keep the CLIP
itself unchanged (its CLS path, its text tower, every other chapter that shares it), the last ``k`` vision blocks
and the post-LayerNorm are *copied*: the frozen CLIP runs up to block ``L − k`` without gradients, the copy runs the
rest with them,

    tokens = post_LN'(block'_L(… block'_{L−k+1}(h_{L−k}) …))[:, 1:]   (B, T, C),

where the primes mark the trained copies and ``h_{L−k}`` is the frozen CLIP's hidden state after block ``L − k``.
At initialisation the copy equals the original, so the tokens are exactly those e_v gets in the paper's protocol.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from vlseg.checks import check_positive_int
from vlseg.clip import ClipBundle


class TunedVisionTail(nn.Module):
    """A trainable copy of the last ``num_blocks`` vision blocks of ``bundle``'s CLIP and of its post-LayerNorm."""

    def __init__(self, bundle: ClipBundle, num_blocks: int) -> None:
        super().__init__()
        layers = bundle.model.vision_model.encoder.layers
        num_blocks = check_positive_int(num_blocks, "num_blocks")
        if num_blocks > len(layers):
            raise ValueError(f"num_blocks must be at most the CLIP's {len(layers)} vision blocks; got {num_blocks}")
        self.first_tuned = len(layers) - num_blocks  # index of the hidden state the copy starts from
        self.blocks = nn.ModuleList(copy.deepcopy(layer) for layer in layers[self.first_tuned:])
        self.post_layernorm = copy.deepcopy(bundle.model.vision_model.post_layernorm)
        for param in self.parameters():
            param.requires_grad_(True)

    @staticmethod
    def source_state(bundle: ClipBundle, num_blocks: int, prefix: str = "tuned_tail.") -> dict[str, Tensor]:
        """The frozen CLIP's tensors a copy of ``num_blocks`` blocks started from, named as in the copy's
        ``state_dict`` (after ``prefix``): what a shipped tuned tail is stored as differences from
        (:mod:`vlseg.deltas`)."""
        vision = bundle.model.vision_model
        first = len(vision.encoder.layers) - check_positive_int(num_blocks, "num_blocks")
        state = {f"{prefix}post_layernorm.{key}": value for key, value in vision.post_layernorm.state_dict().items()}
        for index, layer in enumerate(vision.encoder.layers[first:]):
            state |= {f"{prefix}blocks.{index}.{key}": value for key, value in layer.state_dict().items()}
        return state

    def forward(self, bundle: ClipBundle, pixel_values: Tensor) -> Tensor:
        """(B, 3, S, S) → normed patch tokens (B, T, C); gradients reach the copied blocks only."""
        with torch.no_grad():
            hidden = bundle.vision_hidden_states(pixel_values)[self.first_tuned]  # (B, 1 + T, C)
        for block in self.blocks:
            hidden = block(hidden, None)  # (B, 1 + T, C)
        return self.post_layernorm(hidden[:, 1:, :])  # (B, T, C)
