"""Readers on real files and on real malformed files: clear errors naming file, record and problem."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import pickle

import pytest

from rugpt_chitchat.errors import DataError
from rugpt_chitchat.data.readers import read_dialogues

DIALOGUES = [["- Как водичка ?", "- А я здесь как женшина сижу."], ["Привет", "Привет, как дела?", "Ничего."]]


def write_text(path, dialogues, opener=open):
    text = "\n\n".join("\n".join(dialogue) for dialogue in dialogues) + "\n"
    with opener(path, "wt", encoding="utf-8") as stream:
        stream.write(text)
    return path


@pytest.mark.parametrize("suffix, opener", [(".txt", open), (".txt.xz", lzma.open), (".txt.gz", gzip.open), (".txt.bz2", bz2.open)])
def test_text_reader_reads_compressed_files_transparently(tmp_path, suffix, opener):
    path = write_text(tmp_path / f"dialogues{suffix}", DIALOGUES, opener)
    assert read_dialogues(path)["dialogue"] == DIALOGUES


def test_text_reader_reads_the_real_corpus_dialogue_by_dialogue(shared_data, corpus_slice):
    dataset = read_dialogues(shared_data / "cornell_movie_corpus.txt.xz")
    assert len(dataset) == 51_108
    assert dataset.select(range(1500))["dialogue"] == corpus_slice[1500:]


def test_jsonl_and_pickle_readers_give_the_same_dialogues(tmp_path):
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps({"dialogue": d}, ensure_ascii=False) + "\n" for d in DIALOGUES), encoding="utf-8")
    pkl = tmp_path / "d.pkl"
    pkl.write_bytes(pickle.dumps(DIALOGUES))
    assert read_dialogues(jsonl)["dialogue"] == DIALOGUES
    assert read_dialogues(pkl)["dialogue"] == DIALOGUES


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_malicious_pickle_is_refused_and_never_executed(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([["привет", "пока"], _Exploit(str(target))]))
    with pytest.raises(DataError, match=r"evil\.pkl: pickle refers to io\.open.*nothing was executed"):
        read_dialogues(path)
    assert not target.exists()


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"- this is text, not a pickle\n", r"not a readable pickle"),
        (pickle.dumps(DIALOGUES)[:-7], r"truncated"),
        (pickle.dumps([["а", "б"], {"dialogue": ["а"]}]), r"record 1: a dialogue is dict"),
        (pickle.dumps([["а", "б"], ["в", 42]]), r"record 1: utterance 1 is int"),
        (pickle.dumps([None]), r"record 0: a dialogue is NoneType"),
        (pickle.dumps([["а", "б"], "просто строка"]), r"record 1: a dialogue is a string"),
        (pickle.dumps([["а", ["б", ["в"]]]]), r"record 0: utterance 1 is a nested list; nesting is too deep"),
        (pickle.dumps({"а": "б"}), r"holds dict; expected a list of dialogues"),
        (b"", r"empty"),
    ],
    ids=["not-a-pickle", "truncated", "dict", "int", "none", "string-dialogue", "too-deep", "top-dict", "empty"],
)
def test_bad_pickles_get_a_clear_error(tmp_path, payload, message):
    path = tmp_path / "bad.pkl"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=r"bad\.pkl.*" + message):
        read_dialogues(path)


def test_non_utf8_text_names_the_line(tmp_path):
    path = tmp_path / "cp1251.txt"
    path.write_bytes("- Привет\n- Пока\n\n".encode() + "- Как дела?\n".encode("cp1251"))
    with pytest.raises(DataError, match=r"cp1251\.txt, line 4: not UTF-8"):
        read_dialogues(path)


def test_empty_and_missing_files_and_bad_jsonl(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.txt: the file is empty"):
        read_dialogues(tmp_path / "empty.txt")
    with pytest.raises(DataError, match=r"missing\.txt\.xz: no such file"):
        read_dialogues(tmp_path / "missing.txt.xz")
    (tmp_path / "bad.jsonl").write_text('{"dialogue": ["а", "б"]}\n{"dialogue": ["в",\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl, line 2: not valid JSON"):
        read_dialogues(tmp_path / "bad.jsonl")


@pytest.mark.parametrize("ending", ["\r", "\r\n"])
def test_old_mac_and_windows_line_endings_are_line_endings(tmp_path, ending):
    path = tmp_path / "dialogues.txt"
    path.write_bytes(("\n\n".join("\n".join(dialogue) for dialogue in DIALOGUES) + "\n").replace("\n", ending).encode())
    assert read_dialogues(path)["dialogue"] == DIALOGUES


def test_a_line_ending_split_across_read_chunks_is_one_line_ending(tmp_path):
    """The reader reads 1 MiB at a time: here the CR of a CRLF is its last byte and the LF the next chunk's first."""
    first = "- " + "x" * (2**20 - 3)
    path = tmp_path / "chunked.txt"
    path.write_bytes(f"{first}\r\n- Да.\r\n\r\n- Нет.\r\n- Ну.\r\n".encode())
    assert len(first.encode()) + 1 == 2**20
    assert read_dialogues(path)["dialogue"] == [[first, "- Да."], ["- Нет.", "- Ну."]]


def test_an_unknown_extension_is_refused_not_read_as_text(tmp_path):
    path = tmp_path / "dialogues.csv"
    path.write_text("speaker,text\n1,Привет\n2,Здравствуй\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dialogues.csv: unknown extension '.csv'"):
        read_dialogues(path)
