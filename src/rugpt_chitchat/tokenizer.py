"""The special tokens of the dialogue format, its chat template, and a byte-level BPE trained offline on dialogues.

`tokenizers` and `transformers` are imported inside the functions: the format and the CLI read the token
names without loading them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import not_loadable

if TYPE_CHECKING:
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


# Renders `[{"role": "user"|"assistant", "content": ...}]` as `build_segments` lays out a sample: bos, then each
# message after its speaker token (user <speaker1>, assistant <speaker2>), roles alternating; with
# add_generation_prompt the bot's speaker token follows, and a conversation ending with the assistant ends with
# eos, like a training sample. Plain Jinja (no transformers-only tags), so vLLM and TGI render it too. `max_history`
# (a template variable, default: the checkpoint's format) keeps that many messages before the last user one,
# as build_segments does; truncation to max_length tokens and the utterance cleaning are left to the caller.
CHAT_TEMPLATE = """{#- rugpt-chitchat dialogue format -#}
{%- if max_history is not defined -%}{%- set max_history = MAX_HISTORY -%}{%- endif -%}
{%- if not messages -%}{{- raise_exception('a conversation needs at least one message') -}}{%- endif -%}
{%- set ends_with_reply = messages[-1]['role'] == 'assistant' -%}
{%- if ends_with_reply and add_generation_prompt -%}
{{- raise_exception('add_generation_prompt needs a conversation that ends with the user') -}}
{%- endif -%}
{%- if max_history is not none -%}
{%- set messages = messages[-(max_history + (2 if ends_with_reply else 1)):] -%}
{%- endif -%}
{{- bos_token -}}
{%- for message in messages -%}
{%- if message['role'] not in ['user', 'assistant'] -%}
{{- raise_exception('roles are user and assistant only, got ' ~ message['role']) -}}
{%- endif -%}
{%- if not loop.first and message['role'] == messages[loop.index0 - 1]['role'] -%}
{{- raise_exception('user and assistant messages must alternate') -}}
{%- endif -%}
{{- ('SPEAKER_USER' if message['role'] == 'user' else 'SPEAKER_BOT') ~ message['content'] -}}
{%- endfor -%}
{%- if ends_with_reply -%}{{- eos_token -}}{%- endif -%}
{%- if add_generation_prompt -%}{{- 'SPEAKER_BOT' -}}{%- endif -%}
"""


def chat_template(max_history: int | None = None) -> str:
    """The dialogue format as a Jinja chat template; `max_history=None` keeps every message."""
    return (
        CHAT_TEMPLATE.replace("MAX_HISTORY", "none" if max_history is None else str(int(max_history)))
        .replace("SPEAKER_USER", SPEAKER_USER)
        .replace("SPEAKER_BOT", SPEAKER_BOT)
    )


def load_pretrained_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """`AutoTokenizer.from_pretrained(name)`, a missing or unusable name raised as a DataError saying what to do."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise not_loadable(name, "tokenizer", error) from error


def add_dialogue_special_tokens(tokenizer: PreTrainedTokenizerBase) -> int:
    """Give `tokenizer` bos/eos/pad, the two speaker tokens and the chat template it lacks; returns how many
    tokens were added.

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
    if tokenizer.chat_template is None:
        tokenizer.chat_template = chat_template()
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
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
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
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, chat_template=chat_template(), **SPECIAL_TOKENS)
    if output_dir is not None:
        tokenizer.save_pretrained(output_dir)
    return tokenizer
