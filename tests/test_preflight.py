"""A run that cannot work is refused before any tokenizer is trained or data prepared (its output folder stays
empty), and a pretrained model keeps its own tokenizer, which the model card names."""

from __future__ import annotations

from pathlib import Path

import pytest

from rugpt_chitchat.cli import main
from rugpt_chitchat.errors import DataError
from rugpt_chitchat.training.finetune import build_trainer, parse_arguments, run_training

REPO = Path(__file__).resolve().parents[1]
TINY_LLAMA = "hidden_size=32,intermediate_size=64,num_hidden_layers=1,num_attention_heads=2,num_key_value_heads=2,max_position_embeddings=128"


@pytest.fixture(scope="module")
def dialogue_file(tmp_path_factory, corpus_slice) -> Path:
    path = tmp_path_factory.mktemp("data") / "dialogues.txt"
    path.write_text("\n\n".join("\n".join(dialogue) for dialogue in corpus_slice[:200]) + "\n", encoding="utf-8")
    return path


def quick(data: Path, output_dir: Path, *overrides: str) -> list[str]:
    return [
        "--data", str(data), "--output_dir", str(output_dir), "--use_cpu", "true", "--disable_tqdm", "true",
        "--max_length", "64", "--validation_size", "0.1", "--max_eval_samples", "8", "--max_steps", "2",
        "--eval_steps", "2", "--save_steps", "2", "--per_device_train_batch_size", "4", "--report_to", "none",
        *overrides,
    ]  # fmt: skip


def test_the_tiny_config_with_a_pretrained_model_is_refused_with_the_fix(tmp_path, dialogue_file, tiny_model_dir, capsys):
    """configs/tiny.yaml says `tokenizer_name: train`: over a base's embeddings it would give their rows to other text."""
    output_dir = tmp_path / "run"
    argv = ["train", "--config", str(REPO / "configs" / "tiny.yaml"), *quick(dialogue_file, output_dir),
            "--model_name_or_path", str(tiny_model_dir)]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: tokenizer_name: 'train' (a new tokenizer) with the pretrained model")
    assert f"--tokenizer_name {tiny_model_dir}" in error and "Traceback" not in error
    assert not output_dir.exists()


def test_pretraining_a_pretrained_model_with_a_new_tokenizer_is_refused(tmp_path, tiny_model_dir, capsys):
    """configs/base-gpu.yaml says `tokenizer_name: train`; its comment suggests continuing ruGPT-3's pretraining."""
    output_dir = tmp_path / "base"
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--config", str(REPO / "configs" / "base-tiny.yaml"), "--output_dir", str(output_dir),
              "--model_name_or_path", str(tiny_model_dir)])  # fmt: skip
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: tokenizer_name: 'train' (a new tokenizer) with the pretrained model")
    assert not output_dir.exists()


def test_a_model_without_token_type_ids_is_refused_before_the_tokenizer_is_trained(tmp_path, dialogue_file):
    output_dir = tmp_path / "run"
    argv = quick(dialogue_file, output_dir, "--model_type", "llama", "--config_overrides", TINY_LLAMA, "--tokenizer_name", "train")
    with pytest.raises(DataError, match="LlamaForCausalLM takes no token_type_ids; set use_token_type_ids: false"):
        build_trainer(*parse_arguments(argv))
    assert not output_dir.exists()


def test_a_model_that_cannot_hold_max_length_is_refused_before_the_tokenizer_is_trained(tmp_path, dialogue_file):
    output_dir = tmp_path / "run"
    argv = quick(dialogue_file, output_dir, "--config_overrides", "n_layer=1,n_embd=32,n_head=2,n_positions=32", "--tokenizer_name", "train")
    with pytest.raises(DataError, match="64 exceeds the model's 32 positions"):
        build_trainer(*parse_arguments(argv))
    assert not output_dir.exists()


def test_the_model_card_names_the_base_and_the_tokenizer_really_used(tmp_path, dialogue_file, tiny_model_dir):
    argv = quick(dialogue_file, tmp_path, "--model_name_or_path", str(tiny_model_dir), "--tokenizer_name", str(tiny_model_dir))
    run_training(build_trainer(*parse_arguments(argv)))
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert f"Model: fine-tuned from `{tiny_model_dir}`; tokenizer: `{tiny_model_dir}` (dialogue special tokens added)." in card


def test_the_model_card_says_when_the_tokenizer_was_trained_here(tmp_path, dialogue_file):
    argv = quick(dialogue_file, tmp_path, "--config_overrides", "n_layer=1,n_embd=32,n_head=2,n_positions=64",
                 "--tokenizer_name", "train", "--tokenizer_vocab_size", "600")  # fmt: skip
    run_training(build_trainer(*parse_arguments(argv)))
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "Model: a new gpt2 trained from scratch; tokenizer: a byte-level BPE trained here on the data." in card
