"""Running a training script on two real data-parallel processes (gloo on CPU) as `accelerate launch` would,
or on one, for the tests that compare them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bot_harness import free_port


def accelerate_two_processes() -> list[str]:
    """The command line that starts a script on two processes of this machine (gloo when there is no GPU)."""
    return [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
    ]  # fmt: skip


def run_script(source: str, directory: Path, launcher: list[str], argv: list[str]) -> None:
    """`source` written to `directory` and run under `launcher` with `argv`, offline; fails the test on an error."""
    script = directory / "train_and_record.py"
    script.write_text(textwrap.dedent(source), encoding="utf-8")
    result = subprocess.run(
        [*launcher, str(script), *argv], capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert result.returncode == 0, result.stderr[-3000:]
