"""The one configuration system: dataclasses with `help` metadata, filled from a YAML file and the command line.

Every subcommand parses its arguments here, so a setting has one name and one default everywhere:
`rugpt-chitchat SUBCOMMAND --config FILE.yaml --any_field value`. Precedence, lowest first: the dataclass
default, what the artifact being read recorded (e.g. a checkpoint's data split), the YAML file, the command line.

The settings shared by several subcommands live here; a subcommand's own settings live with it. Nothing here
imports torch or transformers: `--help` is instant.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import sys
from collections.abc import Callable
from typing import NoReturn
from dataclasses import dataclass, field, fields
from pathlib import Path

from .data.cleaning import MAX_UTTERANCE_CHARS
from .errors import DataError
from .format import DialogueFormat


DEVICE_HELP = "cpu, cuda, cuda:1...; default: cuda when available."
SHAPING_SETTINGS = ("max_history", "validation_size", "seed", "dedup", "max_utterance_chars")  # decide the samples


@dataclass
class PipelineConfig:
    """Dialogues -> samples: the settings of `preprocess`, `train` (its split seed is TrainingArguments' `seed`,
    its history the format's `max_history`) and `evaluate`, and of `prepare_dataset` from Python."""

    data: list[str] = field(
        default_factory=list,
        metadata={"help": "Dialogue files (.txt[.xz|.gz|.bz2], .pkl, .jsonl; globs allowed) or Hub dataset names, "
                  "or one directory written by `rugpt-chitchat preprocess`."},
    )
    max_history: int = field(default=DialogueFormat.max_history, metadata={"help": "Utterances kept before the input."})
    validation_size: float = field(default=0.05, metadata={"help": "Share of dialogues held out for validation."})
    seed: int = field(default=42, metadata={"help": "Seed of the train/validation split and of sampling."})
    dedup: bool = field(default=True, metadata={"help": "Drop dialogues whose first utterance was already seen."})
    max_utterance_chars: int = field(
        default=MAX_UTTERANCE_CHARS, metadata={"help": "Dialogues with a longer utterance are dropped (and counted)."}
    )
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for datasets.map."})
    preprocessing_batch_size: int = field(default=1000, metadata={"help": "Dialogues per datasets.map batch."})

    def shaping_settings(self) -> dict:
        """The settings that decide which samples come out (not how fast): what an artifact records."""
        return {name: getattr(self, name) for name in SHAPING_SETTINGS}


@dataclass
class SubsetArguments:
    """Quick runs on the first samples; `train` and `evaluate` then score the same validation samples."""

    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only the first N training samples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Score only the first N validation samples."})


@dataclass
class CheckpointArguments:
    """The model a subcommand loads: `evaluate`, `chat`, `bot`."""

    checkpoint: str = field(metadata={"help": "Checkpoint directory written by `train` (or a Hub name)."})
    device: str | None = field(default=None, metadata={"help": DEVICE_HELP})


Recorded = Callable[[dict], dict]


def parse_config(
    argv: list[str], classes: tuple[type, ...], prog: str, description: str | None = None, recorded: Recorded | None = None
) -> tuple:
    """One instance of each of `classes`: `--config file.yaml` gives values, the command line overrides them.

    `recorded(values so far)` may return values an artifact recorded (a checkpoint's split), which rank below
    the file and the command line. Unknown keys, in the file or on the command line, are refused with a
    suggestion; fields without a default may come from the file.
    """
    parser = argument_parser(classes, prog, description)
    parser.add_argument("--config", help="YAML file of arguments (any of them); the command line overrides it")
    parser.error = lambda message: _refuse(parser, argv, message, prog)
    known = {f.name for cls in classes for f in fields(cls) if f.init}
    config_only = argparse.ArgumentParser(add_help=False)
    config_only.add_argument("--config")
    config_path = config_only.parse_known_args(argv)[0].config
    values = read_config(Path(config_path), known, prog) if config_path else {}
    _not_required(parser, values)
    if recorded is not None:
        given = vars(parser.parse_known_args(argv, namespace=argparse.Namespace(**values))[0])
        values = {key: value for key, value in recorded(given).items() if key in known} | values
    _not_required(parser, values)
    parser.set_defaults(**values)
    try:
        *parsed, unknown = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    except DataError:
        raise
    except ValueError as error:  # a dataclass refusing its values, e.g. TrainingArguments' bf16 on a CPU
        raise DataError(config_path or "command line", f"{error}".strip()) from error
    if unknown:
        raise DataError("command line", f"unknown arguments {' '.join(unknown)}; see `{prog} --help`")
    return tuple(parsed[: len(classes)])


def _refuse(parser: argparse.ArgumentParser, argv: list[str], message: str, prog: str) -> NoReturn:
    """argparse's errors (a required field missing, a bad choice or type) as one line, naming the flags it does
    not know first: a misspelt flag is the usual cause of a "required" error."""
    flags = parser._option_string_actions
    unknown = [arg for arg in argv if arg.startswith("--") and not any(f.startswith(arg.split("=")[0]) for f in flags)]
    problem = f"unknown arguments {' '.join(unknown)} ({message})" if unknown else message
    raise DataError("command line", f"{problem}; see `{prog} --help`")


def _not_required(parser: argparse.ArgumentParser, values: dict) -> None:
    """A value from the file (or the artifact) satisfies a required argument."""
    for action in parser._actions:
        if action.dest in values:
            action.required = False


def argument_parser(classes: tuple[type, ...], prog: str, description: str | None):
    """transformers' HfArgumentParser, loaded without the transformers package when it allows.

    `hf_argparser.py` needs only the standard library and yaml, while `import transformers` costs most of a
    second (numpy, huggingface_hub): loading the one file keeps `--help` instant. A transformers whose
    parser needs more falls back to the ordinary import.
    """
    try:
        module = _standalone_hf_argparser()
    except ImportError:
        from transformers import hf_argparser as module
    return module.HfArgumentParser(classes, prog=prog, description=description)


def _standalone_hf_argparser():
    name = "rugpt_chitchat._hf_argparser"
    if name not in sys.modules:
        package = importlib.util.find_spec("transformers")
        if package is None or package.origin is None:
            raise ImportError("transformers is not installed")
        spec = importlib.util.spec_from_file_location(name, Path(package.origin).with_name("hf_argparser.py"))
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except (ImportError, FileNotFoundError) as error:
            raise ImportError(f"transformers' hf_argparser cannot be loaded alone: {error}") from error
        sys.modules[name] = module
    return sys.modules[name]


def read_config(path: Path, known: set[str], prog: str) -> dict:
    """The mapping in a YAML file, every key checked against the known field names."""
    import yaml

    if not path.is_file():
        raise DataError(path, "config file not found")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DataError(path, f"not valid YAML{where}: {getattr(error, 'problem', None) or error}") from None
    except UnicodeDecodeError as error:
        raise DataError(path, f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not isinstance(values, dict):
        raise DataError(path, "a config is a mapping of argument names to values")
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; see `{prog} --help`"
            raise DataError(path, f"unknown key {key!r}{hint}")
    return values
