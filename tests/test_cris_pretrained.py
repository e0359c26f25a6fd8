"""The shipped CRIS models (the model and the paper's two ablations): made by the documented recipe, loading
strictly, reproducing their recorded metrics, refusing a head recorded for another CLIP."""

import json
from dataclasses import asdict

import pytest

from vlseg.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint
from vlseg.clip import build_tiny_clip
from vlseg.cris.evaluation import EVAL_SEED, EVAL_SETS, evaluate_referring
from vlseg.checkpoint import WEIGHTS_DIR
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


def test_shipped_cris_models_are_the_model_and_its_two_ablations():
    assert CRIS_NAMES == ("cris-shapes", "cris-shapes-no-decoder", "cris-shapes-dot")


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
    assert set(tensors) == set(model.state_dict())
    card = model_card(name)
    measured = evaluate_referring(model.predict, seed=card["eval"]["seed"], **EVAL_SETS["held-out scenes"])
    for key, recorded in card["metrics"]["held-out scenes"].items():
        assert measured[key] == pytest.approx(recorded, abs=0.002), key


def test_head_from_another_clip_is_refused(tmp_path):
    name = "cris-shapes"
    tensors, meta = load_checkpoint(WEIGHTS_DIR / f"{name}.safetensors")
    meta["config"] = expected_config(name, build_tiny_clip(seed=5))  # an untrained CLIP: another fingerprint
    save_checkpoint(tmp_path / f"{name}.safetensors", tensors, meta)
    with pytest.raises(CheckpointMismatchError, match="clip"):
        load_weights(name, tmp_path)
