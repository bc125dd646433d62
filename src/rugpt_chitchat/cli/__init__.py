"""`rugpt-chitchat` command line: each subcommand is a module of `rugpt_chitchat.cli.commands`, imported only when
it runs, whose dataclasses `parse_config` fills (`--config FILE.yaml` + overrides) before one library call.

Adding a subcommand: write `commands/NAME.py` (docstring, `ARGUMENTS`, `run`; see `commands/__init__.py`)
and add one `Command` line below. Errors caused by the user's input or environment end as one paragraph
and exit status 2; `rugpt-chitchat --debug ...` (or `--log_level debug`) shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Literal, NamedTuple

from ..config import parse_config
from ..errors import DataError, TrainingDiverged
from ..hub import code_hash, offline_note

PROG = "rugpt-chitchat"
USER_ERROR_STATUS = 2


class Command(NamedTuple):
    module: str
    summary: str


COMMANDS = {
    "preprocess": Command("rugpt_chitchat.cli.commands.preprocess", "dialogue files -> tokenised samples on disk"),
    "pretrain": Command("rugpt_chitchat.cli.commands.pretrain", "pretrain a base model on books or other prose"),
    "train": Command("rugpt_chitchat.cli.commands.train", "fine-tune or train a model on dialogues"),
    "evaluate": Command("rugpt_chitchat.cli.commands.evaluate", "reply perplexity and generation metrics of a checkpoint"),
    "chat": Command("rugpt_chitchat.cli.commands.chat", "talk to a checkpoint in the terminal"),
    "demo": Command("rugpt_chitchat.cli.commands.demo", "talk to a checkpoint in the browser (Gradio web chat)"),
    "merge": Command("rugpt_chitchat.cli.commands.merge", "merge a LoRA adapter checkpoint into a plain model"),
    "bot": Command("rugpt_chitchat.cli.commands.bot", "serve checkpoints as a Telegram bot (several: an A/B test)"),
    "serve": Command("rugpt_chitchat.cli.commands.serve", "serve checkpoints over an OpenAI-compatible chat API"),
    "feedback": Command("rugpt_chitchat.cli.commands.feedback", "report or export the ratings the bot collected"),
    "extract-dialogues": Command("rugpt_chitchat.cli.commands.extract_dialogues", "books and zip archives of them -> dialogue files"),
}


@dataclass
class LoggingArguments:
    """Added to every subcommand whose own arguments lack `log_level` (train has TrainingArguments')."""

    log_level: Literal["debug", "info", "warning", "error"] = field(
        default="info", metadata={"help": "Logging level; 'debug' also shows the traceback of an error."}
    )


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} [--debug] COMMAND [--config FILE.yaml] [--field value ...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()]
    lines += ["", f"`{PROG} COMMAND --help` lists the fields of a command; --debug shows tracebacks."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = bool(argv) and argv[0] == "--debug"
    argv = argv[debug:]
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage())
        sys.exit(0 if argv else USER_ERROR_STATUS)
    if argv[0] not in COMMANDS:
        print(f"{PROG}: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(USER_ERROR_STATUS)
    try:
        if {"-h", "--help"} & set(argv[1:]):
            print_help(argv[0], argv[1:])
        command, parsed, level = parse_command(argv[0], argv[1:])
        debug = debug or level == "debug"
        logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        command.run(*parsed)
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        if debug or not is_user_error(error):
            raise
        print(f"error: {explain(error)}\n(run `{PROG} --debug ...` for the traceback)", file=sys.stderr)
        sys.exit(USER_ERROR_STATUS)


def parse_command(name: str, argv: list[str]) -> tuple[ModuleType, tuple, str]:
    """The command's module, its parsed dataclasses and the log level asked for."""
    command = importlib.import_module(COMMANDS[name].module)
    positional = getattr(command, "POSITIONAL", None)
    if positional and argv and not argv[0].startswith("-"):
        argv = [f"--{positional}", *argv]
    classes = command.ARGUMENTS
    own_log_level = any("log_level" in cls.__dataclass_fields__ for cls in classes)
    parsed = parse_config(
        argv,
        classes if own_log_level else (*classes, LoggingArguments),
        prog=f"{PROG} {name}",
        description=command.__doc__,
        recorded=getattr(command, "recorded", None),
    )
    level = next((p.log_level for p in parsed if hasattr(p, "log_level")), "info")
    return command, parsed[: len(classes)], "info" if level == "passive" else level


def print_help(name: str, argv: list[str]) -> None:
    """`COMMAND --help`, from a cache when this version has printed it before: `train`'s lists every field of
    TrainingArguments, which takes importing torch and transformers (seconds); the cache makes it instant."""
    cache = help_cache_path(name)
    if cache.is_file():
        print(cache.read_text(encoding="utf-8"), end="")
        sys.exit(0)
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        parse_command(name, argv)
    print(text.getvalue(), end="")
    with contextlib.suppress(OSError):  # a read-only home only costs the speed
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(text.getvalue(), encoding="utf-8")
    sys.exit(0)


def help_cache_path(name: str) -> Path:
    """A file per command, named after the installed transformers and this package's sources, so an upgrade or
    an edit prints fresh help."""
    from importlib.metadata import PackageNotFoundError, version

    transformers = "none"
    with contextlib.suppress(PackageNotFoundError):
        transformers = version("transformers")
    digest = code_hash(*sorted(Path(__file__).parent.parent.rglob("*.py")))[:16]
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "rugpt-chitchat" / "help" / f"{name}-{transformers}-{digest}.txt"


def is_user_error(error: BaseException) -> bool:
    """Errors of the input or the environment, which a message explains better than a traceback."""
    if isinstance(error, (DataError, OSError)):  # OSError: missing paths, permissions, the Hub unreachable
        return True
    if isinstance(error, RuntimeError) and isinstance(error.__cause__, ImportError):  # an optional package missing
        return True
    return isinstance(error, _loaded_environment_errors())


def _loaded_environment_errors() -> tuple[type, ...]:
    """Hub and Telegram errors, from the libraries only when they were loaded (they raised nothing otherwise)."""
    found: list[type] = []
    if "huggingface_hub" in sys.modules:
        from huggingface_hub import errors

        found += [errors.HfHubHTTPError, errors.OfflineModeIsEnabled]
    if "aiogram" in sys.modules:
        from aiogram.exceptions import TelegramAPIError, TelegramNetworkError

        found += [TelegramAPIError, TelegramNetworkError]
    return tuple(found)


def explain(error: BaseException) -> str:
    """One paragraph: what went wrong, where, and what to do."""
    if isinstance(error, DataError):
        return str(error)
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"{error.filename}: no such file or directory; check the path"
    if isinstance(error, ConnectionError) or type(error).__name__ in {"OfflineModeIsEnabled", "HfHubHTTPError"}:
        return (f"{error}. The name is no local path (no such file or directory), so it was looked up on the "
                f"Hugging Face Hub, which could not be reached{offline_note()}: check the path (files need their extension, "
                "e.g. .txt.xz), or connect once so the Hub files are cached")
    if type(error).__module__.startswith("aiogram"):
        return f"Telegram: {error}; check the token and --api_server"
    if isinstance(error, OSError):
        where = f"{error.filename}: " if getattr(error, "filename", None) else ""
        return f"{where}{error.strerror or error}; check the path, its permissions and the free space"
    return str(error)

