"""Killed training resumes exactly: a real training process is SIGKILLed (between steps, or in the middle of
writing a checkpoint), `--resume_from_checkpoint last` takes the newest complete checkpoint, and the resumed
run ends with the weights of the run nobody killed, epochs included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from rugpt_chitchat.cli import main
from rugpt_chitchat.errors import DataError
from rugpt_chitchat.training.checkpoints import STAGING_DIR, checkpoint_to_resume, last_complete_checkpoint
from rugpt_chitchat.training.finetune import build_trainer, parse_arguments, run_training

# 80 samples in batches of 16: 5 steps an epoch, so step 18 is in the fourth epoch and checkpoint-8 in the second
STEPS, SAVE_EVERY = 18, 4

KILLED_RUN = """
    import os, signal, sys
    from transformers import TrainerCallback
    from rugpt_chitchat.training.finetune import build_trainer, parse_arguments, run_training

    where, step, *argv = sys.argv[1:]
    trainer = build_trainer(*parse_arguments(argv))

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "mid-save":  # the weights are written, the optimizer and trainer state not yet
        save_optimizer = trainer._save_optimizer_and_scheduler
        trainer._save_optimizer_and_scheduler = lambda output_dir: die() if trainer.state.global_step == int(step) else save_optimizer(output_dir)
    else:
        class Kill(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == int(step):
                    die()
        trainer.add_callback(Kill)
    run_training(trainer)
"""


@pytest.fixture(scope="module")
def dialogue_file(tmp_path_factory, corpus_slice) -> Path:
    path = tmp_path_factory.mktemp("data") / "dialogues.txt"
    path.write_text("\n\n".join("\n".join(dialogue) for dialogue in corpus_slice[:300]) + "\n", encoding="utf-8")
    return path


def run_args(data: Path, tokenizer_dir: Path, output_dir: Path, *overrides: str) -> list[str]:
    return [
        "--data", str(data), "--tokenizer_name", str(tokenizer_dir), "--config_overrides", "n_layer=2,n_embd=32,n_head=2,n_positions=64",
        "--max_length", "64", "--validation_size", "0.1", "--max_train_samples", "80", "--max_eval_samples", "16",
        "--output_dir", str(output_dir), "--use_cpu", "true", "--disable_tqdm", "true", "--seed", "3",
        "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "16", "--learning_rate", "3e-3",
        "--max_steps", str(STEPS), "--logging_steps", "1", "--eval_steps", str(SAVE_EVERY), "--save_steps", str(SAVE_EVERY),
        "--load_best_model_at_end", "false", "--early_stopping_patience", "0", "--report_to", "none",
        *overrides,
    ]  # fmt: skip


def weights(model) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, dialogue_file, tokenizer_dir):
    trainer = build_trainer(*parse_arguments(run_args(dialogue_file, tokenizer_dir, tmp_path_factory.mktemp("whole"))))
    run_training(trainer)
    losses = {log["step"]: log["loss"] for log in trainer.state.log_history if "loss" in log}
    return weights(trainer.model), losses


@pytest.mark.parametrize(
    ("where", "step"),
    [("between-steps", 11), ("mid-save", 12)],  # both leave checkpoint-8, three steps into the second epoch
)
def test_a_run_killed_anywhere_resumes_to_the_weights_of_the_uninterrupted_run(
    tmp_path, dialogue_file, tokenizer_dir, uninterrupted, where, step
):
    argv = run_args(dialogue_file, tokenizer_dir, tmp_path)
    script = tmp_path / "killed_run.py"
    script.write_text(textwrap.dedent(KILLED_RUN), encoding="utf-8")
    killed = subprocess.run([sys.executable, str(script), where, str(step), *argv], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert last_complete_checkpoint(tmp_path).name == "checkpoint-8"
    if where == "mid-save":
        assert not (tmp_path / "checkpoint-12").exists()  # the half-written one never got the name
        assert (tmp_path / STAGING_DIR / "checkpoint-12" / "model.safetensors").exists()

    trainer = build_trainer(*parse_arguments([*argv, "--resume_from_checkpoint", "last"]))
    outcome = run_training(trainer)

    whole, whole_losses = uninterrupted
    assert outcome.global_step == STEPS
    resumed_losses = {log["step"]: log["loss"] for log in trainer.state.log_history if "loss" in log}
    assert resumed_losses == pytest.approx(whole_losses, abs=1e-6)
    resumed = weights(trainer.model)
    assert max((resumed[name] - tensor).abs().max().item() for name, tensor in whole.items()) <= 1e-6
    assert not (tmp_path / STAGING_DIR).exists()  # the next save cleared what the kill left
    assert sorted(path.name for path in tmp_path.glob("checkpoint-*")) == ["checkpoint-16", "checkpoint-18"]  # rotated: save_total_limit 2


def test_checkpoints_are_complete_under_their_name_and_record_their_own_path(uninterrupted, tmp_path, dialogue_file, tokenizer_dir):
    argv = run_args(dialogue_file, tokenizer_dir, tmp_path, "--max_steps", "8", "--load_best_model_at_end", "true")
    run_training(build_trainer(*parse_arguments(argv)))
    state = json.loads((tmp_path / "checkpoint-8" / "trainer_state.json").read_text())
    assert Path(state["best_model_checkpoint"]).parent == tmp_path  # not the staging folder it was written in
    assert Path(state["best_model_checkpoint"]).is_dir()
    assert not (tmp_path / STAGING_DIR).exists()


def half_written(directory: Path, step: int, *files: str) -> Path:
    checkpoint = directory / f"checkpoint-{step}"
    checkpoint.mkdir(parents=True)
    for name in files:
        (checkpoint / name).write_text("{", encoding="utf-8")
    return checkpoint


def test_last_skips_checkpoints_a_kill_left_half_written(tmp_path):
    complete = tmp_path / "checkpoint-4"
    complete.mkdir()
    (complete / "trainer_state.json").write_text("{}", encoding="utf-8")
    (complete / "model.safetensors").write_bytes(b"weights")
    half_written(tmp_path, 8, "config.json")  # only the config: the ValueError
    half_written(tmp_path, 12, "config.json", "trainer_state.json")  # a trainer state cut short
    assert checkpoint_to_resume("last", str(tmp_path)) == str(complete)
    with pytest.raises(DataError, match="checkpoint-8: cannot resume from it: no trainer_state.json"):
        checkpoint_to_resume(str(tmp_path / "checkpoint-8"), str(tmp_path))
    with pytest.raises(DataError, match="trainer_state.json is cut short"):
        checkpoint_to_resume(str(tmp_path / "checkpoint-12"), str(tmp_path))


def test_resuming_with_no_checkpoint_saved_is_one_error_line(tmp_path, dialogue_file, tokenizer_dir, capsys):
    half_written(tmp_path, 4, "config.json")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *run_args(dialogue_file, tokenizer_dir, tmp_path, "--resume_from_checkpoint", "last")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "no complete checkpoint to resume from" in error and str(tmp_path) in error
    assert "Traceback" not in error
