"""Argument checks shared by the public calls: each names the argument, what it got and what it expects."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_probability(value: Any, name: str) -> float:
    """A probability-like number (a threshold, a confidence level): finite and strictly inside (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number in (0, 1); got a {type(value).__name__} ({value!r})")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1; got {value}")
    return float(value)


def check_positive_int(value: Any, name: str) -> int:
    """A positive integer (batch sizes, counts, steps)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer; got a {type(value).__name__} ({value!r})")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value}")
    return int(value)
