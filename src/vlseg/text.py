"""The offline tokenizer: a byte-level BPE trained on the ShapesWorld caption corpus.

It is wrapped as a ``transformers.PreTrainedTokenizerFast`` with CLIP's special tokens, so the tiny
model and a hub CLIP (``CLIPTokenizerFast``) go through the same code path: ``tokenizer(texts,
padding=True, return_tensors="pt")`` gives ``input_ids`` that start with ``<|startoftext|>`` and end
with ``<|endoftext|>``, and CLIP pools the text at the first ``<|endoftext|>``.

Special-token ids: ``<|startoftext|>`` = 0, ``<|endoftext|>`` = 1, ``<|pad|>`` = 2. The end-of-text id
is deliberately not 2: ``transformers``' CLIP text model treats ``eos_token_id == 2`` as a legacy
config and pools at the *highest* token id instead, which would silently pool the wrong token.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from vlseg.checkpoint import WEIGHTS_DIR
from vlseg.data import SEEN_CLASSES, generate_batch
from vlseg.data.captions import with_article
from vlseg.data.vocabulary import check_world

BOS, EOS, PAD = "<|startoftext|>", "<|endoftext|>", "<|pad|>"
SPECIAL_TOKENS = (BOS, EOS, PAD)
CONTEXT_LENGTH = 32
VOCAB_SIZE = 512
TOKENIZER_FILE = "shapes-bpe.json"  # shipped next to the weights

# "{}" receives the class name with its article: "a red circle", "an orange star".
PROMPT_TEMPLATES: tuple[str, ...] = (
    "a photo of {}.",
    "{}.",
    "a picture of {}.",
    "there is {} in the image.",
    "a drawing of {}.",
)


def prompts_for(class_names: Sequence[str], templates: Sequence[str] = PROMPT_TEMPLATES) -> list[str]:
    """Every template filled with every class name (class-major order: K × P prompts)."""
    class_names = check_texts(class_names, "class_names", allow_single=False)
    check_prompts(class_names, templates)
    return [template.format(with_article(name)) for name in class_names for template in templates]


def check_prompts(class_names: Sequence[str], templates: Sequence[str]) -> None:
    if len(class_names) == 0:
        raise ValueError("class_names is empty: zero-shot classification needs at least one class")
    if isinstance(templates, str):
        raise TypeError(f"templates must be a list of strings; got the single string {templates!r}")
    if len(templates) == 0:
        raise ValueError("templates is empty: give at least one, e.g. 'a photo of {}.'")
    for template in templates:
        if isinstance(template, str) and "{}" in template:
            try:
                template.format("x")
            except (IndexError, KeyError, ValueError) as err:
                raise ValueError(f"prompt template {template!r} must have exactly one '{{}}' and no other "
                                 f"placeholder ({type(err).__name__}: {err})") from None
        if not isinstance(template, str) or "{}" not in template:
            raise ValueError(f"prompt template {template!r} has no '{{}}' for the class name")


def caption_corpus(n_scenes: int = 12_000, seed: int = 0, world: str = "v1") -> list[str]:
    """Training text for the tokenizer: training-split captions and referring expressions, plus prompts.

    Held-out class names are never in it (training captions never name them; referring
    expressions that name them are left out), nor are world "v2"'s held-out phrasings (never in split "train").
    """
    corpus: list[str] = []
    block_size = 1000
    for block in range(n_scenes // block_size):
        batch = generate_batch(block_size, seed=seed, split="train", block=block, world=world)
        corpus.extend(batch.captions)
        for i in range(0, block_size, 10):
            corpus.extend(e.text for e in batch[i].referring_expressions() if not e.names_heldout)
    corpus.extend(prompts_for(SEEN_CLASSES))
    return corpus


def train_bpe(corpus: Iterable[str], vocab_size: int = VOCAB_SIZE) -> Tokenizer:
    """Train a lower-casing byte-level BPE (any input string can be encoded: no unknown token)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    bos_id, eos_id = tokenizer.token_to_id(BOS), tokenizer.token_to_id(EOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, bos_id), (EOS, eos_id)]
    )
    return tokenizer


def wrap_tokenizer(tokenizer: Tokenizer, context_length: int = CONTEXT_LENGTH) -> PreTrainedTokenizerFast:
    """A ``PreTrainedTokenizerFast`` with CLIP's special tokens around a ``tokenizers`` object."""
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=context_length,
        padding_side="right",
        truncation_side="right",
    )
    ids = [wrapped.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS]
    if ids != [0, 1, 2]:
        raise RuntimeError(f"special tokens must have ids 0, 1, 2 (start, end, pad); got {ids}")
    return wrapped


def build_shapes_tokenizer(corpus: Sequence[str] | None = None) -> PreTrainedTokenizerFast:
    """Train the ShapesWorld tokenizer from scratch (deterministic: same corpus, same vocabulary)."""
    return wrap_tokenizer(train_bpe(corpus if corpus is not None else caption_corpus()))


def load_shapes_tokenizer(path: str) -> PreTrainedTokenizerFast:
    """Load a tokenizer saved as a ``tokenizers`` JSON file (as shipped next to the weights)."""
    return wrap_tokenizer(Tokenizer.from_file(str(path)))


def tokenizer_file(world: str = "v1") -> str:
    """The file name of a world's shipped tokenizer: ``shapes-bpe.json`` for v1, ``shapes-<world>-bpe.json`` else."""
    return TOKENIZER_FILE if world == "v1" else f"shapes-{world}-bpe.json"


def shipped_tokenizer(world: str = "v1") -> PreTrainedTokenizerFast:
    """The ShapesWorld tokenizer of ``world`` shipped with the weights (trained anew, deterministically, from that
    world's training text if the file is missing)."""
    path = WEIGHTS_DIR / tokenizer_file(check_world(world))
    if path.is_file():
        return load_shapes_tokenizer(str(path))
    warnings.warn(f"{path} not found: training the ShapesWorld tokenizer (about 10 s)", stacklevel=2)
    return build_shapes_tokenizer(caption_corpus(world=world))


def tokenizer_digest(tokenizer: PreTrainedTokenizerFast) -> str:
    """A fingerprint of the vocabulary (ids and merges), stored with the weights."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    payload = json.dumps({"vocab": state["model"]["vocab"], "merges": state["model"]["merges"]}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def check_texts(texts: Any, name: str = "texts", allow_single: bool = True) -> list[str]:
    """A non-empty list of non-empty strings. A single string is one text when ``allow_single``; otherwise (class
    names) it is refused, since iterating it would give one-letter names."""
    if isinstance(texts, str):
        if not allow_single:
            raise TypeError(f"{name} must be a list of strings; got the single string {texts!r} "
                            f"(did you mean [{texts!r}]?)")
        texts = [texts]
    if isinstance(texts, (bytes, bytearray, set, frozenset, dict)) or not hasattr(texts, "__iter__"):
        raise TypeError(f"{name} must be a string or a list of strings (in order: outputs index into it); "
                        f"got a {type(texts).__name__}")
    texts = list(texts)
    if not texts:
        raise ValueError(f"{name} is empty: give at least one text")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{index}] must be a string; got a {type(text).__name__} ({text!r})")
        if not text.strip():
            raise ValueError(f"{name}[{index}] is an empty string")
    return texts


def pair_texts(texts: Any, n_images: int, name: str = "texts") -> list[str]:
    """One text per image: a single string (or a list of one) is used for every image."""
    texts = check_texts(texts, name)
    if len(texts) == 1:
        return texts * n_images
    if len(texts) != n_images:
        raise ValueError(f"{name} has {len(texts)} texts for {n_images} images; pass one per image, or a single one")
    return texts
