"""Reading a library: real books in zip archives (nested too), compressed files, fb2, encodings, damaged input
(which books to keep, by language and edition: test_selection.py)."""

from __future__ import annotations

import gzip
import io
import lzma
import re
import zipfile
from pathlib import Path

import pytest
from archives import zip_bytes

from rugpt_chitchat.errors import DataError
from rugpt_chitchat.books.fb2 import build_fb2
from rugpt_chitchat.books.library import BookRef, find_books, read_book, read_books

ANYUTA = "Chekhov/Анюта.txt"
SHTOSS = "Lermontov/Штосс.txt"
ASHIK = "Lermontov/Ашик-Кериб.txt"
BABY = "Chekhov/Бабы.txt"


def paragraphs_of(books: Path, name: str) -> list[str]:
    return read_book(BookRef(str(books / name))).paragraphs


@pytest.fixture(scope="module")
def library(books_dir, tmp_path_factory) -> Path:
    """A small library of real books: a zip with .txt, cp1251 .txt, .fb2, a nested .fb2.zip, a zip in the zip;
    a .txt.gz and a .txt.xz beside it."""
    root = tmp_path_factory.mktemp("library")
    taman = build_fb2(paragraphs_of(books_dir, ASHIK), "Ашик-Кериб", "Михаил Лермонтов")
    inner = zip_bytes({"Ашик-Кериб.fb2.zip": zip_bytes({"Ашик-Кериб.fb2": taman})})
    (root / "lib.zip").write_bytes(zip_bytes({
        "chekhov/Анюта.txt": (books_dir / ANYUTA).read_bytes(),
        "chekhov/Бабы-1251.txt": (books_dir / BABY).read_text(encoding="utf-8").encode("cp1251", errors="replace"),
        "lermontov/Штосс.fb2": build_fb2(paragraphs_of(books_dir, SHTOSS), "Штосс", "Михаил Лермонтов", encoding="windows-1251"),
        "more/lermontov.zip": inner,
    }))  # fmt: skip
    (root / "Юность.txt.gz").write_bytes(gzip.compress((books_dir / "Tolstoy/Юность.txt").read_bytes()))
    (root / "Метель.txt.xz").write_bytes(lzma.compress((books_dir / "Tolstoy/Метель.txt").read_bytes()))
    return root


def test_a_zip_inside_a_zip_larger_than_the_guard_is_reported_not_read_into_memory(library):
    inner = zipfile.ZipFile(io.BytesIO(zipfile.ZipFile(library / "lib.zip").read("more/lermontov.zip")))
    size = zipfile.ZipFile(library / "lib.zip").getinfo("more/lermontov.zip").file_size
    found = find_books([library / "lib.zip"], max_nested_bytes=size - 1)
    assert [(u.name.removeprefix(f"{library}/"), u.reason) for u in found.unreadable] == [
        ("lib.zip!more/lermontov.zip", f"a zip inside a zip of {size:,} bytes, more than the {size - 1:,} read into memory; unpack it")
    ]
    assert not any("lermontov.zip" in ref.name for ref in found.books)
    assert inner.namelist() == ["Ашик-Кериб.fb2.zip"]  # what the guard kept out
    assert len(find_books([library / "lib.zip"], max_nested_bytes=size).books) == 4


def test_books_in_archives_nested_archives_and_compressed_files_are_found_and_read(library, books_dir):
    found = find_books([library])
    names = sorted(ref.name.removeprefix(str(library) + "/") for ref in found.books)
    assert names == [
        "lib.zip!chekhov/Анюта.txt", "lib.zip!chekhov/Бабы-1251.txt", "lib.zip!lermontov/Штосс.fb2",
        "lib.zip!more/lermontov.zip!Ашик-Кериб.fb2.zip!Ашик-Кериб.fb2", "Метель.txt.xz", "Юность.txt.gz",
    ]  # fmt: skip
    assert found.unreadable == []
    books = {ref.file_name: read_book(ref) for ref in found.books}
    assert books["Анюта.txt"].paragraphs == paragraphs_of(books_dir, ANYUTA)
    assert books["Бабы-1251.txt"].encoding == "cp1251"
    assert books["Ашик-Кериб.fb2"].paragraphs == paragraphs_of(books_dir, ASHIK)
    assert (books["Ашик-Кериб.fb2"].title, books["Ашик-Кериб.fb2"].author, books["Ашик-Кериб.fb2"].lang) == ("Ашик-Кериб", "Михаил Лермонтов", "ru")
    assert books["Штосс.fb2"].paragraphs == paragraphs_of(books_dir, SHTOSS)
    assert books["Юность.txt.gz"].control_chars > 0  # the stray bytes of the real file, through gzip
    assert books["Метель.txt.xz"].paragraphs == paragraphs_of(books_dir, "Tolstoy/Метель.txt")


def test_read_books_yields_the_plain_text_of_every_book(library, books_dir):
    texts = dict(read_books([library]))
    assert len(texts) == 6
    anyuta = texts[f"{library}/lib.zip!chekhov/Анюта.txt"]
    assert anyuta == "\n".join(line.strip() for line in (books_dir / ANYUTA).read_text(encoding="utf-8").splitlines() if line.strip())


def test_damaged_and_empty_inputs_are_reported_with_their_reason(library, books_dir, tmp_path):
    good = (library / "lib.zip").read_bytes()
    (tmp_path / "truncated.zip").write_bytes(good[: len(good) // 2])
    (tmp_path / "empty.zip").write_bytes(zip_bytes({}))
    (tmp_path / "mixed.zip").write_bytes(zip_bytes({
        "Анюта.txt": (books_dir / ANYUTA).read_bytes(),
        "bad.txt": b"\xd0\x98\x98\x98 \xff\x98",
        "broken.fb2": "<FictionBook><body><p>— Да</body>".encode(),
        "koi9.fb2": b'<?xml version="1.0" encoding="koi9"?><FictionBook><body><p>x</p></body></FictionBook>',
        "cover.jpg": b"\xff\xd8\xff\xe0",
    }))  # fmt: skip
    found = find_books([tmp_path, tmp_path / "missing.zip"])
    reasons = {problem.name.removeprefix(str(tmp_path) + "/"): problem.reason for problem in found.unreadable}
    assert reasons["truncated.zip"].startswith("damaged archive")
    assert reasons["empty.zip"] == "empty archive"
    assert reasons["mixed.zip!cover.jpg"] == "not a book"
    assert reasons["missing.zip"] == "no such file or directory"
    problems = {}
    for ref in found.books:
        try:
            read_book(ref)
        except DataError as error:
            problems[ref.file_name] = str(error)
    assert set(problems) == {"bad.txt", "broken.fb2", "koi9.fb2"}
    assert re.search(r"mixed.zip!koi9.fb2: not a well-formed .*unknown encoding: koi9", problems["koi9.fb2"])
    assert re.search(r"mixed.zip!bad.txt: neither UTF-8 nor cp1251", problems["bad.txt"])
    assert re.search(r"mixed.zip!broken.fb2: not a well-formed", problems["broken.fb2"])


def test_a_member_whose_bytes_were_damaged_is_unreadable_and_named(books_dir, tmp_path):
    data = bytearray(zip_bytes({"Анюта.txt": (books_dir / ANYUTA).read_bytes()}))
    data[200] ^= 0xFF  # inside the compressed data: the CRC (or inflate) fails
    (tmp_path / "flipped.zip").write_bytes(data)
    [ref] = find_books([tmp_path / "flipped.zip"]).books
    with pytest.raises(DataError, match=r"flipped.zip!Анюта.txt: cannot be read"):
        read_book(ref)


def test_a_book_larger_than_allowed_is_refused_before_it_is_read(books_dir, tmp_path):
    (tmp_path / "big.zip").write_bytes(zip_bytes({"Анюта.txt": (books_dir / ANYUTA).read_bytes()}))
    (tmp_path / "big.txt.gz").write_bytes(gzip.compress((books_dir / ANYUTA).read_bytes()))
    for ref in find_books([tmp_path]).books:
        with pytest.raises(DataError, match="allowed"):
            read_book(ref, max_bytes=10_000)


@pytest.mark.parametrize("declaration", [
    '<!DOCTYPE FictionBook SYSTEM "http://example.com/fb2.dtd">',
    '<!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>',
])  # fmt: skip
def test_fb2_with_dtd_or_entities_is_refused(tmp_path, declaration):
    book = tmp_path / "bomb.fb2"
    book.write_text(f'<?xml version="1.0"?>{declaration}<FictionBook><body><p>— &lol2;</p></body></FictionBook>')
    with pytest.raises(DataError, match="bomb.fb2.*DTD"):
        read_book(BookRef(str(book)))


def test_fb2_footnotes_are_counted_not_read(tmp_path):
    book = tmp_path / "notes.fb2"
    book.write_text(
        '<FictionBook><body><section><p>— Ты <emphasis>куда</emphasis>?<a type="note">1</a></p><p>— Домой.</p>'
        '</section></body><body name="notes"><section><p>Примечание.</p></section></body></FictionBook>', encoding="utf-8")  # fmt: skip
    read = read_book(BookRef(str(book)))
    assert (read.paragraphs, read.notes, read.title) == (["— Ты куда?1", "— Домой."], 1, "notes")


def test_zip_member_names_without_the_utf8_flag_are_not_mojibake(books_dir, tmp_path):
    # Info-ZIP on Linux stores UTF-8 names without the flag, and Python reads them as cp437
    archive, names = tmp_path / "books.zip", {"Turgenev/Дым.txt": "utf-8", "Chekhov/Анюта.txt": "cp866"}
    with zipfile.ZipFile(archive, "w") as writer:  # ASCII stand-ins of the same length, no flag set
        for name, encoding in names.items():
            writer.writestr("x" * len(name.encode(encoding)), (books_dir / "Chekhov" / "Анюта.txt").read_bytes())
    data = archive.read_bytes()
    for name, encoding in names.items():
        raw = name.encode(encoding)
        data = data.replace(b"x" * len(raw), raw)
    archive.write_bytes(data)
    names = [ref.name for ref in find_books([str(archive)]).books]
    assert names == [f"{archive}!Turgenev/Дым.txt", f"{archive}!Chekhov/Анюта.txt"]
    assert read_book(find_books([str(archive)]).books[0]).paragraphs
