"""The chat template renders a conversation into exactly the ids `build_segments` makes, so
`tokenizer.apply_chat_template` and the HF chat tooling prompt our checkpoints as training formatted them."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer, GPT2TokenizerFast

from rugpt_chitchat.data.cleaning import clean_utterance
from rugpt_chitchat.format import SpecialIds, build_segments, encode_utterances
from rugpt_chitchat.tokenizer import add_dialogue_special_tokens, chat_template

BIG = 10_000  # no token truncation: the template leaves max_length to the caller


def conversations(corpus_slice, count: int = 120) -> list[list[str]]:
    """Real dialogues of 2 to 8 cleaned utterances, from both corpora."""
    picked = [d for d in corpus_slice[:1000:8] + corpus_slice[1500:2500:8] if 2 <= len(d) <= 8][:count]
    return [[clean_utterance(u) for u in dialogue] for dialogue in picked]


def as_messages(utterances: list[str], last_role: str) -> list[dict]:
    """Roles alternating backwards from the last message."""
    n = len(utterances)
    other = "assistant" if last_role == "user" else "user"
    return [{"role": last_role if (n - 1 - i) % 2 == 0 else other, "content": text} for i, text in enumerate(utterances)]


def rendered(tokenizer, messages, **kwargs) -> list[int]:
    return tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)["input_ids"]


@pytest.mark.parametrize("max_history", [None, 0, 1, 3])
def test_generation_prompt_is_the_build_segments_prompt(tokenizer, corpus_slice, max_history):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = chat_template(max_history)
    special = SpecialIds.from_tokenizer(tokenizer)
    for dialogue in conversations(corpus_slice):
        *history, user = encode_utterances(dialogue, tokenizer)
        expected = build_segments(history, user, [], special, BIG, max_history, with_eos=False)["input_ids"]
        assert rendered(tokenizer, as_messages(dialogue, "user"), add_generation_prompt=True) == expected, dialogue


@pytest.mark.parametrize("max_history", [None, 2])
def test_a_conversation_ending_with_the_reply_is_the_training_sample(tokenizer, corpus_slice, max_history):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = chat_template(max_history)
    special = SpecialIds.from_tokenizer(tokenizer)
    for dialogue in conversations(corpus_slice):
        ids = encode_utterances(dialogue, tokenizer)
        history, user, reply = ids[:-2], ids[-2], ids[-1]
        expected = build_segments(history, user, reply, special, BIG, max_history)["input_ids"]
        assert rendered(tokenizer, as_messages(dialogue, "assistant")) == expected, dialogue


def test_the_template_variable_overrides_the_saved_history(tokenizer):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = chat_template(3)
    messages = as_messages(["раз", "два", "три", "четыре", "пять", "шесть"], "user")
    special = SpecialIds.from_tokenizer(tokenizer)
    *history, user = encode_utterances([m["content"] for m in messages], tokenizer)
    one = build_segments(history, user, [], special, BIG, 1, with_eos=False)["input_ids"]
    assert rendered(tokenizer, messages, add_generation_prompt=True, max_history=1) == one


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        ([{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}], "user and assistant only"),
        ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "must alternate"),
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "ends with the user"),
    ],
)
def test_conversations_the_format_cannot_hold_are_refused(tokenizer, messages, problem):
    with pytest.raises(Exception, match=problem):
        rendered(tokenizer, messages, add_generation_prompt=True)


def test_tokenizers_we_save_carry_the_template(tokenizer, tmp_path, tokenizer_dir):
    assert tokenizer.chat_template == chat_template()
    bare = GPT2TokenizerFast.from_pretrained(tokenizer_dir)
    bare.chat_template = None
    add_dialogue_special_tokens(bare)
    bare.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path).chat_template == chat_template()
