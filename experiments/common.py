"""What every experiment shares: the corpora, the variants of the dialogue format, one prepared data directory,
and the two calls every run makes — a Trainer job from typed argument dataclasses (a run is a few overrides of
`configs/*.yaml` or of the defaults, not a list of flag strings) and `evaluate_checkpoint`, the one evaluation the
CLI's `evaluate` runs too. Experiments import this module, never each other."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rugpt_chitchat.config import PipelineConfig, parse_config
from rugpt_chitchat.data.samples import prepare_dataset
from rugpt_chitchat.evaluation.report import evaluate_checkpoint
from rugpt_chitchat.training.finetune import ARGUMENT_CLASSES as TRAIN_CLASSES
from rugpt_chitchat.training.finetune import TrainingOutcome, build_trainer, run_training
from rugpt_chitchat.training.pretrain import ARGUMENT_CLASSES as PRETRAIN_CLASSES
from rugpt_chitchat.training.pretrain import PretrainOutcome, run_pretraining

CORPORA = ["../shared/data/extract_dialogues_from_anekdots.txt.xz", "../shared/data/cornell_movie_corpus.txt.xz"]
# The seed's question -> answer baseline against the history format; each is a set of DataArguments overrides.
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": dict(max_history=0, use_token_type_ids=False, use_attention_mask=False, loss_on_reply_only=False),
    "history": {},
    "history-full-loss": dict(loss_on_reply_only=False),
}
# issue 22's recipes: history with the loss on the context weighted 0 (`history`, the original), 0.25, 0.5 or 1
# (`-full-loss`), with or without speaker types, in length-grouped or random-order batches
CONTEXT_WEIGHTS = {"": {}, "-ctx0.25": dict(context_loss_weight=0.25), "-ctx0.5": dict(context_loss_weight=0.5),
                   "-full-loss": dict(loss_on_reply_only=False)}
TYPES = {"": {}, "-notypes": dict(use_token_type_ids=False)}
ORDERS = {"": {}, "-random": dict(train_sampling_strategy="random")}
RECIPES: dict[str, dict[str, Any]] = {
    "baseline": VARIANTS["baseline"], "baseline-random": VARIANTS["baseline"] | ORDERS["-random"],
} | {
    f"history{weight}{types}{order}": weight_changes | type_changes | order_changes
    for weight, weight_changes in CONTEXT_WEIGHTS.items() for types, type_changes in TYPES.items()
    for order, order_changes in ORDERS.items()
}
COLORS = {"baseline": "#999", "history": "#1f77b4", "history-full-loss": "#2ca02c", "no-dedup": "#ff7f0e"}  # every plot
# Every experiment's runs: no early stopping nor best-model reload (runs of a study train the same steps), the
# cuDNN attention kernel off (the suspect of NaN gradients in the GPU history runs), no reporting integrations.
RUN_DEFAULTS = dict(early_stopping_patience=0, load_best_model_at_end=False, cudnn_attention=False, report_to="none")


def override(arguments: tuple, changes: dict[str, Any]) -> tuple:
    """`arguments` (instances of argument dataclasses) with each change applied to the one that has the field;
    a change no dataclass has is refused, as the command line would."""
    names = [{f.name for f in dataclasses.fields(instance) if f.init} for instance in arguments]
    unknown = set(changes).difference(*names)
    if unknown:
        raise ValueError(f"no argument dataclass has {sorted(unknown)}")
    return tuple(
        dataclasses.replace(instance, **{key: value for key, value in changes.items() if key in own})
        for instance, own in zip(arguments, names)
    )


def command_line_overrides(argv: list[str], classes: tuple[type, ...]) -> dict[str, Any]:
    """The fields named in `argv` (an experiment's `-- --use_cpu false --bf16 true ...`), typed by the parser."""
    if not argv:
        return {}
    parsed = parse_config(argv, classes, prog="experiment")
    given = {arg[2:].split("=")[0] for arg in argv if arg.startswith("--")}
    return {name: getattr(instance, name) for instance in parsed for name in given if hasattr(instance, name)}


def fine_tune(config: str | None = None, **changes: Any) -> TrainingOutcome:
    """One `train` run: the defaults (or the YAML `config`) of train's dataclasses, RUN_DEFAULTS, then `changes`."""
    base = parse_config(["--config", config] if config else [], TRAIN_CLASSES, prog="train")
    return run_training(build_trainer(*override(base, RUN_DEFAULTS | changes)))


def pretrain_base(**changes: Any) -> PretrainOutcome:
    """One `pretrain` run: the defaults of pretrain's dataclasses, RUN_DEFAULTS, then `changes`."""
    base = parse_config([], PRETRAIN_CLASSES, prog="pretrain")
    return run_pretraining(*override(base, RUN_DEFAULTS | changes))


def prepare(output: Path, corpora: list[str], tokenizer, dedup: bool, num_proc: int = 2) -> Path:
    """The corpora as samples on disk (once per output directory), with the pipeline's summary beside them."""
    directory = output / ("data" if dedup else "data-no-dedup")
    if not directory.exists():
        config = PipelineConfig(preprocessing_num_workers=num_proc, dedup=dedup)
        samples, summary = prepare_dataset(corpora, tokenizer, config)
        samples.save_to_disk(str(directory))
        (output / f"{directory.name}.md").write_text(summary.to_markdown() + "\n", encoding="utf-8")
    return directory


def fixed_contexts(validation, tokenizer, seed: int, num_samples: int, count: int = 5) -> list[list[str]]:
    """The first `count` histories of the samples `evaluate_checkpoint` answers (the same shuffle and seed)."""
    sample = validation.shuffle(seed=seed).select(range(min(num_samples, len(validation))))
    first = sample.select(range(min(count, len(sample))))
    return [[tokenizer.decode(ids) for ids in [*row["history"], row["input"]]] for row in first]


def evaluate_run(checkpoint: Path, data_dir: Path, contexts: list[list[str]], seed: int, **settings: Any) -> dict:
    """Every figure of one run on the fixed validation samples of `data_dir`, and its replies to `contexts`
    (`settings`: num_samples, max_eval_samples, probe_samples, generation_seed... of `evaluate_checkpoint`)."""
    report = evaluate_checkpoint(str(checkpoint), [str(data_dir)], config=PipelineConfig(seed=seed), contexts=contexts,
                                 **settings)
    return {"metrics": report.metrics, "notes": report.notes, "replies": report.replies}
