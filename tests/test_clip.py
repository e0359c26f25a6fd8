"""The CLIP bundle: transformers' CLIPModel with the accessors of the course."""

import time

import numpy as np
import pytest
import torch

from vlseg.clip import TINY_CLIP_SPEC, build_clip, build_tiny_clip
from vlseg.data import generate_batch


@pytest.fixture(scope="module")
def bundle():
    return build_tiny_clip(seed=0)


@pytest.fixture(scope="module")
def scenes():
    return generate_batch(3, seed=0, split="val")


def test_shapes_of_every_accessor(bundle, scenes):
    pixels = bundle.pixel_values(scenes.images)
    assert pixels.shape == (3, 3, 64, 64)
    tokens = bundle.tokenize(scenes.captions)
    D, C, T = TINY_CLIP_SPEC["projection_dim"], TINY_CLIP_SPEC["vision_width"], bundle.grid_size**2
    with torch.no_grad():
        assert bundle.image_embeds(pixels).shape == (3, D)
        assert bundle.patch_tokens(pixels).shape == (3, T, D)
        assert bundle.patch_tokens(pixels, output="hidden").shape == (3, T, C)
        hidden = bundle.vision_hidden_states(pixels)
        assert len(hidden) == TINY_CLIP_SPEC["vision_layers"] + 1 and hidden[2].shape == (3, T + 1, C)
        assert bundle.text_embeds(**tokens).shape == (3, D)
        words, padding = bundle.word_features(**tokens)
        assert words.shape == (3, tokens["input_ids"].shape[1], TINY_CLIP_SPEC["text_width"])
        assert torch.equal(padding, tokens["attention_mask"] == 0)


def test_patch_tokens_share_the_image_embedding_space(bundle, scenes):
    """Projected patch tokens get CLIP's post-LayerNorm; on the CLS token that reproduces the image embedding."""
    pixels = bundle.pixel_values(scenes.images)
    with torch.no_grad():
        image, patches = bundle.image_and_patch_embeds(pixels)
        cls_hidden = bundle.vision_hidden_states(pixels)[-1][:, :1]
        assert torch.allclose(image, bundle.image_embeds(pixels), atol=1e-5)
        assert torch.allclose(bundle.project_patches(cls_hidden)[:, 0], image, atol=1e-5)
        assert torch.allclose(patches, bundle.patch_tokens(pixels), atol=1e-5)


def test_text_is_pooled_at_the_end_of_text_token(bundle):
    tokens = bundle.tokenize(["a red circle.", "the lowest star left of the blue square"])
    with torch.no_grad():
        hidden = bundle.model.text_model(**tokens).last_hidden_state
        eos = (tokens["input_ids"] == bundle.tokenizer.eos_token_id).int().argmax(dim=1)
        expected = bundle.model.text_projection(hidden[torch.arange(2), eos])
        assert torch.allclose(bundle.text_embeds(**tokens), expected, atol=1e-5)
    assert int(eos[0]) < tokens["input_ids"].shape[1] - 1, "padding follows the short text"


def test_bad_images_raise(bundle):  # the full table of bad inputs is tests/test_bad_inputs.py
    with pytest.raises(ValueError, match=r"channel-first"):
        bundle.pixel_values(np.zeros((2, 3, 64, 64), dtype=np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        bundle.pixel_values(np.zeros((2, 64, 64, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="texts is empty"):
        bundle.tokenize([])


def test_pil_images_are_resized_to_the_model(bundle):
    from PIL import Image

    image = Image.fromarray(generate_batch(1, image_size=100).images[0])
    assert bundle.pixel_values([image]).shape == (1, 3, 64, 64)


def test_hub_id_fails_fast_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="hf download openai/clip-vit-base-patch16"):
        build_clip("openai/clip-vit-base-patch16")
    assert time.perf_counter() - start < 30


def test_local_folder_loads_through_the_hub_code_path(tmp_path, bundle):
    """A folder saved with save_pretrained (the format of a hub snapshot) loads with build_clip."""
    bundle.model.save_pretrained(tmp_path)
    bundle.image_processor.save_pretrained(tmp_path)
    bundle.tokenizer.save_pretrained(tmp_path)
    loaded = build_clip(str(tmp_path), device="cpu")
    assert torch.equal(loaded.tokenize(["a red circle."])["input_ids"], bundle.tokenize(["a red circle."])["input_ids"])
    with torch.no_grad():
        a = loaded.encode_texts(["a red circle."])
        b = bundle.encode_texts(["a red circle."])
    assert torch.allclose(a, b, atol=1e-5)


def test_normalisation_constants_match_the_data():
    from vlseg.data import generate_batch

    pixels = np.concatenate([generate_batch(512, seed=0, block=b).images for b in range(2)]).reshape(-1, 3) / 255.0
    assert np.allclose(pixels.mean(0), TINY_CLIP_SPEC["image_mean"], atol=0.02)
    assert np.allclose(pixels.std(0), TINY_CLIP_SPEC["image_std"], atol=0.02)


def test_other_sizes_are_resized_the_same_as_a_batch_or_a_list(bundle):
    images = generate_batch(2, image_size=100).images
    pixels = bundle.pixel_values(images)
    assert pixels.shape == (2, 3, 64, 64)
    assert torch.allclose(pixels, bundle.pixel_values(list(images)))


def test_a_dense_aware_term_joins_clip_s_loss_only_when_asked_for():
    from vlseg.clip_training.training import ClipRecipe, clip_step_fn

    bundle = build_tiny_clip(seed=0)
    plain = clip_step_fn(bundle, ClipRecipe(batch_size=8))(0)
    assert "dense_loss" not in plain
    dense = clip_step_fn(bundle, ClipRecipe(batch_size=8, dense_weight=0.5))(0)  # the same scenes and weights
    assert torch.allclose(dense["cls_loss"], plain["loss"], atol=1e-6)
    assert torch.allclose(dense["loss"], dense["cls_loss"] + 0.5 * dense["dense_loss"])
    dense["loss"].backward()
    assert bundle.model.visual_projection.weight.grad is not None


def test_a_clip_continued_on_another_world_keeps_its_weights_and_carries_its_token_embeddings_over():
    from vlseg.clip_training.training import ClipRecipe, train_clip, with_tokenizer
    from vlseg.text import build_shapes_tokenizer, caption_corpus

    old = build_tiny_clip(seed=0)
    new_tokenizer = build_shapes_tokenizer(caption_corpus(world="v2"))
    new = with_tokenizer(old, new_tokenizer)
    assert new.tokenizer is new_tokenizer and old.tokenizer is not new_tokenizer
    texts = ["a red circle.", "a small blue star painted blue."]
    same_cut = [t for t in texts if old.tokenizer.tokenize(t) == new_tokenizer.tokenize(t)]
    assert same_cut == ["a red circle."]  # "painted" is a v2 word: v2's BPE keeps it whole, v1's cuts it
    with torch.no_grad():
        assert torch.allclose(new.text_embeds(**new.tokenize(same_cut)), old.text_embeds(**old.tokenize(same_cut)))
        old_table = old.model.text_model.embeddings.token_embedding.weight
        new_row = new.model.text_model.embeddings.token_embedding.weight[new_tokenizer.convert_tokens_to_ids("Ġpainted")]
        pieces = old.tokenizer.convert_tokens_to_ids(old.tokenizer.tokenize(" painted"))
        assert len(pieces) > 1 and torch.allclose(new_row, old_table[pieces].mean(0))  # the mean of its v1 pieces
    before = {k: v.clone() for k, v in old.model.state_dict().items()}
    trained, result = train_clip(ClipRecipe(steps=2, batch_size=8, world="v2", warmup_steps=1), progress=False,
                                 initial=old)
    assert result.steps == 2 and trained.tokenizer is not old.tokenizer
    assert all(torch.equal(v, old.model.state_dict()[k]) for k, v in before.items())  # the initial CLIP is untouched
    assert not torch.equal(trained.model.vision_model.embeddings.patch_embedding.weight,
                           before["vision_model.embeddings.patch_embedding.weight"])
    with pytest.raises(TypeError, match="initial must be a ClipBundle"):
        train_clip(ClipRecipe(steps=1), initial="tiny-clip-shapes")
