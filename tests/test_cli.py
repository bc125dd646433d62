"""The command line as a user meets it, in real subprocesses: instant help listing every field, one config
system, and one clear paragraph (exit status 2, no traceback) for every bad input or environment."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from rugpt_chitchat.cli import COMMANDS

HEAVY = ("torch", "transformers", "datasets", "pyarrow")
LIGHT_COMMANDS = [name for name in COMMANDS if name not in {"train", "pretrain"}]  # their fields include TrainingArguments'


def run_python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)


def cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rugpt_chitchat.cli", *args], capture_output=True, text=True, timeout=timeout, env=environment
    )


def heavy_modules_after(statement: str, env: dict | None = None) -> list[str]:
    code = (
        "import contextlib, io, sys\n"
        f"with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n    {statement}\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().replace("'", '"'))


def assert_user_error(result: subprocess.CompletedProcess, *phrases: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    message = result.stderr.split("error: ", 1)[-1]
    for phrase in phrases:
        assert phrase in message, (phrase, message)


def test_importing_the_package_loads_no_heavy_library():
    assert heavy_modules_after("import rugpt_chitchat") == []


def test_package_names_still_resolve_on_first_use():
    code = "import rugpt_chitchat as r; print(r.PipelineConfig().max_history, r.DataError.__name__, r.ChitChat.__name__)"
    assert run_python(code).stdout.split() == ["3", "DataError", "ChitChat"]


def test_top_level_help_loads_no_heavy_library():
    assert heavy_modules_after("from rugpt_chitchat.cli import main; main(['--help'])") == []


@pytest.mark.parametrize("name", LIGHT_COMMANDS)
def test_command_help_loads_no_heavy_library(name, tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}  # an empty help cache: the real parser runs
    assert heavy_modules_after(f"from rugpt_chitchat.cli import main; main([{name!r}, '--help'])", env) == []


@pytest.fixture(scope="module")
def help_cache(tmp_path_factory) -> str:
    """One help cache for the module: `train --help` imports torch once."""
    return str(tmp_path_factory.mktemp("cache"))


def test_train_help_is_read_from_the_cache_after_the_first_time(help_cache):
    env = {**os.environ, "XDG_CACHE_HOME": help_cache}
    first = cli("train", "--help", env=env)
    assert first.returncode == 0 and "--learning_rate" in first.stdout and "--max_history" in first.stdout
    assert heavy_modules_after("from rugpt_chitchat.cli import main; main(['train', '--help'])", env) == []
    assert cli("train", "--help", env=env).stdout == first.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_lists_every_field_of_the_command(name, help_cache):
    result = cli(name, "--help", env={"XDG_CACHE_HOME": help_cache})
    assert result.returncode == 0, result.stderr
    command = importlib.import_module(COMMANDS[name].module)
    names = [f.name for cls in command.ARGUMENTS for f in fields(cls) if f.init]
    missing = [field_name for field_name in names if f"--{field_name} " not in result.stdout]
    assert not missing and "--config" in result.stdout and "--log_level" in result.stdout


def test_shared_settings_have_one_default():
    from rugpt_chitchat.config import PipelineConfig
    from rugpt_chitchat.format import DialogueFormat
    from rugpt_chitchat.training.finetune import DataArguments, DialogueTrainingArguments

    pipeline, data = PipelineConfig(), DataArguments()
    assert pipeline.max_history == data.max_history == DialogueFormat.max_history
    assert pipeline.validation_size == data.validation_size and pipeline.seed == DialogueTrainingArguments.seed
    assert data.max_length == DialogueFormat.max_length


def test_unknown_command_is_a_usage_error():
    result = cli("trian")
    assert result.returncode == 2 and "unknown command 'trian'" in result.stderr and "preprocess" in result.stderr


def test_missing_data_name_says_no_file_and_no_hub(tmp_path, tokenizer_dir):
    result = cli("preprocess", "--data", "no_such_corpus", "--tokenizer_name", str(tokenizer_dir), "--output_dir", str(tmp_path))
    assert_user_error(result, "no_such_corpus", "no such file or directory", "Hugging Face Hub", "HF_HUB_OFFLINE")


def test_missing_tokenizer_directory_is_named(tmp_path, corpus_file):
    missing = tmp_path / "no" / "tokenizer"
    result = cli("preprocess", "--data", str(corpus_file), "--tokenizer_name", str(missing), "--output_dir", str(tmp_path / "out"))
    assert_user_error(result, str(missing), "no such directory")


def test_a_directory_without_a_tokenizer_is_named(tmp_path, corpus_file):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("preprocess", "--data", str(corpus_file), "--tokenizer_name", str(empty), "--output_dir", str(tmp_path / "out"))
    assert_user_error(result, str(empty), "holds no loadable tokenizer")


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("max_history: [1\nseed: 3\n", "not valid YAML at line"),
        ("- just\n- a list\n", "a config is a mapping"),
        ("max_histroy: 2\n", "did you mean 'max_history'"),
        (b"\xff\xfe max_history: 2", "not UTF-8"),
    ],
)
def test_bad_yaml_is_named_with_its_problem(tmp_path, text, phrase):
    path = tmp_path / "config.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = cli("preprocess", "--config", str(path))
    assert_user_error(result, str(path), phrase)


def test_yaml_gives_required_fields_and_the_command_line_overrides(tmp_path, corpus_file, tokenizer_dir):
    config = tmp_path / "preprocess.yaml"
    config.write_text(
        f"data: [{corpus_file}]\ntokenizer_name: {tokenizer_dir}\noutput_dir: {tmp_path / 'from-yaml'}\nmax_history: 1\n",
        encoding="utf-8",
    )
    result = cli("preprocess", "--config", str(config), "--output_dir", str(tmp_path / "from-flag"), "--seed", "5")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "from-yaml").exists()
    recorded = json.loads((tmp_path / "from-flag" / "pipeline_config.json").read_text(encoding="utf-8"))
    assert recorded["max_history"] == 1 and recorded["seed"] == 5 and recorded["data"] == [str(corpus_file)]
    assert recorded["tokenizer_name"] == str(tokenizer_dir)


def test_unknown_flag_is_refused():
    assert_user_error(cli("chat", "--checkpoint", "x", "--temprature", "3"), "unknown arguments --temprature")


def test_missing_checkpoint_is_named(tmp_path):
    assert_user_error(cli("chat", "--checkpoint", str(tmp_path / "run")), str(tmp_path / "run"), "no such directory")


def test_evaluate_of_an_old_checkpoint_without_data_asks_for_it(tiny_model_dir):
    assert_user_error(cli("evaluate", "--checkpoint", str(tiny_model_dir)), "records no training data", "--data")


def test_evaluate_names_a_missing_checkpoint_and_a_directory_that_is_none(tmp_path):
    assert_user_error(cli("evaluate", "--checkpoint", str(tmp_path / "run")), "no such checkpoint directory")
    assert_user_error(cli("evaluate", "--checkpoint", str(tmp_path)), str(tmp_path), "is no checkpoint")
    (tmp_path / "empty").write_text("")
    assert_user_error(cli("evaluate", "--checkpoint", str(tmp_path / "empty")), "empty: is no checkpoint")


def test_a_misspelt_flag_is_named_even_when_a_required_field_is_missing():
    result = cli("evaluate", "--chekpoint", "run")
    assert_user_error(result, "unknown arguments --chekpoint", "required: --checkpoint")
    assert "usage:" not in result.stderr


def test_pretrain_names_prose_that_is_neither_a_path_nor_on_the_hub(tmp_path):
    assert_user_error(cli("pretrain", "--data", str(tmp_path / "books"), "--use_cpu", "true"), "no such file or directory")
    assert_user_error(cli("pretrain", "--data", "no_such_prose", "--use_cpu", "true"), "no_such_prose",
                      "could not be loaded from the Hugging Face Hub", "HF_HUB_OFFLINE")


def test_bad_format_setting_is_a_clear_error(tmp_path, corpus_file, tokenizer_dir):
    result = cli("train", "--data", str(corpus_file), "--tokenizer_name", str(tokenizer_dir), "--max_length", "3",
                 "--output_dir", str(tmp_path), "--use_cpu", "true")  # fmt: skip
    assert_user_error(result, "max_length", "leaves no room for a reply")


def test_settings_a_dataclass_refuses_are_a_clear_error(tmp_path):
    config = tmp_path / "gpu.yaml"
    config.write_text("bf16: true\nuse_cpu: false\n", encoding="utf-8")
    result = cli("train", "--config", str(config), "--output_dir", str(tmp_path), env={"CUDA_VISIBLE_DEVICES": ""})
    assert_user_error(result, str(config), "bf16")


def test_extract_dialogues_keeps_its_positional_books(tmp_path):
    result = cli("extract-dialogues", str(tmp_path / "missing.fb2"), "--output", str(tmp_path / "out.txt"))
    assert_user_error(result, "missing.fb2", "no such file")


def test_debug_shows_the_traceback(tmp_path):
    book, output = str(tmp_path / "missing.fb2"), str(tmp_path / "out.txt")
    for args in (["--debug", "extract-dialogues", book, "--output", output],
                 ["extract-dialogues", book, "--output", output, "--log_level", "debug"]):  # fmt: skip
        result = cli(*args)
        assert result.returncode == 1 and "Traceback" in result.stderr and "DataError" in result.stderr, args


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory, corpus_slice) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "dialogues.txt"
    path.write_text("\n\n".join("\n".join(dialogue) for dialogue in corpus_slice[:200]) + "\n", encoding="utf-8")
    return path
