"""CRIS modules: shapes for every batch size (1 included), the loss, the dynamic convolution, the padding mask."""

import pytest
import torch
import torch.nn.functional as F

from vlseg.clip import build_tiny_clip
from vlseg.cris import (
    CrossModalNeck,
    Projector,
    SimplePyramid,
    VisionLanguageDecoder,
    dynamic_conv,
    sine_positions_1d,
    sine_positions_2d,
    text_to_pixel_contrastive_loss,
)
from vlseg.cris.data import referring_batch
from vlseg.cris.model import CRIS, CrisConfig
from vlseg.data import generate_batch
from vlseg.training import TrainConfig, make_optimizer


@pytest.mark.parametrize("batch", [1, 3])
def test_shapes_through_every_module(batch):
    torch.manual_seed(0)
    hidden = tuple(torch.randn(batch, 1 + 64, 96) for _ in range(3))  # an 8×8 grid of width 96
    scales = SimplePyramid(96, (16, 24, 32))(hidden)
    assert [tuple(s.shape) for s in scales] == [(batch, 16, 16, 16), (batch, 24, 8, 8), (batch, 32, 4, 4)]
    sentence = torch.randn(batch, 40)
    visual = CrossModalNeck((16, 24, 32), 40, 32).train()(scales, sentence)
    assert visual.shape == (batch, 32, 8, 8)
    words, padding = torch.randn(batch, 7, 20), torch.zeros(batch, 7, dtype=torch.bool)
    padding[:, 5:] = True
    decoder = VisionLanguageDecoder(32, 20, layers=2, heads=4, ffn_dim=64)
    fused, attention = decoder.train()(visual, words, padding)
    assert fused.shape == (batch, 64, 32) and len(attention) == 2 and attention[0].shape == (batch, 64, 7)
    _, attention = decoder.eval()(visual, words, padding)  # without dropout, each pixel's weights over words sum to 1
    assert torch.allclose(attention[0].sum(-1), torch.ones(batch, 64), atol=1e-5)
    assert torch.all(attention[0][..., 5:] == 0)  # … and padded words get none
    logits = Projector(32, 40, channels=8).train()(fused.transpose(1, 2).reshape(batch, 32, 8, 8), sentence)
    assert logits.shape == (batch, 1, 32, 32)


def test_loss_is_the_papers_formula_and_per_pixel_bce():
    generator = torch.Generator().manual_seed(1)
    logits = 3 * torch.randn(4, 1, 8, 8, generator=generator)
    masks = (torch.rand(4, 8, 8, generator=generator) < 0.3).long()
    sigma = torch.sigmoid(logits[:, 0].double())
    paper = torch.where(masks.bool(), -torch.log(sigma), -torch.log(1 - sigma)).mean()
    assert text_to_pixel_contrastive_loss(logits, masks).item() == pytest.approx(paper.item(), rel=1e-5)
    assert text_to_pixel_contrastive_loss(logits[:, 0], masks).item() == pytest.approx(paper.item(), rel=1e-5)
    # masks at the input size are brought to the logit size by nearest interpolation
    big = masks.repeat_interleave(4, 1).repeat_interleave(4, 2)  # (4, 32, 32)
    assert text_to_pixel_contrastive_loss(logits, big).item() == pytest.approx(paper.item(), rel=1e-5)


def test_full_resolution_loss_judges_the_upsampled_logits_at_every_pixel():
    generator = torch.Generator().manual_seed(3)
    logits = 3 * torch.randn(4, 1, 8, 8, generator=generator)
    masks = (torch.rand(4, 32, 32, generator=generator) < 0.3).long()
    upsampled = F.interpolate(logits, size=(32, 32), mode="bilinear", align_corners=False)[:, 0]
    by_hand = F.binary_cross_entropy_with_logits(upsampled, masks.float())
    full = text_to_pixel_contrastive_loss(logits, masks, upsample_logits=True)
    assert full.item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert full.item() != pytest.approx(text_to_pixel_contrastive_loss(logits, masks).item(), rel=1e-3)
    same_size = (torch.rand(4, 8, 8, generator=generator) < 0.3).long()  # nothing to resize: both ways agree
    assert text_to_pixel_contrastive_loss(logits, same_size, upsample_logits=True).item() == pytest.approx(
        text_to_pixel_contrastive_loss(logits, same_size).item(), rel=1e-6)
    # a mask whose boundary falls between the pixels that nearest shrinking keeps: only the full-resolution loss sees it
    stripe = torch.zeros(1, 32, 32, dtype=torch.long)
    stripe[:, :, 1::4] = 1  # every 4th column from 1: no column 4i, so the shrunk mask is empty
    assert F.interpolate(stripe[:, None].float(), size=(8, 8), mode="nearest").sum() == 0
    flat = torch.zeros(1, 1, 8, 8)
    assert text_to_pixel_contrastive_loss(flat, stripe).item() == pytest.approx(
        text_to_pixel_contrastive_loss(flat, stripe, upsample_logits=True).item())  # log 2 both: logits 0
    sure_background = torch.full((1, 1, 8, 8), -10.0)
    assert text_to_pixel_contrastive_loss(sure_background, stripe).item() < 1e-3  # blind to the stripe
    assert text_to_pixel_contrastive_loss(sure_background, stripe, upsample_logits=True).item() > 2.0  # sees it
    with pytest.raises(TypeError, match="upsample_logits must be a bool; got int 1"):
        text_to_pixel_contrastive_loss(logits, masks, upsample_logits=1)


def test_loss_rejects_bad_inputs():
    with pytest.raises(ValueError, match="same B"):
        text_to_pixel_contrastive_loss(torch.randn(2, 8, 8), torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="only 0 and 1"):
        text_to_pixel_contrastive_loss(torch.randn(2, 8, 8), torch.full((2, 8, 8), 2))
    with pytest.raises(ValueError, match=r"\(B, 1, h, w\)"):
        text_to_pixel_contrastive_loss(torch.randn(2, 3, 8, 8), torch.zeros(2, 8, 8))


def test_dynamic_convolution_equals_a_per_sample_loop():
    generator = torch.Generator().manual_seed(2)
    features = torch.randn(3, 5, 6, 6, generator=generator)
    kernels, biases = torch.randn(3, 5, 3, 3, generator=generator), torch.randn(3, generator=generator)
    loop = torch.stack([F.conv2d(features[b : b + 1], kernels[b : b + 1], biases[b : b + 1], padding=1)[0] for b in range(3)])
    assert torch.allclose(dynamic_conv(features, kernels, biases), loop, atol=1e-5)
    with pytest.raises(ValueError, match="kernels"):
        dynamic_conv(features, kernels[:2], biases)


def test_padding_mask_really_masks():
    torch.manual_seed(3)
    decoder = VisionLanguageDecoder(32, 20, layers=2, heads=4, ffn_dim=64).eval()
    visual, words = torch.randn(2, 32, 4, 4), torch.randn(2, 6, 20)
    padding = torch.tensor([[False] * 4 + [True] * 2, [False] * 6])
    changed = words.clone()
    changed[0, 4:] = 100 * torch.randn(2, 20)  # only padded positions of sample 0
    first, _ = decoder(visual, words, padding)
    second, _ = decoder(visual, changed, padding)
    assert torch.allclose(first, second, atol=1e-6)
    unmasked_change = words.clone()
    unmasked_change[0, 0] += 1.0
    assert not torch.allclose(first, decoder(visual, unmasked_change, padding)[0])
    with pytest.raises(ValueError, match="no words"):
        decoder(visual, words, torch.ones(2, 6, dtype=torch.bool))


def test_sine_positions():
    table = sine_positions_1d(10, 8)
    assert table.shape == (10, 8) and torch.allclose(table[0, 1::2], torch.ones(4))
    grid = sine_positions_2d(3, 4, 8)
    assert grid.shape == (12, 8)
    assert torch.equal(grid[1, :4], grid[2, :4]) and not torch.equal(grid[1, 4:], grid[2, 4:])  # same row, other column


@pytest.fixture(scope="module")
def tiny_cris():
    torch.manual_seed(4)
    return CRIS(build_tiny_clip(seed=0), CrisConfig())


@pytest.mark.parametrize("batch", [1, 2])
def test_model_forward_and_predict(tiny_cris, batch):
    scenes = generate_batch(batch, seed=0, split="val")
    texts = [f"the {obj.colour} {obj.shape}" for obj in (objects[0] for objects in scenes.objects)]
    out = tiny_cris(tiny_cris.bundle.pixel_values(scenes.images), **tiny_cris.bundle.tokenize(texts))
    assert out.logits.shape == (batch, 1, 32, 32) and out.visual.shape == (batch, 96, 8, 8)
    masks = tiny_cris.predict(scenes.images, texts)
    assert masks.shape == (batch, 64, 64) and masks.dtype == torch.bool
    with pytest.raises(ValueError, match="empty"):
        tiny_cris.predict(scenes.images, [""] * batch)


def test_ablation_switches_and_fine_tuning_learning_rates():
    bundle = build_tiny_clip(seed=0)
    plain = CRIS(bundle, CrisConfig(use_decoder=False, kernel_size=1))
    assert plain.decoder is None and plain.projector.kernel_size == 1
    tuned = CRIS(build_tiny_clip(seed=0), CrisConfig(fine_tune=True))
    optimizer = make_optimizer(tuned, TrainConfig(steps=1, lr=1e-3))
    scales = sorted({group["lr_scale"] for group in optimizer.param_groups})
    assert scales == [0.1, 1.0]
    backbone = {id(p) for p in tuned.clip.parameters()}
    for group in optimizer.param_groups:
        assert all((id(p) in backbone) == (group["lr_scale"] == 0.1) for p in group["params"])


def test_referring_batches_and_their_checks():
    import numpy as np

    from vlseg.cris.data import check_referring_batch, referring_batch

    batch = referring_batch(6, seed=1, heldout_names=False)
    assert batch.masks.shape == batch.images.shape[:3] and len(batch.texts) == len(batch.masks)
    assert not any(batch.names_heldout) and all(batch.masks.flatten(1).any(1))  # every mask has its object
    with pytest.raises(ValueError, match="matching images"):
        check_referring_batch(batch.images, batch.masks[:, :32], batch.texts)
    with pytest.raises(ValueError, match="expressions"):
        check_referring_batch(batch.images, batch.masks, batch.texts[:-1])
    assert isinstance(batch.images, np.ndarray)


def test_fine_tuning_leaves_the_callers_clip_alone():
    bundle = build_tiny_clip(seed=0)
    before = {k: v.clone() for k, v in bundle.model.state_dict().items()}
    tuned = CRIS(bundle, CrisConfig(fine_tune=True))
    assert tuned.bundle.model is not bundle.model
    with torch.no_grad():
        next(tuned.clip.parameters()).add_(1.0)
    assert all(torch.equal(before[k], v) for k, v in bundle.model.state_dict().items())


class TextRecorder(CRIS):
    """A CRIS that keeps the texts it is given (decoded from its tokens), to see what training feeds it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen_texts: list[str] = []

    def forward(self, pixel_values, input_ids, attention_mask):  # noqa: D102
        self.seen_texts.extend(self.bundle.tokenizer.batch_decode(input_ids, skip_special_tokens=True))
        return super().forward(pixel_values, input_ids, attention_mask)


def test_training_batches_never_name_a_heldout_class():
    from vlseg.cris.training import CrisRecipe, cris_step_fn

    model = TextRecorder(build_tiny_clip(seed=0), CrisConfig(decoder_layers=1))
    seen_texts = model.seen_texts
    loss = cris_step_fn(model, CrisRecipe(batch_size=24))(0)["loss"]
    assert loss.ndim == 0 and torch.isfinite(loss)
    from vlseg.data.vocabulary import HELDOUT_CLASSES

    assert len(seen_texts) >= 20
    assert not any(name in text for text in seen_texts for name in HELDOUT_CLASSES)


def test_evaluation_scores_an_oracle_and_an_empty_predictor():
    from vlseg.cris.data import referring_batch
    from vlseg.cris.evaluation import evaluate_referring

    perfect = evaluate_referring(lambda images, texts: referring_batch(len(images), seed=11, split="val").masks,
                                 n_scenes=50, batch_size=50)
    assert perfect["mIoU"] == 1.0 and perfect["prec@0.9"] == 1.0 and perfect["n"] <= 50
    empty = evaluate_referring(lambda images, texts: torch.zeros(len(images), 64, 64, dtype=torch.bool), n_scenes=50)
    assert empty["mIoU"] == 0.0 and empty["oIoU"] == 0.0


def test_similarity_map_baseline():
    from vlseg.cris.baseline import SimilarityMapBaseline
    from vlseg.cris.data import referring_batch
    from vlseg.dense import dense_patch_embeds

    bundle = build_tiny_clip(seed=0)
    baseline = SimilarityMapBaseline(bundle, lambda pixel_values: dense_patch_embeds(bundle, pixel_values, "clip"))
    batch = referring_batch(3, seed=2, split="val")
    maps = baseline.maps(batch.images, batch.texts)
    assert maps.shape == (len(batch.texts), 64, 64)
    assert torch.allclose(maps.flatten(1).amin(1), torch.zeros(len(maps)), atol=1e-6)
    assert torch.allclose(maps.flatten(1).amax(1), torch.ones(len(maps)), atol=1e-6)
    assert torch.equal(baseline.predict(batch.images, batch.texts, threshold=0.3), maps > 0.3)
    scores = baseline.calibrate(n_scenes=20, grid=(0.2, 0.5, 0.8))
    assert baseline.threshold == max(scores, key=scores.get) and set(scores) == {0.2, 0.5, 0.8}
    with pytest.raises(ValueError, match="empty string"):
        baseline.maps(batch.images, [""] * len(batch.texts))
    with pytest.raises(ValueError, match="2 texts for"):
        baseline.maps(batch.images, batch.texts[:2])


def test_concat_referring_batches_keeps_every_field_in_order():
    from vlseg.cris.data import concat_referring_batches, referring_batch

    parts = [referring_batch(4, seed=1, split="val", block=b) for b in (0, 1)]
    whole = concat_referring_batches(parts)
    assert len(whole.texts) == len(parts[0].texts) + len(parts[1].texts) == len(whole.masks) == len(whole.images)
    assert whole.texts[len(parts[0].texts):] == parts[1].texts and whole.kinds[:len(parts[0].kinds)] == parts[0].kinds
    assert bool((whole.masks[:len(parts[0].masks)] == parts[0].masks).all())
    with pytest.raises(ValueError, match="no batches"):
        concat_referring_batches([])


def test_pseudo_words_insert_one_invented_word_and_nothing_held_out():
    import re

    import numpy as np

    from vlseg.cris.data import pseudo_word, with_pseudo_words
    from vlseg.data.referring import HELDOUT_ONLY_WORDS

    texts = ["the red circle", "find the star left of the square", "the second ring from the left"] * 200
    augmented = with_pseudo_words(texts, 0.5, np.random.default_rng(0))
    assert augmented == with_pseudo_words(texts, 0.5, np.random.default_rng(0))  # seeded
    changed = [(old, new) for old, new in zip(texts, augmented) if old != new]
    assert 0.4 < len(changed) / len(texts) < 0.6  # about half
    positions = set()
    for old, new in changed:  # exactly one word more, the others in their order
        old_words, new_words = old.split(), new.split()
        assert len(new_words) == len(old_words) + 1
        extra = next(i for i in range(len(new_words)) if new_words[:i] + new_words[i + 1:] == old_words)
        positions.add(extra if extra < len(old_words) else "end")
        assert re.fullmatch(r"([bdfgklmnprstvz][aeiou]){2,3}", new_words[extra])
        assert not set(new.split()) & HELDOUT_ONLY_WORDS
        assert not any(held in new_words[extra] for held in HELDOUT_ONLY_WORDS)
    assert {0, 1, "end"} <= positions  # anywhere: first, inside, last
    assert with_pseudo_words(texts, 0.0, np.random.default_rng(0)) == texts
    assert all(t != a for t, a in zip(texts, with_pseudo_words(texts, 1.0, np.random.default_rng(0))))
    words = {pseudo_word(np.random.default_rng(seed)) for seed in range(2000)}
    assert not words & {"side", "red", "ring", "the", "left", "star"} and len(words) > 1000
    with pytest.raises(ValueError, match=r"probability must lie in \[0, 1\]; got 1.5"):
        with_pseudo_words(texts, 1.5, np.random.default_rng(0))


def test_the_recipes_pseudo_words_reach_the_model_and_are_checked():
    from vlseg.cris.training import CrisRecipe, cris_step_fn

    model = TextRecorder(build_tiny_clip(seed=0), CrisConfig(decoder_layers=1))
    seen_texts = model.seen_texts
    cris_step_fn(model, CrisRecipe(batch_size=16, pseudo_words=1.0))(0)
    plain = referring_batch(16, seed=0, split="train", block=0, heldout_names=False)
    assert len(seen_texts) == len(plain.texts)
    assert all(len(seen.split()) == len(text.split()) + 1 for seen, text in zip(seen_texts, plain.texts))
    with pytest.raises(ValueError, match=r"pseudo_words must lie in \[0, 1\]; got -0.1"):
        CrisRecipe(pseudo_words=-0.1)


def test_the_recipes_full_resolution_loss_reaches_the_loss_and_is_checked(monkeypatch):
    from vlseg.cris import training
    from vlseg.cris.training import CrisRecipe, cris_step_fn

    calls = []
    monkeypatch.setattr(training, "text_to_pixel_contrastive_loss",
                        lambda logits, masks, upsample_logits: calls.append((logits.shape, masks.shape, upsample_logits))
                        or logits.sum() * 0)
    model = CRIS(build_tiny_clip(seed=0), CrisConfig(decoder_layers=1))
    for flag in (False, True):
        cris_step_fn(model, CrisRecipe(batch_size=4, full_resolution_loss=flag))(0)
    assert [call[2] for call in calls] == [False, True]
    assert calls[0][0][-2:] == (32, 32) and calls[0][1][-2:] == (64, 64)  # logits at stride 2 of the 64 px mask
    with pytest.raises(TypeError, match="full_resolution_loss must be a bool; got str 'yes'"):
        CrisRecipe(full_resolution_loss="yes")


def test_expression_ious_agree_with_the_sets_scores_and_group_by_any_label():
    from vlseg.cris.evaluation import evaluate_referring, evaluation_batches, expression_ious, miou_by

    arguments = {"n_scenes": 60, "batch_size": 60, "world": "v2", "phrasings": "heldout"}

    def half_right(images, texts):  # the true mask for the expressions with an even number of words, else nothing
        masks = evaluation_batches(**arguments)[0].masks
        return masks & torch.tensor([len(t.split()) % 2 == 0 for t in texts])[:, None, None]

    ious, batch = expression_ious(half_right, **arguments)
    assert ious.shape == (len(batch.texts),) and len(batch.templates) == len(batch.texts) == len(batch.masks)
    assert abs(float(ious.mean()) - evaluate_referring(half_right, **arguments)["mIoU"]) < 1e-9
    groups = miou_by(ious, ["even" if len(t.split()) % 2 == 0 else "odd" for t in batch.texts])
    assert groups["even"]["mIoU"] == 100.0 and groups["odd"]["mIoU"] == 0.0
    assert groups["even"]["n"] + groups["odd"]["n"] == len(batch.texts)
    with pytest.raises(ValueError, match="one label each"):
        miou_by(ious, ["a"])
