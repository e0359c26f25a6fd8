"""A hub-sized CLIP end to end, offline: every chapter's core call on a randomly initialised ViT-B/16 CLIP.

The course promises that a reader can switch to ``openai/clip-vit-base-patch16``. Without hub access, a module
fixture writes a ``CLIPModel`` with that checkpoint's configuration (random weights), a real CLIP-format byte-level
BPE tokenizer (``vocab.json`` + ``merges.txt``, ``</w>`` word ends, the two special tokens last) and OpenAI's image
processor settings, all with ``save_pretrained``, and loads the folder with ``vlseg.build_clip`` exactly as a hub
id. Weights are random, so the checks are shapes, dtypes, finiteness, output sizes and agreement between calls,
never accuracy. The ViT-B runs on single images where it can (about 1 s each on 2 CPU cores).
"""

from __future__ import annotations

import collections
import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vlseg import build_clip
from vlseg.clip import PATCH_OUTPUTS, image_processor_class
from vlseg.coherence import coherence_auc, linear_probe_accuracy
from vlseg.cris import CRIS, CrisConfig
from vlseg.cris.model import spread_layers
from vlseg.data import CLASS_NAMES, SIZES, generate_batch
from vlseg.dense import DENSE_METHODS, dense_patch_embeds
from vlseg.pacl import PaclConfig, PaclModel, pacl_compatibility
from vlseg.patches import logits_to_pixels, patch_labels, patch_logits
from vlseg.segmentation import class_targets, evaluate_segmentation, segment_embeds
from vlseg.text import prompts_for
from vlseg.zeroshot import class_text_embeds

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
SIZE, PATCH, GRID, WIDTH, TEXT_WIDTH, DIM, LAYERS = 224, 16, 14, 768, 512, 512, 12
CLASSES = ["red circle", "blue square", "green star"]
OPENAI_MEAN, OPENAI_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]


# ---- the offline "hub" checkpoint -------------------------------------------------------------------------------
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable-character table (the 256 base symbols of the vocabulary)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = printable[:], 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def shapes_world_words() -> collections.Counter:
    """Word counts of ShapesWorld text (prompts, captions, referring expressions), split as CLIP's regex splits
    ASCII text: letter runs, single digits, punctuation runs."""
    scenes = generate_batch(200, seed=0, split="train")
    texts = prompts_for(list(CLASS_NAMES)) + list(scenes.captions) + list(SIZES)
    for index in range(0, len(scenes), 4):
        texts += [expression.text for expression in scenes[index].referring_expressions()]
    return collections.Counter(w for text in texts for w in re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", text.lower()))


def train_clip_bpe(words: collections.Counter) -> tuple[list[str], list[tuple[str, str]]]:
    """CLIP-format BPE: the 256 byte symbols, their ``</w>`` forms, the merges (most frequent pair first, until every
    word is one token), then ``<|startoftext|>`` and ``<|endoftext|>`` — the end-of-text token has the highest id."""
    encoder = bytes_to_unicode()
    corpus = {}
    for word, count in words.items():
        symbols = [encoder[b] for b in word.encode()]
        corpus[(*symbols[:-1], symbols[-1] + "</w>")] = count
    merges: list[tuple[str, str]] = []
    while True:
        pairs: collections.Counter = collections.Counter()
        for symbols, count in corpus.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        merged = {}
        for symbols, count in corpus.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] = count
        corpus = merged
    vocab = list(encoder.values()) + [symbol + "</w>" for symbol in encoder.values()]
    for first, second in merges:
        if first + second not in vocab:
            vocab.append(first + second)
    return vocab + [BOS, EOS], merges


def vit_b16_config(vocab_size: int = 49408):
    from transformers import CLIPConfig

    text = {"vocab_size": vocab_size, "hidden_size": TEXT_WIDTH, "intermediate_size": 2048, "num_hidden_layers": 12,
            "num_attention_heads": 8, "max_position_embeddings": 77, "bos_token_id": 0, "eos_token_id": 2,
            "pad_token_id": 1}  # as in OpenAI's config.json: eos_token_id = 2 → legacy (argmax) pooling
    vision = {"image_size": SIZE, "patch_size": PATCH, "hidden_size": WIDTH, "intermediate_size": 3072,
              "num_hidden_layers": LAYERS, "num_attention_heads": 12}
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=DIM)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    from transformers import CLIPModel, CLIPTokenizer

    folder = tmp_path_factory.mktemp("clip-vit-base-patch16-random")
    vocab, merges = train_clip_bpe(shapes_world_words())
    (folder / "vocab.json").write_text(json.dumps({token: index for index, token in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    tokenizer.model_max_length = 77
    tokenizer.save_pretrained(folder)
    image_processor_class()(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE},
                            image_mean=OPENAI_MEAN, image_std=OPENAI_STD).save_pretrained(folder)
    torch.manual_seed(0)
    CLIPModel(vit_b16_config()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bundle(clip_dir):
    return build_clip(str(clip_dir))


@pytest.fixture(scope="module")
def images():
    """ShapesWorld-like uint8 images: one 224×224 scene, two 64×96 scenes (two 64-px scenes side by side, cut), and a
    200×300 one, with their semantic masks."""
    small = generate_batch(4, seed=0, split="val")
    def side_by_side(arrays: np.ndarray) -> np.ndarray:
        return np.stack([np.concatenate([arrays[i], arrays[i + 1][:, :32]], axis=1) for i in (0, 2)])

    wide, wide_semantic = side_by_side(small.images), side_by_side(small.semantic)
    square = generate_batch(1, seed=1, split="val", image_size=SIZE).images[0]
    big = generate_batch(1, seed=2, split="val", image_size=300).images[0][50:250]
    assert wide.shape == (2, 64, 96, 3) and square.shape == (224, 224, 3) and big.shape == (200, 300, 3)
    return {"wide": wide, "wide_semantic": wide_semantic, "square": square, "big": big}


@pytest.fixture(scope="module")
def pixel_values(bundle, images):
    return bundle.pixel_values(images["wide"])  # (2, 3, 224, 224): the two 64×96 scenes, stretched


@pytest.fixture(scope="module")
def hidden_states(bundle, pixel_values):
    """The one full forward pass of the batch: all 13 hidden states (B, 1 + T, C). The tests below compare each
    library call with what these give, and run the expensive ViT-B on single images (2 CPU cores)."""
    with torch.no_grad():
        return bundle.vision_hidden_states(pixel_values)


def finite(tensor: torch.Tensor) -> bool:
    return bool(torch.isfinite(tensor).all())


# ---- loading --------------------------------------------------------------------------------------------------
def test_folder_loads_like_a_hub_checkpoint(bundle, clip_dir):
    config = bundle.model.config
    assert (bundle.image_size, bundle.patch_size, bundle.grid_size, bundle.embed_dim) == (SIZE, PATCH, GRID, DIM)
    assert config.vision_config.hidden_size == WIDTH and len(bundle.model.vision_model.encoder.layers) == LAYERS
    assert config.text_config.eos_token_id == 2 and bundle.context_length == 77
    assert list(bundle.image_processor.image_mean) == pytest.approx(OPENAI_MEAN)
    assert sum(p.numel() for p in bundle.model.parameters()) > 140e6
    tokenizer = bundle.tokenizer
    vocab = json.loads((clip_dir / "vocab.json").read_text())
    assert type(tokenizer).__name__.startswith("CLIPTokenizer") and len(tokenizer) == len(vocab) > 600
    assert tokenizer.get_vocab() == vocab
    assert tokenizer.eos_token_id == max(vocab.values()) and tokenizer.pad_token == EOS  # OpenAI's layout


def test_shapes_world_captions_round_trip(bundle, images):
    tokenizer = bundle.tokenizer
    caption = generate_batch(4, seed=5, split="val").captions[3]
    ids = bundle.tokenize(caption)["input_ids"][0].tolist()
    words = re.findall(r"[a-z]+|[^\sa-z]+", caption.lower())
    assert tokenizer.convert_ids_to_tokens(ids) == [BOS, *(word + "</w>" for word in words), EOS]  # a word, a token
    assert tokenizer.decode(ids, skip_special_tokens=True) == " ".join(words)
    assert tokenizer.decode(tokenizer("The LEFTMOST cyan ring!")["input_ids"], skip_special_tokens=True) == \
        "the leftmost cyan ring !"  # unseen case and punctuation: still byte-level, nothing lost


@torch.no_grad()
def test_text_is_pooled_at_the_end_of_text_token(bundle):
    """eos_token_id = 2 makes transformers pool at the highest id: the end-of-text token, with padding after it."""
    tokens = bundle.tokenize(["a red circle.", "there is an orange star left of the blue square."])
    assert tokens["input_ids"].shape[1] > int(tokens["attention_mask"][0].sum())  # the short text is padded
    hidden = bundle.model.text_model(**tokens).last_hidden_state
    eos = (tokens["input_ids"] == bundle.tokenizer.eos_token_id).int().argmax(dim=1)
    expected = bundle.model.text_projection(hidden[torch.arange(2), eos])
    embeds = bundle.text_embeds(**tokens)
    assert embeds.shape == (2, DIM) and embeds.dtype == torch.float32 and finite(embeds)
    assert torch.allclose(embeds, expected, atol=1e-5)
    words, padding = bundle.word_features(**tokens)
    assert words.shape == (2, tokens["input_ids"].shape[1], TEXT_WIDTH)
    assert torch.equal(padding, tokens["attention_mask"] == 0)


# ---- chapter 01: zero-shot classification ------------------------------------------------------------------------
@torch.no_grad()
def test_zero_shot_classification(bundle, images):
    class_embeds = class_text_embeds(bundle, CLASSES)
    assert class_embeds.shape == (3, DIM) and torch.allclose(class_embeds.norm(dim=-1), torch.ones(3), atol=1e-5)
    predictions = bundle.classify([images["wide"][0], images["big"]], CLASSES)  # a list of two sizes
    assert predictions.shape == (2,) and predictions.dtype == torch.long
    assert 0 <= int(predictions.min()) and int(predictions.max()) < len(CLASSES)


# ---- chapter 02: patch tokens, dense methods, coherence, zero-shot segmentation ----------------------------------
@torch.no_grad()
def test_patch_tokens_in_all_three_outputs(bundle, pixel_values, hidden_states):
    assert pixel_values.shape == (2, 3, SIZE, SIZE) and pixel_values.dtype == torch.float32
    assert len(hidden_states) == LAYERS + 1 and all(h.shape == (2, 1 + GRID * GRID, WIDTH) for h in hidden_states)
    last = hidden_states[-1][:1, 1:]  # image 0, CLS dropped
    expected = {"hidden": last, "normed": bundle.model.vision_model.post_layernorm(last),
                "projected": bundle.project_patches(last)}
    widths = {"hidden": WIDTH, "normed": WIDTH, "projected": DIM}
    for output in PATCH_OUTPUTS:
        value = bundle.patch_tokens(pixel_values[:1], output=output)
        assert value.shape == (1, GRID * GRID, widths[output]) and value.dtype == torch.float32 and finite(value)
        assert torch.allclose(value, expected[output], atol=1e-4), output


@torch.no_grad()
def test_patch_logits_to_pixels(bundle, hidden_states):
    patches = bundle.project_patches(hidden_states[-1][:, 1:])  # (2, T, D)
    logits = patch_logits(patches, class_text_embeds(bundle, CLASSES, templates=("{}.",)))
    assert logits.shape == (2, GRID * GRID, 3) and finite(logits) and float(logits.abs().max()) <= 1 + 1e-5
    assert logits_to_pixels(logits, (64, 96)).shape == (2, 3, 64, 96)
    assert logits_to_pixels(logits, (200, 300)).shape == (2, 3, 200, 300)
    assert logits_to_pixels(logits, SIZE).shape == (2, 3, SIZE, SIZE)


@torch.no_grad()
def test_dense_methods_hook_the_last_of_twelve_blocks(bundle, pixel_values, hidden_states):
    one = pixel_values[:1]
    embeds = {method: dense_patch_embeds(bundle, one, method) for method in ("maskclip", "clearclip", "clip")}
    assert set(embeds) == set(DENSE_METHODS)
    for method, value in embeds.items():
        assert value.shape == (1, GRID * GRID, DIM) and value.dtype == torch.float32 and finite(value), method
    before_last = hidden_states[-2][:1]  # the input of the last block
    layer = bundle.model.vision_model.encoder.layers[-1]
    values = layer.self_attn.out_proj(layer.self_attn.v_proj(layer.layer_norm1(before_last)))
    assert torch.allclose(embeds["maskclip"], bundle.project_patches(values)[:, 1:], atol=1e-4)
    assert not torch.allclose(embeds["clearclip"], embeds["clip"], atol=1e-3)
    # "clip" ran last: the hooks are gone and the plain model's patches come back
    assert torch.allclose(embeds["clip"], bundle.project_patches(hidden_states[-1][:1, 1:]), atol=1e-4)


@torch.no_grad()
def test_coherence_probe_on_vit_b_patches(bundle, images, hidden_states):
    semantic = torch.as_tensor(images["wide_semantic"])[:, None].float()  # (2, 1, 64, 96)
    labels = patch_labels(F.interpolate(semantic, size=(SIZE, SIZE), mode="nearest")[:, 0].long(), PATCH)
    assert labels.shape == (2, GRID, GRID)
    middle, last = hidden_states[LAYERS // 2][:, 1:], hidden_states[-1][:, 1:]  # (2, T, C) each
    for features in (middle, bundle.model.vision_model.post_layernorm(last)):
        auc = coherence_auc(features.flatten(0, 1), labels.flatten(), num_pairs=5_000)
        assert 0.0 <= auc <= 1.0
    accuracy, predictions = linear_probe_accuracy(features[0], labels[0].flatten(), features[1], labels[1].flatten(),
                                                  steps=30)
    assert 0.0 <= accuracy <= 1.0 and predictions.ndim == 1 and len(predictions) == int((labels[1] != 255).sum())


@torch.no_grad()
def test_zero_shot_segmentation_of_non_square_images(bundle, images):
    targets = class_targets(images["wide_semantic"][:1])  # (1, 64, 96), background ignored
    result = evaluate_segmentation(bundle, images["wide"][:1], targets, list(CLASS_NAMES), method="maskclip",
                                   templates=("a photo of {}.",), progress=False)
    assert result.patch_predictions.shape == (1, GRID, GRID) and result.pixel_predictions.shape == (1, 64, 96)
    assert 0.0 <= result.patch_accuracy <= 1.0 and 0.0 <= result.miou <= 1.0
    assert result.per_class_iou.shape == (len(CLASS_NAMES),)
    patch_pred, pixel_pred = segment_embeds(torch.randn(1, GRID * GRID, DIM), torch.randn(3, DIM), (200, 300), 0.0)
    assert patch_pred.shape == (1, GRID * GRID) and pixel_pred.shape == (1, 200, 300)


# ---- chapters 03–04: PACL at D = 512 ------------------------------------------------------------------------------
@torch.no_grad()
def test_pacl_on_vit_b(bundle, images, pixel_values, hidden_states):
    torch.manual_seed(0)
    pacl = PaclModel(bundle, PaclConfig())
    assert (pacl.embedder.skip.in_features, pacl.embedder.skip.out_features) == (WIDTH, DIM)
    patches = pacl.patch_embeds(pixel_values[:1])
    assert patches.shape == (1, GRID * GRID, DIM) and finite(patches)
    expected = bundle.project_patches(hidden_states[-1][:1, 1:])  # e_v starts at CLIP's visual projection
    assert torch.allclose(patches, expected, atol=1e-4)
    all_patches = pacl.embedder(bundle.model.vision_model.post_layernorm(hidden_states[-1][:, 1:]))  # (2, T, D)
    compatibility = pacl_compatibility(all_patches, pacl.text_embeds(CLASSES), pacl.patch_temperature)
    assert compatibility.shape == (2, 3) and compatibility.dtype == torch.float32 and finite(compatibility)
    masks = pacl.segment([images["square"], images["big"]], CLASSES, background=0.0, templates=("{}.",))
    assert [tuple(m.shape) for m in masks] == [(224, 224), (200, 300)]
    assert all(m.dtype == torch.long and int(m.min()) >= -1 and int(m.max()) < 3 for m in masks)
    maps = pacl.query_maps(images["wide"][:1], ["the red circle", "a blue square"])
    assert maps.shape == (1, 2, 64, 96) and maps.dtype == torch.float32 and finite(maps)
    assert float(maps.abs().max()) <= 1 + 1e-4


# ---- chapter 05: CRIS on the 12-layer features --------------------------------------------------------------------
def test_cris_on_vit_b(bundle, images, pixel_values, hidden_states):
    torch.manual_seed(0)
    model = CRIS(bundle).eval()
    assert model.config.vision_layers == (6, 9, 12)  # spread over the 12 layers, as (2, 3, 4) over the tiny CLIP's 4
    assert CrisConfig.for_clip(bundle, dim=64).vision_layers == (6, 9, 12)
    assert spread_layers(4) == CrisConfig().vision_layers  # the tiny CLIP keeps its default, bit for bit
    texts = ["the red circle", "the leftmost shape"]
    with torch.no_grad():
        scales = model.pyramid(tuple(hidden_states[i] for i in model.config.vision_layers))
        assert [tuple(s.shape[-2:]) for s in scales] == [(2 * GRID, 2 * GRID), (GRID, GRID), (GRID // 2, GRID // 2)]
        out = model(pixel_values, **bundle.tokenize(texts))  # the batch of two
    assert out.logits.shape == (2, 1, 4 * GRID, 4 * GRID) and finite(out.logits)  # stride 4 = P/4 of the 224 input
    assert out.visual.shape == (2, model.config.dim, GRID, GRID) and finite(out.visual)
    assert len(out.attention) == model.config.decoder_layers and out.attention[0].shape[:2] == (2, GRID * GRID)
    masks = model.predict([images["wide"][0], images["big"]], "the red circle")
    assert [tuple(m.shape) for m in masks] == [(64, 96), (200, 300)]
    assert all(m.dtype == torch.bool for m in masks)
