"""Train a causal LM on dialogue samples with `transformers.Trainer`: arguments, tokenizer, model, data, run.

Read top to bottom it is the job `rugpt-chitchat train --config configs/tiny.yaml` runs: parse the YAML and
the command line, get a tokenizer with the dialogue special tokens, a model sized for it, train/validation
samples with their lengths (packed into rows if asked), then train with early stopping on reply perplexity
(evaluated before the first step too), save and card.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
from datasets import DatasetDict, load_from_disk
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..data.cleaning import clean_utterance
from .checkpoints import checkpoint_to_resume
from .preflight import causal_lm_class, check_model_fits, check_tokenizer_choice, model_config
from .collator import DialogueCollator, with_length_column
from ..config import PipelineConfig, SubsetArguments, parse_config
from ..errors import DataError
from ..format import DialogueFormat, min_length_for_reply
from .packing import PackedCollator, pack_samples
from .peft import LoraArguments, quantization_kwargs, with_lora
from ..data.readers import is_dialogue_dataset, read_many
from ..data.samples import DATA_ATTRIBUTE, SAMPLE_COLUMNS, expand_sources, load_pipeline_settings, prepare_dataset
from ..tokenizer import chat_template, train_tokenizer
from ..scoring import perplexity_metrics, reply_nll_per_sample
from .job import JobArguments, early_stopping, run_trainer_job, with_overrides
from .model import TRAIN_TOKENIZER, ModelArguments, load_model, named_tokenizer
from .trainer import DialogueTrainer, seed_everything

logger = logging.getLogger(__name__)


@dataclass
class DataArguments(PipelineConfig, DialogueFormat, SubsetArguments):
    """The pipeline's settings (shared with preprocess and evaluate), the dialogue format (`max_history` is both)
    and the training subsets: one field each, inherited from the dataclass that owns it. The split's seed is
    TrainingArguments' `seed`."""

    seed: int = field(default=42, init=False)  # set from TrainingArguments' seed (one `--seed` on the command line)
    pad_to_multiple_of: int | None = field(default=None, metadata={"help": "Round batch widths up (8 for tensor cores)."})

    def dialogue_format(self) -> DialogueFormat:
        """The format alone (what the checkpoint's config.json carries)."""
        return DialogueFormat(**{name: getattr(self, name) for name in DialogueFormat.__dataclass_fields__})


@dataclass
class DialogueTrainingArguments(JobArguments):
    """The jobs' TrainingArguments with this project's defaults: length-grouped batches, eval before the first step
    too (reply perplexity); our collator needs the raw sample columns. Adds packing and token-budget batches."""

    train_sampling_strategy: str = field(default="group_by_length", metadata={"help": "See TrainingArguments."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Must stay False: the collator reads the samples."})
    eval_on_start: bool = field(default=True, metadata={"help": "Perplexity before training, logged at step 0."})
    packing: bool = field(
        default=False,
        metadata={"help": "Train on rows of packed samples (no padding, no attention across samples; speaker types "
                  "and reply labels kept), all packed_row_length long: one shape for torch_compile."},
    )
    packed_row_length: int | None = field(default=None, metadata={"help": "Tokens per packed row; default max_length."})
    max_tokens_per_batch: int | None = field(
        default=None,
        metadata={"help": "Batches of at most this many tokens (samples x longest, or packed rows x row length) "
                  "instead of per_device_train_batch_size samples."},
    )


ARGUMENT_CLASSES = (ModelArguments, DataArguments, DialogueTrainingArguments, LoraArguments)


def parse_arguments(argv: list[str]) -> tuple[ModelArguments, DataArguments, DialogueTrainingArguments, LoraArguments]:
    """`--config file.yaml` gives defaults; every other `--field value` overrides them. Unknown keys are refused."""
    return parse_config(argv, ARGUMENT_CLASSES, prog="rugpt-chitchat train")


def preprocessed_dir(sources: list[str]) -> Path | None:
    """The directory of a saved DatasetDict when that is the data, else None (dialogue files)."""
    if len(sources) == 1 and Path(sources[0]).is_dir() and not is_dialogue_dataset(Path(sources[0])):
        path = Path(sources[0])
        if not (path / "dataset_dict.json").exists():
            raise DataError(path, "a directory must be the output of `rugpt-chitchat preprocess` (no dataset_dict.json)")
        return path
    return None


def load_tokenizer(
    model_args: ModelArguments, sources: list[str], output_dir: str, reuse_trained: bool
) -> PreTrainedTokenizerBase:
    """The tokenizer named, the model's own, or a BPE trained on the dialogues and saved in `output_dir`.

    `reuse_trained`: load the BPE already trained in `output_dir` (a resumed run, or a process other than
    the main one, which trains it first) rather than train it again.
    """
    directory = preprocessed_dir(sources)
    recorded = load_pipeline_settings(directory).get("tokenizer_name") if directory else None
    name = model_args.tokenizer_name or recorded or model_args.model_name_or_path or TRAIN_TOKENIZER
    tokenizer = named_tokenizer(name, output_dir, reuse_trained)
    if tokenizer is not None:
        return tokenizer
    if directory:
        raise DataError(sources[0], "preprocessed samples need the tokenizer that made them: set tokenizer_name")
    dialogues = read_many(sources)
    texts = (clean_utterance(utterance) for dialogue in dialogues["dialogue"] for utterance in dialogue)
    logger.info("Training a byte-level BPE (vocab %d) on %d dialogues", model_args.tokenizer_vocab_size, len(dialogues))
    return train_tokenizer(texts, output_dir, model_args.tokenizer_vocab_size)


def load_samples(
    data_args: DataArguments, sources: list[str], tokenizer: PreTrainedTokenizerBase
) -> tuple[DatasetDict, dict]:
    """Train/validation samples from dialogue files (through the data pipeline) or a preprocessed directory,
    and the data settings that made them (recorded in the checkpoint)."""
    directory = preprocessed_dir(sources)
    if directory is None:
        return prepare_dataset(sources, tokenizer, data_args)[0], {"data": sources, **data_args.shaping_settings()}
    recorded = load_pipeline_settings(directory)
    check_history_fits(data_args.max_history, recorded, directory)
    try:
        samples = load_from_disk(str(directory))
    except IndexError:  # datasets cannot load back a split saved with no rows
        raise DataError(directory, "holds a split saved empty, which cannot be loaded back (an older `preprocess` "
                        "wrote it): preprocess the dialogues again with more of them or another --validation_size") from None
    for name, split in samples.items():
        missing = set(SAMPLE_COLUMNS) - set(split.column_names)
        if missing:
            raise DataError(directory, f"split {name!r} lacks the sample columns {sorted(missing)}")
    # in Arrow: a Python loop over every reply of a large prepared set costs seconds at each start
    maxima = [pc.max(pc.list_flatten(split.data.column("reply"))).as_py() for split in samples.values()]
    largest = max((value for value in maxima if value is not None), default=-1)
    if largest >= len(tokenizer):
        raise DataError(directory, f"token id {largest} is outside the tokenizer's {len(tokenizer)} ids: "
                        "the samples were made with another tokenizer")
    settings = {key: value for key, value in recorded.items() if key not in {"data", "tokenizer_name"}}
    return samples, {"data": sources, **settings, "preprocessed_from": recorded.get("data")}


def check_history_fits(max_history: int, recorded: dict, directory: Path) -> None:
    """Samples keep only the history they were prepared with: a format reading more would train on less than
    it claims, and the checkpoint would promise the bot a history it never saw."""
    prepared = recorded.get("max_history")
    if prepared is None:
        logger.warning("%s records no max_history (preprocessed before pipeline_config.json): cannot check "
                       "max_history=%d against it", directory, max_history)
    elif max_history > prepared:
        raise DataError(directory, f"prepared with max_history={prepared}, but training asks for max_history="
                        f"{max_history}: set max_history to {prepared} or less, or preprocess again with "
                        f"--max_history {max_history}")


def select_splits(samples: DatasetDict, data_args: DataArguments, source: str) -> tuple:
    if "validation" not in samples or len(samples["validation"]) == 0:
        raise DataError(source, "no validation samples: set validation_size > 0 (perplexity needs them)")
    train, validation = samples["train"], samples["validation"]
    if data_args.max_train_samples is not None:
        train = train.select(range(min(data_args.max_train_samples, len(train))))
    if data_args.max_eval_samples is not None:
        validation = validation.select(range(min(data_args.max_eval_samples, len(validation))))
    if len(train) == 0:
        raise DataError(source, "the training split is empty")
    return train, validation


def uses_flash_attention(model: PreTrainedModel) -> bool:
    return (model.config._attn_implementation or "").startswith("flash")


def row_width(args: DialogueTrainingArguments, dialogue_format: DialogueFormat) -> int:
    """Tokens in the widest row of a batch (a packed row, or a sample of max_length); a batch must hold one."""
    width = (args.packed_row_length or dialogue_format.max_length) if args.packing else dialogue_format.max_length
    if width < dialogue_format.max_length:
        raise DataError("packed_row_length", f"{width} cannot hold a sample of max_length {dialogue_format.max_length}")
    if args.max_tokens_per_batch is not None and args.max_tokens_per_batch < width:
        raise DataError("max_tokens_per_batch", f"{args.max_tokens_per_batch} cannot hold one row of {width} tokens")
    return width


def build_trainer(
    model_args: ModelArguments, data_args: DataArguments, args: DialogueTrainingArguments, lora_args: LoraArguments | None = None
) -> DialogueTrainer:
    """Everything checked and prepared before the first step, so bad input fails here and not an hour in."""
    data_args.seed = args.seed  # one `--seed` for the split and the run
    dialogue_format = data_args.dialogue_format()
    dialogue_format.context_weight()  # refuses a weight outside [0, 1] or against loss_on_reply_only
    if dialogue_format.max_length < min_length_for_reply():
        raise DataError("max_length", f"{dialogue_format.max_length} leaves no room for a reply (minimum {min_length_for_reply()})")
    if args.remove_unused_columns:
        raise DataError("remove_unused_columns", "must be false: the collator reads the history/input/reply columns")
    width = row_width(args, dialogue_format)
    args.resume_from_checkpoint = checkpoint_to_resume(args.resume_from_checkpoint, args.output_dir)
    check_tokenizer_choice(model_args.tokenizer_name, model_args.model_name_or_path)
    config = model_config(model_args.model_name_or_path, model_args.model_type, model_args.config_overrides)
    check_model_fits(config, causal_lm_class(config, model_args.model_name_or_path or model_args.model_type), dialogue_format)
    sources = expand_sources(data_args.data)
    with args.main_process_first(local=False, desc="tokenizer and samples"):
        reuse = bool(args.resume_from_checkpoint) or not args.should_save
        tokenizer = load_tokenizer(model_args, sources, args.output_dir, reuse_trained=reuse)
        tokenizer.chat_template = chat_template(dialogue_format.max_history)  # saved with every checkpoint
        collator = DialogueCollator.from_tokenizer(tokenizer, dialogue_format, data_args.pad_to_multiple_of)
        samples, data_settings = load_samples(data_args, sources, tokenizer)
        train, validation = select_splits(samples, data_args, sources[0])
        if args.packing:
            train = pack_samples(train, collator, width, args.seed, data_args.preprocessing_num_workers)
        else:
            train = with_length_column(train, collator, data_args.preprocessing_num_workers)
        # sorted, so evaluation batches are nearly padding-free too
        validation = with_length_column(validation, collator, data_args.preprocessing_num_workers).sort("length")
    # seeded before the model is built: one config and seed give one initial model, the same on every process
    seed_everything(args)
    model = load_model(model_args, tokenizer, dialogue_format, **quantization_kwargs(lora_args))
    setattr(model.config, DATA_ATTRIBUTE, data_settings)
    if lora_args is not None and lora_args.use_peft:
        model = with_lora(model, lora_args, tokenizer, model_args.model_name_or_path)
    return DialogueTrainer(
        model=model,
        args=args,
        data_collator=PackedCollator(collator, flatten=uses_flash_attention(model)) if args.packing else collator,
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        compute_metrics=perplexity_metrics,
        preprocess_logits_for_metrics=reply_nll_per_sample,
        callbacks=early_stopping(args),
        dialogue_format=dialogue_format,
        data_sources=sources,
        base_model=model_args.model_name_or_path,
        eval_collator=collator.scoring_replies(),
    )


@dataclass
class TrainingOutcome:
    output_dir: str
    perplexity_before: float  # nan when eval_on_start was turned off
    perplexity_after: float
    global_step: int


def run_training(trainer: DialogueTrainer) -> TrainingOutcome:
    """Training (resumed when asked; perplexity before it logged at step 0), the best model saved with its card
    and pushed if asked."""
    after = run_trainer_job(trainer)["eval_perplexity"]
    before = trainer.initial_perplexity or math.nan
    logger.info("Validation perplexity %.2f -> %.2f after %d steps", before, after, trainer.state.global_step)
    return TrainingOutcome(trainer.args.output_dir, before, after, trainer.state.global_step)


def train(argv: Sequence[str] = (), **overrides) -> TrainingOutcome:
    """The `rugpt-chitchat train` job from Python: `train(["--config", "configs/tiny.yaml"], max_steps=100)`.

    `argv` is what the command line takes; keyword fields (of any of the four argument classes) override it."""
    return run_training(build_trainer(*with_overrides(parse_arguments(list(argv)), overrides)))
