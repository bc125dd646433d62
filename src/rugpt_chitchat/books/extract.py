"""A whole library -> one dialogue corpus: a `datasets` pipeline with one record per book.

Books are listed first (`library.find_books`: names only, so memory does not grow with the library),
then `Dataset.from_generator` reads and extracts them in `preprocessing_num_workers` processes, one book at
a time, into the `datasets` cache on disk (a second run with the same books and settings is served from it).
The main process then goes through the books in order, keeps each language and text once
(`selection.DuplicateFinder`), writes the dialogues of the kept books, and writes one CSV row per book
(kept, or why not) beside the output.

Each process extracts a text once: copies of a book (renamed, re-encoded, fb2-wrapped) have the same paragraphs,
and `ExtractionMemo` serves them the dialogues and counts the first copy gave.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .turns import SKIP_REASONS, BookReport, Dialogue, book_layout, group_dialogues
from ..errors import DataError
from .library import BookRef, find_books, read_book
from .selection import DuplicateFinder, paragraph_sketch, text_hash, title_key

logger = logging.getLogger(__name__)

# characters of dialogue the memo keeps per process (about 25 MB): the dialogues of the 269 shared books are 5.9
# million, so copies a whole shelf apart are still served
MEMO_MAX_CHARS = 8_000_000
MEMO_MAX_TEXTS = 20_000  # layouts and sketches of texts seen: a few hundred bytes each
_REPORT_COUNTS = ("turns", "dialogues", "lookalikes", "dashless_remarks", "speaker_splits", "tails_said_to_another")

OUTPUT_FORMATS = ("auto", "text", "jsonl", "datasets")
REPORT_COLUMNS = (
    "book", "status", "reason", "lang", "title", "author", "encoding", "layout", "paragraphs", "turns", "dialogues",
    "control_chars", "lookalikes", "dashless_remarks", "speaker_splits", "tails_said_to_another", *(f"skipped_{reason}" for reason in SKIP_REASONS),
)  # fmt: skip


@dataclass
class ExtractArguments:
    """`rugpt-chitchat extract-dialogues`: which books, which rules, where the dialogues go."""

    books: list[str] = field(
        default_factory=list,
        metadata={"help": "Book files (.txt, .fb2, maybe .gz/.xz/.bz2), zip archives of them (nested too, "
                  ".fb2.zip) or directories searched recursively."},
    )  # fmt: skip
    output: str = field(default="", metadata={"help": "Where the dialogues go; the per-book report goes beside it."})
    output_format: str = field(
        default="auto",
        metadata={"help": "text (`- реплика` lines), jsonl, or datasets (a directory that preprocess and train "
                  "read); auto: jsonl for .jsonl, datasets for a name without a suffix, else text.",
                  "choices": OUTPUT_FORMATS},
    )  # fmt: skip
    lang: str | None = field(default=None, metadata={"help": "Keep only books in this language (ru): fb2 <lang>, else the script."})
    dedup: bool = field(default=True, metadata={"help": "Keep each book once (same text, or same title+author and near-identical text)."})
    near_duplicate_similarity: float = field(
        default=0.8, metadata={"help": "Share of paragraphs two editions of one title and author must share to count as one book."}
    )
    max_narrative: int = field(default=0, metadata={"help": "Short narrative paragraphs allowed between two turns."})
    narrative_max_chars: int = field(default=200, metadata={"help": "Longest narrative paragraph --max_narrative lets through."})
    max_turn_chars: int = field(default=1000, metadata={"help": "Longer turns end the dialogue (counted as long_turn)."})
    split_speakers: bool = field(
        default=True,
        metadata={"help": "Cut a dialogue where a third person speaks, where the same person would speak twice in a row, "
                  "or where a narrative paragraph let through by --max_narrative names a newcomer (--split_speakers false: "
                  "keep runs of turns whole)."},
    )  # fmt: skip
    max_book_mb: float = field(default=64.0, metadata={"help": "Larger books are skipped (and reported): a guard against zip bombs."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes reading and extracting books."})

    def resolved_format(self) -> str:
        if self.output_format != "auto":
            return self.output_format
        suffix = Path(self.output).suffix.lower()
        return "jsonl" if suffix == ".jsonl" else "datasets" if not suffix else "text"

    def report_path(self) -> Path:
        output = Path(self.output)
        return output.with_name(f"{output.stem if output.suffix else output.name}.books.csv")


@dataclass
class ExtractionSummary:
    """Books by status, dialogues written, and where everything went."""

    statuses: Counter
    dialogues: int
    turns: int
    megabytes: float
    output: Path
    report: Path

    def to_markdown(self) -> str:
        rows = [f"| {status} | {count:,} |" for status, count in sorted(self.statuses.items())]
        return "\n".join([
            "| books | count |", "| --- | ---: |", *rows,
            f"\n{self.dialogues:,} dialogues ({self.turns:,} turns) from {self.megabytes:.1f} MB of books -> {self.output}",
            f"Per-book report: {self.report}",
        ])  # fmt: skip


class ExtractionMemo:
    """What `group_dialogues` gave for the texts extracted last in this process, keyed by text hash, layout and
    rules; least recently used entries go first once their dialogues pass `max_chars` characters."""

    def __init__(self, max_chars: int = MEMO_MAX_CHARS, max_texts: int = MEMO_MAX_TEXTS):
        self.max_chars, self.chars, self.max_texts = max_chars, 0, max_texts
        self.entries: OrderedDict[tuple, tuple[list[Dialogue], BookReport, int]] = OrderedDict()
        self.readings: OrderedDict[bytes, tuple[str, bytes]] = OrderedDict()

    def layout_and_sketch(self, paragraphs: list[str], digest: bytes, sketch: bool) -> tuple[str, bytes]:
        """The layout of the text `digest` hashes and, when asked, its near-duplicate sketch: both read only its
        paragraphs, so a copy is served them (b"" for a sketch not asked)."""
        readings = self.readings.get(digest)
        if readings is None or (sketch and not readings[1]):
            layout = readings[0] if readings else book_layout(paragraphs) if paragraphs else "dash"
            readings = self.readings[digest] = (layout, paragraph_sketch(paragraphs) if sketch else b"")
            if len(self.readings) > self.max_texts:
                self.readings.popitem(last=False)
        self.readings.move_to_end(digest)
        return readings

    def dialogues(self, paragraphs: list[str], report: BookReport, digest: bytes, layout: str, rules: dict) -> list[Dialogue]:
        """The dialogues of `paragraphs` (`digest` their `text_hash`), their counts added to `report`: extracted,
        or served for a text seen (the same Dialogue objects: read them, do not change them)."""
        key = (digest, layout, *sorted(rules.items()))
        entry = self.entries.get(key)
        if entry is None:
            counts = BookReport(report.name)
            found = group_dialogues(paragraphs, counts, layout=layout, **rules)
            entry = self._store(key, found, counts)
        else:
            self.entries.move_to_end(key)
        found, counts, _ = entry
        for name in _REPORT_COUNTS:
            setattr(report, name, getattr(report, name) + getattr(counts, name))
        report.skipped.update(counts.skipped)
        return list(found)  # the Dialogues themselves are shared: copying them cost more than the lookup

    def _store(self, key: tuple, found: list[Dialogue], counts: BookReport) -> tuple[list[Dialogue], BookReport, int]:
        chars = sum(len(turn) for dialogue in found for turn in dialogue.turns)
        entry = (found, counts, chars)
        if chars > self.max_chars:
            return entry
        self.entries[key] = entry
        self.chars += chars
        while self.chars > self.max_chars:
            self.chars -= self.entries.popitem(last=False)[1][2]
        return entry


_MEMO = ExtractionMemo()


def extract_book(ref: BookRef, args: ExtractArguments) -> tuple[list[Dialogue], BookReport, dict]:
    """Dialogues of one book, its report, and what selection needs (`status`, `text_hash`, `sketch`, `key`)."""
    book = read_book(ref, int(args.max_book_mb * 1e6))
    digest = text_hash(book.paragraphs)
    layout, sketch = _MEMO.layout_and_sketch(book.paragraphs, digest, sketch=args.dedup)
    report = BookReport(book.name, book.encoding, book.lang, book.title, book.author, layout, control_chars=book.control_chars)
    report.skipped["notes"] = book.notes
    report.paragraphs = len(book.paragraphs) + book.notes
    selection = {"status": "read", "key": title_key(book.title, book.author), "megabytes": book.size / 1e6}
    if args.lang and book.lang != args.lang:
        selection["status"] = "other_language"
        return [], report, selection
    if args.dedup:
        selection.update(text_hash=digest, sketch=sketch)
    rules = {name: getattr(args, name) for name in ("max_narrative", "narrative_max_chars", "max_turn_chars", "split_speakers")}
    return _MEMO.dialogues(book.paragraphs, report, digest, layout, rules), report, selection


def _book_records(refs: list[dict], args: dict, code: str):
    """One record per book: its dialogues, its report and selection fields; an unreadable book, its reason.

    `args` holds only what shapes a book's record, and `code` (unused here) the code's version: both key the cache.
    """
    from ..data.readers import gc_paused  # datasets runs this generator: its import costs nothing more here

    arguments = ExtractArguments(**args)
    for ref in refs:
        ref = BookRef(ref["path"], tuple(ref["members"]))
        try:
            with gc_paused():  # the word caches: see gc_paused
                dialogues, report, selection = extract_book(ref, arguments)
        except DataError as error:
            dialogues, report, selection = [], BookReport(ref.name), {"status": "unreadable", "reason": error.problem}
        yield {"book": ref.name, "dialogues": [d.turns for d in dialogues], "speakers": [d.speakers for d in dialogues],
               "report": json.dumps(report.as_row(), ensure_ascii=False),
               "text_hash": b"", "sketch": b"", "key": "", "reason": "", "megabytes": 0.0, **selection}  # fmt: skip


def _ref_record(ref: BookRef) -> dict:
    # size and mtime: an edited archive is read again instead of served from the datasets cache
    stat = os.stat(ref.path)
    return {"path": ref.path, "members": list(ref.members), "size": stat.st_size, "mtime": stat.st_mtime_ns}


def _record_settings(args: ExtractArguments) -> dict:
    shaping = ("lang", "dedup", "max_narrative", "narrative_max_chars", "max_turn_chars", "split_speakers", "max_book_mb")
    return {name: getattr(args, name) for name in shaping}


def _code_version() -> str:
    """Hash of the reading and extraction code: `datasets` fingerprints the generator by reference, so without
    this a new version of the rules would be served the dialogues the old one cached."""
    from . import fb2, layouts, library, remarks, selection, speakers, turns

    modules = (fb2, layouts, library, remarks, selection, speakers, turns)
    sources = b"".join(Path(path).read_bytes() for path in (__file__, *(module.__file__ for module in modules)))
    return hashlib.blake2b(sources, digest_size=16).hexdigest()


def read_library(args: ExtractArguments):
    """The per-book records of every book under `args.books` (a cached Dataset), and what could not be used."""
    from datasets import Dataset, Features, List, Value

    library = find_books(args.books)
    logger.info("%d books found, %d paths or members unusable", len(library.books), len(library.unreadable))
    if not library.books:
        reasons = "; ".join(f"{problem.name}: {problem.reason}" for problem in library.unreadable[:5])
        raise DataError(", ".join(args.books), f"no books to read ({reasons})")
    features = Features({
        "book": Value("string"), "dialogues": List(List(Value("string"))), "speakers": List(List(Value("string"))), "report": Value("string"), "status": Value("string"),
        "reason": Value("string"), "key": Value("string"), "text_hash": Value("binary"), "sketch": Value("binary"),
        "megabytes": Value("float64"),
    })  # fmt: skip
    num_proc = min(args.preprocessing_num_workers or 1, len(library.books))
    records = Dataset.from_generator(
        _book_records,
        features=features,
        gen_kwargs={"refs": [_ref_record(ref) for ref in library.books], "args": _record_settings(args), "code": _code_version()},
        num_proc=num_proc if num_proc > 1 else None,
        writer_batch_size=16,  # a batch of books' dialogues in memory per process, not thousands
    )
    return records, library.unreadable


def select_books(records, args: ExtractArguments) -> tuple[list[int], list[dict]]:
    """Indices of the books to keep, and one report row per book (status `kept`, or why not)."""
    finder = DuplicateFinder(args.near_duplicate_similarity)
    kept, rows = [], []
    columns = records.select_columns(["report", "status", "reason", "key", "text_hash", "sketch"])
    for index, record in enumerate(tqdm(columns, desc="selecting books", unit="book")):
        report = json.loads(record["report"])
        status, reason = record["status"], record["reason"]
        if status == "other_language":
            reason = f"language {report['lang'] or 'unknown'!r}, not {args.lang!r}"
        elif status == "read":
            original = args.dedup and finder.duplicate_of(report["name"], record["key"], record["text_hash"], record["sketch"])
            status, reason = ("duplicate", f"same book as {original}") if original else ("kept", _no_dialogue_reason(report))
        if status == "kept":
            kept.append(index)
        rows.append(_report_row(report, status, reason))
    return kept, rows


def _no_dialogue_reason(report: dict) -> str:
    """Why a kept book gave no dialogue ('' when it gave some): its layout and where its turns went."""
    if report["dialogues"]:
        return ""
    skipped = ", ".join(f"{reason} {report[f'skipped_{reason}']}" for reason in SKIP_REASONS if report[f"skipped_{reason}"])
    return f"no dialogue: {report['layout']} layout, no two turns in a row ({skipped})"


def _report_row(report: dict, status: str, reason: str) -> dict:
    return {"book": report.pop("name"), "status": status, "reason": reason, **report}


def write_report(rows: list[dict], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=REPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def write_dialogues(records, kept: list[int], path: Path, output_format: str) -> tuple[int, int]:
    """Dialogues of the kept books to `path`: `- реплика` text, JSONL or a saved Dataset (both with `speakers`:
    the name the author gives each turn's speaker, or null; and `book`, the book it comes from, as in the CSV);
    (dialogues, turns)."""
    from datasets import Features, List, Value

    books = records.select(kept).select_columns(["book", "dialogues", "speakers"])
    if output_format == "datasets":
        features = Features({"dialogue": List(Value("string")), "speakers": List(Value("string")), "book": Value("string")})
        dialogues = books.map(
            lambda batch: {"dialogue": [d for book in batch["dialogues"] for d in book],
                           "speakers": [s for book in batch["speakers"] for s in book],
                           "book": [name for name, book in zip(batch["book"], batch["dialogues"]) for _ in book]},
            batched=True, batch_size=16, remove_columns=["dialogues", "speakers"], features=features, desc="collecting dialogues",
        )  # fmt: skip
        dialogues.save_to_disk(str(path))
        return len(dialogues), sum(map(len, dialogues["dialogue"]))
    count = turns = 0
    with path.open("w", encoding="utf-8") as file:
        for batch in tqdm(books.iter(batch_size=16), total=-(-len(books) // 16), desc="writing dialogues", unit="batch"):
            for dialogue, speakers, name in zip(
                (d for book in batch["dialogues"] for d in book), (s for book in batch["speakers"] for s in book),
                (name for name, book in zip(batch["book"], batch["dialogues"]) for _ in book),
            ):
                count, turns = count + 1, turns + len(dialogue)
                if output_format == "jsonl":
                    record = {"dialogue": dialogue, "speakers": speakers, "book": name}
                    file.write(json.dumps(record, ensure_ascii=False) + "\n")
                else:
                    file.write("".join(f"- {turn}\n" for turn in dialogue) + "\n")
    return count, turns


def extract_library(args: ExtractArguments) -> ExtractionSummary:
    """Read, select and extract every book under `args.books`; write the dialogues and the per-book CSV."""
    if not args.books:
        raise DataError("arguments", "no books given: --books PATH [PATH ...]")
    if not args.output:
        raise DataError("arguments", "no output given: --output FILE (or a directory for --output_format datasets)")
    records, unreadable = read_library(args)
    kept, rows = select_books(records, args)
    rows += [_report_row(BookReport(problem.name).as_row(), "unreadable", problem.reason) for problem in unreadable]
    report_path = args.report_path()
    report_path.parent.mkdir(parents=True, exist_ok=True)
    write_report(rows, report_path)
    statuses = Counter(row["status"] for row in rows)
    if not kept:
        reasons = "; ".join(f"{row['book']}: {row['status']} {row['reason']}" for row in rows[:5])
        raise DataError(", ".join(args.books), f"no book left to extract dialogues from ({reasons}); see {report_path}")
    dialogues, turns = write_dialogues(records, kept, Path(args.output), args.resolved_format())
    if not dialogues:
        raise DataError(", ".join(args.books), f"no dialogue in the {len(kept)} books kept (a turn is a paragraph "
                        f"opening with a dash, and a dialogue two turns in a row); see {report_path}")
    megabytes = sum(records.select(kept)["megabytes"])
    return ExtractionSummary(statuses, dialogues, turns, megabytes, Path(args.output), report_path)
