"""The ShapesWorld BPE tokenizer and text validation."""

import json

import pytest

from vlseg.data import HELDOUT_CLASSES, generate_batch
from vlseg.text import shipped_tokenizer
from vlseg.text import BOS, EOS, PAD, build_shapes_tokenizer, caption_corpus, check_texts


@pytest.fixture(scope="module")
def tokenizer():
    return shipped_tokenizer()


def test_special_token_ids(tokenizer):
    assert tokenizer.convert_tokens_to_ids([BOS, EOS, PAD]) == [0, 1, 2]
    assert tokenizer.eos_token_id != 2, "eos id 2 makes transformers' CLIP pool the highest token id"


def test_round_trip(tokenizer):
    captions = generate_batch(64, seed=11, split="val").captions + ["The Lowest RED circle, please!"]
    encoded = tokenizer(captions)["input_ids"]
    for text, ids in zip(captions, encoded):
        assert ids[0] == 0 and ids[-1] == 1
        assert tokenizer.decode(ids, skip_special_tokens=True).strip() == text.lower()


def test_padding_and_truncation(tokenizer):
    out = tokenizer(["a red circle.", "a photo of a small green ring and a large blue star."], padding=True)
    assert len(out["input_ids"][0]) == len(out["input_ids"][1])
    assert out["input_ids"][0][-1] == 2 and out["attention_mask"][0][-1] == 0
    long = tokenizer(["red " * 100], truncation=True, max_length=32)["input_ids"][0]
    assert len(long) == 32 and long[-1] == 1, "truncation keeps the end-of-text token"


def test_whole_words_for_the_vocabulary(tokenizer):
    for word in ["red", "circle", "diamond", "leftmost", "second"]:
        assert len(tokenizer(word, add_special_tokens=False)["input_ids"]) == 1


def test_bpe_training_is_deterministic():
    corpus = caption_corpus(n_scenes=2000)
    a = json.loads(build_shapes_tokenizer(corpus).backend_tokenizer.to_str())["model"]
    b = json.loads(build_shapes_tokenizer(corpus).backend_tokenizer.to_str())["model"]
    assert a["vocab"] == b["vocab"] and a["merges"] == b["merges"]


def test_corpus_never_names_heldout_classes():
    corpus = caption_corpus(n_scenes=2000)
    assert not [t for t in corpus if any(name in t for name in HELDOUT_CLASSES)]


def test_check_texts():
    assert check_texts("a red circle") == ["a red circle"]
    with pytest.raises(ValueError, match="texts is empty"):
        check_texts([])
    with pytest.raises(ValueError, match=r"texts\[1\] is an empty string"):
        check_texts(["a", "  "])


def test_each_world_ships_the_tokenizer_its_training_text_makes_and_no_heldout_phrasing_in_it():
    from vlseg.data.referring import HELDOUT_ONLY_WORDS
    from vlseg.text import tokenizer_digest, tokenizer_file
    from vlseg.checkpoint import WEIGHTS_DIR

    assert tokenizer_file("v1") == "shapes-bpe.json" and tokenizer_file("v2") == "shapes-v2-bpe.json"
    assert (WEIGHTS_DIR / tokenizer_file("v2")).is_file()
    v2 = shipped_tokenizer("v2")
    assert tokenizer_digest(v2) == tokenizer_digest(build_shapes_tokenizer(caption_corpus(world="v2")))
    assert tokenizer_digest(v2) != tokenizer_digest(shipped_tokenizer("v1"))
    assert len(v2("a small square painted yellow.", add_special_tokens=False)["input_ids"]) == 6  # v2's words whole
    vocabulary = v2.get_vocab()
    assert not [word for word in HELDOUT_ONLY_WORDS if f"Ġ{word}" in vocabulary]  # never seen in training text
    with pytest.raises(ValueError, match="world must be one of"):
        shipped_tokenizer("v3")
