"""Read dialogues (lists of utterances) from pickles, `- реплика` text, JSONL or the Hub into a `Dataset`.

Every reader yields `{"dialogue": list[str]}` records through `Dataset.from_generator`, so the result
lives in the `datasets` cache (keyed by path, size and mtime) and every later `.map` step is cached too.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import logging
import lzma
import pickle
from collections.abc import Iterator
from pathlib import Path

from datasets import Dataset, Features, List, Value, concatenate_datasets, load_dataset, load_from_disk
from datasets.exceptions import DatasetGenerationError

from .errors import DataError

logger = logging.getLogger(__name__)

FEATURES = Features({"dialogue": List(Value("string"))})
_OPENERS = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}
_FORMATS = {".pkl": "pickle", ".pickle": "pickle", ".txt": "text", ".jsonl": "jsonl", ".json": "jsonl"}


class _DialogueUnpickler(pickle.Unpickler):
    """Builds lists, tuples and strings only: a pickle that wants to import or call anything is refused."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        raise DataError(self.source, f"pickle refers to {module}.{name}; only lists of strings are accepted, nothing was executed")


def detect_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _OPENERS:
        suffixes = suffixes[:-1]
    return _FORMATS.get(suffixes[-1] if suffixes else "", "text")


def _open_bytes(path: Path):
    opener = _OPENERS.get(path.suffix.lower(), open)
    return opener(path, "rb")


def _check_dialogue(dialogue, source: str, record: int) -> list[str]:
    if isinstance(dialogue, str):
        raise DataError(source, "a dialogue is a string; expected a list of utterances", record)
    if not isinstance(dialogue, (list, tuple)):
        raise DataError(source, f"a dialogue is {type(dialogue).__name__}; expected a list of utterances", record)
    for turn, utterance in enumerate(dialogue):
        if isinstance(utterance, (list, tuple)):
            raise DataError(source, f"utterance {turn} is a nested list; nesting is too deep (expected list of str)", record)
        if not isinstance(utterance, str):
            raise DataError(source, f"utterance {turn} is {type(utterance).__name__}; expected str", record)
    return list(dialogue)


def load_pickled_dialogues(path: str | Path) -> list[list[str]]:
    """The original format: a pickle of a list of dialogues, read with the restricted unpickler."""
    source = str(path)
    with _open_bytes(Path(path)) as stream:
        data = stream.read()
    if not data:
        raise DataError(source, "the file is empty")
    try:
        dialogues = _DialogueUnpickler(io.BytesIO(data), source).load()
    except DataError:
        raise
    except EOFError:
        raise DataError(source, "the pickle is truncated (unexpected end of data)") from None
    except Exception as error:  # the unpickler raises many types on garbage: all mean "not a pickle of dialogues"
        raise DataError(source, f"not a readable pickle ({type(error).__name__}: {error})") from None
    if not isinstance(dialogues, (list, tuple)):
        raise DataError(source, f"the pickle holds {type(dialogues).__name__}; expected a list of dialogues")
    return [_check_dialogue(dialogue, source, record) for record, dialogue in enumerate(dialogues)]


def _pickle_records(path: str) -> Iterator[dict]:
    for dialogue in load_pickled_dialogues(path):
        yield {"dialogue": dialogue}


def _text_records(path: str) -> Iterator[dict]:
    """`- реплика` lines; blank lines separate dialogues."""
    current: list[str] = []
    record = 0
    with _open_bytes(Path(path)) as stream:
        for line_number, raw in enumerate(stream, start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as error:
                raise DataError(path, f"line {line_number} is not UTF-8 ({error.reason} at byte {error.start})", record) from None
            if line:
                current.append(line)
            elif current:
                yield {"dialogue": current}
                current, record = [], record + 1
    if current:
        yield {"dialogue": current}


def _jsonl_records(path: str) -> Iterator[dict]:
    with _open_bytes(Path(path)) as stream:
        for record, raw in enumerate(line for line in stream if line.strip()):
            try:
                item = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise DataError(path, f"not valid JSON ({error})", record) from None
            if not isinstance(item, dict) or "dialogue" not in item:
                raise DataError(path, 'expected an object {"dialogue": [...]}', record)
            yield {"dialogue": _check_dialogue(item["dialogue"], path, record)}


_READERS = {"pickle": _pickle_records, "text": _text_records, "jsonl": _jsonl_records}


def _read_file(path: Path) -> Dataset:
    if path.stat().st_size == 0:
        raise DataError(path, "the file is empty")
    stat = path.stat()
    reader = _READERS[detect_format(path)]
    # size and mtime are part of gen_kwargs so an edited file is read again instead of served from the cache
    kwargs = {"path": str(path), "size": stat.st_size, "mtime": stat.st_mtime_ns}
    try:
        dataset = Dataset.from_generator(_drop_stat(reader), features=FEATURES, gen_kwargs=kwargs)
    except DatasetGenerationError as error:
        cause = error.__cause__
        raise (cause if isinstance(cause, DataError) else DataError(path, f"could not be read: {cause or error}")) from None
    if len(dataset) == 0:
        raise DataError(path, "no dialogues in the file")
    logger.info("Read %d dialogues from %s", len(dataset), path)
    return dataset


def _drop_stat(reader):
    def generate(path: str, size: int, mtime: int) -> Iterator[dict]:
        yield from reader(path)

    generate.__name__ = f"read_{reader.__name__.strip('_')}"
    return generate


def _looks_local(source: str) -> bool:
    path = Path(source)
    return path.suffix.lower() in {*_FORMATS, *_OPENERS} or source.startswith((".", "/", "~")) or path.parent.exists() and path.parent != Path(".")


def is_dialogue_dataset(path: Path) -> bool:
    """A directory holding a saved `Dataset` (save_to_disk), e.g. `extract-dialogues --output_format datasets`."""
    return (path / "state.json").is_file() and (path / "dataset_info.json").is_file()


def _read_saved_dataset(path: Path) -> Dataset:
    dataset = load_from_disk(str(path))
    if "dialogue" not in dataset.column_names:
        raise DataError(path, f"the saved dataset has no 'dialogue' column (columns: {dataset.column_names})")
    return dataset.select_columns(["dialogue"]).cast(FEATURES)


def read_dialogues(source: str | Path, split: str = "train", column: str = "dialogue") -> Dataset:
    """A `Dataset` with a `dialogue` column from a local file, a saved dialogue Dataset directory or,
    if `source` is no local path, a Hub dataset."""
    path = Path(source).expanduser()
    if path.is_file():
        return _read_file(path)
    if path.is_dir() and is_dialogue_dataset(path):
        return _read_saved_dataset(path)
    if path.exists():
        raise DataError(source, "is a directory but no saved dialogue dataset; give dialogue files (.pkl, .txt[.xz], .jsonl) or a Hub dataset name")
    if _looks_local(str(source)):
        raise DataError(source, "no such file")
    dataset = load_dataset(str(source), split=split)
    if column not in dataset.column_names:
        raise DataError(source, f"the Hub dataset has no {column!r} column (columns: {dataset.column_names})")
    return dataset.select_columns([column]).rename_column(column, "dialogue").cast(FEATURES)


def read_many(sources: list[str | Path]) -> Dataset:
    """All sources, one after another, in the order given."""
    if not sources:
        raise DataError("<no sources>", "no dialogue files given")
    return concatenate_datasets([read_dialogues(source) for source in sources])
