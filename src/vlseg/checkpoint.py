"""Checkpoints as safetensors (no pickle), written atomically, refused when the config differs.

A checkpoint holds tensors (model weights, optionally optimizer state under ``optim/``) and one
JSON document in the safetensors metadata (key ``vlseg``) with at least the ``config`` the tensors
belong to. Loading with an ``expected_config`` compares the two and raises
:class:`CheckpointMismatchError` naming the keys that differ, instead of loading weights into the
wrong model.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

METADATA_KEY = "vlseg"


class CheckpointMismatchError(ValueError):
    """The checkpoint was written for another configuration than the one asked for."""


def save_checkpoint(path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, Any]) -> Path:
    """Write ``tensors`` and JSON ``metadata`` to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    if "config" not in metadata:
        raise ValueError("checkpoint metadata needs a 'config' entry so that loading can check it")
    path.parent.mkdir(parents=True, exist_ok=True)
    contiguous = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        save_file(contiguous, tmp, metadata={METADATA_KEY: json.dumps(metadata, sort_keys=True)})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON metadata of a checkpoint, without loading its tensors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    with safe_open(str(path), framework="pt") as handle:
        raw = (handle.metadata() or {}).get(METADATA_KEY)
    if raw is None:
        raise CheckpointMismatchError(f"{path} is not a vlseg checkpoint (no '{METADATA_KEY}' metadata)")
    return json.loads(raw)


def config_differences(saved: Any, expected: Any, prefix: str = "") -> list[str]:
    """Human-readable list of the keys where two (nested) configs differ."""
    if isinstance(saved, dict) and isinstance(expected, dict):
        out = []
        for key in sorted(set(saved) | set(expected)):
            name = f"{prefix}{key}"
            if key not in saved:
                out.append(f"{name}: missing in checkpoint (expected {expected[key]!r})")
            elif key not in expected:
                out.append(f"{name}: {saved[key]!r} in checkpoint, unknown to this code")
            else:
                out.extend(config_differences(saved[key], expected[key], name + "."))
        return out
    normalise = lambda v: json.loads(json.dumps(v))  # tuples vs lists
    return [] if normalise(saved) == normalise(expected) else [f"{prefix[:-1] or 'config'}: {saved!r} in checkpoint, {expected!r} expected"]


def load_checkpoint(
    path: str | Path, expected_config: dict[str, Any] | None = None, device: str | torch.device = "cpu"
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Tensors and metadata of a checkpoint; with ``expected_config``, refuse one from another config."""
    metadata = read_metadata(path)
    if expected_config is not None:
        diffs = config_differences(metadata.get("config"), expected_config)
        if diffs:
            raise CheckpointMismatchError(
                f"checkpoint {path} was made for another configuration: " + "; ".join(diffs)
            )
    tensors: dict[str, Tensor] = {}
    with safe_open(str(path), framework="pt", device=str(device)) as handle:
        for name in handle.keys():
            tensors[name] = handle.get_tensor(name)
    return tensors, metadata


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Flatten an optimizer's state into tensors (``optim/<param>/<key>``) and JSON-able extras."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for param_id, param_state in state["state"].items():
        for key, value in param_state.items():
            if isinstance(value, Tensor):
                tensors[f"optim/{param_id}/{key}"] = value
            else:
                scalars[f"{param_id}/{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], extras: dict[str, Any]) -> None:
    """Inverse of :func:`optimizer_tensors`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim/"):
            _, param_id, key = name.split("/", 2)
            state.setdefault(int(param_id), {})[key] = value
    for name, value in extras.get("scalars", {}).items():
        param_id, key = name.split("/", 1)
        state.setdefault(int(param_id), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": extras["param_groups"]})
