"""DialogueTrainer's own pieces, without a training run: reply NLL per sample and the token-weighted
perplexity, the stop on divergence, the scoring collator for validation, the tied head, the model card."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, EvalPrediction, TrainerState, TrainingArguments

from rugpt_chitchat.errors import TrainingDiverged
from rugpt_chitchat.format import IGNORE_INDEX, DialogueFormat
from rugpt_chitchat.training.collator import DialogueCollator, with_length_column
from rugpt_chitchat.scoring import perplexity_metrics, reply_nll_per_sample
from rugpt_chitchat.training.trainer import DialogueTrainer, StopOnNonFinite, sample_lengths, tied_parameter_names


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def samples(tokenizer, corpus_slice) -> list[dict]:
    """Real utterances as samples: history, input, reply ids."""
    dialogues = [d for d in corpus_slice[:200] if len(d) >= 3][:24]
    encode = lambda text: tokenizer(text.lstrip("- "), add_special_tokens=False)["input_ids"]  # noqa: E731
    return [{"history": [encode(d[0])], "input": encode(d[1]), "reply": encode(d[2])} for d in dialogues]


def test_reply_nll_per_sample_sums_to_the_models_mean_loss(model, tokenizer, samples):
    collator = DialogueCollator.from_tokenizer(tokenizer, DialogueFormat(max_length=128))
    batch = collator(samples[:8])
    with torch.inference_mode():
        output = model(**batch)
    sums = reply_nll_per_sample(output.logits, batch["labels"])
    assert sums.shape == (8, 2)
    assert sums[:, 1].tolist() == batch["labels"][:, 1:].ne(IGNORE_INDEX).sum(dim=1).tolist()
    torch.testing.assert_close(sums[:, 0].sum() / sums[:, 1].sum(), output.loss, rtol=1e-4, atol=1e-5)


def test_perplexity_weights_samples_by_their_reply_tokens():
    sums = np.array([[2.0, 1.0], [3.0, 9.0]])  # per-sample losses 2 and 1/3; 5 nats over 10 tokens
    metrics = perplexity_metrics(EvalPrediction(predictions=sums, label_ids=None))
    assert metrics["reply_loss"] == pytest.approx(0.5)
    assert metrics["perplexity"] == pytest.approx(math.exp(0.5))


@pytest.mark.parametrize(
    ("fp16", "logs", "stops"),
    [
        (False, {"grad_norm": math.nan}, True),
        (False, {"grad_norm": 1.5, "eval_loss": 3.0}, False),
        (False, {"eval_loss": math.inf}, True),
        (True, {"grad_norm": math.inf}, False),  # the fp16 grad scaler skips such steps itself
        (True, {"eval_loss": math.nan}, True),
    ],
)
def test_a_non_finite_gradient_or_eval_loss_stops_the_run(tmp_path, fp16, logs, stops):
    args = SimpleNamespace(fp16=fp16, output_dir=str(tmp_path))
    state = TrainerState(global_step=7)
    if stops:
        with pytest.raises(TrainingDiverged, match="at step 7"):
            StopOnNonFinite().on_log(args, state, None, logs=logs)
    else:
        StopOnNonFinite().on_log(args, state, None, logs=logs)


def test_gpt2s_tied_head_and_embeddings_are_named_together(model):
    assert tied_parameter_names(model) == {"transformer.wte.weight", "lm_head.weight"}


def trainer_for(model, tokenizer, samples, tmp_path, dialogue_format: DialogueFormat) -> DialogueTrainer:
    collator = DialogueCollator.from_tokenizer(tokenizer, dialogue_format)
    dataset = with_length_column(Dataset.from_list(samples), collator)
    args = TrainingArguments(
        str(tmp_path), use_cpu=True, report_to="none", per_device_eval_batch_size=8, remove_unused_columns=False,
        train_sampling_strategy="group_by_length",
    )  # fmt: skip
    return DialogueTrainer(
        model=model, args=args, train_dataset=dataset, eval_dataset=dataset, data_collator=collator,
        processing_class=tokenizer, dialogue_format=dialogue_format, data_sources=["real.txt"], base_model=None,
        eval_collator=collator.scoring_replies(),
    )  # fmt: skip


def test_validation_batches_score_the_reply_alone_whatever_training_labels(model, tokenizer, samples, tmp_path):
    trainer = trainer_for(model, tokenizer, samples, tmp_path, DialogueFormat(max_length=128, loss_on_reply_only=False))
    train_batch = next(iter(trainer.get_train_dataloader()))
    eval_batch = next(iter(trainer.get_eval_dataloader()))
    real = train_batch["attention_mask"].bool()
    assert (train_batch["labels"][real][1:] != IGNORE_INDEX).float().mean() > 0.9, "training labels every token"
    labelled = (eval_batch["labels"] != IGNORE_INDEX).sum().item()
    assert 0 < labelled < eval_batch["attention_mask"].sum().item() / 2, "validation labels the reply and its eos only"
    assert trainer.data_collator.dialogue_format.loss_on_reply_only is False, "the training collator is given back"


def test_length_grouped_batches_read_the_length_column_once_as_a_list(model, tokenizer, samples, tmp_path):
    trainer = trainer_for(model, tokenizer, samples, tmp_path, DialogueFormat(max_length=128))
    lengths = sample_lengths(trainer.train_dataset)
    assert isinstance(lengths, list) and lengths == list(trainer.train_dataset["length"])
    assert trainer._get_train_sampler().lengths == lengths


def test_the_model_card_records_data_format_and_perplexities(model, tokenizer, samples, tmp_path):
    trainer = trainer_for(model, tokenizer, samples, tmp_path, DialogueFormat(max_length=128))
    trainer.state.log_history = [{"step": 0, "eval_perplexity": 900.0}, {"step": 10, "eval_perplexity": 120.0}]
    trainer.state.best_metric = 120.0
    assert trainer.initial_perplexity == 900.0
    trainer.create_model_card()
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "Data: real.txt; 24 training and 24 validation samples" in card
    assert '"max_length": 128' in card
    assert "| validation reply perplexity before training | 900.00 |" in card
    assert "| best validation reply perplexity | 120.00 |" in card
