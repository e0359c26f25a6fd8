"""Shipped weights, the UvA way: each trained model of the course sits in ``vlseg/weights/`` as

* ``<name>.safetensors`` – the weights (float16 to keep the repository small; loaded as float32),
  with the model config in its metadata,
* ``<name>.json`` – the model card: config, recipe, seed, steps, training time, the command that
  made it, the metrics measured *on these very weights*, and a thinned loss history for plotting.

``vlseg.pretrained(name)`` loads them when their config matches the code, and otherwise trains the
model from scratch with the recipe (saying so) and caches the result in ``~/.cache/vlseg``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import warnings
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerFast

from vlseg.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint

WEIGHTS_DIR = Path(__file__).parent / "weights"
TOKENIZER_FILE = "shapes-bpe.json"
CACHE_DIR = Path(os.environ.get("VLSEG_CACHE", Path.home() / ".cache" / "vlseg"))
CRIS_NAMES = ("cris-shapes", "cris-shapes-no-decoder", "cris-shapes-dot")  # the model and the paper's two ablations
KNOWN = ("tiny-clip-shapes", "pacl-shapes", *CRIS_NAMES)
COMMANDS = {"tiny-clip-shapes": "python -m vlseg.train clip", "pacl-shapes": "python -m vlseg.train pacl"} | {
    name: f"python -m vlseg.train cris --variant {name}" for name in CRIS_NAMES}
TRAIN_MINUTES = {"tiny-clip-shapes": 30, "pacl-shapes": 20} | {name: 25 for name in CRIS_NAMES}


def shipped_tokenizer() -> PreTrainedTokenizerFast:
    """The ShapesWorld tokenizer shipped with the weights (trained anew if the file is missing)."""
    from vlseg.text import build_shapes_tokenizer, load_shapes_tokenizer

    path = WEIGHTS_DIR / TOKENIZER_FILE
    if path.is_file():
        return load_shapes_tokenizer(path)
    warnings.warn(f"{path} not found: training the ShapesWorld tokenizer (about 10 s)", stacklevel=2)
    tokenizer = build_shapes_tokenizer()
    return tokenizer


def tokenizer_digest(tokenizer: PreTrainedTokenizerFast) -> str:
    """A fingerprint of the vocabulary (ids and merges), stored with the weights."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    payload = json.dumps({"vocab": state["model"]["vocab"], "merges": state["model"]["merges"]}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """A fingerprint of model weights (as float16, the precision they are shipped in)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().to(torch.float16).cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def expected_config(name: str, clip_bundle=None) -> dict[str, Any]:
    """What the current code expects a checkpoint of ``name`` to have been made with.

    For ``"pacl-shapes"`` and the CRIS models that includes a fingerprint of the CLIP underneath (``clip_bundle``, by
    default ``pretrained("tiny-clip-shapes")``): a head trained on another CLIP is refused.
    """
    if name not in KNOWN:
        raise ValueError(f"unknown pretrained model {name!r}; known: {list(KNOWN)}")
    if name == "tiny-clip-shapes":
        from vlseg.clip import TINY_CLIP_SPEC

        return {"name": name, "model": TINY_CLIP_SPEC, "tokenizer": tokenizer_digest(shipped_tokenizer())}
    clip_bundle = clip_bundle if clip_bundle is not None else pretrained("tiny-clip-shapes")
    if name in CRIS_NAMES:
        from vlseg.cris.training import variant_recipe

        return {"name": name, "model": variant_recipe(name).model.as_dict(),
                "clip": state_digest(clip_bundle.model.state_dict())}
    from vlseg.pacl_training import PaclRecipe

    recipe = PaclRecipe()
    return {"name": name, "patch_temperature": recipe.patch_temperature, "hidden_dim": recipe.hidden_dim,
            "clip": state_digest(clip_bundle.model.state_dict())}


def _thin(history: list[dict[str, float]], max_rows: int = 300) -> list[dict[str, float]]:
    stride = max(1, len(history) // max_rows)
    return [row for i, row in enumerate(history) if i % stride == 0 or i == len(history) - 1]


def write_model(out_dir: Path, name: str, state: dict[str, torch.Tensor], config: dict[str, Any], card: dict[str, Any]) -> Path:
    """Weights as float16 safetensors (config in the metadata) and the JSON card, both written atomically."""
    out_dir = Path(out_dir)
    path = save_checkpoint(out_dir / f"{name}.safetensors", {k: v.to(torch.float16) for k, v in state.items()},
                           {"config": config})
    card = {"name": name, "config": config, "command": COMMANDS[name],
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"} | card
    tmp = out_dir / f"{name}.json.tmp"
    tmp.write_text(json.dumps(card, indent=1) + "\n")
    os.replace(tmp, out_dir / f"{name}.json")
    return path


def run_card(recipe: dict[str, Any], result) -> dict[str, Any]:
    """What every model card records about its training run (a :class:`vlseg.train.TrainResult`)."""
    return {"recipe": recipe, "seed": recipe.get("seed"), "steps": result.steps,
            "train_seconds": round(result.seconds, 1), "steps_per_second": round(result.steps_per_second, 3),
            "eval_curve": result.evals, "history": _thin(result.history)}


def rounded_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The module's weights rounded to float16 (and loaded back), so metrics are measured on what is shipped."""
    state = {k: v.detach().to(torch.float16).float() for k, v in module.state_dict().items()}
    module.load_state_dict(state)
    return state


def save_pretrained(bundle, name: str, out_dir: Path, *, recipe: dict[str, Any], result) -> Path:
    """Write the tiny CLIP's weights (float16) + model card, measuring the metrics on the weights as saved."""
    from vlseg.clip_training import evaluate_zero_shot

    state = rounded_state(bundle.model)
    metrics = evaluate_zero_shot(bundle)
    card = run_card(recipe, result) | {
        "metrics": {k: round(v, 4) for k, v in metrics.items() if k.startswith("top1")},
        "eval": {"n_per_class": metrics["n_per_class"], "seed": metrics["seed"]},
    }
    path = write_model(out_dir, name, state, expected_config(name), card)
    tokenizer_path = Path(out_dir) / TOKENIZER_FILE
    if not tokenizer_path.exists():
        bundle.tokenizer.backend_tokenizer.save(str(tokenizer_path))
    return path


def model_card(name: str, weights_dir: Path | None = None) -> dict[str, Any]:
    """The JSON card of trained weights (config, recipe, metrics, history): shipped, else retrained in the cache."""
    folders = [Path(weights_dir)] if weights_dir is not None else [WEIGHTS_DIR, CACHE_DIR]
    for folder in folders:
        if (folder / f"{name}.json").is_file():
            return json.loads((folder / f"{name}.json").read_text())
    raise FileNotFoundError(f"no model card {name}.json in {', '.join(map(str, folders))}")


def _head_on_tiny_clip(name: str, weights_dir: Path, build) -> torch.nn.Module:
    """A model built on the shipped tiny CLIP by ``build(clip_bundle)``, its weights loaded strictly; the checkpoint
    must record this very CLIP (fingerprint in :func:`expected_config`)."""
    clip_bundle = pretrained("tiny-clip-shapes", device="cpu")
    tensors, _ = load_checkpoint(Path(weights_dir) / f"{name}.safetensors",
                                 expected_config=expected_config(name, clip_bundle))
    model = build(clip_bundle)
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    return model


def load_weights(name: str, weights_dir: Path = WEIGHTS_DIR, device: str | None = None):
    """Load shipped weights strictly into a fresh model of the current config (mismatch → error)."""
    from vlseg.clip import build_tiny_clip, pick_device

    if name in CRIS_NAMES:
        from vlseg.cris.model import CRIS
        from vlseg.cris.training import variant_recipe

        model = _head_on_tiny_clip(name, weights_dir, lambda clip: CRIS(clip, variant_recipe(name).model))
        return model.eval().to(pick_device(device))
    if name == "pacl-shapes":
        from vlseg.pacl_training import PaclModel, PaclRecipe

        recipe = PaclRecipe()
        model = _head_on_tiny_clip(name, weights_dir,
                                   lambda clip: PaclModel(clip, recipe.patch_temperature, recipe.hidden_dim))
        return model.eval().to(pick_device(device))
    tensors, _ = load_checkpoint(Path(weights_dir) / f"{name}.safetensors", expected_config=expected_config(name))
    bundle = build_tiny_clip()
    bundle.model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    bundle.model.eval()
    return bundle.to(pick_device(device))


def pretrained(name: str = "tiny-clip-shapes", device: str | None = None, retrain: bool = True):
    """The trained model ``name``: shipped weights if they match the code, else trained from scratch.

    ``"tiny-clip-shapes"`` gives a :class:`~vlseg.clip.ClipBundle`, ``"pacl-shapes"`` a
    :class:`~vlseg.pacl_training.PaclModel` (the frozen tiny CLIP with PACL's trained vision embedder), and
    ``"cris-shapes"`` (or an ablation, ``"cris-shapes-no-decoder"``, ``"cris-shapes-dot"``) a
    :class:`~vlseg.cris.model.CRIS`.
    """
    if name not in KNOWN:
        raise ValueError(f"unknown pretrained model {name!r}; known: {list(KNOWN)}")
    for folder in (WEIGHTS_DIR, CACHE_DIR):
        path = folder / f"{name}.safetensors"
        if not path.is_file():
            continue
        try:
            return load_weights(name, folder, device)
        except CheckpointMismatchError as err:
            warnings.warn(f"ignoring {path}: {err}", stacklevel=2)
    if not retrain:
        raise FileNotFoundError(f"no weights for {name!r} that match this code (looked in {WEIGHTS_DIR}, {CACHE_DIR})")
    print(f"No weights for {name!r} match this version of the code: training them now with "
          f"`{COMMANDS[name]}` (about {TRAIN_MINUTES[name]} CPU minutes); they are cached in {CACHE_DIR}.")
    if name in CRIS_NAMES:
        from vlseg.cris.training import train_and_ship_cris

        train_and_ship_cris(name, out_dir=CACHE_DIR, device=device)
    elif name == "pacl-shapes":
        from vlseg.pacl_training import PaclRecipe, train_and_ship_pacl

        train_and_ship_pacl(PaclRecipe(), out_dir=CACHE_DIR, device=device)
    else:
        from vlseg.clip_training import ClipRecipe, train_and_ship

        train_and_ship(ClipRecipe(), out_dir=CACHE_DIR, device=device)
    return load_weights(name, CACHE_DIR, device)
