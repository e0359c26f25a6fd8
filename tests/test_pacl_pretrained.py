"""The shipped PACL embedders: made by their documented recipes, load strictly, reproduce their recorded metrics."""

import json
from dataclasses import asdict

import pytest
import torch

import vlseg
from vlseg.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint
from vlseg.clip import build_tiny_clip
from vlseg.deltas import QUANTISED, decode_deltas
from vlseg.pacl import evaluate_pacl_segmentation, pacl_image_accuracy
from vlseg.checkpoint import WEIGHTS_DIR
from vlseg.registry import entry, names
from vlseg.shipped import expected_config, load_weights, model_card

NAME = "pacl-shapes"  # the paper's protocol


@pytest.fixture(scope="module", params=names("pacl"))
def name(request):
    return request.param


@pytest.fixture(scope="module")
def card(name):
    return model_card(name)


@pytest.fixture(scope="module")
def model(name):
    return load_weights(name, device="cpu")


def test_card_agrees_with_the_code(name, card):
    assert card["config"] == json.loads(json.dumps(expected_config(name)))
    assert card["recipe"] == json.loads(json.dumps(asdict(entry(name).recipe)))  # the documented recipe made them
    assert card["command"] == entry(name).command == f"python -m vlseg.train {name}" and card["steps"] == card["recipe"]["steps"]


def test_the_paper_protocol_is_shipped_per_patch():
    assert entry(NAME).recipe.context_kernel == 1 and "context_kernel" not in model_card(NAME)["config"]


def test_only_the_trained_parts_are_shipped(name, model):
    """The embedder and the logit scale; with a tuned tail also its blocks, as int8 differences from the CLIP's."""
    spec = entry(name)
    tensors, _ = load_checkpoint(WEIGHTS_DIR / f"{name}.safetensors")
    trained = ("embedder.", "loss.") + (("tuned_tail.",) if spec.recipe.tuned_blocks else ())
    if spec.recipe.tuned_blocks:
        tail_keys = [key for key in model.state_dict() if key.startswith("tuned_tail.")]
        assert tail_keys and all(tensors[key + QUANTISED].dtype == torch.int8 for key in tail_keys)
        base = vlseg.pretrained(spec.base, device="cpu")
        tensors = decode_deltas(tensors, spec.delta_base(spec.recipe, base), "")
        assert model_card(name)["stored"].startswith(f"tuned_tail.* (its last {spec.recipe.tuned_blocks} vision blocks")
    else:
        assert spec.delta_base is None and "stored" not in model_card(name)
    assert set(tensors) == set(model.state_dict())
    assert all(key.startswith(trained) for key in tensors)


def test_evaluation_reproduces_recorded_metrics(model, card):
    world = card["eval"].get("world", "v1")
    segmentation, _ = evaluate_pacl_segmentation(model, n_scenes=card["eval"]["segmentation_scenes"],
                                                 seed=card["eval"]["segmentation_seed"], world=world)
    image = pacl_image_accuracy(model, n_per_class=card["eval"]["image_n_per_class"], seed=card["eval"]["image_seed"],
                                world=world)
    measured = segmentation | {f"image_{k}": v for k, v in image.items()}
    for other in {"v1", "shifted"} - {world}:  # an embedder of another world also segments these
        scores, _ = evaluate_pacl_segmentation(model, n_scenes=card["eval"]["segmentation_scenes"],
                                               seed=card["eval"]["segmentation_seed"], world=other)
        measured |= {f"{other}_{k}": v for k, v in scores.items()}
    assert (world == "v1") == ("shifted_miou" not in card["metrics"])
    for key, recorded in card["metrics"].items():
        assert measured[key] == pytest.approx(recorded, abs=0.002), key


def test_embedder_from_another_clip_is_refused(tmp_path):
    tensors, meta = load_checkpoint(WEIGHTS_DIR / f"{NAME}.safetensors")
    save_checkpoint(tmp_path / f"{NAME}.safetensors", tensors, meta)
    other_clip = build_tiny_clip(seed=5)  # an untrained CLIP: another fingerprint
    meta["config"] = expected_config(NAME, other_clip)
    save_checkpoint(tmp_path / f"{NAME}.safetensors", tensors, meta)
    with pytest.raises(CheckpointMismatchError, match="clip"):
        load_weights(NAME, tmp_path)
