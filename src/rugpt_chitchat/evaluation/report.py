"""Evaluate a checkpoint on the validation split: reply perplexity, the history-use probe, generation metrics
and the learning curve."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from datasets import Dataset, load_from_disk

from ..errors import DataError
from ..hub import looks_local
from ..serving.generation import ChitChat
from .metrics import compute_generation_metrics
from .probe import history_probe, reply_perplexity
from .ranking import ranking_metrics
from ..data.samples import DATA_ATTRIBUTE, PipelineConfig, prepare_dataset

logger = logging.getLogger(__name__)

TRAINER_STATE = "trainer_state.json"
# Contexts every trained model answers (`train` prints the replies, experiments report them)
SAMPLE_HISTORIES = [["Привет! Как дела?"], ["Ты кто такой?"], ["Куда ты идёшь?", "Домой.", "А что так рано?"]]
_WORDS = re.compile(r"\w+")


@dataclass
class EvaluationReport:
    """All figures of one evaluation, and a few generated replies to read beside them."""

    checkpoint: str
    validation_samples: int
    metrics: dict[str, float]
    examples: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # to the `contexts` asked for, in their order

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


def repeats_itself(reply: str) -> bool:
    """A word bigram that occurs twice in one reply: the looping users complain about."""
    words = _WORDS.findall(reply.lower())
    bigrams = list(zip(words, words[1:]))
    return len(bigrams) != len(set(bigrams))


def evaluate_checkpoint(
    checkpoint: str, data: list[str] | None = None, num_samples: int = 200, config: PipelineConfig | None = None,
    device: str | None = None, max_eval_samples: int | None = None, probe_samples: int | None = 2000,
    rank_samples: int | None = 500, contexts: Sequence[list[str]] = (), generation_seed: int | None = None,
    generation_batch_size: int = 16,
) -> EvaluationReport:
    """Reply perplexity on the validation split (its first `max_eval_samples`, as training's `max_eval_samples`
    scores, so the figures compare), the history probe on `probe_samples` samples with history (0: none),
    next-utterance ranking on `rank_samples` of them (0: none), generation metrics on `num_samples` samples
    drawn from the whole split, and replies to `contexts`.

    `data` and the split settings (`config`, whose seed also chooses the samples) default to what training
    recorded in the checkpoint; `generation_seed` (default: that seed) seeds the sampling of replies. The CLI's
    `evaluate` and every experiment call this, so their figures compare."""
    if Path(checkpoint).exists() and not Path(checkpoint, "config.json").is_file():
        raise DataError(checkpoint, "is no checkpoint (no directory with a config.json): give a `train` output directory")
    if not Path(checkpoint).exists() and looks_local(checkpoint):
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
        ranking, ranking_notes = ranking_metrics(chat, validation, rank_samples, seed)
        metrics |= ranking
        notes += ranking_notes
    sample = validation.shuffle(seed=seed).select(range(min(num_samples, len(validation))))
    generation_seed = seed if generation_seed is None else generation_seed
    torch.manual_seed(generation_seed)
    histories, references, predictions, first_draws = generate_for_samples(chat, sample, generation_batch_size)
    metrics |= compute_generation_metrics(predictions, references, [history[-1] for history in histories], first_draws)
    metrics["repetition_rate"] = sum(map(repeats_itself, predictions)) / max(len(predictions), 1)
    torch.manual_seed(generation_seed)
    replies = chat.reply_batch(list(contexts)) if contexts else []
    examples = [
        {"history": history, "reference": reference, "prediction": prediction, "first_draw": first}
        for history, reference, prediction, first in list(zip(histories, references, predictions, first_draws))[:10]
    ]
    return EvaluationReport(str(checkpoint), len(scored), metrics, examples, notes, replies)


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
