"""The public API: every name a user needs comes from `rugpt_chitchat` itself, lazily, and the names drive the
whole flow (tokenizer, samples, training, evaluation, chat) without reaching into submodules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import rugpt_chitchat
from rugpt_chitchat import (  # noqa: F401 (each public name is imported here; see the first test)
    BotSettings,
    ChitChat,
    DataError,
    DialogueCollator,
    DialogueFormat,
    ExtractArguments,
    PackedCollator,
    PipelineConfig,
    add_dialogue_special_tokens,
    build_dispatcher,
    build_segments,
    evaluate_checkpoint,
    extract_library,
    prepare_dataset,
    preprocess_data_for_model,
    pretrain,
    read_books,
    read_dialogues,
    train,
    train_tokenizer,
)

HEAVY = ("torch", "transformers", "datasets", "pyarrow", "aiogram")
# Names whose modules need none of the heavy libraries: reading configs and books stays instant.
LIGHT = {"BotSettings", "DataError", "DialogueFormat", "PipelineConfig", "ExtractArguments", "build_segments", "extract_library",
         "read_books", "train_tokenizer", "add_dialogue_special_tokens"}  # fmt: skip
REQUIRED = {"ChitChat", "DialogueFormat", "DialogueCollator", "PackedCollator", "PipelineConfig", "prepare_dataset",
            "preprocess_data_for_model", "train_tokenizer", "train", "pretrain", "evaluate_checkpoint",
            "extract_library", "read_books", "build_dispatcher", "DataError"}  # fmt: skip


def heavy_modules_after(code: str) -> list[str]:
    """The heavy libraries loaded by `code` run in a fresh interpreter."""
    probe = f"import sys\n{code}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_all_lists_every_public_name_and_at_least_the_required_ones():
    assert REQUIRED <= set(rugpt_chitchat.__all__)
    assert set(rugpt_chitchat.__all__) <= set(dir(rugpt_chitchat))
    imported = {name for name, value in globals().items() if getattr(value, "__module__", "").startswith("rugpt_chitchat")}
    assert set(rugpt_chitchat.__all__) <= imported, "every public name is imported by this test"


def test_each_name_is_the_object_its_module_defines():
    for name in rugpt_chitchat.__all__:
        value = getattr(rugpt_chitchat, name)
        module = sys.modules[value.__module__]
        assert getattr(module, name) is value, name
        assert value.__module__.startswith("rugpt_chitchat."), (name, value.__module__)


def test_importing_the_package_and_its_light_names_loads_no_heavy_library():
    assert heavy_modules_after("import rugpt_chitchat") == []
    assert heavy_modules_after(f"from rugpt_chitchat import {', '.join(sorted(LIGHT))}") == []


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        rugpt_chitchat.no_such_name


def test_the_public_names_train_evaluate_and_chat(tokenizer_dir, corpus_slice, tmp_path):
    """The README's flow with the top-level names only: samples, a short `train` by keyword overrides,
    `evaluate_checkpoint` on the split training recorded, a reply from `ChitChat`."""
    from transformers import AutoTokenizer

    data = tmp_path / "dialogues.txt"
    data.write_text("\n\n".join("\n".join(d) for d in corpus_slice[:400]) + "\n", encoding="utf-8")
    samples, summary = prepare_dataset([str(data)], AutoTokenizer.from_pretrained(tokenizer_dir), PipelineConfig())
    assert len(samples["train"]) > len(samples["validation"]) > 0 and "samples" in summary.to_markdown()

    outcome = train(
        ["--max_length", "32", "--max_steps", "2"],  # the command line's list; the keywords below win
        data=[str(data)], tokenizer_name=str(tokenizer_dir), output_dir=str(tmp_path / "run"),
        config_overrides="n_layer=2,n_embd=64,n_head=2,n_positions=64", max_length=64, max_steps=4,
        eval_steps=4, save_steps=4, per_device_train_batch_size=16, max_eval_samples=32, use_cpu=True,
        report_to="none", disable_tqdm=True,
    )  # fmt: skip
    assert outcome.global_step == 4 and outcome.output_dir == str(tmp_path / "run")

    report = evaluate_checkpoint(outcome.output_dir, num_samples=4, probe_samples=0, max_eval_samples=32, device="cpu")
    assert report.validation_samples == 32
    assert report.metrics["reply_perplexity"] == pytest.approx(outcome.perplexity_after, rel=1e-3), "one scoring"
    chat = ChitChat.from_pretrained(outcome.output_dir, device="cpu")
    assert chat.format == DialogueFormat(max_length=64), "the keyword override reached the checkpoint"
    assert chat.reply(["Привет!"])


def test_an_unknown_keyword_override_is_refused_before_training(tmp_path):
    with pytest.raises(DataError, match="max_stepz"):
        train(output_dir=str(tmp_path), max_stepz=3)
    with pytest.raises(DataError, match="block_sise"):
        pretrain(output_dir=str(tmp_path), block_sise=64)
