"""Metric values on Russian examples, computed by hand; loading by path offline, editable and installed."""

from __future__ import annotations

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import huggingface_hub
import pytest
from rouge_score import rouge_scorer

from rugpt_chitchat.errors import DataError
from rugpt_chitchat.evaluation.metrics import METRIC_NAMES, compute_generation_metrics, load_metric

REPO = Path(__file__).resolve().parents[1]


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall)


@pytest.fixture(scope="module")
def metrics():
    return {name: load_metric(name, keep_in_memory=True) for name in METRIC_NAMES}


def test_every_metric_loads_by_path_with_the_hub_offline(metrics):
    assert huggingface_hub.constants.HF_HUB_OFFLINE
    assert set(metrics) == set(METRIC_NAMES)
    assert all(metric.name == name for name, metric in metrics.items())


def test_each_metric_declares_its_own_inputs_and_description(metrics):
    assert set(metrics["echo_rate"].features) == {"predictions", "user_utterances"}
    assert set(metrics["reply_perplexity"].features) == {"reply_nll", "reply_tokens"}
    assert "sacrebleu" in metrics["bleu"].description and metrics["bleu"].citation.startswith("Post, 2018")
    assert len({metric.description for metric in metrics.values()}) == len(metrics)
    assert all("Returns:" in metric.inputs_description for metric in metrics.values())


def test_perplexity_weights_samples_by_their_reply_tokens(metrics):
    # A 1-token reply with NLL 2 and a 4-token reply with NLL 10: 12 nats over 5 tokens.
    result = metrics["reply_perplexity"].compute(reply_nll=[2.0, 10.0], reply_tokens=[1, 4])
    assert result["loss"] == pytest.approx(12 / 5)
    assert result["perplexity"] == pytest.approx(math.exp(2.4))
    mean_of_sample_perplexities = (math.exp(2.0 / 1) + math.exp(10.0 / 4)) / 2
    assert result["perplexity"] != pytest.approx(mean_of_sample_perplexities, rel=1e-3)


def test_perplexity_of_a_diverged_model_is_inf_not_an_overflow(metrics):
    result = metrics["reply_perplexity"].compute(reply_nll=[900.0, 2000.0], reply_tokens=[1, 1])
    assert result == {"loss": 1450.0, "perplexity": math.inf}


def test_perplexity_without_reply_tokens_is_a_data_error(metrics):
    with pytest.raises(DataError, match="no reply tokens"):
        metrics["reply_perplexity"].compute(reply_nll=[0.0], reply_tokens=[0])


def test_bleu_identical_and_disjoint_russian(metrics):
    same = "Я очень люблю читать книги."
    assert metrics["bleu"].compute(predictions=[same], references=[same])["bleu"] == pytest.approx(100)
    disjoint = metrics["bleu"].compute(predictions=["Привет, как дела"], references=["Спокойной ночи вам"])
    assert disjoint["bleu"] == pytest.approx(0)


def test_bleu_13a_splits_punctuation_off_cyrillic_words(metrics):
    # 13a gives 6 tokens each, differing only in the last ("." vs "!"): n-gram precisions
    # 5/6, 4/5, 3/4, 2/3, equal lengths so no brevity penalty. Were "книги." one token,
    # it would be 5 tokens and 4/5, 3/4, 2/3, 1/2 instead.
    result = metrics["bleu"].compute(
        predictions=["Я очень люблю читать книги."], references=["Я очень люблю читать книги!"]
    )
    assert result["bleu"] == pytest.approx(100 * (5 / 6 * 4 / 5 * 3 / 4 * 2 / 3) ** (1 / 4))


def test_plain_rouge_score_tokenizer_erases_russian():
    plain = rouge_scorer.RougeScorer(["rouge1"])
    assert plain.score("как твои дела", "как твои дела")["rouge1"].fmeasure == 0
    # Only the digit survives, so two different sentences look identical.
    assert plain.score("привет 2 мир", "пока 2 дом")["rouge1"].fmeasure == 1


def test_rouge_counts_cyrillic_words(metrics):
    rouge = metrics["rouge"]
    same = rouge.compute(predictions=["как твои дела"], references=["как твои дела"])
    assert same == pytest.approx({"rouge1": 1, "rouge2": 1, "rougeL": 1})
    # Sharing "2" out of 3 words each: P = R = 1/3.
    shared_digit = rouge.compute(predictions=["привет 2 мир"], references=["пока 2 дом"])
    assert shared_digit["rouge1"] == pytest.approx(1 / 3)
    disjoint = rouge.compute(predictions=["привет"], references=["пока"])
    assert disjoint == pytest.approx({"rouge1": 0, "rouge2": 0, "rougeL": 0})


def test_rouge_partial_overlap_ignores_case_and_yo(metrics):
    # Prediction words: я очень люблю зеленый чай (5), 4 bigrams; reference: люблю зеленый чай (3), 2 bigrams.
    # Shared words 3, shared bigrams 2 ("люблю зеленый", "зеленый чай"), LCS 3.
    result = metrics["rouge"].compute(
        predictions=["Я очень люблю зелёный чай!"], references=["ЛЮБЛЮ зеленый чай"]
    )
    assert result["rouge1"] == pytest.approx(f1(3 / 5, 3 / 3))
    assert result["rouge2"] == pytest.approx(f1(2 / 4, 2 / 2))
    assert result["rougeL"] == pytest.approx(f1(3 / 5, 3 / 3))


def test_rouge_l_follows_word_order(metrics):
    # Same three words reversed: every unigram matches, no bigram does, the LCS is one word.
    result = metrics["rouge"].compute(predictions=["кот ест рыбу"], references=["рыбу ест кот"])
    assert result == pytest.approx({"rouge1": 1, "rouge2": 0, "rougeL": 1 / 3})


def test_distinct_counts_ngrams_within_each_reply(metrics):
    # Words: [да, да, конечно] and [да, конечно]: 2 unique of 5 unigrams; bigrams (да да), (да конечно),
    # (да конечно) give 2 unique of 3; the cross-reply bigram (конечно да) is not counted.
    result = metrics["distinct"].compute(predictions=["Да, да, конечно", "да конечно"])
    assert result == pytest.approx({"distinct_1": 2 / 5, "distinct_2": 2 / 3})
    all_unique = metrics["distinct"].compute(predictions=["привет мир"])
    assert all_unique == pytest.approx({"distinct_1": 1, "distinct_2": 1})


def test_distinct_ignores_case_and_yo(metrics):
    result = metrics["distinct"].compute(predictions=["Ёж", "ёж", "ЕЖ"])
    assert result == pytest.approx({"distinct_1": 1 / 3, "distinct_2": 0})


def test_echo_rate_matches_normalised_user_utterance(metrics):
    result = metrics["echo_rate"].compute(
        predictions=["Привет!", "Как дела?", "Ёлки-палки"],
        user_utterances=["привет", "Что нового?", "елки палки"],
    )
    assert result["echo_rate"] == pytest.approx(2 / 3)


def test_reply_length_counts_words_not_punctuation(metrics):
    result = metrics["reply_length"].compute(predictions=["Привет, мир!", "Я — дома.", "ну"])
    assert result["reply_length_words"] == pytest.approx((2 + 2 + 1) / 3)


def test_generation_metrics_in_one_flat_dict():
    result = compute_generation_metrics(
        predictions=["Я очень люблю зелёный чай!", "привет"],
        references=["ЛЮБЛЮ зеленый чай", "пока"],
        user_utterances=["Что ты любишь?", "Привет."],
    )
    assert set(result) == {
        "bleu", "rouge1", "rouge2", "rougeL", "distinct_1", "distinct_2", "echo_rate", "reply_length_words"
    }
    assert result["rouge1"] == pytest.approx((f1(3 / 5, 1) + 0) / 2)
    assert result["echo_rate"] == pytest.approx(1 / 2)
    assert result["reply_length_words"] == pytest.approx((5 + 1) / 2)
    assert result["distinct_1"] == pytest.approx(1)


def test_raw_rates_count_the_first_draws_not_the_guarded_replies():
    result = compute_generation_metrics(
        predictions=["Я дома.", "Не знаю.", "Ну да."],
        references=["дома", "знаю", "да"],
        user_utterances=["Где ты?", "Что это?", "Правда?"],
        first_draws=["Где ты?", ".", "Ну да."],
    )
    assert result["echo_rate"] == 0
    assert result["echo_rate_raw"] == pytest.approx(1 / 3)
    assert result["wordless_rate_raw"] == pytest.approx(1 / 3)


def test_generation_metrics_reject_misaligned_inputs():
    with pytest.raises(DataError, match="aligned one to one"):
        compute_generation_metrics(["да"], ["да", "нет"], ["да"])


def test_metrics_load_from_an_installed_wheel(tmp_path):
    """package_data must ship metrics/*/*.py: build a wheel, install it alone and load a metric offline."""
    source = tmp_path / "source"
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "setup.cfg", "README.md"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", source], check=True)
    wheel = next((tmp_path / "dist").glob("*.whl"))
    shipped = set(zipfile.ZipFile(wheel).namelist())
    assert {f"rugpt_chitchat/evaluation/metrics/{name}/{name}.py" for name in METRIC_NAMES} <= shipped, (
        f"the wheel lacks the metric scripts (it holds {sorted(shipped)}); "
        "`packages = find:` needs src/rugpt_chitchat/__init__.py"
    )
    subprocess.run([*pip, "install", "--no-deps", "--target", tmp_path / "site", wheel], check=True)
    probe = (
        "import rugpt_chitchat.evaluation.metrics as m; print(m.__file__); "
        "print(m.load_metric('rouge').compute(predictions=['Ёж'], references=['ёж'])['rouge1'])"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    module_file, rouge1 = done.stdout.split()
    assert Path(module_file).is_relative_to(tmp_path / "site")
    assert float(rouge1) == 1.0
