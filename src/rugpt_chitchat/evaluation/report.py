"""Evaluate a checkpoint on the validation split: reply perplexity, the history-use probe, generation metrics
and the learning curve."""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, load_from_disk

from ..training.collator import DialogueCollator
from ..errors import DataError
from ..serving.generation import ChitChat
from .metrics import compute_generation_metrics, load_metric
from ..data.samples import DATA_ATTRIBUTE, PipelineConfig, prepare_dataset
from ..training.trainer import reply_nll_per_sample

logger = logging.getLogger(__name__)

TRAINER_STATE = "trainer_state.json"
HISTORY_GAINS = ("history_gain_none", "history_gain_shuffled")
NO_HISTORY_NOTE = ("The checkpoint was trained with max_history 0: it never reads history, so the history gains are 1 "
                   "by construction (reported as such, not measured).")


@dataclass
class EvaluationReport:
    """All figures of one evaluation, and a few generated replies to read beside them."""

    checkpoint: str
    validation_samples: int
    metrics: dict[str, float]
    examples: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        lines = [f"Checkpoint `{self.checkpoint}`, {self.validation_samples:,} validation samples.", ""]
        lines += ["| metric | value |", "| --- | ---: |"]
        for name, value in self.metrics.items():
            if name.endswith(("_ci_low", "_ci_high")):
                continue
            interval = (self.metrics.get(f"{name}_ci_low"), self.metrics.get(f"{name}_ci_high"))
            shown = f"{value:.4g}" + (f" (95 % CI {interval[0]:.4g}–{interval[1]:.4g})" if None not in interval else "")
            lines.append(f"| {name} | {shown} |")
        lines += [f"\n{note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def recorded_data_settings(checkpoint: str | Path) -> dict:
    """The data settings `train` recorded in the checkpoint's config.json (sources, split, max_history...);
    empty for a checkpoint without them (older ones, other models)."""
    path = Path(checkpoint, "config.json")
    if not path.is_file():
        return {}
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")).get(DATA_ATTRIBUTE)
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as error:
        raise DataError(path, f"not a readable model config ({error})") from None
    return recorded if isinstance(recorded, dict) else {}


def pipeline_config_of(checkpoint: str | Path) -> PipelineConfig:
    """The pipeline settings that split the checkpoint's data; defaults for what it does not record."""
    recorded = recorded_data_settings(checkpoint)
    return PipelineConfig(**{key: value for key, value in recorded.items() if key in PipelineConfig.__dataclass_fields__})


def load_validation_split(data: list[str], chat: ChitChat, config: PipelineConfig) -> Dataset:
    """The validation samples of a preprocessed directory (save_to_disk), or of dialogue files run through
    `prepare_dataset` with the training run's split settings (`config`), so no training dialogue leaks in."""
    if len(data) == 1 and Path(data[0]).is_dir():
        dataset = load_from_disk(data[0])
        if "validation" not in dataset:
            raise DataError(data[0], "has no validation split; preprocess with --validation_size > 0")
        return dataset["validation"]
    dataset, _ = prepare_dataset(data, chat.tokenizer, config)
    if "validation" not in dataset or len(dataset["validation"]) == 0:
        raise DataError(", ".join(data), "no validation samples; use a validation size > 0 and more dialogues")
    return dataset["validation"]


@torch.inference_mode()
def reply_nll_sums(chat: ChitChat, rows: Sequence[dict], batch_size: int = 32) -> np.ndarray:
    """(samples, 2): each sample's summed reply NLL and reply token count, formatted by the training collator
    (reply tokens only, whatever the checkpoint trained on, so runs with different loss masks compare)."""
    collator = DialogueCollator(chat.special, chat.format).scoring_replies()
    model, sums = chat.model, []
    for start in range(0, len(rows), batch_size):
        batch = collator([rows[i] for i in range(start, min(start + batch_size, len(rows)))])
        batch = {key: value.to(model.device) for key, value in batch.items()}
        labels = batch.pop("labels")
        sums.append(reply_nll_per_sample(model(**batch).logits, labels).cpu().numpy())
    return np.concatenate(sums) if sums else np.zeros((0, 2))


def reply_perplexity(chat: ChitChat, samples: Sequence[dict], batch_size: int = 32) -> dict[str, float]:
    """Token-weighted `loss` and `perplexity` of the reference replies (see `reply_nll_sums`)."""
    sums = reply_nll_sums(chat, samples, batch_size)
    metric = load_metric("reply_perplexity", keep_in_memory=True)
    return metric.compute(reply_nll=sums[:, 0].tolist(), reply_tokens=sums[:, 1].round().astype(int).tolist())


def dialogue_ids(samples: Dataset) -> list[int]:
    """Which dialogue each sample comes from. `prepare_dataset` writes a dialogue's samples in a row, each
    sample's input being the previous one's reply (and its last history utterance the previous input)."""
    ids: list[int] = []
    current, previous = -1, None
    for row in samples.select_columns(["history", "input", "reply"]):
        same = previous is not None and row["input"] == previous["reply"] and (
            not row["history"] or row["history"][-1] == previous["input"]
        )
        current += not same
        ids.append(current)
        previous = row
    return ids


def donor_indices(groups: list[int], seed: int) -> list[int]:
    """For each sample, the index of a sample from another dialogue, in a fixed random pairing."""
    order = list(range(len(groups)))
    random.Random(seed).shuffle(order)
    donors = [0] * len(groups)
    for position, index in enumerate(order):
        candidates = (order[(position + step) % len(order)] for step in range(1, len(order)))
        donor = next((other for other in candidates if groups[other] != groups[index]), None)
        if donor is None:
            raise DataError("history probe", "every sample with history comes from one dialogue: no other history")
        donors[index] = donor
    return donors


def bootstrap_ratio_interval(
    nll_a: np.ndarray, nll_b: np.ndarray, tokens: np.ndarray, seed: int, num_bootstrap: int = 1000, level: float = 0.95
) -> tuple[float, float]:
    """Interval of the perplexity ratio A/B = exp((sum nll_a - sum nll_b) / sum tokens) over samples drawn with
    replacement: the spread of the ratio had the validation set been another draw of the same dialogues."""
    draws = np.random.default_rng(seed).integers(0, len(tokens), size=(num_bootstrap, len(tokens)))
    log_ratios = (nll_a - nll_b)[draws].sum(axis=1) / tokens[draws].sum(axis=1)
    low, high = np.exp(np.quantile(log_ratios, [(1 - level) / 2, (1 + level) / 2]))
    return float(low), float(high)


def history_probe(
    chat: ChitChat, validation: Dataset, num_samples: int | None = 2000, seed: int = 42, batch_size: int = 32
) -> tuple[dict[str, float], list[str]]:
    """Does the model read the history? Reply perplexity on validation samples that have history, given the true
    history, none, and another dialogue's (fixed seed); `history_gain_*` = that perplexity / the true one, with
    bootstrap 95 % intervals. Returns the metrics and notes for the report."""
    chosen = [index for index, history in enumerate(validation["history"]) if history]
    if not chosen and chat.max_history == 0:  # split made for this checkpoint: no sample keeps history
        chosen = list(range(len(validation)))
    if not chosen:
        return {}, ["History probe skipped: no validation sample has history (dialogues of 2 utterances only?)."]
    if num_samples is not None and num_samples < len(chosen):
        chosen = sorted(random.Random(seed).sample(chosen, num_samples))
    rows = list(validation.select(chosen))
    true = reply_nll_sums(chat, rows, batch_size)
    tokens = true[:, 1]
    metrics = {"history_probe_samples": float(len(rows))}
    perplexity = {"true_history": math.exp(true[:, 0].sum() / tokens.sum())}
    if chat.max_history == 0:
        perplexity |= {"no_history": perplexity["true_history"], "shuffled_history": perplexity["true_history"]}
        metrics |= {f"{gain}{end}": 1.0 for gain in HISTORY_GAINS for end in ("", "_ci_low", "_ci_high")}
        return {f"reply_perplexity_{name}": value for name, value in perplexity.items()} | metrics, [NO_HISTORY_NOTE]
    dialogue_of = dialogue_ids(validation)
    groups = [dialogue_of[index] for index in chosen]
    if len(set(groups)) < 2:
        return {}, ["History probe skipped: the samples with history all come from one dialogue, so there is no "
                    "other dialogue's history to swap in."]
    donors = donor_indices(groups, seed)
    swapped = {
        "no_history": [row | {"history": []} for row in rows],
        "shuffled_history": [row | {"history": rows[donor]["history"]} for row, donor in zip(rows, donors)],
    }
    for (name, variant), gain in zip(swapped.items(), HISTORY_GAINS):
        nll = reply_nll_sums(chat, variant, batch_size)[:, 0]
        perplexity[name] = math.exp(nll.sum() / tokens.sum())
        metrics[gain] = perplexity[name] / perplexity["true_history"]
        metrics[f"{gain}_ci_low"], metrics[f"{gain}_ci_high"] = bootstrap_ratio_interval(nll, true[:, 0], tokens, seed)
    return {f"reply_perplexity_{name}": value for name, value in perplexity.items()} | metrics, []


def generate_for_samples(
    chat: ChitChat, samples: Dataset, batch_size: int = 16
) -> tuple[list[list[str]], list[str], list[str], list[str]]:
    """Texts of each sample's history (user's utterance last), the reference replies, the generated ones and the
    model's first draws (before the echo and wordless guard)."""
    decode = chat.tokenizer.decode
    histories = [[decode(ids) for ids in [*row["history"], row["input"]]] for row in samples]
    references = [decode(row["reply"]) for row in samples]
    predictions, first_draws = [], []
    for start in range(0, len(histories), batch_size):
        replies, first = chat.reply_batch_with_first_draws(histories[start : start + batch_size])
        predictions += replies
        first_draws += first
    return histories, references, predictions, first_draws


def evaluate_checkpoint(
    checkpoint: str, data: list[str] | None = None, num_samples: int = 200, config: PipelineConfig | None = None,
    device: str | None = None, max_eval_samples: int | None = None, probe_samples: int | None = 2000,
    rank_samples: int | None = 500,
) -> EvaluationReport:
    """Reply perplexity on the validation split (its first `max_eval_samples`, as training's `max_eval_samples`
    scores, so the figures compare), the history probe on `probe_samples` samples with history (0: none),
    next-utterance ranking on `rank_samples` of them (0: none), generation metrics on `num_samples` samples
    drawn from the whole split.

    `data` and the split settings (`config`, whose seed also seeds sampling) default to what training recorded
    in the checkpoint."""
    if Path(checkpoint).exists() and not Path(checkpoint, "config.json").is_file():
        raise DataError(checkpoint, "is no checkpoint (no directory with a config.json): give a `train` output directory")
    if not Path(checkpoint).exists() and checkpoint.startswith((".", "/", "~")):
        raise DataError(checkpoint, "no such checkpoint directory")
    config = config or pipeline_config_of(checkpoint)
    data = data or recorded_data_settings(checkpoint).get("data")
    if not data:
        raise DataError(checkpoint, "records no training data (an older checkpoint): pass --data")
    seed = config.seed
    chat = ChitChat.from_pretrained(checkpoint, device=device)
    validation = load_validation_split(data, chat, config)
    scored = validation if max_eval_samples is None else validation.select(range(min(max_eval_samples, len(validation))))
    metrics = {f"reply_{name}": value for name, value in reply_perplexity(chat, scored).items()}
    notes: list[str] = []
    if probe_samples != 0:
        probe, notes = history_probe(chat, validation, probe_samples, seed)
        metrics |= probe
    if rank_samples != 0:
        from .ranking import ranking_metrics  # ranking scores with this module's reply_nll_sums

        ranking, ranking_notes = ranking_metrics(chat, validation, rank_samples, seed)
        metrics |= ranking
        notes += ranking_notes
    sample = validation.shuffle(seed=seed).select(range(min(num_samples, len(validation))))
    torch.manual_seed(seed)
    histories, references, predictions, first_draws = generate_for_samples(chat, sample)
    metrics |= compute_generation_metrics(predictions, references, [history[-1] for history in histories], first_draws)
    examples = [
        {"history": history, "reference": reference, "prediction": prediction, "first_draw": first}
        for history, reference, prediction, first in list(zip(histories, references, predictions, first_draws))[:10]
    ]
    return EvaluationReport(str(checkpoint), len(scored), metrics, examples, notes)


def find_trainer_state(checkpoint: str | Path) -> Path | None:
    """trainer_state.json in the checkpoint, else in its latest `checkpoint-N` subdirectory."""
    directory = Path(checkpoint)
    if (directory / TRAINER_STATE).exists():
        return directory / TRAINER_STATE
    states = sorted(directory.glob(f"checkpoint-*/{TRAINER_STATE}"), key=lambda path: int(path.parent.name.split("-")[-1]))
    return states[-1] if states else None


def learning_curve_series(history: list[dict]) -> dict[str, list[tuple[int, float, float]]]:
    """(step, loss, perplexity) of training and evaluation from the Trainer's `log_history`. Evaluation uses
    the token-weighted reply loss and perplexity our trainer logs (`eval_loss` is a mean over samples)."""
    return {
        "train": [(e["step"], e["loss"], math.exp(min(e["loss"], 50))) for e in history if "loss" in e],
        "eval": [
            (e["step"], e.get("eval_reply_loss", e["eval_loss"]), e.get("eval_perplexity", math.exp(min(e["eval_loss"], 50))))
            for e in history if "eval_loss" in e
        ],
    }


def plot_learning_curve(trainer_state: Path, output: Path) -> Path:
    """Train and eval loss, and their perplexity, by step, from the Trainer's `log_history`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = learning_curve_series(json.loads(trainer_state.read_text(encoding="utf-8"))["log_history"])
    figure, (loss_axis, ppl_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for name, points in series.items():
        if points:
            steps, losses, perplexities = zip(*points)
            marker = "o" if name == "eval" else None
            loss_axis.plot(steps, losses, marker=marker, label=name)
            ppl_axis.plot(steps, perplexities, marker=marker, label=name)
    loss_axis.set(title="loss", xlabel="step")
    ppl_axis.set(title="perplexity", xlabel="step", yscale="log")
    for axis in (loss_axis, ppl_axis):
        axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(output, dpi=100)
    plt.close(figure)
    return output


def write_report(report: EvaluationReport, checkpoint: str | Path, output: str | Path) -> list[Path]:
    """metrics.json, metrics.md and, when the checkpoint has a trainer state, learning_curve.png in `output`."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    written = [output / "metrics.json", output / "metrics.md"]
    written[0].write_text(json.dumps(report.__dict__, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    written[1].write_text(report.to_markdown(), encoding="utf-8")
    state = find_trainer_state(checkpoint)
    if state is None:
        logger.warning("No %s in %s: no learning curve", TRAINER_STATE, checkpoint)
    else:
        written.append(plot_learning_curve(state, output / "learning_curve.png"))
    return written
