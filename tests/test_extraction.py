"""The whole-library pipeline on small real archives: selection, the three output formats, the per-book CSV,
processes, the command line, and a corpus that trains."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from archives import zip_bytes

from rugpt_chitchat.errors import DataError
from rugpt_chitchat.books.extract import ExtractArguments, extract_book, extract_library
from rugpt_chitchat.books.fb2 import build_fb2
from rugpt_chitchat.books.library import BookRef, read_book
from rugpt_chitchat.data.readers import read_dialogues

CHEKHOV = ["Анюта.txt", "Бабы.txt", "Барыня.txt", "Водевиль.txt", "Ванька.txt"]


@pytest.fixture(scope="module")
def shelf(books_dir, tmp_path_factory) -> Path:
    """Five Chekhov stories in a zip, with a renamed copy, a cp1251 copy, an fb2 wrapping of one (all
    duplicates), a French "book" of the French passages of War and Peace, and a damaged member."""
    root = tmp_path_factory.mktemp("shelf")
    stories = {name: (books_dir / "Chekhov" / name).read_bytes() for name in CHEKHOV}
    war = read_book(BookRef(str(books_dir / "Tolstoy" / "Война и мир. Том 1.txt"))).paragraphs
    french = [p for p in war if p.startswith("— Eh bien") or p.startswith("— Que voulez-vous")]
    members = {f"chekhov/{name}": data for name, data in stories.items()}
    members |= {
        "copies/Анюта (копия).txt": stories["Анюта.txt"],
        "copies/Бабы-1251.txt": stories["Бабы.txt"].decode("utf-8").encode("cp1251"),
        "fb2/Барыня.fb2.zip": zip_bytes({"Барыня.fb2": build_fb2(
            read_book(BookRef(str(books_dir / "Chekhov" / "Барыня.txt"))).paragraphs, "Барыня", "Антон Чехов")}),
        "fr/Война и мир (фр).fb2": build_fb2(french * 3, "La guerre", "Léon Tolstoï", lang="fr"),
        "bad/broken.txt": b"\xd0\x98\x98\x98 \xff\x98",
    }
    (root / "chekhov.zip").write_bytes(zip_bytes(members))
    return root


def report_rows(path: Path) -> dict[str, dict]:
    with path.open(encoding="utf-8") as file:
        return {row["book"].rsplit("!", 1)[-1]: row for row in csv.DictReader(file)}


def test_each_book_is_kept_once_in_its_language_and_every_book_has_a_report_row(shelf, books_dir, tmp_path):
    output = tmp_path / "dialogues.txt"
    summary = extract_library(ExtractArguments(books=[str(shelf)], output=str(output), lang="ru"))
    rows = report_rows(tmp_path / "dialogues.books.csv")
    assert {name: row["status"] for name, row in rows.items()} == {
        **{f"chekhov/{name}": "kept" for name in CHEKHOV},
        "copies/Анюта (копия).txt": "duplicate", "copies/Бабы-1251.txt": "duplicate", "Барыня.fb2": "duplicate",
        "fr/Война и мир (фр).fb2": "other_language", "bad/broken.txt": "unreadable",
    }  # fmt: skip
    assert rows["Барыня.fb2"]["reason"].endswith("chekhov.zip!chekhov/Барыня.txt")
    assert "neither UTF-8 nor cp1251" in rows["bad/broken.txt"]["reason"]
    assert "'fr'" in rows["fr/Война и мир (фр).fb2"]["reason"]
    expected = [dialogue.turns for name in CHEKHOV for dialogue in extract_book(BookRef(str(books_dir / "Chekhov" / name)), ExtractArguments())[0]]
    assert read_dialogues(output)["dialogue"] == [[f"- {turn}" for turn in dialogue] for dialogue in expected]
    assert summary.dialogues == len(expected) == sum(int(rows[f"chekhov/{name}"]["dialogues"]) for name in CHEKHOV)
    assert summary.statuses == {"kept": 5, "duplicate": 3, "other_language": 1, "unreadable": 1}


def test_without_dedup_or_language_every_readable_book_is_kept(shelf, tmp_path):
    summary = extract_library(ExtractArguments(books=[str(shelf)], output=str(tmp_path / "all.jsonl"), dedup=False))
    assert summary.statuses == {"kept": 9, "unreadable": 1}


def test_two_processes_give_the_same_dialogues_as_one(shelf, tmp_path):
    outputs = []
    for workers in (1, 2):
        output = tmp_path / f"dialogues-{workers}.jsonl"
        extract_library(ExtractArguments(books=[str(shelf)], output=str(output), preprocessing_num_workers=workers, split_speakers=True))
        outputs.append([json.loads(line)["dialogue"] for line in output.read_text(encoding="utf-8").splitlines()])
        assert report_rows(tmp_path / f"dialogues-{workers}.books.csv")["chekhov/Бабы.txt"]["speaker_splits"] != "0"
    assert outputs[0] == outputs[1] and len(outputs[0]) > 50


def test_datasets_output_is_read_by_the_readers_and_preprocess(shelf, tmp_path, tokenizer):
    from rugpt_chitchat.data.samples import PipelineConfig, prepare_dataset

    text = tmp_path / "dialogues.txt"
    extract_library(ExtractArguments(books=[str(shelf)], output=str(text)))
    directory = tmp_path / "dialogues"
    summary = extract_library(ExtractArguments(books=[str(shelf)], output=str(directory)))
    assert (tmp_path / "dialogues.books.csv").is_file()
    from_text = [[turn.removeprefix("- ") for turn in dialogue] for dialogue in read_dialogues(text)["dialogue"]]
    assert read_dialogues(directory)["dialogue"] == from_text and summary.dialogues == len(from_text)
    samples, report = prepare_dataset([str(directory)], tokenizer, PipelineConfig(validation_size=0.1))
    assert report.dialogues_read == len(from_text) and len(samples["train"]) > len(from_text)


def test_nothing_usable_is_one_clear_error_naming_the_files(tmp_path):
    (tmp_path / "empty.zip").write_bytes(zip_bytes({}))
    (tmp_path / "bad.txt").write_bytes(b"\xd0\x98\x98\x98 \xff\x98")
    with pytest.raises(DataError, match="no books to read.*empty.zip: empty archive"):
        extract_library(ExtractArguments(books=[str(tmp_path / "empty.zip")], output=str(tmp_path / "out.txt")))
    with pytest.raises(DataError, match="no book left.*bad.txt: unreadable neither UTF-8 nor cp1251"):
        extract_library(ExtractArguments(books=[str(tmp_path)], output=str(tmp_path / "out.txt")))
    assert report_rows(tmp_path / "out.books.csv")[str(tmp_path / "empty.zip")]["reason"] == "empty archive"


@pytest.mark.parametrize(("arguments", "message"), [
    (["--books", "nope.zip", "--output", "out.txt"], "nope.zip: no such file or directory"),
    (["--books", "corrupt.zip", "--output", "out.txt"], "corrupt.zip: damaged archive"),
    (["--output", "out.txt"], "no books given"),
    (["--books", "corrupt.zip", "--max_narative", "1"], "unknown arguments --max_narative"),
    (["--books", "empty.txt", "--output", "out.txt"], "empty.txt: unreadable empty file"),
    (["--books", "plain.txt", "--output", "out.txt"], "no dialogue in the 1 books kept"),
])  # fmt: skip
def test_cli_bad_input_is_one_line_without_a_traceback(tmp_path, monkeypatch, capsys, arguments, message):
    from rugpt_chitchat.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "corrupt.zip").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "plain.txt").write_text("Он шёл домой и думал о своём.\n\nБыло тихо.\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["extract-dialogues", *arguments])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in error and "Traceback" not in error


def test_cli_reads_a_yaml_config_and_command_line_overrides(shelf, tmp_path, capsys):
    from rugpt_chitchat.cli import main

    config = tmp_path / "books.yaml"
    config.write_text(
        f"books: [{shelf}]\noutput: {tmp_path / 'from-config.txt'}\nlang: ru\nmax_narrative: 1\nsplit_speakers: false\n", encoding="utf-8"
    )
    main(["extract-dialogues", "--config", str(config), "--output", str(tmp_path / "override.jsonl")])
    printed = capsys.readouterr().out
    assert "| kept | 5 |" in printed and "| duplicate | 3 |" in printed and "override.books.csv" in printed
    assert not (tmp_path / "from-config.txt").exists()
    lines = (tmp_path / "override.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    dialogues = [record["dialogue"] for record in records]
    # max_narrative: 1, and the painter, Клочков and Анюта kept together: split_speakers false
    assert any("Можно войти?" in dialogue and "Ах, с удовольствием! Ступай, Анюта." in dialogue for dialogue in dialogues)
    assert all(len(record["speakers"]) == len(record["dialogue"]) for record in records)
    assert any("Клочков" in record["speakers"] for record in records)
    # each dialogue names its book, as the per-book CSV does
    anyuta = next(record for record in records if "Ах, с удовольствием! Ступай, Анюта." in record["dialogue"])
    assert anyuta["book"].endswith("Анюта.txt")


def test_dialogues_from_all_books_train_a_tiny_model(books_dir, tmp_path):
    """Every book of the shelf -> one dialogue dataset directory -> training reads it directly and learns."""
    from rugpt_chitchat.training.finetune import train

    summary = extract_library(ExtractArguments(books=[str(books_dir)], output=str(tmp_path / "books"), lang="ru"))
    assert summary.statuses == {"kept": 269} and summary.dialogues > 10_000
    from datasets import load_from_disk

    saved = load_from_disk(str(tmp_path / "books"))
    assert saved.column_names == ["dialogue", "speakers", "book"] and list(map(len, saved[:100]["speakers"])) == list(map(len, saved[:100]["dialogue"]))
    outcome = train([
        "--data", str(tmp_path / "books"), "--tokenizer_name", "train", "--tokenizer_vocab_size", "2000",
        "--config_overrides", "n_layer=2,n_embd=64,n_head=2,n_positions=96", "--max_length", "96",
        "--max_train_samples", "2000", "--max_eval_samples", "128", "--output_dir", str(tmp_path / "run"),
        "--use_cpu", "true", "--disable_tqdm", "true", "--report_to", "none", "--learning_rate", "3e-3",
        "--per_device_train_batch_size", "16", "--max_steps", "30", "--eval_steps", "30", "--save_steps", "30",
    ])  # fmt: skip
    assert outcome.perplexity_after < outcome.perplexity_before / 3, outcome


def test_a_copy_of_a_text_is_served_from_the_memo_as_extracting_it_again_would_give(books_dir, tmp_path, monkeypatch):
    """A re-encoded, renamed copy gets the original's dialogues and counts without `group_dialogues` running again,
    with its own name and encoding; another text, or other rules, are extracted."""
    from rugpt_chitchat.books import extract

    calls = []
    group_dialogues = extract.group_dialogues
    monkeypatch.setattr(extract, "group_dialogues", lambda *args, **kwargs: calls.append(1) or group_dialogues(*args, **kwargs))
    original, other = books_dir / "Chekhov" / "Бабы.txt", books_dir / "Chekhov" / "Анюта.txt"
    copy = tmp_path / "Бабы (копия).txt"
    copy.write_bytes(original.read_text(encoding="utf-8").encode("cp1251"))
    monkeypatch.setattr(extract, "_MEMO", extract.ExtractionMemo(max_chars=0))  # stores nothing: every book extracted
    expected = {path: extract_book(BookRef(str(path)), ExtractArguments()) for path in (original, copy)}
    monkeypatch.setattr(extract, "_MEMO", extract.ExtractionMemo())
    calls.clear()
    readings = []  # the layout and the sketch read only the paragraphs: once per text too
    for name in ("book_layout", "paragraph_sketch"):
        monkeypatch.setattr(extract, name, lambda paragraphs, read=getattr(extract, name), name=name: readings.append(name) or read(paragraphs))

    for path in (original, copy):
        dialogues, report, selection = extract_book(BookRef(str(path)), ExtractArguments())
        assert dialogues == expected[path][0] and len(dialogues) > 5
        assert report.as_row() == expected[path][1].as_row() and selection == expected[path][2]
    assert len(calls) == 1 and expected[copy][1].encoding != expected[original][1].encoding
    assert sorted(readings) == ["book_layout", "paragraph_sketch"]
    extract_book(BookRef(str(other)), ExtractArguments())
    extract_book(BookRef(str(copy)), ExtractArguments(split_speakers=False))
    assert len(calls) == 3


def test_the_memo_forgets_the_least_recently_used_text_past_its_characters(books_dir):
    from rugpt_chitchat.books.extract import ExtractionMemo
    from rugpt_chitchat.books.turns import BookReport

    texts = [read_book(BookRef(str(books_dir / "Chekhov" / name))).paragraphs for name in CHEKHOV[:3]]
    sizes = []
    for index, paragraphs in enumerate(texts):
        dialogues = ExtractionMemo(max_chars=0).dialogues(paragraphs, BookReport(""), bytes([index]), "dash", {})
        sizes.append(sum(len(turn) for dialogue in dialogues for turn in dialogue.turns))
    memo = ExtractionMemo(max_chars=sizes[1] + sizes[2])
    for index, paragraphs in enumerate(texts):
        memo.dialogues(paragraphs, BookReport(""), bytes([index]), "dash", {})
    assert [key[0] for key in memo.entries] == [bytes([1]), bytes([2])] and memo.chars == sizes[1] + sizes[2]


def test_the_garbage_collector_is_paused_only_while_a_book_is_extracted(books_dir, monkeypatch):
    import gc

    from rugpt_chitchat.books import extract

    seen = []
    extract_book = extract.extract_book
    monkeypatch.setattr(extract, "extract_book", lambda *args: seen.append(gc.isenabled()) or extract_book(*args))
    refs = [extract._ref_record(BookRef(str(books_dir / "Chekhov" / "Анюта.txt")))]
    records = list(extract._book_records(refs, extract._record_settings(ExtractArguments()), code=""))
    assert seen == [False] and gc.isenabled() and records[0]["dialogues"]
