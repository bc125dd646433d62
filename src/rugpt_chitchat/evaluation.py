"""Evaluate a checkpoint on the validation split: reply perplexity, generation metrics and the learning curve."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from datasets import Dataset, load_from_disk

from .collator import DialogueCollator
from .errors import DataError
from .generation import ChitChat
from .metrics import compute_generation_metrics, load_metric
from .samples import PipelineConfig, prepare_dataset
from .trainer import reply_nll_per_sample

logger = logging.getLogger(__name__)

TRAINER_STATE = "trainer_state.json"


@dataclass
class EvaluationReport:
    """All figures of one evaluation, and a few generated replies to read beside them."""

    checkpoint: str
    validation_samples: int
    metrics: dict[str, float]
    examples: list[dict] = field(default_factory=list)

    def to_markdown(self) -> str:
        lines = [f"Checkpoint `{self.checkpoint}`, {self.validation_samples:,} validation samples.", ""]
        lines += ["| metric | value |", "| --- | ---: |"]
        lines += [f"| {name} | {value:.4g} |" for name, value in self.metrics.items()]
        return "\n".join(lines) + "\n"


def load_validation_split(
    data: list[str], chat: ChitChat, validation_size: float = 0.05, seed: int = 42, num_proc: int | None = None
) -> Dataset:
    """The validation samples of a preprocessed directory (save_to_disk), or of dialogue files run through
    `prepare_dataset` with the same split settings as training, so no training dialogue leaks in."""
    if len(data) == 1 and Path(data[0]).is_dir():
        dataset = load_from_disk(data[0])
        if "validation" not in dataset:
            raise DataError(data[0], "has no validation split; preprocess with --validation-size > 0")
        return dataset["validation"]
    config = PipelineConfig(max_history=chat.max_history, validation_size=validation_size, seed=seed, num_proc=num_proc)
    dataset, _ = prepare_dataset(data, chat.tokenizer, config)
    if "validation" not in dataset or len(dataset["validation"]) == 0:
        raise DataError(", ".join(data), "no validation samples; use a validation size > 0 and more dialogues")
    return dataset["validation"]


@torch.inference_mode()
def reply_perplexity(chat: ChitChat, samples: Dataset, batch_size: int = 32) -> dict[str, float]:
    """Token-weighted perplexity of the reference replies, formatted by the training collator (reply tokens only,
    whatever the checkpoint trained on, so runs with different loss masks compare)."""
    collator = DialogueCollator(chat.special, replace(chat.format, loss_on_reply_only=True))
    metric = load_metric("reply_perplexity", keep_in_memory=True)
    model = chat.model
    for start in range(0, len(samples), batch_size):
        rows = list(samples.select(range(start, min(start + batch_size, len(samples)))))
        batch = {key: value.to(model.device) for key, value in collator(rows).items()}
        labels = batch.pop("labels")
        sums = reply_nll_per_sample(model(**batch).logits, labels)
        metric.add_batch(reply_nll=sums[:, 0].tolist(), reply_tokens=sums[:, 1].long().tolist())
    return metric.compute()


def generate_for_samples(chat: ChitChat, samples: Dataset, batch_size: int = 16) -> tuple[list[list[str]], list[str], list[str]]:
    """Texts of each sample's history (user's utterance last), the reference replies and the generated ones."""
    decode = chat.tokenizer.decode
    histories = [[decode(ids) for ids in [*row["history"], row["input"]]] for row in samples]
    references = [decode(row["reply"]) for row in samples]
    predictions = []
    for start in range(0, len(histories), batch_size):
        predictions += chat.reply_batch(histories[start : start + batch_size])
    return histories, references, predictions


def evaluate_checkpoint(
    checkpoint: str, data: list[str], num_samples: int = 200, seed: int = 42, validation_size: float = 0.05,
    device: str | None = None, max_eval_samples: int | None = None,
) -> EvaluationReport:
    """Reply perplexity on the validation split (its first `max_eval_samples`, as training's `max_eval_samples`
    scores, so the figures compare), generation metrics on `num_samples` samples drawn from the whole split."""
    chat = ChitChat.from_pretrained(checkpoint, device=device)
    validation = load_validation_split(data, chat, validation_size, seed)
    scored = validation if max_eval_samples is None else validation.select(range(min(max_eval_samples, len(validation))))
    metrics = {f"reply_{name}": value for name, value in reply_perplexity(chat, scored).items()}
    sample = validation.shuffle(seed=seed).select(range(min(num_samples, len(validation))))
    torch.manual_seed(seed)
    histories, references, predictions = generate_for_samples(chat, sample)
    metrics |= compute_generation_metrics(predictions, references, [history[-1] for history in histories])
    examples = [
        {"history": history, "reference": reference, "prediction": prediction}
        for history, reference, prediction in list(zip(histories, references, predictions))[:10]
    ]
    return EvaluationReport(str(checkpoint), len(scored), metrics, examples)


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
