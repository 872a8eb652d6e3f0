"""A tiny T5 that a test builds itself (nothing is downloaded): a word-level tokenizer over a small vocabulary and a
network of a few thousand weights, saved as save_pretrained writes a checkpoint; with the word-for-word "language"
it can learn to translate, and phrases of it.

Used by tests/deep/test_seq2seq.py (the estimator) and tests/pipeline/test_text_generation.py (the project file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORDS = ["red", "green", "blue", "cat", "dog", "bird", "big", "small"]
TRANSLATION = dict(zip(WORDS, WORDS[3:] + WORDS[:3], strict=True))  # a word-for-word "language"


def save_tiny_t5(folder: Path) -> Path:
    """A T5 with 32-wide layers and a 12-token vocabulary, saved in ``folder``."""
    import tokenizers
    import torch
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    core = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    core.post_processor = tokenizers.processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>",
                                                     unk_token="<unk>")
    tokenizer.save_pretrained(folder)
    config = transformers.T5Config(vocab_size=len(vocab), d_model=32, d_ff=64, d_kv=16, num_layers=1,
                                   num_decoder_layers=1, num_heads=2, pad_token_id=0, eos_token_id=1,
                                   decoder_start_token_id=0, dropout_rate=0.0)
    torch.manual_seed(0)
    transformers.T5ForConditionalGeneration(config).save_pretrained(folder)
    return folder


def phrases(rows: int, seed: int, words: int = 1) -> list[str]:
    """``rows`` phrases of ``words`` words of the vocabulary."""
    drawn = np.random.default_rng(seed).choice(WORDS, size=(rows, words))
    return [" ".join(row) for row in drawn]


def translated(texts: list[str]) -> list[str]:
    return [" ".join(TRANSLATION[w] for w in text.split()) for text in texts]
