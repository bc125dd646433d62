"""Train a causal LM on dialogue samples with `transformers.Trainer`: arguments, tokenizer, model, data, run.

Read top to bottom it is the job `rugpt-chitchat train --config configs/tiny.yaml` runs: parse the YAML and
the command line, get a tokenizer with the dialogue special tokens, a model sized for it, train/validation
samples with their lengths (packed into rows if asked), then train with early stopping on reply perplexity
(evaluated before the first step too), save and card.
"""

from __future__ import annotations

import inspect
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
from datasets import DatasetDict, load_from_disk
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    EarlyStoppingCallback,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    TrainingArguments,
)

from ..data.cleaning import clean_utterance
from .collator import DialogueCollator, with_length_column
from ..config import PipelineArguments, SubsetArguments, parse_config, same_as
from ..errors import DataError, not_loadable
from ..format import DialogueFormat, SpecialIds, default_generation_config, min_length_for_reply
from .packing import PackedCollator, pack_samples
from .peft import LoraArguments, quantization_kwargs, with_lora
from ..data.readers import is_dialogue_dataset, read_many
from ..data.samples import DATA_ATTRIBUTE, SAMPLE_COLUMNS, PipelineConfig, expand_sources, load_pipeline_settings, prepare_dataset
from ..tokenizer import add_dialogue_special_tokens, chat_template, load_pretrained_tokenizer, train_tokenizer
from .trainer import DialogueTrainer, perplexity_metrics, reply_nll_per_sample, seed_everything

logger = logging.getLogger(__name__)

TRAIN_TOKENIZER = "train"


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Pretrained causal LM (Hub name or directory), e.g. ai-forever/rugpt3small_based_on_gpt2. "
                  "Empty: build a new model from model_type and config_overrides (train from scratch)."},
    )
    model_type: str = field(default="gpt2", metadata={"help": "Architecture of a model trained from scratch."})
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Config of a model trained from scratch, e.g. 'n_layer=4,n_embd=256,n_head=4,n_positions=256'."},
    )
    tokenizer_name: str | None = field(
        default=None,
        metadata={"help": "Tokenizer (Hub name or directory); defaults to model_name_or_path. 'train' (the default "
                  "without a model) trains a byte-level BPE on the dialogues and saves it with every checkpoint."},
    )
    tokenizer_vocab_size: int = field(default=8000, metadata={"help": "Vocabulary size of a tokenizer trained here."})
    attn_implementation: str | None = field(
        default=None, metadata={"help": "Attention kernels: 'sdpa' (the default), 'eager', 'flash_attention_2', ..."}
    )


@dataclass
class DataArguments(PipelineArguments):
    """The pipeline's settings (shared with preprocess and evaluate; the split seed is `seed`), the dialogue
    format (`max_history` is both) and the training subsets."""

    max_length: int = same_as(DialogueFormat, "max_length")
    use_token_type_ids: bool = same_as(DialogueFormat, "use_token_type_ids")
    use_attention_mask: bool = same_as(DialogueFormat, "use_attention_mask")
    loss_on_reply_only: bool = same_as(DialogueFormat, "loss_on_reply_only")
    max_train_samples: int | None = same_as(SubsetArguments, "max_train_samples")
    max_eval_samples: int | None = same_as(SubsetArguments, "max_eval_samples")
    pad_to_multiple_of: int | None = field(default=None, metadata={"help": "Round batch widths up (8 for tensor cores)."})

    def dialogue_format(self) -> DialogueFormat:
        return DialogueFormat(
            max_history=self.max_history,
            max_length=self.max_length,
            use_token_type_ids=self.use_token_type_ids,
            use_attention_mask=self.use_attention_mask,
            loss_on_reply_only=self.loss_on_reply_only,
        )


@dataclass
class DialogueTrainingArguments(TrainingArguments):
    """TrainingArguments with this project's defaults: length-grouped batches, eval (before the first step too)
    and early stopping on reply perplexity, the best checkpoint loaded at the end; our collator needs the raw
    sample columns. Adds packing and token-budget batches."""

    early_stopping_patience: int | None = field(
        default=3, metadata={"help": "Evaluations without a better perplexity before stopping; 0 or empty: never."}
    )
    train_sampling_strategy: str = field(default="group_by_length", metadata={"help": "See TrainingArguments."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Must stay False: the collator reads the samples."})
    eval_strategy: str = field(default="steps", metadata={"help": "See TrainingArguments."})
    metric_for_best_model: str | None = field(default="perplexity", metadata={"help": "See TrainingArguments."})
    greater_is_better: bool | None = field(default=False, metadata={"help": "See TrainingArguments."})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "See TrainingArguments."})
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
    save_total_limit: int | None = field(default=2, metadata={"help": "See TrainingArguments."})


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


def named_tokenizer(name: str, output_dir: str, reuse_trained: bool) -> PreTrainedTokenizerBase | None:
    """The tokenizer `name` with the dialogue special tokens, or None when it is 'train' (to be trained here) —
    unless `reuse_trained` and `output_dir` already holds the one trained (a resumed run, a non-main process)."""
    if name == TRAIN_TOKENIZER and reuse_trained and Path(output_dir, "tokenizer_config.json").exists():
        name = output_dir
    if name == TRAIN_TOKENIZER:
        return None
    tokenizer = load_pretrained_tokenizer(name)
    add_dialogue_special_tokens(tokenizer)
    return tokenizer


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


def load_model(
    model_args: ModelArguments, tokenizer: PreTrainedTokenizerBase, dialogue_format: DialogueFormat, **pretrained_kwargs
) -> PreTrainedModel:
    """Pretrained or new model, embeddings grown to the tokenizer (new rows: mean of the old ones), special ids
    and sampling defaults set; refuses a format the model cannot take. `pretrained_kwargs` go to a pretrained
    model's `from_pretrained` (QLoRA's quantization)."""
    special = SpecialIds.from_tokenizer(tokenizer)
    if model_args.model_name_or_path:
        try:
            model = AutoModelForCausalLM.from_pretrained(
                model_args.model_name_or_path, attn_implementation=model_args.attn_implementation, **pretrained_kwargs
            )
        except OSError as error:
            raise not_loadable(model_args.model_name_or_path, "model", error) from error
    else:
        config = AutoConfig.for_model(model_args.model_type)
        if model_args.config_overrides:
            config.update_from_string(model_args.config_overrides)
        config.vocab_size = len(tokenizer)
        model = AutoModelForCausalLM.from_config(config, attn_implementation=model_args.attn_implementation)
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id = special.bos, special.eos, special.pad
    model.generation_config = default_generation_config(special)
    dialogue_format.store_in(model.config)  # so every save and Hub push carries the format
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions is not None and positions < dialogue_format.max_length:
        raise DataError("max_length", f"{dialogue_format.max_length} exceeds the model's {positions} positions")
    if dialogue_format.use_token_type_ids and "token_type_ids" not in inspect.signature(model.forward).parameters:
        raise DataError("use_token_type_ids", f"{type(model).__name__} takes no token_type_ids; set use_token_type_ids: false")
    return model


def load_samples(
    data_args: DataArguments, sources: list[str], tokenizer: PreTrainedTokenizerBase, seed: int
) -> tuple[DatasetDict, dict]:
    """Train/validation samples from dialogue files (through the data pipeline) or a preprocessed directory,
    and the data settings that made them (recorded in the checkpoint)."""
    directory = preprocessed_dir(sources)
    if directory is None:
        config = PipelineConfig.from_arguments(data_args, seed)
        return prepare_dataset(sources, tokenizer, config)[0], {"data": sources, **config.shaping_settings()}
    recorded = load_pipeline_settings(directory)
    check_history_fits(data_args.max_history, recorded, directory)
    samples = load_from_disk(str(directory))
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
    dialogue_format = data_args.dialogue_format()
    if dialogue_format.max_length < min_length_for_reply():
        raise DataError("max_length", f"{dialogue_format.max_length} leaves no room for a reply (minimum {min_length_for_reply()})")
    if args.remove_unused_columns:
        raise DataError("remove_unused_columns", "must be false: the collator reads the history/input/reply columns")
    width = row_width(args, dialogue_format)
    sources = expand_sources(data_args.data)
    with args.main_process_first(local=False, desc="tokenizer and samples"):
        reuse = bool(args.resume_from_checkpoint) or not args.should_save
        tokenizer = load_tokenizer(model_args, sources, args.output_dir, reuse_trained=reuse)
        tokenizer.chat_template = chat_template(dialogue_format.max_history)  # saved with every checkpoint
        collator = DialogueCollator.from_tokenizer(tokenizer, dialogue_format, data_args.pad_to_multiple_of)
        samples, data_settings = load_samples(data_args, sources, tokenizer, args.seed)
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
    patience = args.early_stopping_patience
    return DialogueTrainer(
        model=model,
        args=args,
        data_collator=PackedCollator(collator, flatten=uses_flash_attention(model)) if args.packing else collator,
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        compute_metrics=perplexity_metrics,
        preprocess_logits_for_metrics=reply_nll_per_sample,
        callbacks=[EarlyStoppingCallback(patience)] if patience else None,
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
    args = trainer.args
    resume = args.resume_from_checkpoint
    trainer.train(resume_from_checkpoint=True if resume in {"true", "True", "last"} else resume)
    before = trainer.initial_perplexity or math.nan
    after = trainer.evaluate()["eval_perplexity"]
    trainer.save_model()
    trainer.save_state()
    if args.push_to_hub:
        trainer.push_to_hub()
    else:
        trainer.create_model_card()
    logger.info("Validation perplexity %.2f -> %.2f after %d steps", before, after, trainer.state.global_step)
    return TrainingOutcome(args.output_dir, before, after, trainer.state.global_step)


def train(argv: list[str]) -> TrainingOutcome:
    """The `rugpt-chitchat train` job, callable from Python with the same arguments."""
    return run_training(build_trainer(*parse_arguments(argv)))
