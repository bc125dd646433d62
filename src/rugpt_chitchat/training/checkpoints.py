"""Checkpoints a kill cannot break, and the exact data order a resumed run needs.

A checkpoint is written under a hidden staging folder and renamed to `checkpoint-N` once every file is in
it, so a process killed mid-save leaves the earlier checkpoints whole (the Trainer deletes old ones only after
a save completes) and `--resume_from_checkpoint last` finds the newest complete one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import torch
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

from ..errors import DataError

STAGING_DIR = ".saving"  # hidden, so neither the Trainer's glob nor `last` ever takes it for a checkpoint
TRAINER_STATE = "trainer_state.json"
LAST = {"last", "true", "True"}
_CHECKPOINT = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def incomplete_because(checkpoint: Path) -> str | None:
    """Why `checkpoint` cannot be resumed from (a kill mid-save, from before saves were atomic), or None."""
    if not checkpoint.is_dir():
        return "no such checkpoint directory"
    try:
        json.loads((checkpoint / TRAINER_STATE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no {TRAINER_STATE} (the save did not finish)"
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"{TRAINER_STATE} is cut short (the save did not finish)"
    if not any(checkpoint.glob("*.safetensors")) and not any(checkpoint.glob("*.bin")):
        return "no model weights (the save did not finish)"
    return None


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The complete `checkpoint-N` of `output_dir` with the highest N; None when there is none."""
    directory = Path(output_dir)
    named = ((_CHECKPOINT.match(path.name), path) for path in directory.glob(f"{PREFIX_CHECKPOINT_DIR}-*"))
    steps = {int(match.group(1)): path for match, path in named if match}
    return next((steps[step] for step in sorted(steps, reverse=True) if incomplete_because(steps[step]) is None), None)


def checkpoint_to_resume(resume: str | bool | None, output_dir: str) -> str | None:
    """`--resume_from_checkpoint` as a directory: `last` (or true) is the newest complete checkpoint of
    `output_dir`; a path named must be a complete checkpoint. None: start afresh."""
    if resume in (None, False, "", "false", "False"):
        return None
    if resume is True or resume in LAST:
        found = last_complete_checkpoint(output_dir)
        if found is None:
            raise DataError(output_dir, "no complete checkpoint to resume from (none was saved before the run "
                            "stopped); train again without --resume_from_checkpoint")
        return str(found)
    problem = incomplete_because(Path(resume))
    if problem:
        raise DataError(resume, f"cannot resume from it: {problem}; --resume_from_checkpoint last takes the newest "
                        "complete checkpoint")
    return str(resume)


class AtomicCheckpoints:
    """Trainer mixin: `_save_checkpoint` writes into `<run dir>/.saving/checkpoint-N` (every process its files),
    then the main process renames it into place and rotates the old ones."""

    _staging: Path | None = None

    def _get_output_dir(self, trial) -> str:
        return str(self._staging) if self._staging is not None else super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial) -> None:
        run_dir = Path(super()._get_output_dir(trial))
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging = run_dir / STAGING_DIR
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)  # what a kill mid-save left
        self.accelerator.wait_for_everyone()
        self._staging = staging
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging = None
        self.accelerator.wait_for_everyone()  # every process's RNG state is in
        best = self.state.best_global_step
        if best and (best == self.state.global_step or (run_dir / f"{PREFIX_CHECKPOINT_DIR}-{best}").is_dir()):
            self.state.best_model_checkpoint = str(run_dir / f"{PREFIX_CHECKPOINT_DIR}-{best}")
        if self.args.should_save:
            self.state.save_to_json(str(staging / name / TRAINER_STATE))  # the final paths, not the staging ones
            shutil.rmtree(run_dir / name, ignore_errors=True)  # a stale one of an earlier run at the same step
            os.replace(staging / name, run_dir / name)
            staging.rmdir()
            rotate_checkpoints(str(run_dir), self.args.save_total_limit, self.state.best_model_checkpoint, use_mtime=True)
        self.accelerator.wait_for_everyone()


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """The Trainer's length-grouped sampler drawing each epoch's order from `seed + epoch`, not from the global
    RNG: otherwise the order of the second epoch depends on every random draw of the first (dropout), which a
    run resumed from a checkpoint in the second epoch cannot replay, and its data order differs."""

    def __init__(self, batch_size: int, lengths: list[int], seed: int):
        super().__init__(batch_size, lengths=lengths)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))
