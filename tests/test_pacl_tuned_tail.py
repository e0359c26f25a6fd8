"""Route (c): PACL with a trainable copy of the CLIP's last vision blocks."""

import pytest
import torch

from vlseg.clip import build_tiny_clip
from vlseg.data import generate_batch
from vlseg.pacl import PaclConfig, PaclModel, PaclRecipe, train_pacl
from vlseg.pacl.tuned_tail import TunedVisionTail
from vlseg.training import TrainConfig, make_optimizer


@pytest.fixture(scope="module")
def bundle():
    return build_tiny_clip(seed=3)


def test_the_copy_starts_as_the_frozen_tokens_and_only_it_and_the_embedder_train(bundle):
    pixels = bundle.pixel_values(generate_batch(3, seed=0, split="val").images)
    frozen = bundle.patch_tokens(pixels, output="normed")  # (B, T, C)
    model = PaclModel(bundle, PaclConfig(tuned_blocks=2))
    assert torch.allclose(model.tuned_tail(bundle, pixels), frozen, atol=1e-6)
    assert {name.split(".")[0] for name, _ in model.named_parameters()} == {"tuned_tail", "embedder", "loss"}
    model.patch_embeds(pixels).square().sum().backward()
    assert all(p.grad is None for p in bundle.model.parameters())  # the CLIP itself never gets a gradient
    tail_grads = [p.grad for p in model.tuned_tail.blocks[0].parameters()]
    assert all(g is not None for g in tail_grads) and any(g.abs().sum() > 0 for g in tail_grads)


def test_source_state_names_the_clip_tensors_as_the_copy_does(bundle):
    model = PaclModel(bundle, PaclConfig(tuned_blocks=2))
    copy_state = {k: v for k, v in model.state_dict().items() if k.startswith("tuned_tail.")}
    source = TunedVisionTail.source_state(bundle, 2)
    assert set(source) == set(copy_state)
    assert all(torch.equal(source[k], copy_state[k]) for k in source)  # the copy starts as the CLIP's last blocks
    layers = bundle.model.vision_model.encoder.layers
    assert torch.equal(source["tuned_tail.blocks.0.mlp.fc1.weight"], layers[2].mlp.fc1.weight)  # block L − 2 first
    assert not torch.equal(source["tuned_tail.blocks.0.mlp.fc1.weight"], layers[3].mlp.fc1.weight)


def test_training_moves_the_copy_not_the_clip_and_at_its_own_learning_rate(bundle):
    before = {k: v.clone() for k, v in bundle.model.state_dict().items()}
    recipe = PaclRecipe(steps=3, batch_size=8, hidden_dim=16, tuned_blocks=1, tail_lr_scale=0.25, warmup_steps=1)
    model, _ = train_pacl(bundle, recipe, progress=False)
    after = bundle.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    original = bundle.model.vision_model.encoder.layers[-1].mlp.fc1.weight
    assert not torch.equal(model.tuned_tail.blocks[0].mlp.fc1.weight, original)
    scales = {g["lr_scale"] for g in make_optimizer(model, TrainConfig(steps=1)).param_groups}
    assert scales == {1.0, 0.25}


def test_bad_tuned_blocks_are_named(bundle):
    with pytest.raises(ValueError, match="num_blocks must be at most the CLIP's 4 vision blocks; got 5"):
        TunedVisionTail(bundle, 5)
    with pytest.raises(ValueError, match="tuned_blocks must be a non-negative integer; got -1"):
        PaclRecipe(tuned_blocks=-1)
    with pytest.raises(TypeError, match="tuned_blocks must be a non-negative integer; got a float"):
        PaclModel(bundle, PaclConfig(tuned_blocks=1.0))
    with pytest.raises(ValueError, match="tail_lr_scale must lie strictly between 0 and inf; got 0"):
        PaclRecipe(tail_lr_scale=0)


def test_the_targets_report_says_met_or_missed_per_target():
    from vlseg.pacl import pacl_targets_report

    report = pacl_targets_report({"patch accuracy": 0.78, "mIoU seen": 0.70, "mIoU held-out": 0.646, "mIoU shifted": 0.2})
    assert report.splitlines() == ["  patch accuracy >= 85%    MISSED (78.0)", "  mIoU seen >= 70          met (70.0)",
                                   "  mIoU held-out >= 60      met (64.6)", "  mIoU shifted >= 50       MISSED (20.0)"]
