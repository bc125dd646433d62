"""Packed rows: exact layout, the same loss and gradients as padded batches, no attention across samples;
token-budget batches."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM

from rugpt_chitchat.training.collator import LENGTH_COLUMN, DialogueCollator, with_length_column
from rugpt_chitchat.format import DialogueFormat, SpecialIds
from rugpt_chitchat.training.packing import PackedCollator, best_fit_rows, pack_batch, pack_samples, token_budget_batches
from rugpt_chitchat.data.samples import PipelineConfig, prepare_dataset

BOS, EOS, PAD, USER, BOT = 1, 2, 0, 4, 5
X = -100
LONG = {"history": [[10, 11], [12]], "input": [13, 14], "reply": [15, 16, 17]}
SHORT = {"history": [], "input": [20], "reply": [21]}


def _columns(samples: list[dict]) -> dict[str, list]:
    return {key: [sample[key] for sample in samples] for key in samples[0]}


def test_a_row_holds_whole_samples_with_their_own_positions_types_and_labels():
    collator = DialogueCollator(SpecialIds(bos=BOS, eos=EOS, pad=PAD, user=USER, bot=BOT), DialogueFormat())
    packed = pack_batch(_columns([SHORT, LONG]), collator, row_length=24)
    assert packed["input_ids"] == [
        [BOS, USER, 10, 11, BOT, 12, USER, 13, 14, BOT, 15, 16, 17, EOS] + [BOS, USER, 20, BOT, 21, EOS] + [PAD] * 4
    ]
    assert packed["token_type_ids"] == [
        [USER, USER, USER, USER, BOT, BOT, USER, USER, USER, BOT, BOT, BOT, BOT, BOT] + [USER, USER, USER, BOT, BOT, BOT]
        + [PAD] * 4
    ]  # fmt: skip
    assert packed["position_ids"] == [list(range(14)) + list(range(6)) + [0] * 4]
    assert packed["labels"] == [[X] * 10 + [15, 16, 17, EOS] + [X] * 4 + [21, EOS] + [X] * 4]
    assert packed[LENGTH_COLUMN] == [24]


def test_the_first_label_of_every_packed_sample_is_ignored():
    """With the whole-sequence loss, a sample's first label would otherwise be predicted by the previous sample."""
    collator = DialogueCollator(SpecialIds(bos=BOS, eos=EOS, pad=PAD, user=USER, bot=BOT), DialogueFormat(loss_on_reply_only=False))
    packed = pack_batch(_columns([LONG, SHORT]), collator, row_length=20)
    starts = [i for i, position in enumerate(packed["position_ids"][0]) if position == 0]
    assert starts[:2] == [0, 14] and all(packed["labels"][0][i] == X for i in starts)
    assert packed["labels"][0][15:20] == [USER, 20, BOT, 21, EOS]


@pytest.mark.parametrize("row_length", [7, 64, 128])
def test_best_fit_places_every_sample_once_within_the_row_length(row_length):
    lengths = [(i * 37) % 60 + 4 for i in range(500) if (i * 37) % 60 + 4 <= row_length]
    rows = best_fit_rows(lengths, row_length)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= row_length for row in rows)


def test_a_sample_longer_than_a_row_is_refused():
    with pytest.raises(ValueError, match="sample of 9 tokens does not fit a row of 8"):
        best_fit_rows([3, 9], 8)


@pytest.fixture(scope="module")
def real_samples(corpus_slice, tokenizer) -> Dataset:
    dialogues = Dataset.from_dict({"dialogue": corpus_slice[:400]})
    samples, _ = prepare_dataset(dialogues, tokenizer, PipelineConfig(validation_size=0))
    return samples["train"]


@pytest.fixture(scope="module")
def collator(tokenizer) -> DialogueCollator:
    return DialogueCollator.from_tokenizer(tokenizer, DialogueFormat(max_length=96))


def test_packed_rows_are_nearly_all_real_tokens(real_samples, collator):
    rows = pack_samples(real_samples, collator, row_length=256, seed=0)
    real = sum(sum(token != collator.special.pad for token in row) for row in rows["input_ids"])
    total = sum(with_length_column(real_samples, collator)[LENGTH_COLUMN])
    assert real == total  # nothing lost
    assert real / (len(rows) * 256) >= 0.98, f"only {real / (len(rows) * 256):.1%} of packed tokens are real"


def _loss_and_gradients(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    model.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    return loss.detach(), torch.cat([weights.grad.flatten() for weights in model.parameters()])


@pytest.mark.parametrize(("attention", "flatten"), [("sdpa", False), ("eager", False), ("sdpa", True)])
def test_a_packed_batch_gives_the_loss_and_gradients_of_the_same_samples_padded(
    real_samples, collator, tiny_model_dir, attention, flatten
):
    """`flatten` (one row, as flash-attention needs) is checked under SDPA, which reads the same position ids."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attention)
    samples = [real_samples[i] for i in range(24)]
    rows = pack_batch(_columns(samples), collator, row_length=128)
    assert len(rows["input_ids"]) < len(samples) // 2, "the rows must hold several samples each"
    packed = PackedCollator(collator, flatten)([dict(zip(rows, values)) for values in zip(*rows.values())])
    assert packed["input_ids"].shape == ((1, 128 * len(rows["input_ids"])) if flatten else (len(rows["input_ids"]), 128))
    padded_loss, padded_gradients = _loss_and_gradients(model, collator(samples))
    packed_loss, packed_gradients = _loss_and_gradients(model, packed)
    torch.testing.assert_close(packed_loss, padded_loss)
    torch.testing.assert_close(packed_gradients, padded_gradients, rtol=1e-4, atol=1e-6)


def test_a_packed_batch_gives_the_weighted_context_loss_of_the_same_samples_padded(real_samples, tokenizer, tiny_model_dir):
    """A context loss weight travels into packed rows: the weighted loss is the padded batch's."""
    from rugpt_chitchat.training.trainer import weighted_token_loss

    weighted = DialogueCollator.from_tokenizer(tokenizer, DialogueFormat(max_length=96, context_loss_weight=0.3))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    samples = [real_samples[i] for i in range(24)]
    rows = pack_batch(_columns(samples), weighted, row_length=128)
    losses = []
    for batch in (weighted(samples), PackedCollator(weighted)([dict(zip(rows, values)) for values in zip(*rows.values())])):
        weights, labels = batch.pop("loss_weights"), batch.pop("labels")
        assert weights.sum() > labels[:, 1:].ne(-100).sum() * 0.3
        with torch.no_grad():
            losses.append(weighted_token_loss(model(**batch).logits, labels, weights))
    torch.testing.assert_close(losses[1], losses[0])


def test_changing_one_packed_sample_leaves_the_logits_of_the_next_unchanged(real_samples, collator, tiny_model_dir):
    """The row puts the longer sample first, so without the block-diagonal mask the second would attend to it."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    by_length = sorted((real_samples[i] for i in range(20)), key=lambda sample: len(collator.segments(sample)["input_ids"]))
    first, second = by_length[-1], by_length[0]
    changed = {**first, "input": [token + 1 for token in first["input"]], "reply": first["reply"][:-1]}
    width = len(collator.segments(second)["input_ids"])
    logits = []
    for head in (first, changed):
        rows = pack_batch(_columns([head, second]), collator, row_length=256)
        start = rows["position_ids"][0].index(0, 1)
        assert len(rows["input_ids"]) == 1 and rows["input_ids"][0][start : start + width] == collator.segments(second)["input_ids"]
        with torch.no_grad():
            batch = PackedCollator(collator)([dict(zip(rows, values)) for values in zip(*rows.values())])
            logits.append(model(**batch).logits[0, start : start + width])
    torch.testing.assert_close(logits[0], logits[1])


def test_token_budget_batches_hold_every_sample_once_within_the_budget(real_samples, collator):
    lengths = with_length_column(real_samples, collator)[LENGTH_COLUMN]
    batches = token_budget_batches(lengths, max_tokens=512, seed=0)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert all(len(batch) * max(lengths[i] for i in batch) <= 512 for batch in batches)
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)
    assert sum(lengths) / padded >= 0.95
    assert len({len(batch) for batch in batches}) > 3, "short samples make larger batches"


def test_packed_batches_run_without_a_cache_and_leave_out_unused_type_ids(tokenizer):
    collator = PackedCollator(DialogueCollator.from_tokenizer(tokenizer, DialogueFormat(max_length=16, use_token_type_ids=False)))
    batch = collator([{"input_ids": [1] * 16, "token_type_ids": [0] * 16, "labels": [X] * 16, "position_ids": list(range(16))}])
    assert set(batch) == {"input_ids", "labels", "position_ids", "use_cache"} and batch["use_cache"] is False
