"""Evaluation of a checkpoint: reply perplexity, generation metrics, JSON + table + learning curve, the CLI."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from datasets import Dataset, load_from_disk
from PIL import Image
from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

from rugpt_chitchat.cli import main
from rugpt_chitchat.training.collator import DialogueCollator
from rugpt_chitchat.errors import DataError
from rugpt_chitchat.format import DialogueFormat
from rugpt_chitchat.serving.generation import ChitChat
from rugpt_chitchat.data.samples import PipelineConfig, prepare_dataset


@pytest.fixture(scope="module")
def samples_dir(tmp_path_factory, corpus_slice, tokenizer):
    """400 real dialogues preprocessed (train + validation) and saved with save_to_disk."""
    dialogues = Dataset.from_dict({"dialogue": corpus_slice[:200] + corpus_slice[1500:1700]})
    dataset, _ = prepare_dataset(dialogues, tokenizer, PipelineConfig(max_history=3, validation_size=0.1, seed=0))
    directory = tmp_path_factory.mktemp("samples")
    dataset.save_to_disk(directory)
    return directory


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory, tiny_model_dir, tokenizer, samples_dir):
    """The tiny model after 6 Trainer steps with evaluation every 2: a checkpoint with a real trainer_state.json."""

    dataset = load_from_disk(samples_dir)
    dialogue_format = DialogueFormat.load(tiny_model_dir)
    output = tmp_path_factory.mktemp("trained")
    args = TrainingArguments(
        output_dir=str(output), max_steps=6, per_device_train_batch_size=8, per_device_eval_batch_size=16,
        learning_rate=1e-3, logging_steps=1, eval_strategy="steps", eval_steps=2, save_strategy="no",
        report_to=[], remove_unused_columns=False, use_cpu=True, disable_tqdm=True,
    )
    trainer = Trainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir), args=args, processing_class=tokenizer,
        data_collator=DialogueCollator.from_tokenizer(tokenizer, dialogue_format),
        train_dataset=dataset["train"], eval_dataset=dataset["validation"].select(range(32)),
    )
    trainer.train()
    trainer.save_model()
    trainer.save_state()
    dialogue_format.save(output)
    return output


def test_reply_perplexity_matches_the_model_loss_on_one_sample(tiny_model_dir, samples_dir):
    """With one sample the token-weighted perplexity is exp of the model's own reply-only loss."""

    from rugpt_chitchat.evaluation.probe import reply_perplexity

    chat = ChitChat.from_pretrained(str(tiny_model_dir), device="cpu")
    one = load_from_disk(samples_dir)["validation"].select(range(1))
    batch = DialogueCollator(chat.special, chat.format)(list(one))
    with torch.inference_mode():
        loss = chat.model(**batch).loss.item()
    result = reply_perplexity(chat, one)
    assert result["perplexity"] == pytest.approx(math.exp(loss), rel=1e-4)
    assert result["perplexity"] > len(chat.tokenizer) / 4, "an untrained model is close to uniform"


def test_evaluate_cli_writes_json_table_and_learning_curve(trained_checkpoint, samples_dir, tokenizer, tmp_path, capsys):
    output = tmp_path / "eval"
    main(["evaluate", "--checkpoint", str(trained_checkpoint), "--data", str(samples_dir), "--num-samples", "12",
          "--output_dir", str(output), "--device", "cpu"])
    report = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    metrics = report["metrics"]
    for name in ("reply_perplexity", "reply_loss", "bleu", "rouge1", "rougeL", "distinct_1", "echo_rate", "reply_length_words",
                 "echo_rate_raw", "reply_perplexity_shuffled_history", "history_gain_none", "history_gain_shuffled_ci_low",
                 "rank_logprob_hits_at_1_true_history", "rank_pmi_mrr_gain_ci_high"):
        assert name in metrics and math.isfinite(metrics[name]), name
    assert 1 < metrics["reply_perplexity"] < 2 * len(tokenizer), "6 steps leave it near uniform, not beyond"
    assert len(report["examples"]) == 10 and all(example["prediction"] for example in report["examples"])
    table = (output / "metrics.md").read_text(encoding="utf-8")
    assert "| reply_perplexity |" in table and "| echo_rate |" in table and "| history_gain_none |" in table
    assert "| reply_perplexity |" in capsys.readouterr().out
    with Image.open(output / "learning_curve.png") as image:
        image.verify()
        assert image.size[0] > 500


def test_evaluate_cli_scores_the_first_max_eval_samples_as_training_does(trained_checkpoint, samples_dir, tmp_path):
    from rugpt_chitchat.evaluation.probe import reply_perplexity

    main(["evaluate", "--checkpoint", str(trained_checkpoint), "--data", str(samples_dir), "--num-samples", "4",
          "--max_eval_samples", "30", "--output_dir", str(tmp_path), "--device", "cpu"])
    report = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    first = load_from_disk(samples_dir)["validation"].select(range(30))
    expected = reply_perplexity(ChitChat.from_pretrained(str(trained_checkpoint), device="cpu"), first)["perplexity"]
    assert report["validation_samples"] == 30
    assert report["metrics"]["reply_perplexity"] == pytest.approx(expected, rel=1e-5)


def test_evaluate_splits_dialogue_files_like_preprocess(tiny_model_dir, corpus_slice, tmp_path):
    """Given dialogue files, the validation split is the one `prepare_dataset` makes with the same settings."""
    from rugpt_chitchat.evaluation.report import load_validation_split

    path = tmp_path / "dialogues.txt"
    path.write_text("\n\n".join("\n".join(dialogue) for dialogue in corpus_slice[:300]) + "\n", encoding="utf-8")
    chat = ChitChat.from_pretrained(str(tiny_model_dir), device="cpu")
    validation = load_validation_split([str(path)], chat, PipelineConfig(validation_size=0.1, seed=3))
    expected, _ = prepare_dataset([str(path)], chat.tokenizer, PipelineConfig(max_history=3, validation_size=0.1, seed=3))
    assert validation["reply"] == expected["validation"]["reply"] and len(validation) > 0


TOPICS = ["кошка", "собака", "море", "хлеб", "гитара", "зима", "поезд", "книга", "лампа", "река", "сыр", "небо"]


def train_topic_checkpoint(directory, tokenizer_dir, max_history: int, max_steps: int):
    """A tiny GPT-2 trained by `train` on dialogues [topic N, "и что?", topic]: the last reply can only be
    known from the history, so a model that reads it is far better with the true history than without."""
    from transformers import set_seed

    from rugpt_chitchat.training.finetune import train

    set_seed(0)  # the model is built before the Trainer seeds
    dialogues = [[f"{TOPICS[i % len(TOPICS)]} {i}", "И что?", TOPICS[i % len(TOPICS)]] for i in range(600)]
    data = directory / "topics.jsonl"
    data.write_text("".join(json.dumps({"dialogue": d}, ensure_ascii=False) + "\n" for d in dialogues), encoding="utf-8")
    train([
        "--data", str(data), "--tokenizer_name", str(tokenizer_dir), "--output_dir", str(directory / "model"),
        "--config_overrides", "n_layer=2,n_embd=64,n_head=2,n_positions=64", "--max_length", "64",
        "--max_history", str(max_history), "--validation_size", "0.1", "--max_steps", str(max_steps),
        "--per_device_train_batch_size", "32", "--learning_rate", "3e-3", "--warmup_steps", "10",
        "--eval_steps", str(max_steps), "--save_steps", str(max_steps), "--early_stopping_patience", "0",
        "--use_cpu", "true", "--report_to", "none", "--disable_tqdm", "true", "--seed", "0",
    ])
    return directory / "model", data


@pytest.fixture(scope="module")
def topic_checkpoint(tmp_path_factory, tokenizer_dir):
    return train_topic_checkpoint(tmp_path_factory.mktemp("topics"), tokenizer_dir, max_history=3, max_steps=400)


def test_probe_finds_a_model_that_reads_history(topic_checkpoint):
    from rugpt_chitchat.evaluation.report import evaluate_checkpoint

    checkpoint, data = topic_checkpoint
    report = evaluate_checkpoint(str(checkpoint), [str(data)], num_samples=4, config=PipelineConfig(validation_size=0.1, seed=0),
                                 device="cpu", rank_samples=0)  # 13 distinct replies: too few to rank among 20
    metrics = report.metrics
    assert metrics["history_probe_samples"] > 30, "each validation dialogue has one sample with history"
    assert metrics["reply_perplexity_true_history"] < 2, "the topic is in the history"
    assert metrics["history_gain_none"] > 3 and metrics["history_gain_none_ci_low"] > 2
    assert metrics["history_gain_shuffled"] > 3 and metrics["history_gain_shuffled_ci_low"] > 2
    for gain in ("history_gain_none", "history_gain_shuffled"):
        assert metrics[f"{gain}_ci_low"] < metrics[gain] < metrics[f"{gain}_ci_high"]
    assert not report.notes
    assert "| history_gain_shuffled |" in report.to_markdown() and "95 % CI" in report.to_markdown()


def test_ranking_finds_a_model_that_reads_history(topic_checkpoint):
    """The topic model picks the true topic among 10 replies (9 other topics or "И что?") given the history, and
    cannot without it: by mean log-probability (the headline) hits@1 near 1 against near 0. PMI sees the history
    too, less sharply (its empty-prompt prior favours replies that prompt finds unlikely: see ranking.py)."""
    from rugpt_chitchat.evaluation.ranking import ranking_metrics
    from rugpt_chitchat.evaluation.report import load_validation_split

    checkpoint, data = topic_checkpoint
    chat = ChitChat.from_pretrained(str(checkpoint), device="cpu")
    validation = load_validation_split([str(data)], chat, PipelineConfig(validation_size=0.1, seed=0))
    metrics, notes = ranking_metrics(chat, validation, num_samples=None, seed=0, num_candidates=10)
    assert metrics["rank_samples"] > 30 and metrics["rank_candidates"] == 10 and len(notes) == 1
    assert metrics["rank_logprob_hits_at_1_true_history"] > 0.9
    assert metrics["rank_logprob_hits_at_1_no_history"] < 0.4
    assert metrics["rank_logprob_mrr_true_history"] > metrics["rank_logprob_mrr_no_history"] + 0.3
    assert metrics["rank_logprob_hits_at_1_gain_ci_low"] > 0.4
    assert metrics["rank_pmi_hits_at_5_true_history"] > 0.9 and metrics["rank_pmi_mrr_gain_ci_low"] > 0.1
    assert ranking_metrics(chat, validation, seed=0)[1][0].startswith("Ranking skipped: fewer than 19 distinct")


def test_probe_of_a_model_without_history_reports_gains_of_one_by_construction(tmp_path, tokenizer_dir):
    from rugpt_chitchat.evaluation.probe import NO_HISTORY_NOTE
    from rugpt_chitchat.evaluation.report import evaluate_checkpoint

    checkpoint, data = train_topic_checkpoint(tmp_path, tokenizer_dir, max_history=0, max_steps=2)
    report = evaluate_checkpoint(str(checkpoint), [str(data)], num_samples=2,
                                 config=PipelineConfig(max_history=0, validation_size=0.1, seed=0), device="cpu", rank_samples=0)
    assert report.notes == [NO_HISTORY_NOTE] and NO_HISTORY_NOTE in report.to_markdown()
    assert report.metrics["history_gain_none"] == report.metrics["history_gain_shuffled_ci_high"] == 1.0
    assert report.metrics["reply_perplexity_no_history"] == report.metrics["reply_perplexity_true_history"]


def test_probe_without_samples_with_history_is_skipped_with_a_note(tiny_model_dir):
    from rugpt_chitchat.evaluation.probe import history_probe

    chat = ChitChat.from_pretrained(str(tiny_model_dir), device="cpu")
    pairs = Dataset.from_dict({"history": [[], []], "input": [[5, 6], [7]], "reply": [[8], [9, 10]]})
    metrics, notes = history_probe(chat, pairs)
    assert metrics == {} and notes == ["History probe skipped: no validation sample has history "
                                       "(dialogues of 2 utterances only?)."]
    one_dialogue = Dataset.from_dict({"history": [[], [[5, 6]], [[5, 6], [8]]], "input": [[5, 6], [8], [9]],
                                      "reply": [[8], [9], [11]]})
    metrics, notes = history_probe(chat, one_dialogue)
    assert metrics == {} and "all come from one dialogue" in notes[0]


def test_shuffled_history_always_comes_from_another_dialogue(samples_dir):
    from rugpt_chitchat.evaluation.probe import dialogue_ids, donor_indices

    validation = load_from_disk(samples_dir)["validation"]
    groups = dialogue_ids(validation)
    assert groups[0] == 0 and groups == sorted(groups), "a dialogue's samples are written in a row"
    assert 1 < len(set(groups)) < len(validation), "several dialogues, most with several samples"
    for index in range(1, len(validation)):
        row, previous = validation[index], validation[index - 1]
        if groups[index] == groups[index - 1]:
            assert row["input"] == previous["reply"]
    donors = donor_indices(groups, seed=1)
    assert all(groups[donor] != groups[index] for index, donor in enumerate(donors))
    assert donors == donor_indices(groups, seed=1) != donor_indices(groups, seed=2)
    with pytest.raises(DataError, match="one dialogue"):
        donor_indices([4, 4, 4], seed=0)


def test_bootstrap_interval_brackets_the_ratio_and_narrows_with_more_samples():
    import numpy as np

    from rugpt_chitchat.evaluation.probe import bootstrap_ratio_interval

    rng = np.random.default_rng(0)
    intervals = {}
    for n in (100, 2000):
        tokens = rng.integers(1, 10, n).astype(float)
        true = rng.gamma(2.0, 1.0, n) * tokens
        other = true + tokens * 0.1 + rng.normal(0, 1, n)  # about exp(0.1) = 1.105 worse per token
        ratio = np.exp((other.sum() - true.sum()) / tokens.sum())
        low, high = bootstrap_ratio_interval(other, true, tokens, seed=0)
        assert low < ratio < high
        intervals[n] = high - low
    assert intervals[2000] < intervals[100] / 3
    same = np.ones(50)
    assert bootstrap_ratio_interval(same, same, same, seed=0) == (1.0, 1.0)
def test_evaluate_reads_the_split_from_the_checkpoint_and_flags_override(tiny_model_dir, corpus_slice, tmp_path):
    """`train` records data and split in config.json; `evaluate --checkpoint` alone uses them, a flag wins."""
    path = tmp_path / "dialogues.txt"
    path.write_text("\n\n".join("\n".join(dialogue) for dialogue in corpus_slice[:200]) + "\n", encoding="utf-8")
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(tiny_model_dir, checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    config["dialogue_data"] = {"data": [str(path)], "max_history": 2, "validation_size": 0.1, "seed": 3, "dedup": True}
    (checkpoint / "config.json").write_text(json.dumps(config))
    tokenizer = ChitChat.from_pretrained(str(checkpoint), device="cpu").tokenizer

    def evaluated(*flags: str) -> int:
        main(["evaluate", "--checkpoint", str(checkpoint), "--num_samples", "2", "--output_dir", str(tmp_path / "out"),
              "--device", "cpu", *flags])  # fmt: skip
        return json.loads((tmp_path / "out" / "metrics.json").read_text())["validation_samples"]

    def expected(validation_size: float) -> int:
        config = PipelineConfig(max_history=2, validation_size=validation_size, seed=3)
        return len(prepare_dataset([str(path)], tokenizer, config)[0]["validation"])

    assert expected(0.1) != expected(0.3)
    assert evaluated() == expected(0.1)
    assert evaluated("--validation_size", "0.3") == expected(0.3)
