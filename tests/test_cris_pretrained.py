"""The shipped CRIS models (the model and the paper's two ablations): made by the documented recipe, loading
strictly, reproducing their recorded metrics, refusing a head recorded for another CLIP."""

import json
from dataclasses import asdict

import pytest

from vlseg.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint
from vlseg.clip import build_tiny_clip
from vlseg.cris.training import EVAL_SEED, EVAL_SETS, evaluate_referring, variant_recipe
from vlseg.pretrained import CRIS_NAMES, WEIGHTS_DIR, expected_config, load_weights, model_card


@pytest.mark.parametrize("name", CRIS_NAMES)
def test_card_agrees_with_the_code(name):
    card = model_card(name)
    assert card["config"] == json.loads(json.dumps(expected_config(name)))
    assert card["recipe"] == json.loads(json.dumps(asdict(variant_recipe(name))))  # the documented recipe made them
    assert card["command"] == f"python -m vlseg.train cris --variant {name}"
    assert card["steps"] == card["recipe"]["steps"] and card["seed"] == card["recipe"]["seed"]
    assert card["eval"]["seed"] == EVAL_SEED and card["eval"]["sets"] == json.loads(json.dumps(EVAL_SETS))


def test_shipped_names_are_the_variants():
    from vlseg.cris.training import CRIS_VARIANTS

    assert CRIS_NAMES == tuple(CRIS_VARIANTS)


def test_ablations_differ_from_the_model_only_where_they_should():
    full = variant_recipe("cris-shapes").model.as_dict()

    def changed(name):
        return {key for key, value in variant_recipe(name).model.as_dict().items() if full[key] != value}

    assert changed("cris-shapes-no-decoder") == {"use_decoder"} and changed("cris-shapes-dot") == {"kernel_size"}
    with pytest.raises(ValueError, match="unknown CRIS variant"):
        variant_recipe("cris-shapes-large")


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
