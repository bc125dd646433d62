"""The one format function and the settings it shares: speaker turns, reply labels, truncation order, the
generation prompt, encoding, decoding defaults and where a checkpoint keeps its format."""

from __future__ import annotations

import json
import shutil

import pytest
from transformers import AutoConfig, GenerationConfig

from rugpt_chitchat.errors import DataError
from rugpt_chitchat.format import (
    IGNORE_INDEX,
    DialogueFormat,
    SpecialIds,
    build_segments,
    encode_utterances,
    last_utterances,
    min_length_for_reply,
    with_dialogue_tokens,
)

BOS, EOS, PAD, USER, BOT = 1, 2, 0, 4, 5
SPECIAL = SpecialIds(bos=BOS, eos=EOS, pad=PAD, user=USER, bot=BOT)
X = IGNORE_INDEX


def test_speakers_alternate_backwards_from_the_bots_reply():
    one = build_segments([[10]], [11], [12], SPECIAL, max_length=64)
    assert one["input_ids"] == [BOS, BOT, 10, USER, 11, BOT, 12, EOS]
    two = build_segments([[10], [11]], [12], [13], SPECIAL, max_length=64)
    assert two["input_ids"] == [BOS, USER, 10, BOT, 11, USER, 12, BOT, 13, EOS]
    assert two["token_type_ids"] == [USER, USER, USER, BOT, BOT, USER, USER, BOT, BOT, BOT]


def test_labels_cover_the_reply_and_its_eos_or_everything_after_bos():
    reply_only = build_segments([[10]], [11, 12], [13, 14], SPECIAL, max_length=64)
    assert reply_only["labels"] == [X] * 7 + [13, 14, EOS]
    everything = build_segments([[10]], [11, 12], [13, 14], SPECIAL, max_length=64, loss_on_reply_only=False)
    assert everything["labels"] == [X] + everything["input_ids"][1:]


def test_a_generation_prompt_ends_with_the_bots_speaker_token():
    prompt = build_segments([[10], [11]], [12], [], SPECIAL, max_length=64, with_eos=False)
    assert prompt["input_ids"] == [BOS, USER, 10, BOT, 11, USER, 12, BOT]
    assert prompt["token_type_ids"][-1] == BOT and set(prompt["labels"]) == {X}


@pytest.mark.parametrize("max_length", range(min_length_for_reply(), 40))
def test_truncated_samples_fit_and_keep_the_newest_turns(max_length):
    history = [[100 + i] * (i + 1) for i in range(6)]  # oldest first, each longer than the one before
    sample = build_segments(history, [50, 51, 52], [60, 61, 62, 63], SPECIAL, max_length=max_length)
    ids = sample["input_ids"]
    assert len(ids) == len(sample["token_type_ids"]) == len(sample["labels"]) <= max_length
    assert 60 in ids, "a reply token always fits from min_length_for_reply() on"
    kept = [token for token in ids if token >= 100]
    history_tokens = [token for utterance in history for token in utterance]
    assert kept == history_tokens[len(history_tokens) - len(kept) :], "history is cut from its oldest end"


def test_max_history_reads_only_the_last_utterances():
    assert last_utterances([[1], [2], [3]], 2) == [[2], [3]] and last_utterances([[1]], 0) == []
    sample = build_segments([[10], [11], [12]], [13], [14], SPECIAL, max_length=64, max_history=1)
    assert sample["input_ids"][:3] == [BOS, BOT, 12]


def test_decoding_stops_at_eos_and_either_speaker_and_never_emits_pad_or_bos():
    base = GenerationConfig(do_sample=True, top_p=0.9, max_new_tokens=None)
    config = with_dialogue_tokens(base, SPECIAL)
    assert config.eos_token_id == [EOS, USER, BOT] and config.pad_token_id == PAD
    assert {PAD, BOS} <= set(config.suppress_tokens) and config.min_new_tokens == 1 and config.max_new_tokens > 0
    assert base.eos_token_id is None, "the caller's config is left as it was"


def test_unknown_format_settings_name_the_source():
    with pytest.raises(DataError, match="config.json.*unknown dialogue format settings \\['max_turns'\\]"):
        DialogueFormat.from_dict({"max_turns": 3}, "run/config.json")


def test_a_directory_without_a_format_gets_the_defaults(tmp_path):
    assert DialogueFormat.load(tmp_path) == DialogueFormat()


def test_fast_encoding_equals_the_tokenizer_call(corpus_slice, tokenizer):
    texts = [line for dialogue in corpus_slice[:300] for line in dialogue]
    assert encode_utterances(texts, tokenizer) == tokenizer(texts, add_special_tokens=False)["input_ids"]


def test_the_format_is_read_from_config_json_and_old_checkpoints_still_load(tiny_model_dir, tmp_path):
    old = DialogueFormat.load(tiny_model_dir, AutoConfig.from_pretrained(tiny_model_dir))  # dialogue_format.json only
    assert old == DialogueFormat(max_history=3, max_length=128)
    checkpoint = tmp_path / "new"
    shutil.copytree(tiny_model_dir, checkpoint)
    (checkpoint / "dialogue_format.json").unlink()
    config = AutoConfig.from_pretrained(checkpoint)
    DialogueFormat(max_history=1, max_length=64).store_in(config)
    config.save_pretrained(checkpoint)
    assert json.loads((checkpoint / "config.json").read_text())["dialogue_format"]["max_history"] == 1
    assert DialogueFormat.load(checkpoint, AutoConfig.from_pretrained(checkpoint)) == DialogueFormat(1, 64)
