"""Shipped weights, the UvA way: each trained model of the course sits in ``vlseg/weights/`` as

* ``<name>.safetensors`` – the weights (float16 to keep the repository small; loaded as float32),
  with the model config in its metadata,
* ``<name>.json`` – the model card: config, recipe, seed, steps, training time, the command that
  made it, the metrics measured *on these very weights*, and a thinned loss history for plotting.

``vlseg.pretrained(name)`` loads them when their config matches the code, and otherwise trains the
model from scratch with its recipe (saying so, and how long it takes) and caches the result in
``~/.cache/vlseg`` (``VLSEG_CACHE``). :func:`ship` is the one function that trains, evaluates and writes any of
them; what differs between models lives in their :mod:`vlseg.registry` entry.
"""

from __future__ import annotations

import json
import platform
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from vlseg import checkpoint
from vlseg.checkpoint import (CheckpointMismatchError, check_writable, corrupt_error, load_checkpoint,
                              load_state_strictly, rounded_state, write_model)
from vlseg.checks import check_path
from vlseg.clip import ClipBundle
from vlseg.deltas import SCALE, decode_deltas, encode_deltas
from vlseg.device import pick_device
from vlseg.distributed import rank_device, world
from vlseg.registry import Model, entry, recipe_with, trained_module
from vlseg.training import TrainResult


def _base(name: str, base: ClipBundle | None, device: str | None = None) -> ClipBundle | None:
    """The shipped model ``name`` is built on (its CLIP), unless given."""
    parent = entry(name).base
    if parent is None or base is not None:
        return base
    return pretrained(parent, device=device)


def expected_config(name: str, base: ClipBundle | None = None) -> dict[str, Any]:
    """What the current code expects a checkpoint of ``name`` to have been made with.

    For a model built on the tiny CLIP that includes a fingerprint of that CLIP (``base``, by default
    ``pretrained("tiny-clip-shapes")``): a head trained on another CLIP is refused.
    """
    spec = entry(name)
    return {"name": name} | spec.config(spec.recipe, _base(name, base, "cpu"))


def _thin(history: list[dict[str, float]], max_rows: int = 300) -> list[dict[str, float]]:
    stride = max(1, len(history) // max_rows)
    return [row for i, row in enumerate(history) if i % stride == 0 or i == len(history) - 1]


def run_card(recipe: dict[str, Any], result: TrainResult) -> dict[str, Any]:
    """What every model card records about its training run."""
    return {"recipe": recipe, "seed": recipe.get("seed"), "steps": result.steps,
            "train_seconds": round(result.seconds, 1), "steps_per_second": round(result.steps_per_second, 3),
            "eval_curve": result.evals, "history": _thin(result.history)}


def model_card(name: str, weights_dir: Path | None = None) -> dict[str, Any]:
    """The JSON card of trained weights (config, recipe, metrics, history): shipped, else retrained in the cache."""
    entry(name)
    folders = [Path(weights_dir)] if weights_dir is not None else [checkpoint.WEIGHTS_DIR, checkpoint.CACHE_DIR]
    for folder in folders:
        path = folder / f"{name}.json"
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError as err:
                raise ValueError(f"model card {path} is not valid JSON ({err}); rebuild it with "
                                 f"`{entry(name).command}`") from err
    raise FileNotFoundError(f"no model card {name}.json in {', '.join(map(str, folders))}")


def load_weights(name: str, weights_dir: Path | None = None, device: str | None = None,
                 base: ClipBundle | None = None) -> Model:
    """Load the weights of ``name`` from ``weights_dir`` strictly into a fresh model of the current config.

    A checkpoint made for another config raises :class:`~vlseg.checkpoint.CheckpointMismatchError`; a damaged one
    :class:`~vlseg.checkpoint.CorruptCheckpointError`, naming the file and the command that rebuilds it.
    """
    spec = entry(name)
    base = _base(name, base, "cpu")
    folder = check_path(weights_dir, "weights_dir") if weights_dir is not None else checkpoint.WEIGHTS_DIR
    path = Path(folder) / f"{name}.safetensors"
    tensors, _ = load_checkpoint(path, expected_config=expected_config(name, base), rebuild=spec.command)
    if spec.delta_base is not None:  # a fine-tuned copy of the CLIP is stored as int8 differences from ``base``
        try:
            tensors = decode_deltas(tensors, spec.delta_base(spec.recipe, base), "")
        except ValueError as err:
            raise corrupt_error(path, err, spec.command) from err
    model = spec.build(spec.recipe, base)
    load_state_strictly(trained_module(model), tensors, path, spec.command)
    trained_module(model).eval()
    return model.to(pick_device(device))


def pretrained(name: str = "tiny-clip-shapes", device: str | None = None, retrain: bool = True) -> Model:
    """The trained model ``name``: shipped weights if they match the code, else trained from scratch.

    ``"tiny-clip-shapes"`` gives a :class:`~vlseg.clip.ClipBundle` (``.classify``), ``"pacl-shapes"`` a
    :class:`~vlseg.pacl.model.PaclModel` (``.segment``, ``.query_maps``) and ``"cris-shapes"`` (or an ablation,
    ``"cris-shapes-no-decoder"``, ``"cris-shapes-dot"``) a :class:`~vlseg.cris.model.CRIS` (``.predict``).
    """
    spec = entry(name)
    folders = (checkpoint.WEIGHTS_DIR, checkpoint.CACHE_DIR)
    for folder in folders:
        path = folder / f"{name}.safetensors"
        if not path.is_file():
            continue
        try:
            return load_weights(name, folder, device)
        except CheckpointMismatchError as err:
            warnings.warn(f"ignoring {path}: {err}", stacklevel=2)
    if not retrain:
        raise FileNotFoundError(f"no weights for {name!r} that match this code (looked in {', '.join(map(str, folders))})")
    check_writable(checkpoint.CACHE_DIR)
    print(f"No weights for {name!r} match this version of the code: training them now with "
          f"`{spec.command}` (about {spec.minutes} CPU minutes); they are cached in {checkpoint.CACHE_DIR}.")
    ship(name, out_dir=checkpoint.CACHE_DIR, device=device)
    return load_weights(name, checkpoint.CACHE_DIR, device)


def stored_note(spec: Any) -> str:
    """What a card says about weights stored as differences from their base (:mod:`vlseg.deltas`)."""
    return (f"{spec.delta_tensors} as int8 differences from {spec.base} (one scale per row; vlseg.deltas); "
            "metrics measured on the decoded weights")


def ship(name: str, recipe: Any = None, out_dir: Path | None = None, device: str | None = None) -> Path:
    """Train ``name`` with its recipe (or ``recipe``), evaluate it on the weights as shipped (float16), and write
    weights + model card into ``out_dir`` (default: the package's weights folder). Returns the weights' path.

    Under ``torchrun`` every rank trains (:mod:`vlseg.distributed`) and rank 0 alone evaluates and writes."""
    spec = entry(name)
    recipe = recipe if recipe is not None else spec.recipe
    out_dir = check_writable(out_dir if out_dir is not None else checkpoint.WEIGHTS_DIR)
    here = world()
    device = str(rank_device(device))  # cuda:LOCAL_RANK for each rank under torchrun
    base = _base(name, None, device)
    model, result = spec.train(recipe, base, device)
    path = Path(out_dir) / f"{name}.safetensors"
    if not here.is_main:
        return path  # rank 0 evaluates and writes
    model.to("cpu")
    base = base.to("cpu") if base is not None else None
    state = stored = rounded_state(trained_module(model))
    if spec.delta_base is not None:  # ship the fine-tuned copy as int8 differences from the base, measure that
        base_state = spec.delta_base(recipe, base)
        stored = encode_deltas(state, base_state, "")
        trained_module(model).load_state_dict(decode_deltas(stored, base_state, ""))
    metrics, how = spec.evaluate(model)
    card = {"command": spec.command if recipe == spec.recipe else f"{spec.command} --steps {recipe.steps}",
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
            "device": device if not here.is_distributed else f"{here.size} processes on {torch.device(device).type}"}
    card |= run_card(asdict(recipe), result) | {"metrics": metrics, "eval": how}
    if spec.delta_base is not None:
        card["stored"] = stored_note(spec)
    path = write_model(out_dir, name, stored, {"name": name} | spec.config(recipe, base), card,
                       keep_dtype=[key for key in stored if key.endswith(SCALE)])
    if spec.files is not None:
        spec.files(model, recipe, out_dir)
    print(f"wrote {path}")
    return path


__all__ = ["expected_config", "load_weights", "model_card", "pretrained", "recipe_with", "ship"]
