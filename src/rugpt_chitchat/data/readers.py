"""Read dialogues (lists of utterances) from pickles, `- реплика` text, JSONL or the Hub into a `Dataset`.

A local file is parsed into Arrow batches (the columns are built in C by pyarrow, not example by example)
and written once to an Arrow file in the `datasets` cache, named after the file's path, size and mtime and
this module's code; a later run memory-maps it, and every later `.map` step is cached beside it.
"""

from __future__ import annotations

import bz2
import gc
import gzip
import json
import logging
import lzma
import os
import pickle
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain
from pathlib import Path

import pyarrow as pa
from datasets import Dataset, Features, List, Value, concatenate_datasets, config, load_from_disk
from datasets.arrow_writer import ArrowWriter
from datasets.fingerprint import Hasher

from ..errors import DataError
from ..hub import code_hash, load_hub_dataset, looks_local

logger = logging.getLogger(__name__)

FEATURES = Features({"dialogue": List(Value("string"))})
DIALOGUE_TYPE = pa.list_(pa.string())
BATCH_DIALOGUES = 100_000
_OPENERS = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}
_FORMATS = {".pkl": "pickle", ".pickle": "pickle", ".txt": "text", ".jsonl": "jsonl", ".json": "jsonl"}
# what a damaged or truncated compressed file raises while it is decompressed
_STREAM_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error)
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[\w.-]{1,96})?")
# Size guards: what a small file can expand to must fail with a message, not exhaust the memory.
MAX_LINE_BYTES = 16 * 2**20  # a text or JSONL line longer than this is no dialogue (an .xz can inflate to one line)
_CHUNK_BYTES = 2**20
MIN_TEXT_BUDGET = 64 * 2**20  # characters per batch of a pickle always allowed...
MAX_PICKLE_EXPANSION = 8  # ...and beyond that, characters per byte of pickle: only repeated memo references exceed it


class _DialogueUnpickler(pickle.Unpickler):
    """The C unpickler, refusing every global: lists, tuples and strings need none, so a pickle that wants
    to import or call anything (GLOBAL, REDUCE on an imported callable, extension codes) fails before it can."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        raise DataError(self.source, f"pickle refers to {module}.{name}; only lists of strings are accepted, nothing was executed")


def detect_format(path: Path) -> str:
    """The reader for the file's extension (inside .xz/.gz/.bz2); no extension is text, an unknown one an error."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _OPENERS:
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix and suffix not in _FORMATS:
        raise DataError(path, f"unknown extension {suffix!r}: dialogue files are .txt (`- реплика` lines), .pkl or "
                        ".jsonl, maybe compressed (.xz, .gz, .bz2); convert the file to one of them")
    return _FORMATS.get(suffix, "text")


def _open_bytes(path: Path):
    opener = _OPENERS.get(path.suffix.lower(), open)
    return opener(path, "rb")


def _check_dialogue(dialogue, source: str, record: int | None = None, line: int | None = None) -> list[str]:
    """The slow, exact check: names the first thing in `dialogue` that is not a string utterance."""
    if not isinstance(dialogue, (list, tuple)):
        kind = "a string" if isinstance(dialogue, str) else type(dialogue).__name__
        raise DataError(source, f"a dialogue is {kind}; expected a list of utterances", record, line)
    for turn, utterance in enumerate(dialogue):
        if isinstance(utterance, (list, tuple)):
            raise DataError(source, f"utterance {turn} is a nested list; nesting is too deep (expected list of str)", record, line)
        if not isinstance(utterance, str):
            raise DataError(source, f"utterance {turn} is {type(utterance).__name__}; expected str", record, line)
        try:
            utterance.encode("utf-8")
        except UnicodeEncodeError as error:
            raise DataError(source, f"utterance {turn} is not valid Unicode ({error.reason} at {error.start})", record, line) from None
    return list(dialogue)


def _dialogue_array(dialogues: list, source: str, first_record: int, max_chars: int | None = None) -> pa.Array:
    """Lists of strings as an Arrow column, of at most `max_chars` characters. The checks run in C (`map(type, …)`,
    `map(len, …)`); only a batch that fails the type check is walked in Python, to name the first bad record."""
    if set(map(type, dialogues)) <= {list, tuple} and set(map(type, chain.from_iterable(dialogues))) <= {str}:
        chars = sum(map(len, chain.from_iterable(dialogues))) if max_chars is not None else 0
        if max_chars is not None and chars > max_chars:
            raise DataError(source, f"records {first_record}-{first_record + len(dialogues) - 1} hold {chars:,} characters "
                            f"of text, more than the {max_chars:,} this pickle's size allows: it repeats the same strings "
                            "(pickle memo references) far beyond any corpus; refused before it fills the memory")
        try:
            return pa.array(dialogues, type=DIALOGUE_TYPE)
        except UnicodeEncodeError:
            pass  # a lone surrogate: the exact check below names it
    for record, dialogue in enumerate(dialogues, start=first_record):
        _check_dialogue(dialogue, source, record)
    raise DataError(source, "the dialogues cannot be stored as lists of strings")  # pyarrow refused what the check passed


@contextmanager
def gc_paused():
    """The cyclic garbage collector off for work that makes many objects and few cycles: millions of new lists
    would run it again and again (3x the load time of a 1M-dialogue pickle; lists of strings hold no cycles, and a
    pickle that loops is refused right after), and book extraction's full collections walk its word caches
    (4-8 % of it). The first collection after the work takes what cycles it left."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _pickle_batches(stream, source: str) -> Iterator[pa.Array]:
    """The original format: a pickle of a list of dialogues, read with the restricted unpickler."""
    try:
        with gc_paused():
            dialogues = _DialogueUnpickler(stream, source).load()
    except (DataError, OSError, lzma.LZMAError, zlib.error):
        raise  # our own, or the compressed stream's: `_write_arrow` names those
    except EOFError:
        problem = "the file holds no pickle" if stream.tell() == 0 else "the pickle is truncated (unexpected end of data)"
        raise DataError(source, problem) from None
    except Exception as error:  # the unpickler raises many types on garbage: all mean "not a pickle of dialogues"
        raise DataError(source, f"not a readable pickle ({type(error).__name__}: {' '.join(str(error).split())})") from None
    if not isinstance(dialogues, (list, tuple)):
        raise DataError(source, f"the pickle holds {type(dialogues).__name__}; expected a list of dialogues")
    max_chars = max(MIN_TEXT_BUDGET, MAX_PICKLE_EXPANSION * stream.tell())  # tell(): bytes of pickle, decompressed
    for start in range(0, len(dialogues), BATCH_DIALOGUES):
        yield _dialogue_array(dialogues[start : start + BATCH_DIALOGUES], source, start, max_chars)


def _line_batches(stream, source: str) -> Iterator[list[bytes]]:
    """The lines of each 1 MiB read, ending in \\n, \\r\\n or a lone \\r (old Mac files). Read in chunks, a line
    longer than MAX_LINE_BYTES is refused rather than read whole; lists, not lines, so the split stays in C."""
    pending, number = b"", 0
    while chunk := stream.read(_CHUNK_BYTES):
        lines = (pending + chunk).splitlines(keepends=True)
        pending = lines.pop()  # may go on in the next chunk (or be the CR of a CRLF the chunks split)
        number += len(lines)
        yield lines
        if len(pending) > MAX_LINE_BYTES:
            too_long = f"the line is longer than {MAX_LINE_BYTES // 2**20} MiB: no dialogue is (one gigantic line?)"
            raise DataError(source, too_long, line=number + 1)
    if pending:
        yield [pending]


def _decoded_lines(stream, source: str) -> Iterator[tuple[int, str]]:
    """(physical line number, stripped text); a UTF-8 byte order mark on the first line is dropped."""
    number = 0
    for lines in _line_batches(stream, source):
        for raw in lines:
            number += 1
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise DataError(source, f"not UTF-8 ({error.reason} at byte {error.start} of the line); save the file as UTF-8", line=number) from None
            yield number, line.strip()


def _text_batches(stream, source: str) -> Iterator[pa.Array]:
    """`- реплика` lines; blank lines separate dialogues."""
    batch: list[list[str]] = []
    current: list[str] = []
    for _, line in _decoded_lines(stream, source):
        if line:
            current.append(line)
        elif current:
            batch.append(current)
            current = []
            if len(batch) == BATCH_DIALOGUES:
                yield pa.array(batch, type=DIALOGUE_TYPE)
                batch = []
    if current:
        batch.append(current)
    if batch:
        yield pa.array(batch, type=DIALOGUE_TYPE)


def _jsonl_dialogue(line: str, source: str, number: int) -> list[str]:
    try:
        item = json.loads(line)
    except RecursionError:
        raise DataError(source, "JSON nested too deeply to parse; expected {\"dialogue\": [...]}", line=number) from None
    except json.JSONDecodeError as error:
        raise DataError(source, f"not valid JSON ({error.msg} at column {error.colno})", line=number) from None
    except ValueError as error:  # an integer too long to convert
        raise DataError(source, f"not valid JSON ({error})", line=number) from None
    if not isinstance(item, dict) or "dialogue" not in item:
        raise DataError(source, f'expected an object {{"dialogue": [...]}}, got {type(item).__name__}', line=number)
    return _check_dialogue(item["dialogue"], source, line=number)


def _jsonl_batches(stream, source: str) -> Iterator[pa.Array]:
    batch: list[list[str]] = []
    for number, line in _decoded_lines(stream, source):
        if line:
            batch.append(_jsonl_dialogue(line, source, number))
        if len(batch) == BATCH_DIALOGUES:
            yield pa.array(batch, type=DIALOGUE_TYPE)
            batch = []
    if batch:
        yield pa.array(batch, type=DIALOGUE_TYPE)


_READERS = {"pickle": _pickle_batches, "text": _text_batches, "jsonl": _jsonl_batches}


def _cache_file(path: Path) -> Path:
    stat = path.stat()
    # size and mtime make an edited file a cache miss; this module's source, a changed reader
    key = Hasher.hash([str(path.resolve()), stat.st_size, stat.st_mtime_ns, code_hash(__file__)])
    return Path(config.HF_DATASETS_CACHE) / "rugpt_chitchat" / f"dialogues-{key}.arrow"


def _write_arrow(path: Path, target: Path) -> None:
    """Parse `path` into `target` batch by batch, through a partial file so a failed read leaves no cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        with _open_bytes(path) as stream, ArrowWriter(features=FEATURES, path=str(partial)) as writer:
            for array in _READERS[detect_format(path)](stream, str(path)):
                writer.write_table(pa.table({"dialogue": array}))
            writer.finalize()
        partial.replace(target)
    except PermissionError:
        raise DataError(path, "cannot be read: permission denied") from None
    except _STREAM_ERRORS as error:
        raise DataError(path, f"cannot be read ({type(error).__name__}: {error}); is it damaged or truncated?") from None
    finally:
        partial.unlink(missing_ok=True)


def _read_file(path: Path) -> Dataset:
    if path.stat().st_size == 0:
        raise DataError(path, "the file is empty")
    detect_format(path)  # an unknown extension is refused before anything is read
    target = _cache_file(path)
    if not target.exists():
        _write_arrow(path, target)
    dataset = Dataset.from_file(str(target))
    if len(dataset) == 0:
        raise DataError(path, "no dialogues in the file (an empty list, or only blank lines)")
    logger.info("Read %d dialogues from %s", len(dataset), path)
    return dataset


def is_dialogue_dataset(path: Path) -> bool:
    """A directory holding a saved `Dataset` (save_to_disk), e.g. `extract-dialogues --output_format datasets`."""
    return (path / "state.json").is_file() and (path / "dataset_info.json").is_file()


def _read_saved_dataset(path: Path) -> Dataset:
    dataset = load_from_disk(str(path))
    if "dialogue" not in dataset.column_names:
        raise DataError(path, f"the saved dataset has no 'dialogue' column (columns: {dataset.column_names})")
    return dataset.select_columns(["dialogue"]).cast(FEATURES)


def _read_hub(name: str, split: str, column: str) -> Dataset:
    """`load_dataset` for a Hub name; a name the Hub cannot serve is a missing local file as much as a Hub miss."""
    dataset = load_hub_dataset(name, split)
    if column not in dataset.column_names:
        raise DataError(name, f"the Hub dataset has no {column!r} column (columns: {dataset.column_names})")
    return dataset.select_columns([column]).rename_column(column, "dialogue").cast(FEATURES)


def read_dialogues(source: str | Path, split: str = "train", column: str = "dialogue") -> Dataset:
    """A `Dataset` with a `dialogue` column from a local file, a saved dialogue Dataset directory or,
    if `source` is no local path, a Hub dataset."""
    path = Path(source).expanduser()
    if path.is_dir() and is_dialogue_dataset(path):
        return _read_saved_dataset(path)
    if path.is_dir():
        raise DataError(source, "is a directory but no saved dialogue dataset; give dialogue files (.pkl, .txt[.xz], .jsonl) or a Hub dataset name")
    if path.exists():
        return _read_file(path)
    if looks_local(str(source), {*_FORMATS, *_OPENERS}) or not _HUB_ID.fullmatch(str(source)):
        raise DataError(source, "no such file")
    return _read_hub(str(source), split, column)


def read_many(sources: list[str | Path]) -> Dataset:
    """All sources, one after another, in the order given."""
    if not sources:
        raise DataError("<no sources>", "no dialogue files given")
    return concatenate_datasets([read_dialogues(source) for source in sources])
