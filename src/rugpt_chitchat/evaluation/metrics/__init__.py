"""Evaluation metrics shipped as local `evaluate` modules, loaded by path so no Hub access is needed.

Each metric is `metrics/<name>/<name>.py`; `evaluate.load` on that folder copies the script into the
modules cache and imports it, which works with HF_HUB_OFFLINE=1 and from an installed wheel. A script holds
only what is its own (description, inputs, columns, `_compute`) on `LocalMetric`, which builds the rest.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import evaluate

from ...data.cleaning import has_words
from ...errors import DataError

METRICS_DIR = Path(__file__).resolve().parent
METRIC_NAMES = ("reply_perplexity", "bleu", "rouge", "distinct", "echo_rate", "reply_length")


class LocalMetric(evaluate.Metric):
    """An `evaluate.Metric` declared by class constants; COLUMNS maps each input to its `datasets.Value` dtype.
    (Not `description`, `features`...: those are the module's properties.) A script subclasses it as
    `metrics.LocalMetric`, never importing the name: `evaluate.load` takes the first `EvaluationModule`
    subclass in the script's namespace as the metric."""

    DESCRIPTION: str
    INPUTS: str
    COLUMNS: dict[str, str]
    CITATION = ""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self.DESCRIPTION,
            citation=self.CITATION,
            inputs_description=self.INPUTS,
            features=datasets.Features({column: datasets.Value(dtype) for column, dtype in self.COLUMNS.items()}),
        )


def load_metric(name: str, **load_kwargs) -> evaluate.EvaluationModule:
    """One of METRIC_NAMES as an `evaluate` module; load_kwargs go to `evaluate.load`."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRIC_NAMES)}")
    return evaluate.load(str(METRICS_DIR / name), **load_kwargs)


def compute_generation_metrics(
    predictions: list[str], references: list[str], user_utterances: list[str], first_draws: list[str] | None = None
) -> dict[str, float]:
    """Generated replies, reference replies and the user utterances they answer, aligned by index
    -> {bleu (0-100), rouge1, rouge2, rougeL, distinct_1, distinct_2, echo_rate (0-1), reply_length_words}.

    With `first_draws` (the model's replies before the echo and wordless guard redrew any) also
    `echo_rate_raw` and `wordless_rate_raw`: what the model does, beside what the guarded bot says.
    """
    if not predictions:
        raise DataError("generation metrics", "no predictions to score")
    if not len(predictions) == len(references) == len(user_utterances) == len(first_draws or predictions):
        raise DataError(
            "generation metrics",
            f"{len(predictions)} predictions, {len(references)} references and "
            f"{len(user_utterances)} user utterances: they must be aligned one to one",
        )
    pairs = {"predictions": predictions, "references": references}
    results: dict[str, float] = {}
    results |= load_metric("bleu", keep_in_memory=True).compute(**pairs)
    results |= load_metric("rouge", keep_in_memory=True).compute(**pairs)
    results |= load_metric("distinct", keep_in_memory=True).compute(predictions=predictions)
    results |= load_metric("echo_rate", keep_in_memory=True).compute(
        predictions=predictions, user_utterances=user_utterances
    )
    results |= load_metric("reply_length", keep_in_memory=True).compute(predictions=predictions)
    if first_draws is not None:
        raw = load_metric("echo_rate", keep_in_memory=True).compute(predictions=first_draws, user_utterances=user_utterances)
        results["echo_rate_raw"] = raw["echo_rate"]
        results["wordless_rate_raw"] = sum(not has_words(reply) for reply in first_draws) / len(first_draws)
    return results
