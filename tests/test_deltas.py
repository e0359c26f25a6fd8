"""A fine-tuned backbone shipped as int8 differences from its base: exact where unchanged, within s/2 elsewhere,
and a damaged or mismatched difference is named."""

import pytest
import torch

from vlseg.deltas import QUANTISED, SCALE, decode_deltas, encode_deltas


def _states(seed=0):
    generator = torch.Generator().manual_seed(seed)
    base = {"w": torch.randn(6, 5, generator=generator), "b": torch.randn(6, generator=generator),
            "scale": torch.tensor(2.5), "same": torch.randn(3, 3, generator=generator)}
    state = {f"clip.{k}": v + 1e-3 * torch.randn(v.shape, generator=generator) for k, v in base.items()}
    state["clip.same"] = base["same"].clone()
    state["clip.ids"] = torch.arange(4)  # not floating: stored as it is
    state["head.w"] = torch.randn(2, 2, generator=generator)  # not in the base: stored as it is
    return base, state


def test_round_trip_is_within_half_a_step_and_exact_where_unchanged():
    base, state = _states()
    stored = encode_deltas(state, base, "clip.")
    assert stored["clip.w" + QUANTISED].dtype == torch.int8 and stored["clip.w" + SCALE].shape == (6,)
    assert stored["clip.b" + SCALE].shape == stored["clip.scale" + SCALE].shape == (1,)  # one scale for a vector
    assert "clip.w" not in stored and torch.equal(stored["head.w"], state["head.w"])
    decoded = decode_deltas(stored, base, "clip.")
    assert set(decoded) == set(state)
    for name in ("clip.w", "clip.b", "clip.scale"):
        rows = stored[name + SCALE]
        error = (decoded[name] - state[name]).abs().reshape(len(rows), -1)
        assert bool((error <= rows[:, None] / 2 + 1e-7).all()), name
    assert float((decoded["clip.w"] - state["clip.w"]).abs().max()) > 0  # quantised, not copied
    assert torch.equal(decoded["clip.same"], state["clip.same"])  # Δ = 0: no rounding at all
    assert torch.equal(decoded["clip.ids"], state["clip.ids"]) and torch.equal(decoded["head.w"], state["head.w"])


def test_unencoded_checkpoints_pass_through():
    base, state = _states()
    assert all(torch.equal(decode_deltas(state, base, "clip.")[k], v) for k, v in state.items())


def test_damaged_differences_are_named():
    base, state = _states()
    stored = encode_deltas(state, base, "clip.")
    missing_scale = {k: v for k, v in stored.items() if k != "clip.w" + SCALE}
    with pytest.raises(ValueError, match=r"clip\.w\.delta_int8: expected int8 \(6, 5\)"):
        decode_deltas(missing_scale, base, "clip.")
    missing_values = {k: v for k, v in stored.items() if k != "clip.b" + QUANTISED}
    with pytest.raises(ValueError, match=r"clip\.b\.delta_scale has no clip\.b\.delta_int8"):
        decode_deltas(missing_values, base, "clip.")
    transposed = dict(stored, **{"clip.w" + QUANTISED: stored["clip.w" + QUANTISED].t().contiguous()})
    with pytest.raises(ValueError, match=r"got torch.int8 \(5, 6\)"):
        decode_deltas(transposed, base, "clip.")
    with pytest.raises(ValueError, match="no tensor 'w' in the base"):
        decode_deltas(stored, {k: v for k, v in base.items() if k != "w"}, "clip.")
    with pytest.raises(ValueError, match=r"clip\.w: shape \(6, 5\), but the base's w is \(5, 6\)"):
        encode_deltas(state, dict(base, w=base["w"].t()), "clip.")
