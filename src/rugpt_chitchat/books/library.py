"""A library of books: files, directories and zip archives (nested too), read without unpacking to disk.

A book is named by a `BookRef`: a file on disk and the chain of archive members leading to it
(`lib.zip` → `fb2/1234.fb2.zip` → `1234.fb2`). Books are `.txt` (UTF-8 or cp1251) or `.fb2`, each
possibly compressed (`.gz`, `.xz`, `.bz2`); any `.zip` is searched, so `.fb2.zip` single books are archives
of one. Reading a book gives its paragraphs, language, title and author (`Book`).
`read_books(paths)` yields the plain text of every book, for whoever needs just the prose.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import logging
import lzma
import os
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import DataError
from .fb2 import parse_fb2
from .selection import guess_language

logger = logging.getLogger(__name__)

BOOK_SUFFIXES = (".txt", ".fb2")
ARCHIVE_SUFFIX = ".zip"
MAX_NESTED_ARCHIVE_BYTES = 512 * 2**20  # a zip inside a zip is read into memory: no larger than this
_DECOMPRESSORS = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}
_CONTROL_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32), 127])
_CONTROL_TO_SPACE = bytes.maketrans(_CONTROL_BYTES, b" " * len(_CONTROL_BYTES))
# A damaged archive or compressed stream raises any of these; all mean "cannot be read".
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, RuntimeError, NotImplementedError)


@dataclass(frozen=True)
class BookRef:
    """Where a book lives: a file on disk, then archive members from the outermost inward."""

    path: str
    members: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return "!".join((self.path, *self.members))

    @property
    def file_name(self) -> str:
        return PurePosixPath(self.members[-1]).name if self.members else Path(self.path).name


@dataclass
class Book:
    """One book's text as paragraphs, with what its metadata (fb2) or its script (.txt) tells."""

    name: str
    paragraphs: list[str]
    encoding: str
    lang: str
    title: str = ""
    author: str = ""
    notes: int = 0
    control_chars: int = 0
    size: int = 0  # bytes read (decompressed)

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


@dataclass
class Unreadable:
    """A path or archive member that gave no book, and why."""

    name: str
    reason: str


@dataclass
class Library:
    """What a set of paths holds: the books found, and what could not be used."""

    books: list[BookRef] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)


def _book_kind(name: str) -> str | None:
    """'book', 'archive' or None, from the file name (`x.fb2.gz` is a book, `x.fb2.zip` an archive)."""
    suffixes = [s.lower() for s in PurePosixPath(name).suffixes]
    if suffixes and suffixes[-1] == ARCHIVE_SUFFIX:
        return "archive"
    if suffixes and suffixes[-1] in _DECOMPRESSORS:
        suffixes = suffixes[:-1]
    return "book" if suffixes and suffixes[-1] in BOOK_SUFFIXES else None


def find_books(paths, max_nested_bytes: int = MAX_NESTED_ARCHIVE_BYTES) -> Library:
    """Every book under `paths` (files, directories searched recursively, zip archives searched inside).

    Missing paths, damaged or empty archives, archive members that are not books and zips inside zips larger
    than `max_nested_bytes` (they are read into memory) are recorded in `Library.unreadable`; files in
    directories that are neither books nor archives are ignored.
    """
    library = Library()
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if _book_kind(p.name) and p.is_file())
            if not found:
                library.unreadable.append(Unreadable(str(path), "directory holds no books (.txt, .fb2, .zip)"))
            for file in found:
                _add_file(library, file, max_nested_bytes)
        elif not path.exists():
            library.unreadable.append(Unreadable(str(path), "no such file or directory"))
        elif _book_kind(path.name) is None:
            library.unreadable.append(Unreadable(str(path), "not a book: expected .txt, .fb2 (maybe .gz/.xz/.bz2) or .zip"))
        else:
            _add_file(library, path, max_nested_bytes)
    return library


def _add_file(library: Library, path: Path, max_nested_bytes: int) -> None:
    if _book_kind(path.name) == "book":
        library.books.append(BookRef(str(path)))
        return
    try:
        with open_zip(path) as archive:
            _add_members(library, BookRef(str(path)), archive, max_nested_bytes)
    except _READ_ERRORS as error:
        library.unreadable.append(Unreadable(str(path), f"damaged archive ({error})"))


def _add_members(library: Library, parent: BookRef, archive: zipfile.ZipFile, max_nested_bytes: int) -> None:
    members = [info for info in archive.infolist() if not info.is_dir()]
    if not members:
        library.unreadable.append(Unreadable(parent.name, "empty archive"))
    for info in members:
        ref = BookRef(parent.path, (*parent.members, info.filename))
        kind = _book_kind(info.filename)
        if kind == "book":
            library.books.append(ref)
        elif kind == "archive" and info.file_size > max_nested_bytes:  # zipfile never reads past file_size
            library.unreadable.append(Unreadable(ref.name, f"a zip inside a zip of {info.file_size:,} bytes, more "
                                                 f"than the {max_nested_bytes:,} read into memory; unpack it"))
        elif kind == "archive":
            try:
                with open_zip(io.BytesIO(archive.read(info))) as inner:
                    _add_members(library, ref, inner, max_nested_bytes)
            except _READ_ERRORS as error:
                library.unreadable.append(Unreadable(ref.name, f"damaged archive ({error})"))
        else:
            library.unreadable.append(Unreadable(ref.name, "not a book"))


def open_zip(file) -> zipfile.ZipFile:
    """A zip archive whose member names are readable: names stored without the UTF-8 flag (Info-ZIP on Linux,
    Windows' cp866) are read by Python as cp437 (`╨ö╤ï╨╝.txt`); they are decoded as UTF-8, else as cp866 when
    that gives Cyrillic."""
    archive = zipfile.ZipFile(file)
    for info in archive.infolist():
        if info.flag_bits & 0x800 or info.filename.isascii():
            continue
        name = _unmangled(info.filename)
        if name != info.filename:
            archive.NameToInfo.pop(info.filename, None)
            info.filename = name
            archive.NameToInfo[name] = info
    return archive


def _unmangled(name: str) -> str:
    try:
        raw = name.encode("cp437")
    except UnicodeEncodeError:
        return name
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        decoded = raw.decode("cp866")
        letters = [c for c in decoded if not c.isascii()]
        return decoded if all("\u0400" <= c <= "\u04ff" for c in letters) else name


@functools.lru_cache(maxsize=4)
def _open_archive(path: str, members: tuple[str, ...], pid: int) -> zipfile.ZipFile:
    """An open archive, kept open for the next book of the same archive (its directory is read once).

    `pid` is in the key so a forked worker opens its own file instead of sharing a file offset.
    """
    if not members:
        return open_zip(path)
    outer = _open_archive(path, members[:-1], pid)
    return open_zip(io.BytesIO(outer.read(members[-1])))


def read_book_bytes(ref: BookRef, max_bytes: int) -> bytes:
    """The book's bytes, decompressed; DataError if it cannot be read or is larger than `max_bytes`."""
    try:
        if ref.members:
            archive = _open_archive(ref.path, ref.members[:-1], os.getpid())
            info = archive.getinfo(ref.members[-1])
            if info.file_size > max_bytes:
                raise DataError(ref.name, f"{info.file_size / 1e6:.0f} MB, more than the {max_bytes / 1e6:.0f} MB allowed")
            data = archive.read(info)
        else:
            data = Path(ref.path).read_bytes()
        decompressor = _DECOMPRESSORS.get(PurePosixPath(ref.file_name).suffix.lower())
        if decompressor:
            with decompressor(io.BytesIO(data)) as stream:
                data = stream.read(max_bytes + 1)  # bounded: a small bomb cannot fill the memory
        if len(data) > max_bytes:
            raise DataError(ref.name, f"more than the {max_bytes / 1e6:.0f} MB allowed for one book")
    except (KeyError, *_READ_ERRORS) as error:
        raise DataError(ref.name, f"cannot be read ({type(error).__name__}: {error})") from None
    if not data.strip():
        raise DataError(ref.name, "empty file")
    return data


def decode_text(data: bytes, source: str) -> tuple[str, str]:
    """The text and its encoding: UTF-8 (BOM allowed), else cp1251, else DataError."""
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise DataError(source, "neither UTF-8 nor cp1251 text; convert it to UTF-8 (e.g. with iconv)")


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of a plain-text book, whether one per line or hard-wrapped.

    Hard-wrapped files (lib.ru style: lines at most ~80 characters, paragraphs start with a
    deeper indent than their continuation lines) are joined back; elsewhere a line is a paragraph.
    The layout is judged on a sample of lines: a whole-book pass in Python costs more than the rest.
    """
    lines = text.splitlines()
    sample = [line.rstrip() for line in lines[:: max(1, len(lines) // 2000)] if line.strip()]
    if not sample:
        return []
    indents = {len(line) - len(line.lstrip()) for line in sample}
    base = max(indents, key=[len(line) - len(line.lstrip()) for line in sample].count)
    lengths = sorted(map(len, sample))
    # wrapped text: almost no line longer than ~80 characters, yet most lines near that width
    wrapped = len(indents) > 1 and lengths[int(0.98 * len(lengths))] <= 100 and lengths[len(lengths) // 2] >= 50
    if not wrapped:
        return [line for line in map(str.strip, lines) if line]
    paragraphs: list[list[str]] = []
    previous_blank = True
    for line in lines:
        stripped = line.strip()
        if not stripped:
            previous_blank = True
            continue
        if previous_blank or len(line) - len(line.lstrip()) != base:
            paragraphs.append([])
        paragraphs[-1].append(stripped)
        previous_blank = False
    return [" ".join(parts) for parts in paragraphs]


def read_book(ref: BookRef, max_bytes: int = 64_000_000) -> Book:
    """The book's paragraphs and metadata; control bytes become spaces (counted); DataError if unreadable."""
    data = read_book_bytes(ref, max_bytes)
    cleaned = data.translate(_CONTROL_TO_SPACE)
    control = len(data) - len(data.translate(None, _CONTROL_BYTES))
    stem = ref.file_name.split(".")[0]
    if ".fb2" in ref.file_name.lower():
        fb2 = parse_fb2(cleaned, ref.name)
        lang = fb2.lang or guess_language(fb2.paragraphs)
        return Book(ref.name, fb2.paragraphs, "xml", lang, fb2.title or stem, fb2.author, fb2.notes, control, len(data))
    text, encoding = decode_text(cleaned, ref.name)
    paragraphs = split_paragraphs(text)
    return Book(ref.name, paragraphs, encoding, guess_language(paragraphs), stem, "", 0, control, len(data))


def read_books(paths, lang: str | None = None, max_bytes: int = 64_000_000) -> Iterator[tuple[str, str]]:
    """(name, plain text) of every book under `paths` (files, directories, archives), one at a time.

    `lang` keeps only books in that language. What cannot be read is logged as a warning and skipped.
    """
    library = find_books(paths)
    for problem in library.unreadable:
        logger.warning("%s: %s", problem.name, problem.reason)
    for ref in library.books:
        try:
            book = read_book(ref, max_bytes)
        except DataError as error:
            logger.warning("%s", error)
            continue
        if lang is None or book.lang == lang:
            yield book.name, book.text
