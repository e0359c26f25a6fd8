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

from collections.abc import Iterable, Sequence

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

BOS, EOS, PAD = "<|startoftext|>", "<|endoftext|>", "<|pad|>"
SPECIAL_TOKENS = (BOS, EOS, PAD)
CONTEXT_LENGTH = 32
VOCAB_SIZE = 512


def caption_corpus(n_scenes: int = 12_000, seed: int = 0) -> list[str]:
    """Training text for the tokenizer: training-split captions and referring expressions, plus prompts.

    Held-out class names are never in it (training captions never name them; referring
    expressions that name them are left out).
    """
    from vlseg.data import SEEN_CLASSES, generate_batch
    from vlseg.zeroshot import prompts_for

    corpus: list[str] = []
    block_size = 1000
    for block in range(n_scenes // block_size):
        batch = generate_batch(block_size, seed=seed, split="train", block=block)
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


def check_texts(texts: str | Sequence[str]) -> list[str]:
    """Validate a batch of texts: a non-empty list of non-empty strings. Returns it as a list."""
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        raise ValueError("empty list of texts: give at least one prompt or caption")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"text {i} is a {type(text).__name__}, not a string")
        if not text.strip():
            raise ValueError(f"text {i} is empty")
    return texts
