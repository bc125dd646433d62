"""From dialogues to training samples: clean, dedup, split by dialogue, tokenise, expand.

A sample is the original format `{"history": [[ids]…], "input": [ids], "reply": [ids]}`: the ids are the
utterances' own (no special tokens); the dialogue format adds speakers, bos and eos at collation time.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, Features, List, Value
from datasets.fingerprint import Hasher
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from . import cleaning
from ..config import PipelineConfig
from ..errors import DataError
from ..hub import code_hash
from ..format import encode_utterances
from .readers import read_many

logger = logging.getLogger(__name__)

DEFAULT_TOKENIZER = "ai-forever/rugpt3small_based_on_gpt2"
SAMPLE_COLUMNS = ["history", "input", "reply"]
PIPELINE_FILE = "pipeline_config.json"  # beside a preprocessed dataset: the settings that made it
DATA_ATTRIBUTE = "dialogue_data"  # in a checkpoint's config.json: the data settings training used
SAMPLE_FEATURES = Features({"history": List(List(Value("int64"))), "input": List(Value("int64")), "reply": List(Value("int64"))})
COUNT_COLUMNS = [cleaning.EMPTY_UTTERANCE, cleaning.INVISIBLE_ONLY, "invisible_removed"]
DEDUP_COLUMNS = ["drop_reason", "first_key", "echoes"]


@dataclass
class PipelineSummary:
    """What went in, what was dropped or changed and why, and what came out."""

    dialogues_read: int = 0
    utterances_cleaned: dict[str, int] = field(default_factory=dict)
    utterances_dropped: dict[str, int] = field(default_factory=dict)
    dialogues_dropped: dict[str, int] = field(default_factory=dict)
    splits: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_markdown(self) -> str:
        lines = ["| stage | count |", "| --- | ---: |", f"| dialogues read | {self.dialogues_read:,} |"]
        lines += [f"| utterances cleaned: {reason} | {count:,} |" for reason, count in self.utterances_cleaned.items()]
        lines += [f"| utterances dropped: {reason} | {count:,} |" for reason, count in self.utterances_dropped.items()]
        lines += [f"| dialogues dropped: {reason} | {count:,} |" for reason, count in self.dialogues_dropped.items()]
        for name, counts in self.splits.items():
            lines += [f"| {name}: {key} | {value:,} |" for key, value in counts.items()]
        return "\n".join(lines)


def step_fingerprint(dataset: Dataset, function, fn_kwargs: dict) -> str:
    """Fingerprint of a map step that changes with the code of the module that defines `function`.

    `datasets` hashes an importable function by its name only, so an upgraded library would reuse the
    cache of its older self; hashing the module's source makes a code change a cache miss.
    """
    return Hasher.hash([dataset._fingerprint, code_hash(sys.modules[function.__module__].__file__), fn_kwargs])


def clean_and_dedup(dialogues: Dataset, config: PipelineConfig, summary: PipelineSummary) -> tuple[Dataset, pa.ChunkedArray]:
    """Cleaning then the two dedup rules: the kept dialogues and their first utterances' keys (for the split).

    Every dropped utterance and dialogue is counted in `summary` under its reason, and so is every utterance
    that lost invisible characters."""
    summary.dialogues_read = len(dialogues)
    fn_kwargs = {"max_utterance_chars": config.max_utterance_chars}
    cleaned = dialogues.with_format("arrow").map(
        cleaning.clean_table,
        batched=True,
        batch_size=config.preprocessing_batch_size,
        num_proc=config.preprocessing_num_workers,
        fn_kwargs=fn_kwargs,
        new_fingerprint=step_fingerprint(dialogues, cleaning.clean_table, fn_kwargs),
        desc="Cleaning",
    )
    counts = cleaned.select_columns(COUNT_COLUMNS).with_format("arrow")[:]
    total = {column: pc.sum(counts[column]).as_py() or 0 for column in COUNT_COLUMNS}
    summary.utterances_cleaned = {"control or zero-width characters removed": total["invisible_removed"]}
    summary.utterances_dropped = {reason: total[reason] for reason in (cleaning.EMPTY_UTTERANCE, cleaning.INVISIBLE_ONLY)}
    rules = cleaned.select_columns(DEDUP_COLUMNS).with_format("arrow")[:]
    keep, dropped = cleaning.apply_drop_rules(rules, config.dedup)
    summary.dialogues_dropped = dict(dropped)
    return cleaned.with_format(None).select(keep).select_columns(["dialogue"]), rules["first_key"].take(keep)


def sample_indices(lengths: np.ndarray, max_history: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For dialogues of `lengths` utterances laid end to end: each sample's input utterance, and its history
    as offsets into a flat list of utterance indices (up to `max_history` right before the input).

    n utterances -> n-1 samples: reply i+1 to input i."""
    ends = np.cumsum(lengths)
    is_input = np.ones(lengths.sum(), dtype=bool)
    is_input[ends[lengths > 0] - 1] = False
    inputs = np.flatnonzero(is_input)
    starts = np.repeat(ends - lengths, np.maximum(lengths - 1, 0))
    first = np.maximum(starts, inputs - max_history)
    history_lengths = inputs - first
    history_offsets = np.concatenate([[0], np.cumsum(history_lengths)])
    history = np.arange(history_offsets[-1]) - np.repeat(history_offsets[:-1] - first, history_lengths)
    return inputs, history_offsets, history


def samples_table(batch: pa.Table, tokenizer: PreTrainedTokenizerBase, max_history: int) -> pa.Table:
    """Tokenise every utterance of the batch once, then expand into samples by index (in C): the ids are
    written to the cache once, as samples."""
    dialogues = batch["dialogue"].combine_chunks()
    ids = encode_utterances(pc.list_flatten(dialogues).to_pylist(), tokenizer)
    utterances = pa.array(ids, type=pa.list_(pa.int64()))
    inputs, history_offsets, history = sample_indices(dialogues.value_lengths().to_numpy(), max_history)
    return pa.table({
        "history": pa.ListArray.from_arrays(pa.array(history_offsets, pa.int32()), utterances.take(history)),
        "input": utterances.take(inputs),
        "reply": utterances.take(inputs + 1),
    })


def dialogues_to_samples(dialogues: Dataset, tokenizer: PreTrainedTokenizerBase, config: PipelineConfig) -> Dataset:
    if len(dialogues) == 0:  # `map` over no rows would return no columns either
        return Dataset.from_dict({column: [] for column in SAMPLE_COLUMNS}, features=SAMPLE_FEATURES)
    fn_kwargs = {"tokenizer": tokenizer, "max_history": config.max_history}
    return dialogues.with_format("arrow").map(
        samples_table,
        batched=True,
        batch_size=config.preprocessing_batch_size,
        num_proc=config.preprocessing_num_workers,
        fn_kwargs=fn_kwargs,
        features=SAMPLE_FEATURES,
        new_fingerprint=step_fingerprint(dialogues, samples_table, fn_kwargs),
        remove_columns=dialogues.column_names,
        desc="Tokenizing and expanding into samples",
    ).with_format(None)


def is_validation(first_key: str, validation_size: float, seed: int) -> bool:
    """A stable hash of the dialogue's opening: the same dialogue falls on the same side whatever else is in
    the data (with dedup on or off), and dialogues that open alike never straddle the split."""
    digest = hashlib.blake2b(f"{seed}\x00{first_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < validation_size * 2**64


def split_by_dialogue(dialogues: Dataset, first_keys: pa.ChunkedArray, validation_size: float, seed: int) -> DatasetDict:
    """Split before expansion, so no dialogue feeds both train and validation."""
    if validation_size <= 0:
        return DatasetDict(train=dialogues)
    sides = np.array([is_validation(key, validation_size, seed) for key in first_keys.to_pylist()], dtype=bool)
    return DatasetDict(train=dialogues.select(np.flatnonzero(~sides)), validation=dialogues.select(np.flatnonzero(sides)))


def count_split(dialogues: Dataset, samples: Dataset) -> dict[str, int]:
    tokens = 0
    if len(samples):
        table = samples.with_format("arrow")[:]
        tokens = sum(pc.sum(pc.list_value_length(table[column])).as_py() or 0 for column in ("input", "reply"))
    return {"dialogues": len(dialogues), "samples": len(samples), "input+reply tokens": tokens}


def expand_sources(patterns: list[str]) -> list[str]:
    """Globs expanded (sorted), other names kept as given; a glob matching nothing is an error."""
    if not patterns:
        raise DataError("data", "no data given: set `data:` in the config or pass --data FILE...")
    sources: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(str(Path(pattern).expanduser())))
            if not matches:
                raise DataError(pattern, "no file matches this pattern")
            sources += matches
        else:
            sources.append(pattern)
    return sources


def prepare_dataset(
    sources: list[str | Path] | Dataset, tokenizer: PreTrainedTokenizerBase, config: PipelineConfig | None = None
) -> tuple[DatasetDict, PipelineSummary]:
    """The whole pipeline: dialogue files (or a `dialogue` Dataset) -> train/validation samples + summary.

    A split may come out empty (a few dialogues, none hashed to validation): the summary says so and the
    caller decides; training refuses an empty validation split, `preprocess_data_for_model` has none."""
    config = config or PipelineConfig()
    summary = PipelineSummary()
    name = "dataset" if isinstance(sources, Dataset) else ", ".join(map(str, sources))
    dialogues = sources if isinstance(sources, Dataset) else read_many(list(sources))
    dialogues, first_keys = clean_and_dedup(dialogues, config, summary)
    if len(dialogues) == 0:
        raise DataError(name, f"no training samples: no dialogue is left after cleaning\n{summary.to_markdown()}")
    splits = split_by_dialogue(dialogues, first_keys, config.validation_size, config.seed)
    samples = DatasetDict()
    for split_name, split in splits.items():
        samples[split_name] = dialogues_to_samples(split, tokenizer, config)
        summary.splits[split_name] = count_split(split, samples[split_name])
        if len(split) == 0:
            logger.warning("The %s split of %s is empty (%d dialogues in all)", split_name, name, len(dialogues))
    logger.info("Pipeline summary:\n%s", summary.to_markdown())
    return samples, summary


def preprocess_data_for_model(
    src: str | Path,
    dest: str | Path,
    tokenizer: PreTrainedTokenizerBase | str | None = None,
    max_history: int = 3,
) -> list[dict[str, list]]:
    """The original contract: a pickle of dialogues in, a pickle of all samples (no split) out, also returned."""
    if tokenizer is None or isinstance(tokenizer, (str, Path)):
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer or DEFAULT_TOKENIZER))
    dataset, summary = prepare_dataset([src], tokenizer, PipelineConfig(max_history=max_history, validation_size=0))
    samples = [{"input": s["input"], "reply": s["reply"], "history": s["history"]} for s in dataset["train"]]
    with open(dest, "wb") as stream:
        pickle.dump(samples, stream)
    logger.info("Wrote %d samples to %s", len(samples), dest)
    return samples


def save_samples(samples: DatasetDict, directory: str | Path, config: PipelineConfig, sources: list[str], tokenizer_name: str) -> None:
    """`save_to_disk`, with `pipeline_config.json` beside it: the sources, tokenizer and settings that made it,
    which `train` checks its format against and records in the checkpoint. An empty split is refused: it would
    not load back, and training needs both."""
    empty = [name for name, split in samples.items() if len(split) == 0]
    if empty:
        raise DataError(", ".join(map(str, sources)), f"the {' and '.join(empty)} split would be empty (validation_size "
                        f"{config.validation_size} of these dialogues); give more dialogues or change --validation_size")
    samples.save_to_disk(str(directory))
    record = {"data": [str(source) for source in sources], "tokenizer_name": tokenizer_name, **config.shaping_settings()}
    Path(directory, PIPELINE_FILE).write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def load_pipeline_settings(directory: str | Path) -> dict:
    """What `save_samples` recorded; empty for a directory saved without it."""
    path = Path(directory, PIPELINE_FILE)
    if not path.exists():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(path, f"not valid JSON ({error}); preprocess the data again") from None
    if not isinstance(record, dict):
        raise DataError(path, "expected an object of settings; preprocess the data again")
    return record
