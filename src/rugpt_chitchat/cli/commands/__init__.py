"""One module per `rugpt-chitchat` subcommand, registered in `rugpt_chitchat.cli.COMMANDS`.

A command module is light to import (dataclasses only; heavy imports inside `run`) and holds:
its docstring (the `--help` description), `ARGUMENTS` (the dataclasses `parse_config` fills, in order),
`run(*arguments)` (one instance of each), and optionally `recorded(values) -> dict` (settings an artifact
named in `values` recorded, ranked below the YAML file and the command line) and `POSITIONAL` (the list
field that leading bare arguments fill).
"""
