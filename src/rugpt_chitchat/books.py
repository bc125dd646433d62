"""Dialogues from books: Russian prose (.txt or .fb2) -> lists of spoken turns.

A turn is a paragraph that opens with a dash (—, – or -). The author's words inside it are
set off by a dash after punctuation (`— Нет, — сказал он. — Да.`) and are removed. Joining
rule: the spoken pieces are joined with a space, and a comma that closed a piece before the
author's words becomes a full stop unless the next piece goes on in lower case
(`— Нет, — сказал он. — Да.` -> `Нет. Да.`; `— Нет, — сказал он, — да.` -> `Нет, да.`).
A dialogue is a run of at least two consecutive turns; a narrative paragraph ends it, unless
`max_narrative` allows that many short ones (at most `narrative_max_chars`) between turns.
Every paragraph read is either a kept turn or counted in `BookReport.skipped` by reason.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .errors import DataError

logger = logging.getLogger(__name__)

BOOK_SUFFIXES = (".txt", ".fb2")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
_FOOTNOTE_MARK = re.compile(r"\s?\[\d+\]")
_TURN = re.compile(r"^[—–-](?![—–-])\s*")
# A dash after punctuation, with a space after it, switches between speech and author's words.
_AUTHOR_DASH = re.compile(r"(?<=[,.!?…:;])\s*[—–-]\s+")
_FB2_PARAGRAPHS = {"p", "v", "subtitle", "text-author"}
_FB2_NOTE_BODIES = {"notes", "comments"}


@dataclass
class BookReport:
    """What one book gave: paragraphs read, turns kept, dialogues, and skipped paragraphs by reason."""

    path: str
    encoding: str = ""
    paragraphs: int = 0
    turns: int = 0
    dialogues: int = 0
    control_chars: int = 0
    skipped: Counter = field(default_factory=Counter)


def read_text(path: Path) -> tuple[str, str]:
    """The file's text and its encoding: UTF-8 (BOM allowed), else cp1251, else DataError."""
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise DataError(path, "neither UTF-8 nor cp1251 text; convert it to UTF-8 (e.g. with iconv)")


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of a plain-text book, whether one per line or hard-wrapped.

    Hard-wrapped files (lib.ru style: lines at most ~80 characters, paragraphs start with a
    deeper indent than their continuation lines) are joined back; elsewhere a line is a paragraph.
    """
    lines = [line.rstrip() for line in text.splitlines()]
    filled = [line for line in lines if line.strip()]
    if not filled:
        return []
    indents = Counter(len(line) - len(line.lstrip()) for line in filled)
    base = indents.most_common(1)[0][0]
    lengths = sorted(len(line) for line in filled)
    # wrapped text: almost no line longer than ~80 characters, yet most lines near that width
    wrapped = len(indents) > 1 and lengths[int(0.98 * len(lengths))] <= 100 and lengths[len(lengths) // 2] >= 50
    if not wrapped:
        return [line.strip() for line in filled]
    paragraphs: list[list[str]] = []
    previous_blank = True
    for line in lines:
        if not line.strip():
            previous_blank = True
            continue
        if previous_blank or len(line) - len(line.lstrip()) != base:
            paragraphs.append([])
        paragraphs[-1].append(line.strip())
        previous_blank = False
    return [" ".join(parts) for parts in paragraphs]


class _NoDtdTreeBuilder(ET.TreeBuilder):
    """Refuses any DTD: entity declarations are how XML bombs work, and FictionBook needs none."""

    def __init__(self, source: Path):
        super().__init__()
        self.source = source

    def doctype(self, name, pubid, system):
        raise DataError(self.source, "has a DTD (<!DOCTYPE>, maybe <!ENTITY>), refused for safety; remove it")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_fb2_paragraphs(path: Path) -> tuple[list[str], int]:
    """Paragraphs of the main `<body>` of a FictionBook file, and how many were footnotes."""
    try:
        root = ET.parse(path, ET.XMLParser(target=_NoDtdTreeBuilder(path))).getroot()
    except ET.ParseError as error:
        raise DataError(path, f"not a well-formed FictionBook XML file: {error}") from None
    paragraphs, notes = [], 0
    for body in (element for element in root.iter() if _local(element.tag) == "body"):
        found = ["".join(p.itertext()) for p in body.iter() if _local(p.tag) in _FB2_PARAGRAPHS]
        if body.get("name") in _FB2_NOTE_BODIES:
            notes += len(found)
        else:
            paragraphs.extend(found)
    return paragraphs, notes


def clean_paragraph(text: str) -> tuple[str, int]:
    """Paragraph with control bytes turned into spaces, footnote marks (`[33]`) removed,
    `--` turned into a dash and spaces collapsed; also how many control bytes there were."""
    text, control = _CONTROL.subn(" ", text)
    text = _FOOTNOTE_MARK.sub("", text.replace("--", "—"))
    return _SPACES.sub(" ", text).strip(), control


def spoken_words(turn: str) -> str:
    """The spoken words of a turn paragraph (leading dash and author's words removed)."""
    pieces = [piece.strip() for piece in _AUTHOR_DASH.split(_TURN.sub("", turn))[::2]]
    pieces = [piece for piece in pieces if piece]
    for i, piece in enumerate(pieces):
        continues = i + 1 < len(pieces) and pieces[i + 1][0].islower()
        if piece.endswith(",") and not continues:
            pieces[i] = piece[:-1] + "."
    return " ".join(pieces)


def group_dialogues(
    paragraphs: list[str],
    report: BookReport,
    max_narrative: int = 0,
    narrative_max_chars: int = 200,
    max_turn_chars: int = 1000,
) -> list[list[str]]:
    """Cut cleaned paragraphs into dialogues; counts turns, dialogues and skips into `report`."""
    dialogues: list[list[str]] = []
    run: list[str] = []
    gap = 0  # short narrative paragraphs since the last turn of the run

    def close_run():
        nonlocal run, gap
        if len(run) >= 2:
            dialogues.append(run)
            report.turns += len(run)
        elif run:
            report.skipped["lone_turn"] += 1
        run, gap = [], 0

    for paragraph in paragraphs:
        if not _TURN.match(paragraph):
            report.skipped["narrative"] += 1
            if run and gap < max_narrative and len(paragraph) <= narrative_max_chars:
                gap += 1
                continue
            close_run()
            continue
        words = spoken_words(paragraph)
        reason = "empty_turn" if not words else "long_turn" if len(words) > max_turn_chars else None
        if reason:
            close_run()
            report.skipped[reason] += 1
            continue
        run.append(words)
        gap = 0
    close_run()
    report.dialogues = len(dialogues)
    return dialogues


def extract_dialogues_from_book(path, max_narrative: int = 0, **limits) -> tuple[list[list[str]], BookReport]:
    """Dialogues of one .txt or .fb2 book and its report; `limits` go to `group_dialogues`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file")
    if path.suffix.lower() not in BOOK_SUFFIXES:
        raise DataError(path, "not a book: expected a .txt (plain text) or .fb2 (FictionBook) file")
    report = BookReport(str(path))
    if path.suffix.lower() == ".fb2":
        raw, report.skipped["notes"] = read_fb2_paragraphs(path)
        report.encoding = "xml"
    else:
        text, report.encoding = read_text(path)
        raw = split_paragraphs(text)
    paragraphs = []
    for paragraph in raw:
        cleaned, control = clean_paragraph(paragraph)
        report.control_chars += control
        if cleaned:
            paragraphs.append(cleaned)
    report.paragraphs = len(paragraphs) + report.skipped["notes"]
    if not paragraphs:
        logger.warning("%s: no paragraphs of text", path)
    return group_dialogues(paragraphs, report, max_narrative, **limits), report


def find_books(paths) -> list[Path]:
    """Book files named by `paths`; directories are searched recursively for .txt and .fb2."""
    books = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in BOOK_SUFFIXES and p.is_file())
            if not found:
                raise DataError(path, "directory holds no .txt or .fb2 books")
            books.extend(found)
        elif not path.exists():
            raise DataError(path, "no such file or directory")
        else:
            books.append(path)
    return books


def extract_dialogues(paths, max_narrative: int = 0, progress: bool = False, **limits):
    """Dialogues of all books under `paths` (files or directories) and one report per book."""
    dialogues, reports = [], []
    for book in tqdm(find_books(paths), desc="books", unit="book", disable=not progress):
        found, report = extract_dialogues_from_book(book, max_narrative, **limits)
        dialogues.extend(found)
        reports.append(report)
    return dialogues, reports


def write_dialogues(dialogues: list[list[str]], path) -> None:
    """Write dialogues as JSONL (`{"dialogue": [...]}` per line) if `path` ends in .jsonl,
    else in the `- реплика` text format: one turn per line, a blank line between dialogues."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as file:
        if path.suffix.lower() == ".jsonl":
            file.writelines(json.dumps({"dialogue": d}, ensure_ascii=False) + "\n" for d in dialogues)
        else:
            file.write("".join("\n".join(f"- {turn}" for turn in d) + "\n\n" for d in dialogues))


def reports_to_markdown(reports: list[BookReport]) -> str:
    """A markdown table: one row per book and a totals row."""
    reasons = sorted({reason for report in reports for reason in report.skipped})
    header = ["book", "encoding", "paragraphs", "turns", "dialogues", "control chars", *(f"skipped: {r}" for r in reasons)]
    rows = [header, ["---"] * len(header)]
    total = BookReport("**total**")
    for report in reports:
        rows.append([report.path, report.encoding, report.paragraphs, report.turns, report.dialogues,
                     report.control_chars, *(report.skipped[r] for r in reasons)])
        for name in ("paragraphs", "turns", "dialogues", "control_chars"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        total.skipped.update(report.skipped)
    rows.append([total.path, "", total.paragraphs, total.turns, total.dialogues, total.control_chars,
                 *(total.skipped[r] for r in reasons)])
    return "\n".join("| " + " | ".join(map(str, row)) + " |" for row in rows)
