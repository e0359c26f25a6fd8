"""The pixel refiner (not in CRIS): it starts as plain bilinear upsampling, learns, sits where the config says, and
refuses bad inputs by name."""

import pytest
import torch
import torch.nn.functional as F

from vlseg.clip import build_tiny_clip
from vlseg.cris import PixelRefiner, text_to_pixel_contrastive_loss
from vlseg.cris.model import CRIS, CrisConfig
from vlseg.data import generate_batch


def test_a_fresh_refiner_is_bilinear_upsampling_and_its_correction_learns():
    torch.manual_seed(0)
    refiner = PixelRefiner(8)
    logits, pixels = torch.randn(3, 1, 16, 16), torch.randn(3, 3, 64, 64)
    refined = refiner(logits, pixels)
    assert refined.shape == (3, 1, 64, 64)
    assert torch.equal(refined, F.interpolate(logits, size=(64, 64), mode="bilinear", align_corners=False))
    masks = (torch.rand(3, 64, 64) < 0.3).long()
    text_to_pixel_contrastive_loss(refined, masks).backward()
    last = refiner.body[-1]
    assert last.weight.grad is not None and last.weight.grad.abs().sum() > 0  # the zero layer is trained
    with torch.no_grad():
        last.weight.normal_()
    assert not torch.allclose(refiner(logits, pixels), refined)  # and once it is not zero, the pixels matter
    assert not torch.allclose(refiner(logits, pixels), refiner(logits, torch.zeros_like(pixels)))


def test_refiner_rejects_bad_inputs_by_name():
    with pytest.raises(ValueError, match="channels"):
        PixelRefiner(0)
    with pytest.raises(TypeError, match="channels"):
        PixelRefiner(2.5)
    refiner = PixelRefiner(4)
    with pytest.raises(ValueError, match=r"expected logits \(B, 1, h, w\) and pixel_values \(B, 3, S, S\)"):
        refiner(torch.zeros(2, 2, 8, 8), torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="got"):
        refiner(torch.zeros(2, 1, 8, 8), torch.zeros(3, 3, 32, 32))
    with pytest.raises(ValueError, match="refiner_channels must be a non-negative integer; got -1"):
        CrisConfig(refiner_channels=-1)
    for bad in (True, 1.5, "16"):
        with pytest.raises(TypeError, match="refiner_channels must be a non-negative integer"):
            CrisConfig(refiner_channels=bad)


def test_cris_with_a_refiner_predicts_at_the_inputs_resolution_and_without_one_has_none():
    torch.manual_seed(4)
    plain, refined = (CRIS(build_tiny_clip(seed=0), CrisConfig(refiner_channels=channels)) for channels in (0, 8))
    assert plain.refiner is None and not any(key.startswith("refiner.") for key in plain.state_dict())
    assert isinstance(refined.refiner, PixelRefiner)
    scenes = generate_batch(2, seed=0, split="val")
    texts = [f"the {objects[0].colour} {objects[0].shape}" for objects in scenes.objects]
    out = refined(refined.bundle.pixel_values(scenes.images), **refined.bundle.tokenize(texts))
    assert out.logits.shape == (2, 1, 64, 64)  # the tiny CLIP's input, not stride 4
    masks = refined.predict(scenes.images, texts)
    assert masks.shape == (2, 64, 64) and masks.dtype == torch.bool
    big = refined.predict(scenes.images.repeat(2, axis=1).repeat(2, axis=2), texts)  # another image size
    assert big.shape == (2, 128, 128)
