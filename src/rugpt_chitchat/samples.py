"""From dialogues to training samples: clean, dedup, split by dialogue, tokenise, expand.

A sample is the original format `{"history": [[ids]…], "input": [ids], "reply": [ids]}`: the ids are the
utterances' own (no special tokens); the dialogue format adds speakers, bos and eos at collation time.
"""

from __future__ import annotations

import glob
import hashlib
import inspect
import json
import logging
import pickle
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.compute as pc
from datasets import Dataset, DatasetDict
from datasets.fingerprint import Hasher
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from . import cleaning
from .config import PipelineArguments, SeedArguments, same_as
from .errors import DataError
from .format import encode_utterances
from .readers import read_many

logger = logging.getLogger(__name__)

DEFAULT_TOKENIZER = "ai-forever/rugpt3small_based_on_gpt2"
SAMPLE_COLUMNS = ["history", "input", "reply"]
PIPELINE_FILE = "pipeline_config.json"  # beside a preprocessed dataset: the settings that made it
DATA_ATTRIBUTE = "dialogue_data"  # in a checkpoint's config.json: the data settings training used
SHAPING_SETTINGS = ("max_history", "validation_size", "seed", "dedup", "max_utterance_chars")  # decide the samples


@dataclass
class PipelineConfig:
    """The pipeline's settings; defaults and meaning are those of `PipelineArguments` (the CLI's names)."""

    max_history: int = same_as(PipelineArguments, "max_history")
    validation_size: float = same_as(PipelineArguments, "validation_size")
    seed: int = same_as(SeedArguments, "seed")
    num_proc: int | None = same_as(PipelineArguments, "preprocessing_num_workers")
    batch_size: int = same_as(PipelineArguments, "preprocessing_batch_size")
    max_utterance_chars: int = same_as(PipelineArguments, "max_utterance_chars")
    dedup: bool = same_as(PipelineArguments, "dedup")

    @classmethod
    def from_arguments(cls, arguments: PipelineArguments, seed: int) -> PipelineConfig:
        return cls(
            max_history=arguments.max_history,
            validation_size=arguments.validation_size,
            seed=seed,
            num_proc=arguments.preprocessing_num_workers,
            batch_size=arguments.preprocessing_batch_size,
            max_utterance_chars=arguments.max_utterance_chars,
            dedup=arguments.dedup,
        )

    def shaping_settings(self) -> dict:
        """The settings that decide which samples come out (not how fast): what an artifact records."""
        return {name: value for name, value in asdict(self).items() if name in SHAPING_SETTINGS}


@dataclass
class PipelineSummary:
    """What went in, what was dropped and why, and what came out."""

    dialogues_read: int = 0
    empty_utterances_dropped: int = 0
    dialogues_dropped: dict[str, int] = field(default_factory=dict)
    splits: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_markdown(self) -> str:
        lines = ["| stage | count |", "| --- | ---: |", f"| dialogues read | {self.dialogues_read:,} |"]
        lines.append(f"| empty utterances dropped | {self.empty_utterances_dropped:,} |")
        lines += [f"| dialogues dropped: {reason} | {count:,} |" for reason, count in self.dialogues_dropped.items()]
        for name, counts in self.splits.items():
            lines += [f"| {name}: {key} | {value:,} |" for key, value in counts.items()]
        return "\n".join(lines)


def step_fingerprint(dataset: Dataset, function, fn_kwargs: dict) -> str:
    """Fingerprint of a map step that changes with the code of the module that defines `function`.

    `datasets` hashes an importable function by its name only, so an upgraded library would reuse the
    cache of its older self; hashing the module's source makes a code change a cache miss.
    """
    source = inspect.getsource(sys.modules[function.__module__])
    return Hasher.hash([dataset._fingerprint, source, fn_kwargs])


def clean_and_dedup(dialogues: Dataset, config: PipelineConfig, summary: PipelineSummary) -> Dataset:
    """Cleaning then the two dedup rules; every dropped dialogue is counted in `summary` under its reason."""
    summary.dialogues_read = len(dialogues)
    fn_kwargs = {"max_utterance_chars": config.max_utterance_chars}
    cleaned = dialogues.map(
        cleaning.clean_batch,
        batched=True,
        batch_size=config.batch_size,
        num_proc=config.num_proc,
        fn_kwargs=fn_kwargs,
        new_fingerprint=step_fingerprint(dialogues, cleaning.clean_batch, fn_kwargs),
        desc="Cleaning",
    )
    columns = cleaned.select_columns(["empty_utterances", "drop_reason", "first_key", "echoes"]).to_dict()
    summary.empty_utterances_dropped = sum(columns["empty_utterances"])
    keep, dropped = cleaning.apply_drop_rules(columns["drop_reason"], columns["first_key"], columns["echoes"], config.dedup)
    summary.dialogues_dropped = dict(dropped)
    return cleaned.select(keep).select_columns(["dialogue", "first_key"])


def tokenize_dialogues(dialogues: list[list[str]], tokenizer: PreTrainedTokenizerBase) -> list[list[list[int]]]:
    """One tokenizer call for all utterances of a batch, cut back into dialogues: each utterance once."""
    ids = encode_utterances([utterance for dialogue in dialogues for utterance in dialogue], tokenizer)
    tokenized, start = [], 0
    for dialogue in dialogues:
        tokenized.append(ids[start : start + len(dialogue)])
        start += len(dialogue)
    return tokenized


def expand_dialogue(ids: list[list[int]], max_history: int, samples: dict[str, list]) -> None:
    """n utterances -> n-1 samples: reply i+1 to input i, with up to `max_history` utterances before i."""
    for i in range(len(ids) - 1):
        samples["history"].append(ids[max(0, i - max_history) : i])
        samples["input"].append(ids[i])
        samples["reply"].append(ids[i + 1])


def samples_batch(batch: dict[str, list], tokenizer: PreTrainedTokenizerBase, max_history: int) -> dict[str, list]:
    """Tokenise and expand in one step, so the token ids are written to the cache once, as samples."""
    samples: dict[str, list] = {column: [] for column in SAMPLE_COLUMNS}
    for ids in tokenize_dialogues(batch["dialogue"], tokenizer):
        expand_dialogue(ids, max_history, samples)
    return samples


def dialogues_to_samples(dialogues: Dataset, tokenizer: PreTrainedTokenizerBase, config: PipelineConfig) -> Dataset:
    fn_kwargs = {"tokenizer": tokenizer, "max_history": config.max_history}
    return dialogues.map(
        samples_batch,
        batched=True,
        batch_size=config.batch_size,
        num_proc=config.num_proc,
        fn_kwargs=fn_kwargs,
        new_fingerprint=step_fingerprint(dialogues, samples_batch, fn_kwargs),
        remove_columns=dialogues.column_names,
        desc="Tokenizing and expanding into samples",
    )


def is_validation(first_key: str, validation_size: float, seed: int) -> bool:
    """A stable hash of the dialogue's opening: the same dialogue falls on the same side whatever else is in
    the data (with dedup on or off), and dialogues that open alike never straddle the split."""
    digest = hashlib.blake2b(f"{seed}\x00{first_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < validation_size * 2**64


def split_by_dialogue(dialogues: Dataset, validation_size: float, seed: int) -> DatasetDict:
    """Split before expansion, so no dialogue feeds both train and validation."""
    if validation_size <= 0:
        return DatasetDict(train=dialogues)
    keys = dialogues.select_columns(["first_key"]).to_dict()["first_key"]
    sides = [is_validation(key, validation_size, seed) for key in keys]
    return DatasetDict(
        train=dialogues.select([i for i, side in enumerate(sides) if not side]),
        validation=dialogues.select([i for i, side in enumerate(sides) if side]),
    )


def count_split(dialogues: Dataset, samples: Dataset) -> dict[str, int]:
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
    """The whole pipeline: dialogue files (or a `dialogue` Dataset) -> train/validation samples + summary."""
    config = config or PipelineConfig()
    summary = PipelineSummary()
    name = "dataset" if isinstance(sources, Dataset) else ", ".join(map(str, sources))
    dialogues = sources if isinstance(sources, Dataset) else read_many(list(sources))
    dialogues = clean_and_dedup(dialogues, config, summary)
    needed = 2 if config.validation_size > 0 else 1
    if len(dialogues) < needed:
        raise DataError(name, f"no training samples left after cleaning ({len(dialogues)} dialogues kept)\n{summary.to_markdown()}")
    splits = split_by_dialogue(dialogues, config.validation_size, config.seed)
    samples = DatasetDict()
    for split_name, split in splits.items():
        samples[split_name] = dialogues_to_samples(split, tokenizer, config)
        summary.splits[split_name] = count_split(split, samples[split_name])
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
    which `train` checks its format against and records in the checkpoint."""
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
