"""DialogueCollator: exact ids, speaker type ids, mask and labels; truncation order; length-grouped batches."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from tokenizers import Tokenizer, models
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast
from transformers.trainer_pt_utils import LengthGroupedSampler

from rugpt_chitchat.training.collator import LENGTH_COLUMN, DialogueCollator, with_length_column
from rugpt_chitchat.format import DialogueFormat, SpecialIds
from rugpt_chitchat.data.samples import PipelineConfig, prepare_dataset
from rugpt_chitchat.errors import DataError
from rugpt_chitchat.tokenizer import add_dialogue_special_tokens

BOS, EOS, PAD, USER, BOT = 1, 2, 0, 4, 5
SPECIAL = SpecialIds(bos=BOS, eos=EOS, pad=PAD, user=USER, bot=BOT)
X = -100
LONG = {"history": [[10, 11], [12]], "input": [13, 14], "reply": [15, 16, 17]}
SHORT = {"history": [], "input": [20], "reply": [21]}


def collate(samples, **format_options) -> dict[str, list[list[int]]]:
    pad_to = format_options.pop("pad_to_multiple_of", None)
    collator = DialogueCollator(SPECIAL, DialogueFormat(**format_options), pad_to_multiple_of=pad_to)
    return {key: value.tolist() for key, value in collator(samples).items()}


def test_batch_holds_speaker_turns_types_and_reply_labels_padded_right():
    batch = collate([LONG, SHORT])
    assert batch["input_ids"] == [
        [BOS, USER, 10, 11, BOT, 12, USER, 13, 14, BOT, 15, 16, 17, EOS],
        [BOS, USER, 20, BOT, 21, EOS] + [PAD] * 8,
    ]
    assert batch["token_type_ids"] == [
        [USER, USER, USER, USER, BOT, BOT, USER, USER, USER, BOT, BOT, BOT, BOT, BOT],
        [USER, USER, USER, BOT, BOT, BOT] + [PAD] * 8,
    ]
    assert batch["attention_mask"] == [[1] * 14, [1] * 6 + [0] * 8]
    assert batch["labels"] == [[X] * 10 + [15, 16, 17, EOS], [X] * 4 + [21, EOS] + [X] * 8]


def test_whole_sequence_loss_option_labels_everything_after_bos():
    batch = collate([SHORT], loss_on_reply_only=False)
    assert batch["labels"] == [[X, USER, 20, BOT, 21, EOS]]


def test_context_loss_weight_labels_every_token_and_weights_the_context():
    batch = collate([LONG, SHORT], context_loss_weight=0.5)
    assert batch["labels"] == [[X, USER, 10, 11, BOT, 12, USER, 13, 14, BOT, 15, 16, 17, EOS],
                               [X, USER, 20, BOT, 21, EOS] + [X] * 8]
    assert batch["loss_weights"] == [[0.0] + [0.5] * 9 + [1.0] * 4, [0.0] + [0.5] * 3 + [1.0] * 2 + [0.0] * 8]
    assert collate([LONG, SHORT], context_loss_weight=0.0) == collate([LONG, SHORT]), "0: the reply alone, as before"
    assert collate([LONG], context_loss_weight=1.0) == collate([LONG], loss_on_reply_only=False), "1: every token"
    scoring = DialogueCollator(SPECIAL, DialogueFormat(context_loss_weight=0.5)).scoring_replies()
    assert {key: value.tolist() for key, value in scoring([LONG]).items()} == collate([LONG])
    for wrong in ({"context_loss_weight": 1.5}, {"context_loss_weight": 0.5, "loss_on_reply_only": False}):
        with pytest.raises(DataError, match="context_loss_weight"):
            collate([SHORT], **wrong)


def test_baseline_format_omits_type_ids_and_attention_mask():
    batch = collate([LONG, SHORT], use_token_type_ids=False, use_attention_mask=False)
    assert set(batch) == {"input_ids", "labels"}


def test_right_padded_batches_train_the_same_without_the_attention_mask(real_samples, tiny_model_dir):
    """Causal attention never lets a real token see a right pad, so loss and gradients match without the mask:
    `use_attention_mask: false` lets SDPA take its mask-free causal kernels at no cost to training."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    collator = DialogueCollator.from_tokenizer(AutoTokenizer.from_pretrained(tiny_model_dir), DialogueFormat(max_length=128))
    batch = collator([real_samples[i] for i in range(16)])
    assert (batch["attention_mask"] == 0).any(), "the batch needs padding for this test to mean anything"
    losses, gradients = [], []
    for inputs in (batch, {key: value for key, value in batch.items() if key != "attention_mask"}):
        model.zero_grad()
        loss = model(**inputs).loss
        loss.backward()
        losses.append(loss.detach())
        gradients.append(torch.cat([weights.grad.flatten() for weights in model.parameters()]))
    torch.testing.assert_close(losses[0], losses[1])
    torch.testing.assert_close(gradients[0], gradients[1])


def test_pad_to_multiple_of_rounds_the_batch_width_up():
    batch = collate([LONG, SHORT], pad_to_multiple_of=8)
    assert [len(row) for row in batch["input_ids"]] == [16, 16]
    assert batch["labels"][0][14:] == [X, X]


@pytest.mark.parametrize(
    ("max_length", "expected"),
    [
        (12, [BOS, BOT, 12, USER, 13, 14, BOT, 15, 16, 17, EOS]),  # oldest utterance dropped first
        (9, [BOS, USER, 13, 14, BOT, 15, 16, 17, EOS]),  # then the rest of the history
        (8, [BOS, USER, 14, BOT, 15, 16, 17, EOS]),  # then the input loses tokens from its left
        (7, [BOS, USER, BOT, 15, 16, 17, EOS]),  # the whole input gone, the reply whole
        (6, [BOS, USER, BOT, 15, 16, 17]),  # no room for eos: the reply did not end there, so no eos
        (5, [BOS, USER, BOT, 15, 16]),  # the reply is only cut at its tail, without eos
    ],
)
def test_truncation_drops_oldest_history_then_input_left_then_reply_tail(max_length, expected):
    batch = collate([LONG], max_length=max_length)
    assert batch["input_ids"] == [expected]
    reply_start = expected.index(BOT, expected.index(USER)) + 1
    assert batch["labels"][0] == [X] * reply_start + expected[reply_start:]


def test_max_history_keeps_only_the_last_utterances():
    batch = collate([LONG], max_history=1)
    assert batch["input_ids"][0][:3] == [BOS, BOT, 12]


def _word_level_tokenizer() -> PreTrainedTokenizerFast:
    backend = Tokenizer(models.WordLevel({"<unk>": 0, "привет": 1}, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")


def test_tokenizer_without_special_tokens_is_refused_until_they_are_added():
    tokenizer = _word_level_tokenizer()
    with pytest.raises(ValueError, match="add_dialogue_special_tokens"):
        DialogueCollator.from_tokenizer(tokenizer, DialogueFormat())
    assert add_dialogue_special_tokens(tokenizer) == 5
    collator = DialogueCollator.from_tokenizer(tokenizer, DialogueFormat())
    assert collator.special.pad != collator.special.eos


@pytest.fixture(scope="module")
def real_samples(corpus_slice, tokenizer) -> Dataset:
    dialogues = Dataset.from_dict({"dialogue": corpus_slice})
    samples, _ = prepare_dataset(dialogues, tokenizer, PipelineConfig(validation_size=0))
    return samples["train"]


def test_length_column_is_the_collated_length(real_samples, tokenizer):
    collator = DialogueCollator.from_tokenizer(tokenizer, DialogueFormat(max_length=64))
    measured = with_length_column(real_samples.select(range(200)), collator)
    for sample in measured.select(range(0, 200, 7)):
        assert sample[LENGTH_COLUMN] == len(collator([sample])["input_ids"][0])
    assert max(measured[LENGTH_COLUMN]) <= 64


def test_length_grouped_batches_are_at_least_95_percent_real_tokens(real_samples, tokenizer):
    collator = DialogueCollator.from_tokenizer(tokenizer, DialogueFormat(max_length=128))
    dataset = with_length_column(real_samples, collator)
    batch_size = 16
    sampler = LengthGroupedSampler(batch_size, lengths=dataset[LENGTH_COLUMN], generator=torch.Generator().manual_seed(0))
    order = list(sampler)
    real = padded = 0
    for start in range(0, len(order), batch_size):
        batch = collator(dataset.select(order[start : start + batch_size]))
        real += int(batch["attention_mask"].sum())
        padded += batch["attention_mask"].numel()
    assert real / padded >= 0.95, f"only {real / padded:.1%} of batch tokens are real"
