"""The patch-labelling rule and the patch → pixel path."""

import pytest
import torch

from vlseg.patches import logits_to_pixels, patch_labels, patch_logits


def test_majority_rule_on_a_hand_made_mask():
    mask = torch.zeros(1, 4, 4, dtype=torch.long)  # 2×2 patches of 2×2 pixels
    mask[0, 0, 0] = 3  # top-left: 3 of 4 pixels are 0 -> 0
    mask[0, 0, 2:] = 5  # top-right: 2 of 4 are 5, 2 are 0: no majority above half -> ignore
    mask[0, 2:, :2] = 7  # bottom-left: all 7 -> 7
    mask[0, 2:, 2:] = 255  # bottom-right: three ignored pixels and one 1 -> ignore
    mask[0, 3, 3] = 1
    labels = patch_labels(mask, 2)
    assert labels.tolist() == [[[0, 255], [7, 255]]]
    # the threshold: 3 of 4 pixels is a clear majority at the default (> 1/2), not at > 4/5
    assert patch_labels(mask, 2, min_fraction=0.8)[0, 0, 0] == 255


def test_matches_a_loop_on_random_masks():
    torch.manual_seed(0)
    mask = torch.randint(0, 3, (2, 8, 8))
    labels = patch_labels(mask, 4, min_fraction=0.4)
    for n in range(2):
        for i in range(2):
            for j in range(2):
                patch = mask[n, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4].flatten()
                counts = torch.bincount(patch, minlength=3)
                expected = int(counts.argmax()) if counts.max() > 0.4 * 16 else 255
                assert labels[n, i, j] == expected


def test_bad_masks():
    with pytest.raises(ValueError, match="multiple of the patch size"):
        patch_labels(torch.zeros(1, 6, 6, dtype=torch.long), 4)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        patch_labels(torch.zeros(6, 6, dtype=torch.long), 2)


def test_patch_logits_and_upsampling():
    patches = torch.randn(2, 16, 8)
    classes = torch.randn(3, 8)
    logits = patch_logits(patches, classes)
    assert logits.shape == (2, 16, 3) and logits.abs().max() <= 1 + 1e-6
    pixels = logits_to_pixels(logits, 64)
    assert pixels.shape == (2, 3, 64, 64)
    constant = logits_to_pixels(torch.ones(1, 16, 2), 32)
    assert torch.allclose(constant, torch.ones_like(constant))
    # each patch's logit sits at its patch centre region: argmax of a one-hot patch map lands there
    one_hot = torch.zeros(1, 16, 2)
    one_hot[0, :, 0] = 1.0
    one_hot[0, 5, :] = torch.tensor([0.0, 1.0])  # patch (1, 1) prefers class 1
    pred = logits_to_pixels(one_hot, 64).argmax(1)[0]
    assert pred[24, 24] == 1 and pred[0, 0] == 0
    with pytest.raises(ValueError, match="square grid"):
        logits_to_pixels(torch.zeros(1, 15, 2), 64)
    with pytest.raises(ValueError, match=r"\(B, T, D\)"):
        patch_logits(torch.zeros(2, 4), classes)


def test_pixel_patches_match_the_vit_patch_order():
    pixel_values = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    from vlseg.patches import pixel_patches

    patches = pixel_patches(pixel_values, 2)  # (2, 4, 12)
    assert patches.shape == (2, 4, 12)
    # patch 1 is the top-right 2×2 block; its first three values are channel 0's pixels (0, 2), (0, 3), (1, 2)
    assert patches[0, 1, :3].tolist() == [2.0, 3.0, 6.0]
    assert torch.equal(patches[1, 2, 4:8], pixel_values[1, 1, 2:4, 0:2].flatten())


def test_segment_with_a_background_threshold():
    from vlseg.segmentation import segment_embeds

    class_embeds = torch.eye(3, 4)  # three classes along the first three axes
    patch_embeds = torch.tensor([[[1.0, 0, 0, 0], [0, 0, 0, 1.0], [0, 2.0, 0, 0], [0, 0, 1.0, 0.2]]])  # (1, 4, 4)
    patches, pixels = segment_embeds(patch_embeds, class_embeds, 4)
    assert patches.tolist() == [[0, 0, 1, 2]]  # patch 1 is orthogonal to every class: argmax picks the first
    patches, pixels = segment_embeds(patch_embeds, class_embeds, 4, background_threshold=0.5)
    assert patches.tolist() == [[0, 3, 1, 2]] and pixels.shape == (1, 4, 4)  # 3 = background
