"""Safetensors checkpoints (atomic, config-checked) and the shared training loop (seeded, resumable)."""

import pytest
import torch
from torch import nn

from vlseg.checkpoint import CheckpointMismatchError, load_checkpoint, read_metadata, save_checkpoint
from vlseg.training import TrainConfig, fit, lr_factor


def test_round_trip_and_no_temp_files(tmp_path):
    tensors = {"w": torch.randn(3, 4), "b": torch.arange(5)}
    save_checkpoint(tmp_path / "c.safetensors", tensors, {"config": {"width": 4}, "step": 7})
    loaded, meta = load_checkpoint(tmp_path / "c.safetensors", expected_config={"width": 4})
    assert torch.equal(loaded["w"], tensors["w"]) and torch.equal(loaded["b"], tensors["b"])
    assert meta["step"] == 7
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]


def test_mismatched_config_is_refused(tmp_path):
    save_checkpoint(tmp_path / "c.safetensors", {"w": torch.zeros(2)}, {"config": {"width": 4, "layers": 2}})
    with pytest.raises(CheckpointMismatchError, match=r"width: 4 in checkpoint, 8 expected"):
        load_checkpoint(tmp_path / "c.safetensors", expected_config={"width": 8, "layers": 2})
    with pytest.raises(CheckpointMismatchError, match="heads: missing in checkpoint"):
        load_checkpoint(tmp_path / "c.safetensors", expected_config={"width": 4, "layers": 2, "heads": 1})


def test_metadata_is_required_and_checked(tmp_path):
    with pytest.raises(ValueError, match="config"):
        save_checkpoint(tmp_path / "c.safetensors", {"w": torch.zeros(1)}, {"step": 1})
    with pytest.raises(FileNotFoundError):
        read_metadata(tmp_path / "missing.safetensors")


def _regression_problem():
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    true_w = torch.tensor([[1.0, -2.0, 0.5, 3.0]])

    def step_fn(step):
        g = torch.Generator().manual_seed(step)  # the batch is a function of the step: resumable
        x = torch.randn(32, 4, generator=g)
        y = x @ true_w.t()
        return {"loss": ((model(x) - y) ** 2).mean()}

    return model, step_fn


def test_fit_learns_and_logs():
    model, step_fn = _regression_problem()
    config = TrainConfig(steps=200, lr=0.05, weight_decay=0.0, warmup_steps=10, device="cpu")
    result = fit(model, step_fn, config, progress=False)
    losses = result.column("loss")
    assert len(losses) == 200 and losses[-1] < 0.01 * losses[0]


def test_resume_after_a_crash_continues_exactly(tmp_path):
    config = TrainConfig(steps=60, lr=0.05, weight_decay=0.0, warmup_steps=5, device="cpu", checkpoint_every=30)
    model_a, step_a = _regression_problem()
    full = fit(model_a, step_a, config, progress=False)

    model_b, step_b = _regression_problem()
    ckpt = tmp_path / "run.safetensors"

    def crashing_step(step):
        if step == 40:
            raise KeyboardInterrupt("simulated crash")
        return step_b(step)

    with pytest.raises(KeyboardInterrupt):
        fit(model_b, crashing_step, config, checkpoint_path=ckpt, progress=False, run_config={"task": "regression"})
    # a resume with a different run config is refused
    with pytest.raises(CheckpointMismatchError, match="run.task"):
        fit(model_b, step_b, config, checkpoint_path=ckpt, resume=True, progress=False, run_config={"task": "other"})
    model_c, step_c = _regression_problem()
    resumed = fit(model_c, step_c, config, checkpoint_path=ckpt, resume=True, progress=False,
                  run_config={"task": "regression"})
    assert torch.allclose(model_a.weight, model_c.weight, atol=1e-6)
    assert [row["loss"] for row in resumed.history] == pytest.approx([row["loss"] for row in full.history])


def test_lr_schedule():
    config = TrainConfig(steps=100, lr=1.0, warmup_steps=10, final_lr_fraction=0.1)
    assert lr_factor(0, config) == pytest.approx(0.1)
    assert lr_factor(9, config) == pytest.approx(1.0)
    assert lr_factor(99, config) == pytest.approx(0.1, abs=1e-3)


def test_non_finite_loss_stops_training():
    model = nn.Linear(2, 1)
    with pytest.raises(FloatingPointError, match="step 0"):
        fit(model, lambda step: {"loss": model.weight.sum() * float("nan")}, TrainConfig(steps=3, device="cpu"), progress=False)


def test_training_time_excludes_evaluation(monkeypatch):
    """A fake clock that only moves during evaluation: the recorded training time must stay 0."""
    import vlseg.training as train_module

    clock = {"now": 0.0}
    monkeypatch.setattr(train_module.time, "perf_counter", lambda: clock["now"])

    def slow_eval():
        clock["now"] += 100.0
        return {"score": 1.0}

    model, step_fn = _regression_problem()
    result = fit(model, step_fn, TrainConfig(steps=4, device="cpu"), progress=False, eval_fn=slow_eval, eval_every=2)
    assert [row["step"] for row in result.evals] == [2, 4]
    assert result.seconds == 0.0
