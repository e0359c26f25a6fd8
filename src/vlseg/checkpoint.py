"""Checkpoints as safetensors (no pickle), written atomically, refused when the config differs.

Also the home of shipped weights on disk: ``WEIGHTS_DIR`` (in the package) and ``CACHE_DIR`` (retrained ones),
and :func:`write_model`, which writes weights (float16) plus their JSON model card.

A checkpoint holds tensors (model weights, optionally optimizer state under ``optim/``) and one
JSON document in the safetensors metadata (key ``vlseg``) with at least the ``config`` the tensors
belong to. Loading with an ``expected_config`` compares the two and raises
:class:`CheckpointMismatchError` naming the keys that differ, instead of loading weights into the
wrong model.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Collection

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from vlseg.checks import check_path
from vlseg.device import pick_device

METADATA_KEY = "vlseg"
WEIGHTS_DIR = Path(__file__).parent / "weights"
CACHE_DIR = Path(os.environ.get("VLSEG_CACHE", Path.home() / ".cache" / "vlseg"))


class CheckpointMismatchError(ValueError):
    """The checkpoint was written for another configuration than the one asked for."""


class CorruptCheckpointError(ValueError):
    """The file is not a readable safetensors checkpoint (truncated, overwritten, or tensors of the wrong shape)."""


def corrupt_error(path: Path, err: Exception, rebuild: str | None) -> CorruptCheckpointError:
    how = f" Rebuild it with `{rebuild}`, or delete it." if rebuild else " Delete it and write it again."
    return CorruptCheckpointError(f"checkpoint {path} is corrupt or truncated ({type(err).__name__}: {err}).{how}")


def save_checkpoint(path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, Any]) -> Path:
    """Write ``tensors`` and JSON ``metadata`` to ``path`` atomically (temp file + rename)."""
    path = Path(check_path(path))
    if path.is_dir():
        raise IsADirectoryError(f"path {path} is a folder; give the checkpoint's file name, e.g. {path / 'model.safetensors'}")
    if not isinstance(metadata, dict) or "config" not in metadata:
        raise ValueError("checkpoint metadata needs a 'config' entry (metadata is a dict) so that loading can check it")
    if not isinstance(tensors, dict):
        raise TypeError(f"tensors must be a dict of name → torch.Tensor; got a {type(tensors).__name__}")
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"tensors must be keyed by strings; got the key {name!r}")
        if not isinstance(value, Tensor):
            raise TypeError(f"tensors must map names to torch.Tensor; {name!r} is a {type(value).__name__}")
    try:
        encoded = json.dumps(metadata, sort_keys=True)
    except TypeError as err:
        raise TypeError(f"checkpoint metadata must be JSON-serialisable (plain numbers, strings, lists, dicts): {err}") from err
    path.parent.mkdir(parents=True, exist_ok=True)
    contiguous = {name: t.detach().cpu().contiguous().clone() for name, t in tensors.items()}  # own storage each
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        save_file(contiguous, tmp, metadata={METADATA_KEY: encoded})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_metadata(path: str | Path, rebuild: str | None = None) -> dict[str, Any]:
    """The JSON metadata of a checkpoint, without loading its tensors. ``rebuild``: the command that remakes it,
    named in the error if the file is corrupt."""
    path = Path(check_path(path))
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(METADATA_KEY)
        metadata = None if raw is None else json.loads(raw)
    except Exception as err:  # safetensors raises its own SafetensorError (and others) for damaged files
        raise corrupt_error(path, err, rebuild) from err
    if metadata is None:
        raise CheckpointMismatchError(f"{path} is not a vlseg checkpoint (no '{METADATA_KEY}' metadata)")
    return metadata


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
    path: str | Path, expected_config: dict[str, Any] | None = None, device: str | torch.device = "cpu",
    rebuild: str | None = None,
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Tensors and metadata of a checkpoint; with ``expected_config``, refuse one from another config.

    A damaged file raises :class:`CorruptCheckpointError` naming the file and ``rebuild``, the command that remakes it.
    """
    device = pick_device(device)
    metadata = read_metadata(path, rebuild)
    if expected_config is not None:
        diffs = config_differences(metadata.get("config"), expected_config)
        if diffs:
            raise CheckpointMismatchError(
                f"checkpoint {path} was made for another configuration: " + "; ".join(diffs)
            )
    tensors: dict[str, Tensor] = {}
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            for name in handle.keys():
                tensors[name] = handle.get_tensor(name)
    except Exception as err:
        raise corrupt_error(Path(path), err, rebuild) from err
    return tensors, metadata


def load_state_strictly(module: torch.nn.Module, tensors: dict[str, Tensor], path: str | Path,
                        rebuild: str | None = None) -> None:
    """``module.load_state_dict(tensors, strict=True)`` (as float32), with an error naming the file if they disagree."""
    try:
        module.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    except RuntimeError as err:
        raise corrupt_error(Path(path), ValueError(str(err).split("\n")[0] + " …"), rebuild) from err


def state_digest(state: dict[str, Tensor]) -> str:
    """A fingerprint of model weights (as float16, the precision they are shipped in)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().to(torch.float16).cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def rounded_state(module: torch.nn.Module) -> dict[str, Tensor]:
    """The module's weights rounded to float16 (and loaded back), so metrics are measured on what is shipped."""
    state = {k: v.detach().to(torch.float16).float() for k, v in module.state_dict().items()}
    module.load_state_dict(state)
    return state


def write_model(out_dir: str | Path, name: str, state: dict[str, Tensor], config: dict[str, Any],
                card: dict[str, Any], keep_dtype: Collection[str] = ()) -> Path:
    """Weights as float16 safetensors (``config`` in the metadata) and the JSON card, both written atomically.

    Floating tensors are written as float16, except those named in ``keep_dtype``; others (int8, int64) as they are."""
    out_dir = Path(out_dir)
    tensors = {k: v.to(torch.float16) if v.is_floating_point() and k not in keep_dtype else v for k, v in state.items()}
    path = save_checkpoint(out_dir / f"{name}.safetensors", tensors, {"config": config})
    tmp = out_dir / f"{name}.json.tmp"
    tmp.write_text(json.dumps({"name": name, "config": config} | card, indent=1) + "\n")
    os.replace(tmp, out_dir / f"{name}.json")
    return path


def check_writable(folder: str | Path) -> Path:
    """Make sure ``folder`` exists and a file can be written in it (before an expensive training)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test", delete=True):
            pass
    except OSError as err:
        raise PermissionError(f"cannot write to {folder} ({err}); set VLSEG_CACHE to a writable folder "
                              "or pass another output folder") from err
    return folder


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
