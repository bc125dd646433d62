"""Dialogues from books: real passages of the real books, the .fb2 reader, encodings, refusals, output formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rugpt_chitchat.books import (
    extract_dialogues,
    extract_dialogues_from_book,
    find_books,
    reports_to_markdown,
    spoken_words,
    write_dialogues,
)
from rugpt_chitchat.errors import DataError

BOOKS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "books"
ANYUTA_VISIT = [
    "А я к вам с просьбой. Сделайте одолжение, одолжите мне вашу прекрасную девицу часика на два! "
    "Пишу, видите ли, картину, а без натурщицы никак нельзя!",
    "Ах, с удовольствием! Ступай, Анюта.",
    "Чего я там не видела!",
    "Ну, полно! Человек для искусства просит, а не для пустяков каких-нибудь. Отчего не помочь, если можешь?",
]


@pytest.fixture(scope="module")
def books() -> Path:
    if not BOOKS.is_dir():
        pytest.skip(f"real books not found in {BOOKS} (clone the repo with ../shared beside it)")
    return BOOKS


@pytest.fixture(scope="module")
def anyuta(books) -> Path:
    return books / "Chekhov" / "Анюта.txt"


def test_author_words_are_removed_and_spoken_words_stay_in_order(anyuta):
    dialogues, _ = extract_dialogues_from_book(anyuta)
    assert ANYUTA_VISIT in dialogues
    text = "\n".join(turn for dialogue in dialogues for turn in dialogue)
    for author_words in ("начал он", "согласился Клочков", "тихо проговорила Анюта", "сказал художник"):
        assert author_words not in text
    assert "Так-то так... но можно все-таки лучше жить..." in text


def test_first_turn_of_the_story_keeps_speech_around_the_author_words(anyuta):
    line = anyuta.read_text(encoding="utf-8").splitlines()[4]
    assert "зубрил Клочков" in line
    assert spoken_words(line).startswith("Правое легкое состоит из трех долей... Границы! Верхняя доля")
    assert "зубрил" not in spoken_words(line)
    assert "4 — 5 ребер" in spoken_words(line)


def test_narrative_paragraph_ends_a_dialogue_unless_one_short_one_is_allowed(anyuta):
    strict, strict_report = extract_dialogues_from_book(anyuta)
    assert strict[strict.index(ANYUTA_VISIT) + 1][0] == "А что вы пишете?"
    loose, report = extract_dialogues_from_book(anyuta, max_narrative=1)
    joined = next(dialogue for dialogue in loose if ANYUTA_VISIT[0] in dialogue)
    start = joined.index(ANYUTA_VISIT[0])
    assert joined[start - 1] == "Можно войти?"  # across "Анюта быстро накинула... Вошел художник Фетисов."
    assert joined[start:start + 5] == ANYUTA_VISIT + ["А что вы пишете?"]  # across "Анюта стала одеваться."
    assert report.turns > strict_report.turns  # lone turns joined dialogues
    long_narrative, _ = extract_dialogues_from_book(anyuta, max_narrative=1, narrative_max_chars=10)
    assert ANYUTA_VISIT in long_narrative


def test_a_lone_turn_is_not_a_dialogue_but_is_counted(anyuta):
    dialogues, report = extract_dialogues_from_book(anyuta)
    assert not any("Можно войти?" in turn for dialogue in dialogues for turn in dialogue)
    assert report.skipped["lone_turn"] >= 1
    assert all(len(dialogue) >= 2 for dialogue in dialogues)


def test_hard_wrapped_book_is_joined_into_paragraphs(books):
    dialogues, _ = extract_dialogues_from_book(books / "Tolstoy" / "Хозяин и работник.txt")
    lost_way = next(dialogue for dialogue in dialogues if "Вре?" in dialogue)
    assert lost_way[:3] == ["А что?", "А то, что мы на захаровском поле. Вон куда заехали!", "Вре?"]
    # the author's words "- сказал / Никита." are cut across a line break of the file
    assert lost_way[-1] == "А надо прямо брать, вот и все, куда-нибудь да выедем. Не в Захаровку, так на барский хутор выедем."


def test_control_bytes_become_spaces_and_are_counted(books):
    dialogues, report = extract_dialogues_from_book(books / "Tolstoy" / "Юность.txt")
    assert report.control_chars > 0
    text = "\n".join(turn for dialogue in dialogues for turn in dialogue)
    assert "\x7f" not in text
    assert "Наше дело какое? Куда седок скажет, туда и везем," not in text
    assert "Наше дело какое? Куда седок скажет, туда и везем." in text


def test_every_paragraph_of_every_book_is_kept_or_counted(books):
    dialogues, reports = extract_dialogues([books / "Chekhov", books / "Lermontov"])
    assert len(reports) == len(find_books([books / "Chekhov", books / "Lermontov"]))
    for report in reports:
        assert report.paragraphs == report.turns + sum(report.skipped.values()), report.path
    assert sum(report.dialogues for report in reports) == len(dialogues)
    assert "| **total** |" in reports_to_markdown(reports)


def test_cp1251_book_gives_the_same_dialogues(anyuta, tmp_path):
    copy = tmp_path / "anyuta-cp1251.txt"
    copy.write_bytes(anyuta.read_text(encoding="utf-8").encode("cp1251", errors="replace"))
    dialogues, report = extract_dialogues_from_book(copy)
    assert report.encoding == "cp1251"
    assert ANYUTA_VISIT in dialogues


def test_undecodable_text_names_the_file(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xd0\x98\x98\x98 \xff\x98")
    with pytest.raises(DataError, match="bad.txt.*neither UTF-8 nor cp1251"):
        extract_dialogues_from_book(bad)


FB2 = """<?xml version="1.0" encoding="{encoding}"?>
<FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0" xmlns:l="http://www.w3.org/1999/xlink">
<description><title-info><book-title>Проба</book-title></title-info></description>
<body><title><p>Глава первая</p></title>
<section>
<p>— Ты <emphasis>куда</emphasis>? — спросил он.<a l:href="#n1" type="note">1</a></p>
<p>— Домой, — ответила она, — к маме.</p>
<p>— Одна?</p>
<p>Он замолчал и долго смотрел в окно, думая о чем-то своем, далеком и неясном, пока поезд не тронулся.</p>
<p>— Одна.</p>
</section></body>
<body name="notes"><section id="n1"><p>Примечание.</p></section></body>
</FictionBook>"""


@pytest.mark.parametrize("encoding", ["utf-8", "windows-1251"])
def test_fb2_paragraphs_of_the_main_body(tmp_path, encoding):
    book = tmp_path / "book.fb2"
    book.write_bytes(FB2.format(encoding=encoding).encode(encoding))
    dialogues, report = extract_dialogues_from_book(book)
    assert dialogues == [["Ты куда?", "Домой, к маме.", "Одна?"]]
    assert report.skipped["notes"] == 1
    assert report.skipped["lone_turn"] == 1
    assert report.paragraphs == report.turns + sum(report.skipped.values()) == 7


@pytest.mark.parametrize("declaration", [
    '<!DOCTYPE FictionBook SYSTEM "http://example.com/fb2.dtd">',
    '<!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>',
])
def test_fb2_with_dtd_or_entities_is_refused(tmp_path, declaration):
    book = tmp_path / "bomb.fb2"
    book.write_text(f'<?xml version="1.0"?>{declaration}<FictionBook><body><p>— &lol2;</p></body></FictionBook>')
    with pytest.raises(DataError, match="bomb.fb2.*DTD"):
        extract_dialogues_from_book(book)


def test_broken_fb2_names_the_file(tmp_path):
    book = tmp_path / "broken.fb2"
    book.write_text("<FictionBook><body><p>— Да</body>", encoding="utf-8")
    with pytest.raises(DataError, match="broken.fb2.*not a well-formed"):
        extract_dialogues_from_book(book)


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="nope.txt: no such file"):
        extract_dialogues_from_book(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="nope: no such file or directory"):
        extract_dialogues([tmp_path / "nope"])
    with pytest.raises(DataError, match="no .txt or .fb2 books"):
        extract_dialogues([tmp_path])
    (tmp_path / "book.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(DataError, match="book.pdf: not a book"):
        extract_dialogues([tmp_path / "book.pdf"])


def test_empty_file_gives_no_dialogues(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    dialogues, report = extract_dialogues_from_book(tmp_path / "empty.txt")
    assert dialogues == [] and report.paragraphs == 0 and report.dialogues == 0


def test_write_dialogues_text_and_jsonl_round_trip(tmp_path):
    dialogues = [["Ты куда?", "Домой, к маме."], ["Одна?", "Одна.", "Ну, иди."]]
    write_dialogues(dialogues, tmp_path / "out.txt")
    blocks = (tmp_path / "out.txt").read_text(encoding="utf-8").strip().split("\n\n")
    assert [[line.removeprefix("- ") for line in block.split("\n")] for block in blocks] == dialogues
    assert all(line.startswith("- ") for block in blocks for line in block.split("\n"))
    write_dialogues(dialogues, tmp_path / "out.jsonl")
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["dialogue"] for line in lines] == dialogues


@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_corpus_from_real_books_goes_through_the_pipeline(books, tmp_path, tokenizer, suffix):
    from rugpt_chitchat.readers import read_dialogues
    from rugpt_chitchat.samples import PipelineConfig, prepare_dataset

    dialogues, _ = extract_dialogues([books / "Chekhov", books / "Tolstoy" / "Хозяин и работник.txt"])
    corpus = tmp_path / f"books{suffix}"
    write_dialogues(dialogues, corpus)
    read = read_dialogues(corpus)["dialogue"]
    assert [[turn.removeprefix("- ") for turn in dialogue] for dialogue in read] == dialogues
    samples, summary = prepare_dataset([corpus], tokenizer, PipelineConfig(validation_size=0.1))
    assert summary.dialogues_read == len(dialogues)
    assert len(samples["train"]) > len(dialogues)


def test_cli_writes_dialogues_and_prints_the_table(books, tmp_path, capsys):
    from rugpt_chitchat.cli import main

    output = tmp_path / "chekhov.jsonl"
    main(["extract-dialogues", str(books / "Chekhov" / "Анюта.txt"), str(books / "Lermontov"), "--output", str(output)])
    printed = capsys.readouterr().out
    assert "| **total** |" in printed and "Анюта.txt" in printed and "Штосс.txt" in printed
    assert ANYUTA_VISIT in [json.loads(line)["dialogue"] for line in output.read_text(encoding="utf-8").splitlines()]


def test_dialogues_from_all_books_train_a_tiny_model(books, tmp_path):
    """Every book of the shelf -> one dialogue corpus -> the pipeline -> a short training run that learns."""
    from rugpt_chitchat.training import train

    dialogues, reports = extract_dialogues([books])
    assert len(reports) > 200 and len(dialogues) > 10_000
    corpus = tmp_path / "books.txt"
    write_dialogues(dialogues, corpus)
    outcome = train([
        "--data", str(corpus), "--tokenizer_name", "train", "--tokenizer_vocab_size", "2000",
        "--config_overrides", "n_layer=2,n_embd=64,n_head=2,n_positions=96", "--max_length", "96",
        "--max_train_samples", "2000", "--max_eval_samples", "128", "--output_dir", str(tmp_path / "run"),
        "--use_cpu", "true", "--disable_tqdm", "true", "--report_to", "none", "--learning_rate", "3e-3",
        "--per_device_train_batch_size", "16", "--max_steps", "30", "--eval_steps", "30", "--save_steps", "30",
    ])  # fmt: skip
    assert outcome.perplexity_after < outcome.perplexity_before / 3, outcome
