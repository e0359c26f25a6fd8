"""Argument checks shared by the public calls: each names the argument, what it got and what it expects."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import Tensor


def check_int(value: Any, name: str, low: int | None = None) -> int:
    """An integer (Python or numpy, not a bool), at least ``low``."""
    wanted = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}" if low is not None
                                                                         else "an integer")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {wanted}; got a {type(value).__name__} ({value!r})")
    if low is not None and value < low:
        raise ValueError(f"{name} must be {wanted}; got {value}")
    return int(value)


def check_positive_int(value: Any, name: str) -> int:
    """A positive integer (batch sizes, counts, steps)."""
    return check_int(value, name, 1)


def check_seed(value: Any, name: str = "seed") -> int:
    """A non-negative integer seed."""
    return check_int(value, name, 0)


def check_number(value: Any, name: str, low: float = -np.inf, high: float = np.inf, *, open_interval: bool = False,
                 what: str = "a number") -> float:
    """A real number (Python or numpy, not a bool) within [low, high] (or (low, high)); NaN never is."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be {what}; got a {type(value).__name__} ({value!r})")
    inside = low < value < high if open_interval else low <= value <= high
    if not inside or np.isnan(value):
        span = f"strictly between {low:g} and {high:g}" if open_interval else f"in [{low:g}, {high:g}]"
        raise ValueError(f"{name} must lie {span}; got {value}")
    return float(value)


def check_probability(value: Any, name: str) -> float:
    """A probability-like number (a threshold, a confidence level): strictly inside (0, 1)."""
    return check_number(value, name, 0.0, 1.0, open_interval=True, what="a number in (0, 1)")


def check_path(value: Any, name: str = "path") -> str | os.PathLike:
    """A file-system path: a string or ``os.PathLike``, not empty."""
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise TypeError(f"{name} must be a path (a non-empty str or pathlib.Path); got {value!r}")
    return value


def as_tensor(value: Any, name: str) -> Tensor:
    """A tensor from a tensor, a numpy array, a list of numbers, or a list of equal-shaped tensors (stacked)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Tensor) for v in value):
        shapes = {tuple(v.shape) for v in value}
        if len(shapes) > 1:
            raise ValueError(f"{name} is a list of tensors of different shapes {sorted(shapes)}; they must match")
        return torch.stack(list(value))
    array = np.asarray(value) if value is not None else None
    if array is None or array.dtype.kind not in "biuf":
        kind = "None" if value is None else f"a {type(value).__name__} of {array.dtype}"
        raise TypeError(f"{name} must be a tensor or an array of numbers; got {kind}")
    return torch.as_tensor(array)


def check_finite(tensor: Tensor, name: str) -> Tensor:
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contain NaN or infinite values")
    return tensor


def check_bundle(bundle: Any, name: str = "bundle") -> Any:
    """A :class:`vlseg.clip.ClipBundle` (checked by what it can do, so that this module needs no import of it)."""
    if not all(hasattr(bundle, attr) for attr in ("encode_texts", "pixel_values", "image_embeds")):
        hint = " (for PACL use its .bundle, or pacl.segment)" if hasattr(bundle, "embedder") else ""
        raise TypeError(f"{name} must be a ClipBundle, e.g. vlseg.pretrained('tiny-clip-shapes') or "
                        f"vlseg.build_clip(...); got a {type(bundle).__name__}{hint}")
    return bundle
