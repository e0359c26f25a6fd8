"""The shipped CRIS models (the model and the paper's two ablations on v1, the model on v2): made by the documented
recipe, their CLIP stored as int8 differences from the base, loading strictly, reproducing their recorded metrics,
refusing a head recorded for another CLIP."""

import json
from dataclasses import asdict, replace

import pytest
import torch

import vlseg
from vlseg.checkpoint import WEIGHTS_DIR, CheckpointMismatchError, load_checkpoint, save_checkpoint
from vlseg.clip import build_tiny_clip
from vlseg.cris.evaluation import EVAL_SEED, EVAL_SETS, OTHER_WORLD_SETS, evaluate_referring
from vlseg.deltas import QUANTISED, decode_deltas
from vlseg.registry import entry, names
from vlseg.shipped import expected_config, load_weights, model_card

CRIS_NAMES = names("cris")


@pytest.mark.parametrize("name", CRIS_NAMES)
def test_card_agrees_with_the_code(name):
    card = model_card(name)
    assert card["config"] == json.loads(json.dumps(expected_config(name)))
    assert card["recipe"] == json.loads(json.dumps(asdict(entry(name).recipe)))  # the documented recipe made them
    assert card["command"] == entry(name).command == f"python -m vlseg.train {name}"
    assert card["steps"] == card["recipe"]["steps"] and card["seed"] == card["recipe"]["seed"]
    assert card["eval"]["seed"] == EVAL_SEED and card["eval"]["sets"] == json.loads(json.dumps(EVAL_SETS))


def test_shipped_cris_models_are_the_model_and_its_two_ablations_and_the_v2_model():
    assert CRIS_NAMES == ("cris-shapes", "cris-shapes-no-decoder", "cris-shapes-dot", "cris-shapes-v2")
    assert entry("cris-shapes-v2").recipe == replace(entry("cris-shapes").recipe, world="v2", steps=3000,
                                                     pseudo_words=0.5,  # v2: invented words in training (not in CRIS)
                                                     full_resolution_loss=True,  # the loss at 64 × 64 (neither)
                                                     ).with_model(refiner_channels=16)  # and a pixel refiner (neither)
    assert all(entry(name).recipe.pseudo_words == 0.0 and not entry(name).recipe.full_resolution_loss
               and entry(name).recipe.model.refiner_channels == 0 for name in CRIS_NAMES if name != "cris-shapes-v2")
    assert entry("cris-shapes-v2").base == "tiny-clip-shapes-v2"


def test_ablations_differ_from_the_model_only_where_they_should():
    full = entry("cris-shapes").recipe.model.as_dict()

    def changed(name):
        return {key for key, value in entry(name).recipe.model.as_dict().items() if full[key] != value}

    assert changed("cris-shapes-no-decoder") == {"use_decoder"} and changed("cris-shapes-dot") == {"kernel_size"}
    with pytest.raises(ValueError, match="unknown pretrained model"):
        entry("cris-shapes-large")


@pytest.mark.parametrize("name", CRIS_NAMES)
def test_weights_load_strictly_and_reproduce_recorded_metrics(name):
    model = load_weights(name, device="cpu")
    tensors, _ = load_checkpoint(WEIGHTS_DIR / f"{name}.safetensors")
    base = vlseg.pretrained(entry(name).base, device="cpu").model.state_dict()
    assert set(decode_deltas(tensors, base, "clip.")) == set(model.state_dict())
    clip_keys = [key for key in model.state_dict() if key.startswith("clip.")]
    assert clip_keys and all(tensors[key + QUANTISED].dtype == torch.int8 for key in clip_keys)  # differences, 8 bits
    card = model_card(name)
    assert card["stored"].startswith("clip.* as int8 differences from " + entry(name).base)
    world = card["eval"].get("world", "v1")
    checked = {"held-out scenes": EVAL_SETS["held-out scenes"] | {"world": world}}
    if world != "v1":  # a model of another world is also scored on the shifted one
        checked["shifted"] = OTHER_WORLD_SETS["shifted"]
        assert card["eval"]["other_sets"] == json.loads(json.dumps(OTHER_WORLD_SETS))
    for split, arguments in checked.items():
        measured = evaluate_referring(model.predict, seed=card["eval"]["seed"], **arguments)
        for key, recorded in card["metrics"][split].items():
            assert measured[key] == pytest.approx(recorded, abs=0.002), (split, key)


def test_head_from_another_clip_is_refused(tmp_path):
    name = "cris-shapes"
    tensors, meta = load_checkpoint(WEIGHTS_DIR / f"{name}.safetensors")
    meta["config"] = expected_config(name, build_tiny_clip(seed=5))  # an untrained CLIP: another fingerprint
    save_checkpoint(tmp_path / f"{name}.safetensors", tensors, meta)
    with pytest.raises(CheckpointMismatchError, match="clip"):
        load_weights(name, tmp_path)
