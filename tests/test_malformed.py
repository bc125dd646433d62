"""A corpus of malformed inputs, each a real file: the API gives a DataError naming the file and the
record or line (or counts the drop in the summary), and the CLI says the same in one line, exit status 2."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import pickle
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from rugpt_chitchat import DataError, PipelineConfig, prepare_dataset, preprocess_data_for_model
from rugpt_chitchat.data.cleaning import EMPTY_UTTERANCE, INVISIBLE_ONLY, TOO_LONG, TOO_SHORT

# The CLI's flag names, in one place: the settings rework renames them to the `train` names.
CLI_FLAGS = {"tokenizer": "--tokenizer_name", "output": "--output_dir"}

GOOD = [["- Привет!", "- Здравствуй."], ["- Как дела?", "- Хорошо, спасибо."], ["- Куда идёшь?", "- Домой."]]


def text(dialogues) -> str:
    return "\n\n".join("\n".join(dialogue) for dialogue in dialogues) + "\n"


def jsonl(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def record(dialogue) -> str:
    return json.dumps({"dialogue": dialogue}, ensure_ascii=False)


def deep_list_pickle(depth: int) -> bytes:
    """[[[...]]] `depth` deep, in protocol-2 opcodes (pickle.dumps itself would recurse too deep)."""
    return b"\x80\x02" + b"](" * depth + b"e" * depth + b"."


def reduce_pickle(module: str, name: str, argument: str) -> bytes:
    """A protocol-0 pickle that imports module.name and calls it with one string: what an exploit looks like."""
    return f"c{module}\n{name}\n(V{argument}\ntR.".encode()


def recursive_pickle() -> bytes:
    looped: list = []
    looped.append(looped)
    return pickle.dumps([["а", "б"], looped])


@dataclass
class Case:
    name: str
    data: bytes | Callable[[Path], Path]  # the file's bytes, or a function that makes the path in a directory
    error: str | None = None  # regex the DataError matches, after the file's name
    drops: dict[str, int] = field(default_factory=dict)  # else: counts the summary must show
    cleaned: int = 0  # utterances that lost control or zero-width characters

    def make(self, directory: Path) -> Path:
        if callable(self.data):
            return self.data(directory)
        path = directory / self.name
        path.write_bytes(self.data)
        return path


def make_directory(name):
    def make(directory: Path) -> Path:
        (directory / name).mkdir()
        return directory / name
    return make


def missing(name):
    return lambda directory: directory / name


def through_a_file(directory: Path) -> Path:
    (directory / "plain.txt").write_text(text(GOOD), encoding="utf-8")
    return directory / "plain.txt" / "inner.txt"


def broken_symlink(directory: Path) -> Path:
    (directory / "dangling.txt").symlink_to(directory / "gone.txt")
    return directory / "dangling.txt"


def memo_bomb(directory: Path) -> Path:
    """A small pickle whose memo repeats one string: 50,000 dialogues of the same 2,000 characters twice."""
    utterance = "а" * 1000
    path = directory / "memo-bomb.pkl"
    path.write_bytes(pickle.dumps([[utterance, utterance]] * 50_000))
    return path


def one_gigantic_line(directory: Path) -> Path:
    """An .xz of a few kB that expands to one line longer than any dialogue (17 MiB, no line break)."""
    path = directory / "one-line.txt.xz"
    path.write_bytes(lzma.compress(b"- " + b"a" * (17 * 2**20)))
    return path


def unreadable(directory: Path) -> Path:
    path = directory / "locked.txt"
    path.write_text(text(GOOD), encoding="utf-8")
    path.chmod(0)
    return path


PICKLED = pickle.dumps([[line[2:] for line in dialogue] for dialogue in GOOD])
XZ_PICKLE = lzma.compress(PICKLED)

CASES = [
    # pickles: the whole file
    Case("empty-list.pkl", pickle.dumps([]), r": no dialogues"),
    Case("empty.pkl", b"", r": the file is empty"),
    Case("text-as.pkl", text(GOOD).encode(), r": not a readable pickle"),
    Case("truncated.pkl", PICKLED[:-7], r": .*truncated"),
    Case("half.pkl", PICKLED[: len(PICKLED) // 2], r": .*truncated"),
    Case("garbage.pkl", b"\x80\x05\xff\xfe" + bytes(range(256)), r": not a readable pickle"),
    Case("top-dict.pkl", pickle.dumps({"dialogue": ["а", "б"]}), r": the pickle holds dict"),
    Case("top-str.pkl", pickle.dumps("а б"), r": the pickle holds str"),
    Case("top-int.pkl", pickle.dumps(42), r": the pickle holds int"),
    Case("top-none.pkl", pickle.dumps(None), r": the pickle holds NoneType"),
    # pickles: a dialogue of the wrong type
    Case("dialogue-dict.pkl", pickle.dumps([["а", "б"], {"dialogue": ["а"]}]), r", record 1: a dialogue is dict"),
    Case("dialogue-str.pkl", pickle.dumps([["а", "б"], "просто строка"]), r", record 1: a dialogue is a string"),
    Case("dialogue-none.pkl", pickle.dumps([None]), r", record 0: a dialogue is NoneType"),
    Case("dialogue-int.pkl", pickle.dumps([["а", "б"], ["в", "г"], 7]), r", record 2: a dialogue is int"),
    Case("dialogue-bytes.pkl", pickle.dumps([b"\xd0\xb0"]), r", record 0: a dialogue is bytes"),
    Case("dialogue-set.pkl", pickle.dumps([{"а", "б"}]), r", record 0: a dialogue is set"),
    # pickles: an utterance of the wrong type
    Case("utterance-int.pkl", pickle.dumps([["а", "б"], ["в", 42]]), r", record 1: utterance 1 is int"),
    Case("utterance-none.pkl", pickle.dumps([[None, "б"]]), r", record 0: utterance 0 is NoneType"),
    Case("utterance-bytes.pkl", pickle.dumps([["а", b"b"]]), r", record 0: utterance 1 is bytes"),
    Case("utterance-float.pkl", pickle.dumps([["а", float("nan")]]), r", record 0: utterance 1 is float"),
    Case("utterance-dict.pkl", pickle.dumps([[{"text": "а"}]]), r", record 0: utterance 0 is dict"),
    Case("utterance-nested.pkl", pickle.dumps([["а", ["б", ["в"]]]]), r", record 0: utterance 1 is a nested list"),
    Case("surrogate.pkl", pickle.dumps([["а", "\ud800"]]), r", record 0: utterance 1 is not valid Unicode"),
    Case("recursive.pkl", recursive_pickle(), r", record 1: utterance 0 is a nested list"),
    Case("deep.pkl", deep_list_pickle(100_000), r", record 0: utterance 0 is a nested list"),
    # pickles that want to run code
    Case("os-system.pkl", reduce_pickle("os", "system", "touch pwned"), r": pickle refers to os\.system.*nothing was executed"),
    Case("builtins-eval.pkl", b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c\x031+1\x94\x85\x94R\x94.",
         r": pickle refers to builtins\.eval.*nothing was executed"),
    Case("extension.pkl", b"\x80\x02\x82\x01.", r": not a readable pickle"),
    Case("persistent-id.pkl", b"\x80\x02X\x01\x00\x00\x00aQ.", r": not a readable pickle"),
    # compressed files
    Case("truncated.pkl.xz", XZ_PICKLE[: len(XZ_PICKLE) // 2], r": (cannot be read|the pickle is truncated)"),
    Case("empty-list.pkl.xz", lzma.compress(pickle.dumps([])), r": no dialogues"),
    Case("not-gzip.pkl.gz", PICKLED, r": cannot be read \(BadGzipFile"),
    Case("corrupt.txt.gz", gzip.compress(text(GOOD).encode())[:12] + b"\x00" * 40, r": cannot be read"),
    Case("corrupt.txt.bz2", b"BZh9" + b"\x17" * 60, r": cannot be read"),
    Case("truncated.txt.bz2", bz2.compress(text(GOOD * 50).encode())[:-40], r": cannot be read"),
    Case("truncated.txt.xz", lzma.compress(text(GOOD * 50).encode())[:60], r": cannot be read"),
    Case("corrupt.jsonl.xz", b"\xfd7zXZ\x00" + b"\x01" * 40, r": cannot be read"),
    # text: encodings and lines
    Case("blank.txt", b"\n\n   \n\t\n", r": no dialogues"),
    Case("empty.txt", b"", r": the file is empty"),
    Case("cp1251.txt", "- Привет\n- Пока\n\n".encode() + "- Как дела?\n".encode("cp1251"), r", line 4: not UTF-8"),
    Case("utf16.txt", text(GOOD).encode("utf-16"), r", line 1: not UTF-8"),
    Case("latin1-line3.txt", "- Hello\n- Bye\n- Café\n".encode("latin-1"), r", line 3: not UTF-8"),
    Case("pickle-as.txt", PICKLED, r", line 1: not UTF-8"),
    Case("png-as.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r", line 1: not UTF-8"),
    # text: counted drops
    Case("nul-bytes.txt", text([["- При\x00вет", "- По\x00ка"], *GOOD]).encode(), cleaned=2),
    Case("controls.txt", text([["- При\x07вет\x1b", "- По\x85ка\x9f"], *GOOD]).encode(), cleaned=2),
    Case("zero-width-only.txt", text([["- Привет", "\u200b\u200c", "- Пока"], ["\u2060\ufeff", "- Да"], *GOOD]).encode(),
         drops={INVISIBLE_ONLY: 2, TOO_SHORT: 1}),
    Case("dash-only.txt", text([["- Привет", "-", "–  ", "- Пока"], *GOOD]).encode(), drops={EMPTY_UTTERANCE: 2}),
    Case("one-utterance.txt", text([["- Один"], ["- Тоже один"], *GOOD]).encode(), drops={TOO_SHORT: 2}),
    Case("huge-line.txt", text([["- Привет", "- " + "а" * 3_000_000], *GOOD]).encode(), drops={TOO_LONG: 1}),
    Case("all-invisible.txt", text([["\u200b", "\x00\x01"], ["\ufeff", "\u200d"]]).encode(), r": no training samples"),
    Case("all-short.txt", text([["- Один"], ["- Два"]]).encode(), r": no training samples"),
    # JSONL
    Case("broken-line5.jsonl", jsonl(record(["а", "б"]), record(["в", "г"]), "", record(["д", "е"]), '{"dialogue": ["ж",'),
         r", line 5: not valid JSON"),
    Case("deep.jsonl", jsonl('{"dialogue": ' + "[" * 100_000 + "]" * 100_000 + "}"), r", line 1: JSON nested too deeply"),
    Case("array-line.jsonl", jsonl(record(["а", "б"]), '["а", "б"]'), r", line 2: expected an object"),
    Case("no-key.jsonl", jsonl(record(["а", "б"]), '{"turns": ["а", "б"]}'), r", line 2: expected an object"),
    Case("dialogue-string.jsonl", jsonl('{"dialogue": "а б"}'), r", line 1: a dialogue is a string"),
    Case("dialogue-null.jsonl", jsonl(record(["а", "б"]), '{"dialogue": null}'), r", line 2: a dialogue is NoneType"),
    Case("utterance-number.jsonl", jsonl('{"dialogue": ["а", 5]}'), r", line 1: utterance 1 is int"),
    Case("utterance-null.jsonl", jsonl('{"dialogue": [null, "б"]}'), r", line 1: utterance 0 is NoneType"),
    Case("utterance-object.jsonl", jsonl('{"dialogue": ["а", {"text": "б"}]}'), r", line 1: utterance 1 is dict"),
    Case("utterance-nested.jsonl", jsonl('{"dialogue": [["а", "б"]]}'), r", line 1: utterance 0 is a nested list"),
    Case("utterance-nan.jsonl", jsonl('{"dialogue": ["а", NaN]}'), r", line 1: utterance 1 is float"),
    Case("trailing-comma.jsonl", jsonl('{"dialogue": ["а", "б",]}'), r", line 1: not valid JSON"),
    Case("single-quotes.jsonl", jsonl("{'dialogue': ['а', 'б']}"), r", line 1: not valid JSON"),
    Case("huge-int.jsonl", jsonl('{"dialogue": [' + "9" * 5000 + "]}"), r", line 1: not valid JSON"),
    Case("cp1251.jsonl", jsonl(record(["а", "б"])) + '{"dialogue": ["Привет", "Пока"]}\n'.encode("cp1251"), r", line 2: not UTF-8"),
    Case("blank.jsonl", b"\n \n\n", r": no dialogues"),
    Case("pretty.json", json.dumps({"dialogue": ["а", "б"]}, indent=2).encode(), r", line 1: not valid JSON"),
    Case("surrogate.jsonl", jsonl('{"dialogue": ["а", "\\ud800"]}'), r", line 1: utterance 1 is not valid Unicode"),
    # paths
    Case("a-directory", make_directory("a-directory"), r": is a directory"),
    Case("dir.txt", make_directory("dir.txt"), r": is a directory"),
    Case("missing.txt.xz", missing("missing.txt.xz"), r": no such file"),
    Case("inner.txt", through_a_file, r": no such file"),
    Case("dangling.txt", broken_symlink, r": no such file"),
    Case("locked.txt", unreadable, r": cannot be read: permission denied"),
    # size guards and extensions
    Case("memo-bomb.pkl", memo_bomb, r": records 0-49999 hold 100,000,000 characters of text, more than .* memo references"),
    Case("one-line.txt.xz", one_gigantic_line, r", line 1: the line is longer than 16 MiB"),
    Case("table.csv", b"speaker,text\n1,\"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\"\n", r": unknown extension '.csv'"),
    Case("old-mac.txt", text(GOOD).replace("\n", "\r").encode()),
]

PERMISSION_CASES = {"locked.txt"}


def skip_unless_meaningful(case: Case) -> None:
    if case.name in PERMISSION_CASES and os.geteuid() == 0:
        pytest.skip("root reads any file: permissions cannot make one unreadable")


@pytest.fixture(scope="module")
def small_tokenizer_dir(tmp_path_factory):
    """A tiny BPE trained on a few lines: enough for the pipeline, no corpus needed."""
    from rugpt_chitchat.tokenizer import train_tokenizer

    directory = tmp_path_factory.mktemp("small-tokenizer")
    lines = [line[2:] for dialogue in GOOD for line in dialogue] * 20
    train_tokenizer(lines, directory, vocab_size=300, min_frequency=1)
    return directory


@pytest.fixture(scope="module")
def small_tokenizer(small_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(small_tokenizer_dir)


def test_the_corpus_is_large_and_names_are_unique():
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_malformed_input_is_a_clear_error_or_a_counted_drop(tmp_path, case, small_tokenizer):
    skip_unless_meaningful(case)
    path = case.make(tmp_path)
    config = PipelineConfig(validation_size=0)
    if case.error:
        with pytest.raises(DataError, match=r"^.*" + re.escape(path.name) + case.error) as caught:
            if path.suffix == ".pkl" and path.is_file():
                preprocess_data_for_model(path, tmp_path / "samples.pkl", small_tokenizer)
            else:
                prepare_dataset([path], small_tokenizer, config)
        assert "\n" not in str(caught.value).split("\n| stage")[0]
        return
    samples, summary = prepare_dataset([path], small_tokenizer, config)
    counts = {**summary.utterances_dropped, **summary.dialogues_dropped}
    for reason, count in case.drops.items():
        assert counts[reason] == count, reason
    assert summary.utterances_cleaned["control or zero-width characters removed"] == case.cleaned
    for ids in [*samples["train"]["input"], *samples["train"]["reply"]]:
        text = small_tokenizer.decode(ids)
        assert text and not any(ch in text for ch in "\x00\x07\x1b\x85\x9f\u200b\u200c\u200d\u2060\ufeff")


def test_a_pickle_that_wants_to_run_code_never_runs_it(tmp_path, small_tokenizer):
    path = tmp_path / "exploit.pkl"
    target = tmp_path / "pwned"
    path.write_bytes(reduce_pickle("os", "system", f"touch {target}"))
    with pytest.raises(DataError, match="nothing was executed"):
        prepare_dataset([path], small_tokenizer, PipelineConfig())
    assert not target.exists()


def test_a_source_that_is_neither_a_file_nor_reachable_on_the_hub(tmp_path, monkeypatch, small_tokenizer):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"^no_such_corpus: no such file or directory, .*Hub.*HF_HUB_OFFLINE"):
        prepare_dataset(["no_such_corpus"], small_tokenizer)


def test_a_byte_order_mark_is_no_part_of_the_first_utterance(tmp_path, small_tokenizer):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeff- Привет!\n- Здравствуй.\n".encode())
    from rugpt_chitchat import read_dialogues

    assert read_dialogues(path)["dialogue"] == [["- Привет!", "- Здравствуй."]]
    samples, _ = prepare_dataset([path], small_tokenizer, PipelineConfig(validation_size=0))
    assert small_tokenizer.decode(samples["train"][0]["input"]) == "Привет!"


def test_no_validation_dialogue_is_an_empty_split_not_a_crash(tmp_path, small_tokenizer):
    path = tmp_path / "three.txt"
    path.write_text(text(GOOD), encoding="utf-8")
    samples, summary = prepare_dataset([path], small_tokenizer, PipelineConfig(validation_size=0.001))
    assert summary.splits["validation"] == {"dialogues": 0, "samples": 0, "input+reply tokens": 0}
    assert summary.splits["train"]["samples"] == 3 == len(samples["train"])
    assert len(samples["validation"]) == 0 and samples["validation"].column_names == ["history", "input", "reply"]
    assert "| validation: samples | 0 |" in summary.to_markdown()


def test_old_mac_line_endings_are_line_endings(tmp_path, small_tokenizer):
    path = tmp_path / "old-mac.txt"
    path.write_bytes(text(GOOD).replace("\n", "\r").encode())
    samples, summary = prepare_dataset([path], small_tokenizer, PipelineConfig(validation_size=0))
    assert summary.dialogues_read == 3 and len(samples["train"]) == 3


def test_preprocess_refuses_a_split_it_would_leave_empty_and_writes_nothing(tmp_path, small_tokenizer_dir, capsys):
    from rugpt_chitchat.cli import main

    path = tmp_path / "three.txt"
    path.write_text(text(GOOD), encoding="utf-8")
    argv = [*cli_argv(path, small_tokenizer_dir, tmp_path / "out")[:-2], "--validation_size", "0.001"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    [error] = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert error.startswith(f"error: {path}: the validation split would be empty") and "Traceback" not in stderr
    assert not (tmp_path / "out").exists()


# The CLI: every case in one child process (importing the stack costs seconds), through `cli.main` as
# `python -m rugpt_chitchat.cli` runs it; what escapes `main` is printed as the interpreter would.
CLI_LOOP = r"""
import contextlib, io, json, sys, traceback
from rugpt_chitchat.cli import main
for argv in json.loads(sys.argv[1]):
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main(argv)
        except SystemExit as exit:
            code = exit.code
        except BaseException:
            traceback.print_exc()
            code = 1
    print(json.dumps({"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}))
"""


def cli_argv(path: Path, tokenizer_dir: Path, output: Path) -> list[str]:
    return ["preprocess", "--data", str(path), CLI_FLAGS["tokenizer"], str(tokenizer_dir), CLI_FLAGS["output"], str(output),
            "--validation-size", "0"]


def test_the_cli_answers_every_malformed_input_in_one_paragraph(tmp_path, small_tokenizer_dir):
    cases = [case for case in CASES if case.name not in PERMISSION_CASES or os.geteuid() != 0]
    paths = []
    for index, case in enumerate(cases):
        directory = tmp_path / str(index)
        directory.mkdir()
        paths.append(case.make(directory))
    argvs = [cli_argv(path, small_tokenizer_dir, tmp_path / f"out-{index}") for index, path in enumerate(paths)]
    result = subprocess.run([sys.executable, "-c", CLI_LOOP, json.dumps(argvs)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"code"')]
    assert len(outcomes) == len(cases)
    for case, path, outcome in zip(cases, paths, outcomes):
        assert "Traceback" not in outcome["stderr"], (case.name, outcome["stderr"][-2000:])
        if case.error:
            assert outcome["code"] == 2, (case.name, outcome)
            errors = [line for line in outcome["stderr"].splitlines() if line.startswith("error:")]
            assert errors and path.name in errors[0], (case.name, outcome["stderr"][-2000:])
        else:
            assert outcome["code"] in (0, None), (case.name, outcome["stderr"][-2000:])
            assert "| dialogues read |" in outcome["stdout"]


@pytest.mark.parametrize("name", ["empty-list.pkl", "deep.jsonl"])
def test_the_real_cli_process_exits_2_without_a_traceback(tmp_path, small_tokenizer_dir, name):
    path = next(case for case in CASES if case.name == name).make(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "rugpt_chitchat.cli", *cli_argv(path, small_tokenizer_dir, tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and f"{name}" in result.stderr


def test_the_real_cli_names_a_source_that_is_nowhere(tmp_path, small_tokenizer_dir):
    result = subprocess.run(
        [sys.executable, "-m", "rugpt_chitchat.cli", *cli_argv(Path("no_such_corpus"), small_tokenizer_dir, tmp_path / "out")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "no_such_corpus: no such file or directory" in result.stderr
