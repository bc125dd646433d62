"""The one configuration system: dataclasses with `help` metadata, filled from a YAML file and the command line.

Every subcommand parses its arguments here, so a setting has one name and one default everywhere:
`rugpt-chitchat SUBCOMMAND --config FILE.yaml --any_field value`.
"""

from __future__ import annotations

import difflib
from dataclasses import fields
from pathlib import Path

from .errors import DataError


def parse_config(argv: list[str], classes: tuple[type, ...], prog: str, description: str | None = None) -> tuple:
    """One instance of each of `classes`: `--config file.yaml` gives values, the command line overrides them.

    Unknown keys, in the file or on the command line, are refused with a suggestion.
    """
    import yaml  # noqa: F401  (HfArgumentParser reads YAML through it; fail here with the real cause)
    from transformers import HfArgumentParser

    parser = HfArgumentParser(classes, prog=prog, description=description)
    parser.add_argument("--config", help="YAML file of arguments (any of them); the command line overrides it")
    known = {f.name for cls in classes for f in fields(cls) if f.init}
    config_path = parser.parse_known_args(argv)[0].config
    if config_path:
        parser.set_defaults(**read_config(Path(config_path), known, prog))
    *parsed, unknown = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    if unknown:
        raise DataError("command line", f"unknown arguments {' '.join(unknown)}; see `{prog} --help`")
    return tuple(parsed[: len(classes)])


def read_config(path: Path, known: set[str], prog: str) -> dict:
    """The mapping in a YAML file, every key checked against the known field names."""
    import yaml

    if not path.is_file():
        raise DataError(path, "config file not found")
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(values, dict):
        raise DataError(path, "a config is a mapping of argument names to values")
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; see `{prog} --help`"
            raise DataError(path, f"unknown key {key!r}{hint}")
    return values
