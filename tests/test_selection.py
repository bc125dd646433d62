"""Which books to keep: the language of a text from its script, the same text renamed or re-encoded, and
another edition of the same title and author, on real books."""

from __future__ import annotations

import re
from pathlib import Path

from rugpt_chitchat.books.library import BookRef, find_books, read_book
from rugpt_chitchat.books.selection import (
    DuplicateFinder,
    guess_language,
    paragraph_sketch,
    sketch_similarity,
    text_hash,
    title_key,
)

ANYUTA = "Chekhov/Анюта.txt"
BABY = "Chekhov/Бабы.txt"


def paragraphs_of(books: Path, name: str) -> list[str]:
    return read_book(BookRef(str(books / name))).paragraphs


def test_the_script_tells_russian_ukrainian_and_belarusian_apart():
    assert guess_language(["Мы пошли домой, и было тихо."]) == "ru"
    assert guess_language(["Ми пішли додому, і було тихо. Їжак їсть яблуко."]) == "uk"
    assert guess_language(["Мы пайшлі дадому, і было ціха. Ўсё добра."]) == "be"
    assert guess_language(["Онъ сказалъ, что въ домѣ было тихо и что онъ пойдетъ."]) == "ru", "ѣ decides before і"
    assert guess_language(["The house was quiet.", "Дом."]) == "" and guess_language([]) == ""


def test_title_keys_ignore_case_yo_and_punctuation_but_not_the_author():
    assert title_key("Ёлка!", "Лев Толстой") == title_key("елка", "лев  толстой")
    assert title_key("Ёлка", "Лев Толстой") != title_key("Ёлка", "")


def test_sketches_estimate_the_share_of_paragraphs_two_texts_hold_in_common():
    paragraphs = [f"Абзац номер {i}." for i in range(400)]
    assert sketch_similarity(paragraph_sketch(paragraphs), paragraph_sketch(list(reversed(paragraphs)))) == 1.0
    other = [f"Другой абзац {i}." for i in range(400)]
    assert sketch_similarity(paragraph_sketch(paragraphs), paragraph_sketch(other)) == 0.0
    half = paragraphs[:200] + other[:200]
    assert 0.2 < sketch_similarity(paragraph_sketch(paragraphs), paragraph_sketch(half)) < 0.5  # Jaccard 1/3


def test_every_shared_book_reads_as_russian_and_french_passages_do_not(books_dir):
    assert {read_book(ref).lang for ref in find_books([books_dir]).books} == {"ru"}
    war = paragraphs_of(books_dir, "Tolstoy/Война и мир. Том 1.txt")
    french = [p for p in war if len(re.findall("[a-zA-Z]", p)) > 0.8 * len(re.findall("[a-zA-Zа-яА-Я]", p)) > 40]
    assert len(french) > 30
    assert guess_language(french) == ""


def test_same_text_renamed_or_re_encoded_or_wrapped_in_fb2_is_one_book(books_dir):
    anyuta = paragraphs_of(books_dir, ANYUTA)
    finder = DuplicateFinder()
    assert finder.duplicate_of("a", title_key("Анюта", ""), text_hash(anyuta), paragraph_sketch(anyuta)) is None
    cp1251 = read_book_from_bytes(books_dir, ANYUTA, lambda data: data.decode("utf-8").encode("cp1251"))
    assert finder.duplicate_of("b", title_key("renamed", ""), text_hash(cp1251), paragraph_sketch(cp1251)) == "a"
    baby = paragraphs_of(books_dir, BABY)
    assert finder.duplicate_of("c", title_key("Анюта", ""), text_hash(baby), paragraph_sketch(baby)) is None


def read_book_from_bytes(books_dir: Path, name: str, change) -> list[str]:
    from rugpt_chitchat.books.library import decode_text, split_paragraphs

    return split_paragraphs(decode_text(change((books_dir / name).read_bytes()), name)[0])


def another_edition(paragraphs: list[str]) -> list[str]:
    """A preface, every 20th paragraph with ё restored, the last chapter missing."""
    return ["Предисловие издателя."] + [p.replace("е", "ё", 1) if i % 20 == 0 else p for i, p in enumerate(paragraphs)][:-50]


def test_another_edition_of_the_same_title_and_author_is_a_duplicate_a_different_book_is_not(books_dir):
    war = paragraphs_of(books_dir, "Tolstoy/Война и мир. Том 2.txt")
    edition = another_edition(war)
    finder = DuplicateFinder(similarity=0.8)
    key = title_key("Война и мир. Том 2", "Лев Толстой")
    assert finder.duplicate_of("first", key, text_hash(war), paragraph_sketch(war)) is None
    assert finder.duplicate_of("edition", key, text_hash(edition), paragraph_sketch(edition)) == "first"
    assert finder.duplicate_of("elsewhere", title_key("Другое", ""), text_hash(edition), paragraph_sketch(edition)) is None
    volume_one = paragraphs_of(books_dir, "Tolstoy/Война и мир. Том 1.txt")
    assert finder.duplicate_of("volume 1", key, text_hash(volume_one), paragraph_sketch(volume_one)) is None


def test_an_edition_is_found_through_a_copy_that_carries_the_title_and_author(books_dir):
    """The .txt has no author; its fb2 copy has one, and the next edition of that fb2 is the .txt's too."""
    war = paragraphs_of(books_dir, "Tolstoy/Война и мир. Том 2.txt")
    finder = DuplicateFinder()
    fb2_key = title_key("Война и мир. Том 2", "Лев Толстой")
    assert finder.duplicate_of("txt", title_key("Война и мир. Том 2", ""), text_hash(war), paragraph_sketch(war)) is None
    assert finder.duplicate_of("fb2", fb2_key, text_hash(war), paragraph_sketch(war)) == "txt"
    edition = another_edition(war)
    assert finder.duplicate_of("edition", fb2_key, text_hash(edition), paragraph_sketch(edition)) == "txt"
