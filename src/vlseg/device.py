"""Where tensors live: ``cuda`` > ``mps`` > ``cpu``, and bf16 autocast on CUDA only."""

from __future__ import annotations

import contextlib

import torch


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """``cuda`` > ``mps`` > ``cpu`` unless ``preferred`` names one."""
    if preferred:
        try:
            device = torch.device(preferred)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:0', 'mps' or None; got {preferred!r}") from err
        if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
            raise ValueError(f"device {preferred!r} asked for, but this machine has {torch.cuda.device_count()} CUDA "
                             "device(s) (torch.cuda.is_available() is False or the index is too high)")
        if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ValueError(f"device {preferred!r} asked for, but MPS is not available on this machine")
        if device.type not in ("cpu", "cuda", "mps"):
            raise ValueError(f"device must be 'cpu', 'cuda[:i]' or 'mps'; got {preferred!r}")
        return device
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
