"""A fine-tuned backbone shipped as its difference from the backbone it started from, in 8 bits.

CRIS fine-tunes its CLIP at a tenth of the head's learning rate, so after training the CLIP has moved only a
little from the shipped CLIP it started from. Every CRIS checkpoint used to carry its whole CLIP again in float16
(1.7 MB of its 4.3 MB). Shipping instead the *difference* from the base, quantised to int8 with one scale per row
(one per tensor for vectors),

    Δ = W − W_base,    s_r = max_j |Δ_rj| / 127,    q_rj = round(Δ_rj / s_r) ∈ [−127, 127],
    Ŵ = W_base + s_r · q_r                                        (|Ŵ − W| ≤ s_r / 2 per entry),

halves that part: the base is already shipped, and the loader checks it is the very one (the ``clip`` fingerprint in
the checkpoint's config) before adding the differences. The model card's metrics are measured on Ŵ, the weights as
loaded. Tensors that are not floating point (e.g. position ids) are stored unchanged. PACL's tuned tail (a trained
copy of the CLIP's last vision blocks, :mod:`vlseg.pacl.tuned_tail`) is shipped the same way, as differences from the
blocks it copied; each registry entry says which tensors it stores so (``ShippedModel.delta_base``).
"""

from __future__ import annotations

import torch
from torch import Tensor

QUANTISED = ".delta_int8"  # suffix of the int8 differences q (same shape as the weight)
SCALE = ".delta_scale"  # suffix of the float32 scales s (one per row of a matrix; one for a vector or a scalar)


def _rows(weight: Tensor) -> int:
    """How many scales a tensor gets: one per row of a matrix (or of a higher tensor's first dimension), else one."""
    return weight.shape[0] if weight.ndim >= 2 else 1


def encode_deltas(state: dict[str, Tensor], base: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """``state`` with every floating tensor ``prefix + key`` of ``base`` replaced by its int8 difference from it."""
    stored: dict[str, Tensor] = {}
    for name, weight in state.items():
        key = name[len(prefix):] if name.startswith(prefix) else None
        if key is None or key not in base or not weight.is_floating_point():
            stored[name] = weight
            continue
        if base[key].shape != weight.shape:
            raise ValueError(f"{name}: shape {tuple(weight.shape)}, but the base's {key} is {tuple(base[key].shape)}")
        delta = (weight.float() - base[key].float()).reshape(_rows(weight), -1)  # (rows, cols)
        scale = delta.abs().amax(dim=1) / 127  # (rows,)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        quantised = torch.round(delta / safe[:, None]).clamp(-127, 127).to(torch.int8)  # (rows, cols)
        stored[name + QUANTISED] = quantised.reshape(weight.shape)
        stored[name + SCALE] = scale
    return stored


def decode_deltas(stored: dict[str, Tensor], base: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The state written by :func:`encode_deltas`: ``W_base + s · q`` for every encoded tensor (float32).

    Raises ``ValueError`` naming the tensor when a difference or its scale is missing or has the wrong shape.
    """
    state: dict[str, Tensor] = {}
    for name, value in stored.items():
        if name.endswith(SCALE):
            if name[: -len(SCALE)] + QUANTISED not in stored:
                raise ValueError(f"{name} has no {name[: -len(SCALE)] + QUANTISED} beside it")
            continue
        if not name.endswith(QUANTISED):
            state[name] = value
            continue
        weight_name = name[: -len(QUANTISED)]
        key = weight_name[len(prefix):]
        if not weight_name.startswith(prefix) or key not in base:
            raise ValueError(f"{name}: no tensor {key!r} in the base model to add it to")
        scale = stored.get(weight_name + SCALE)
        rows = _rows(base[key])
        if scale is None or scale.shape != (rows,) or value.shape != base[key].shape or value.dtype != torch.int8:
            raise ValueError(f"{name}: expected int8 {tuple(base[key].shape)} with {weight_name + SCALE} of shape "
                             f"({rows},); got {value.dtype} {tuple(value.shape)} and "
                             f"{None if scale is None else tuple(scale.shape)}")
        delta = value.float().reshape(rows, -1) * scale.float()[:, None].to(value.device)  # (rows, cols)
        state[weight_name] = base[key].float().to(value.device) + delta.reshape(base[key].shape)
    return state
