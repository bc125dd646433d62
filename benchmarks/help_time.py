"""`rugpt-chitchat COMMAND --help` wall time: each command with a fresh help cache (what the first call after an
install or edit costs) and from the cache, and a command's parser built on transformers' own `hf_argparser`
import against the standalone copy config.py loads. Prints seconds and the ratios the design rests on.

    python benchmarks/help_time.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from rugpt_chitchat.cli import COMMANDS


def seconds(command: list[str], repeat: int, cache: str | None = None) -> float:
    """Median wall time of `command` run `repeat` times, with the help cache in `cache` (None: a new empty one
    each time)."""
    times = []
    for _ in range(repeat):
        run_env = dict(os.environ, XDG_CACHE_HOME=cache or tempfile.mkdtemp())
        started = time.perf_counter()
        subprocess.run(command, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    cli = [sys.executable, "-m", "rugpt_chitchat.cli"]
    print("| command | fresh cache (s) | cached (s) |\n| --- | ---: | ---: |")
    for name in COMMANDS:
        fresh = seconds([*cli, name, "--help"], repeat)
        cache = tempfile.mkdtemp()
        seconds([*cli, name, "--help"], 1, cache)  # fills it
        cached = seconds([*cli, name, "--help"], repeat, cache)
        print(f"| {name} --help | {fresh:.2f} | {cached:.2f} |", flush=True)
    standalone = seconds([sys.executable, "-c", "from rugpt_chitchat.config import argument_parser; "
                          "from rugpt_chitchat.config import PipelineConfig; argument_parser((PipelineConfig,), 'x', None)"], repeat)
    package = seconds([sys.executable, "-c", "from transformers import HfArgumentParser; "
                       "from rugpt_chitchat.config import PipelineConfig; HfArgumentParser((PipelineConfig,))"], repeat)
    print(f"\nparser for a command without TrainingArguments: standalone hf_argparser {standalone:.2f} s, "
          f"`from transformers import HfArgumentParser` {package:.2f} s: ratio {package / standalone:.1f}x")


if __name__ == "__main__":
    main()
