"""The special tokens of the dialogue format, and a byte-level BPE trained offline on dialogues."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
# The user speaks as SPEAKER_USER, the model answers as SPEAKER_BOT; earlier turns alternate backwards.
SPEAKER_USER, SPEAKER_BOT = "<speaker1>", "<speaker2>"
SPECIAL_TOKENS = {
    "bos_token": BOS,
    "eos_token": EOS,
    "pad_token": PAD,
    "unk_token": UNK,
    "extra_special_tokens": [SPEAKER_USER, SPEAKER_BOT],
}


def add_dialogue_special_tokens(tokenizer: PreTrainedTokenizerBase) -> int:
    """Give `tokenizer` bos/eos/pad and the two speaker tokens it lacks; returns how many were added.

    ruGPT-3 already has `<s>`, `</s>` and `<pad>`; a bare GPT-2 tokenizer has only `<|endoftext|>`, and pad
    must differ from eos, or the padding mask hides eos and the model never learns to stop.
    """
    wanted = {key: value for key, value in SPECIAL_TOKENS.items() if key != "extra_special_tokens"}
    missing = {key: value for key, value in wanted.items() if getattr(tokenizer, key, None) is None}
    if tokenizer.pad_token is not None and tokenizer.pad_token == tokenizer.eos_token:
        missing["pad_token"] = PAD
    speakers = [token for token in (SPEAKER_USER, SPEAKER_BOT) if token not in tokenizer.get_vocab()]
    if speakers:
        missing["extra_special_tokens"] = speakers
    if not missing:
        return 0
    added = tokenizer.add_special_tokens(missing, replace_extra_special_tokens=False)
    logger.info("Added special tokens %s (%d new ids)", missing, added)
    return added


def train_tokenizer(
    texts: Iterable[str],
    output_dir: str | Path | None = None,
    vocab_size: int = 8000,
    min_frequency: int = 2,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE (GPT-2 style) on `texts` and wrap it with the dialogue special tokens.

    Saved to `output_dir` when given, so that `AutoTokenizer.from_pretrained(output_dir)` loads it.
    """
    special = [PAD, BOS, EOS, UNK, SPEAKER_USER, SPEAKER_BOT]
    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **SPECIAL_TOKENS)
    if output_dir is not None:
        tokenizer.save_pretrained(output_dir)
    return tokenizer
