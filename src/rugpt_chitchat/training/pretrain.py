"""Pretrain a causal LM on plain prose (or continue pretraining a Hub model): the `run_clm` idiom, books held out whole.

Read top to bottom it is the job `rugpt-chitchat pretrain --config configs/base-tiny.yaml` runs: documents (books,
text files or a Hub dataset's `text` column), a tokenizer trained on the books and the dialogues together with the
dialogue special tokens, documents tokenised (batched, `num_proc`), concatenated with an eos between documents and
cut into blocks; whole documents held out for perplexity; Trainer with early stopping. The checkpoint (model and
tokenizer) is what `rugpt-chitchat train --model_name_or_path DIR` fine-tunes, on the same vocabulary.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from datasets import Dataset, DatasetDict
from transformers import (
    DataCollatorForLanguageModeling,
    PreTrainedTokenizerBase,
    Trainer,
    set_seed,
)

from ..data.cleaning import clean_utterance
from ..config import parse_config
from ..errors import DataError
from ..hub import load_hub_dataset, looks_local
from ..format import encode_utterances
from ..books.library import read_books
from ..data.readers import read_many
from ..data.samples import expand_sources
from ..tokenizer import train_tokenizer
from ..scoring import perplexity_metrics, reply_nll_per_sample
from .trainer import StopOnNonFinite
from .job import JobArguments, early_stopping, run_trainer_job, with_overrides
from .model import TRAIN_TOKENIZER, ModelArguments, load_model, named_tokenizer
from .preflight import check_tokenizer_choice

logger = logging.getLogger(__name__)


@dataclass
class PretrainDataArguments:
    data: list[str] = field(
        default_factory=list,
        metadata={"help": "Prose: book files or directories (searched for .txt and .fb2; globs allowed), or a Hub "
                  "dataset name with a `text` column (one document per row)."},
    )
    tokenizer_dialogues: list[str] = field(
        default_factory=list,
        metadata={"help": "Dialogue files whose utterances train the tokenizer together with the prose (when "
                  "tokenizer_name is 'train'), so the dialogue fine-tuning keeps this vocabulary."},
    )
    block_size: int = field(default=128, metadata={"help": "Tokens per training block (at most the model's positions)."})
    validation_size: float = field(
        default=0.05, metadata={"help": "Share of documents (whole books) held out for perplexity; at least one."}
    )
    max_eval_blocks: int | None = field(default=None, metadata={"help": "Score perplexity on the first N held-out blocks."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for datasets.map."})


PretrainingArguments = JobArguments  # held-out books take the place of validation dialogues


ARGUMENT_CLASSES = (ModelArguments, PretrainDataArguments, PretrainingArguments)


def read_documents(sources: list[str]) -> Dataset:
    """`name` and `text` of every document: each book under the paths given, or each row of a Hub dataset."""
    names: list[str] = []
    texts: list[str] = []
    for source in sources:
        path = Path(source)
        if path.exists():  # books, compressed books and zip archives of them, read by `library.read_books`
            before = len(names)
            for name, text in read_books([path]):
                names.append(name)
                texts.append(text)
            if len(names) == before and path.is_dir():  # a single unreadable book is skipped with a warning
                raise DataError(path, "holds no readable .txt or .fb2 books (plain, compressed or in zip archives)")
            continue
        if looks_local(source, suffixes=None):
            raise DataError(path, "no such file or directory")
        rows = load_hub_dataset(source)
        if "text" not in rows.column_names:
            raise DataError(source, f"a Hub dataset for pretraining needs a `text` column; it has {rows.column_names}")
        names += [f"{source}#{index}" for index in range(len(rows))]
        texts += rows["text"]
    kept = [(name, text) for name, text in zip(names, texts) if text.strip()]
    if len(kept) < len(names):
        logger.warning("%d of %d documents hold no text and were skipped", len(names) - len(kept), len(names))
    if not kept:
        raise DataError(", ".join(sources), "no document with text to pretrain on")
    return Dataset.from_dict({"name": [name for name, _ in kept], "text": [text for _, text in kept]})


def split_documents(documents: Dataset, validation_size: float, seed: int) -> DatasetDict:
    """Whole documents held out: those whose name hashes lowest (stable whatever else is read), at least one."""
    if not 0 < validation_size < 1 or len(documents) < 2:
        raise DataError("validation_size", f"need 0 < validation_size < 1 and two documents or more (got "
                        f"{validation_size} and {len(documents)}): perplexity is measured on held-out books")
    names = documents["name"]
    ranks = sorted(range(len(names)), key=lambda i: hashlib.blake2b(f"{seed}\x00{names[i]}".encode()).digest())
    held_out = set(ranks[: max(1, round(validation_size * len(documents)))])
    return DatasetDict(
        train=documents.select([i for i in range(len(documents)) if i not in held_out]),
        validation=documents.select(sorted(held_out)),
    )


def tokenizer_texts(documents: Dataset, dialogue_sources: list[str]) -> Iterator[str]:
    """Every paragraph of the documents, then every dialogue utterance, cleaned as the pipeline cleans them."""
    paragraphs = (line for text in documents["text"] for line in text.split("\n"))
    if not dialogue_sources:
        return paragraphs
    utterances = (clean_utterance(u) for dialogue in read_many(dialogue_sources)["dialogue"] for u in dialogue)
    return chain(paragraphs, utterances)


def load_base_tokenizer(
    model_args: ModelArguments, documents: Dataset, dialogue_sources: list[str], output_dir: str, reuse_trained: bool
) -> PreTrainedTokenizerBase:
    """The tokenizer named (or the model's own) with the dialogue special tokens, or a byte-level BPE trained on
    the documents and dialogues and saved in `output_dir` (reused there by a resumed run or a non-main process)."""
    name = model_args.tokenizer_name or model_args.model_name_or_path or TRAIN_TOKENIZER
    tokenizer = named_tokenizer(name, output_dir, reuse_trained)
    if tokenizer is not None:
        return tokenizer
    logger.info("Training a byte-level BPE (vocab %d) on %d documents and %d dialogue files",
                model_args.tokenizer_vocab_size, len(documents), len(dialogue_sources))
    return train_tokenizer(tokenizer_texts(documents, dialogue_sources), output_dir, model_args.tokenizer_vocab_size)


def tokenize_documents(batch: dict[str, list], tokenizer: PreTrainedTokenizerBase) -> dict[str, list]:
    """Each document's ids followed by eos, so blocks that span two documents mark where one ends."""
    return {"input_ids": [ids + [tokenizer.eos_token_id] for ids in encode_utterances(batch["text"], tokenizer)]}


def group_into_blocks(batch: dict[str, list], block_size: int) -> dict[str, list]:
    """The batch's ids concatenated and cut into blocks of `block_size`; the remainder (< one block) is dropped."""
    ids = list(chain.from_iterable(batch["input_ids"]))
    usable = len(ids) // block_size * block_size
    return {"input_ids": [ids[start : start + block_size] for start in range(0, usable, block_size)]}


def documents_to_blocks(
    split: Dataset, tokenizer: PreTrainedTokenizerBase, block_size: int, num_proc: int | None
) -> Dataset:
    """Tokenise, then concatenate and cut: two cached `datasets.map` steps with progress bars."""
    tokenized = split.map(
        tokenize_documents, batched=True, batch_size=8, num_proc=num_proc, remove_columns=split.column_names,
        fn_kwargs={"tokenizer": tokenizer}, desc="Tokenizing documents",
    )
    return tokenized.map(
        group_into_blocks, batched=True, batch_size=64, num_proc=num_proc,
        fn_kwargs={"block_size": block_size}, desc=f"Cutting into blocks of {block_size}",
    )


def build_pretrainer(model_args: ModelArguments, data_args: PretrainDataArguments, args: PretrainingArguments) -> Trainer:
    """Documents, tokenizer, blocks and model ready before the first step, so bad input fails here."""
    if not data_args.data:
        raise DataError("data", "no prose given: set `data:` in the config or pass --data BOOKS_DIR...")
    check_tokenizer_choice(model_args.tokenizer_name, model_args.model_name_or_path)
    with args.main_process_first(local=False, desc="tokenizer and blocks"):
        documents = read_documents(expand_sources(data_args.data))
        dialogue_sources = expand_sources(data_args.tokenizer_dialogues) if data_args.tokenizer_dialogues else []
        splits = split_documents(documents, data_args.validation_size, args.seed)
        reuse = bool(args.resume_from_checkpoint) or not args.should_save
        tokenizer = load_base_tokenizer(model_args, splits["train"], dialogue_sources, args.output_dir, reuse)
        blocks = {name: documents_to_blocks(split, tokenizer, data_args.block_size, data_args.preprocessing_num_workers)
                  for name, split in splits.items()}
    if len(blocks["train"]) == 0 or len(blocks["validation"]) == 0:
        raise DataError(", ".join(data_args.data), f"too little text for one block of {data_args.block_size} tokens "
                        f"in each split ({len(blocks['train'])} train, {len(blocks['validation'])} held-out blocks)")
    validation = blocks["validation"]
    if data_args.max_eval_blocks is not None:
        validation = validation.select(range(min(data_args.max_eval_blocks, len(validation))))
    logger.info("%d training and %d held-out blocks of %d tokens (held out: %s)", len(blocks["train"]), len(validation),
                data_args.block_size, ", ".join(splits["validation"]["name"]))
    set_seed(args.seed)  # the model's initial weights follow the seed too, not only the Trainer's data order
    model = load_model(model_args, tokenizer, max_length=data_args.block_size)  # prose: no dialogue format
    return Trainer(
        model=model,
        args=args,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        train_dataset=blocks["train"],
        eval_dataset=validation,
        processing_class=tokenizer,
        compute_metrics=perplexity_metrics,
        preprocess_logits_for_metrics=reply_nll_per_sample,
        callbacks=[StopOnNonFinite(), *early_stopping(args)],
    )


@dataclass
class PretrainOutcome:
    output_dir: str
    perplexity: float
    global_step: int


def run_pretraining(model_args: ModelArguments, data_args: PretrainDataArguments, args: PretrainingArguments) -> PretrainOutcome:
    """Build, train (resumed when asked), evaluate on the held-out books, save the base with its tokenizer."""
    trainer = build_pretrainer(model_args, data_args, args)
    metrics = run_trainer_job(trainer, language="ru", tags=["rugpt-chitchat", "pretraining"], dataset=data_args.data)
    return PretrainOutcome(args.output_dir, metrics["eval_perplexity"], trainer.state.global_step)


def pretrain(argv: Sequence[str] = (), **overrides) -> PretrainOutcome:
    """The `rugpt-chitchat pretrain` job from Python: `pretrain(["--config", "configs/base-tiny.yaml"], max_steps=50)`.

    `argv` is what the command line takes; keyword fields (of any of the three argument classes) override it."""
    parsed = parse_config(list(argv), ARGUMENT_CLASSES, prog="rugpt-chitchat pretrain")
    return run_pretraining(*with_overrides(parsed, overrides))
