"""Where tensors live: ``cuda`` > ``mps`` > ``cpu``, and bf16 autocast on CUDA only."""

from __future__ import annotations

import contextlib

import torch


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """``cuda`` > ``mps`` > ``cpu`` unless ``preferred`` names one."""
    if preferred:
        try:
            return torch.device(preferred)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:0', 'mps' or None; got {preferred!r}") from err
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; full precision elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
