"""LoRA through PEFT on a tiny GPT-2 whose tokenizer lacks the dialogue tokens (as ruGPT-3 lacks the speakers):
only the adapter and the new token rows train, the loss falls, the adapter checkpoint serves and evaluates,
and the merged model gives the adapter's logits; two data-parallel processes train one adapter, as one process
would, and a stopped run resumes to the uninterrupted one's adapter."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel, TrainerCallback

from distributed import accelerate_two_processes, run_script
from rugpt_chitchat.cli import main
from rugpt_chitchat.errors import DataError
from rugpt_chitchat.evaluation.report import evaluate_checkpoint
from rugpt_chitchat.format import DialogueFormat
from rugpt_chitchat.serving.generation import ChitChat
from rugpt_chitchat.tokenizer import BOS, PAD, SPEAKER_BOT, SPEAKER_USER, add_dialogue_special_tokens
from rugpt_chitchat.training.finetune import build_trainer, parse_arguments, run_training
from rugpt_chitchat.training.peft import LoraArguments, load_adapter_model, save_adapter_checkpoint, with_lora

pytest.importorskip("peft")
from peft import get_peft_model_state_dict  # noqa: E402

HISTORIES = [["Привет! Как дела?"], ["Куда ты идёшь?", "Домой.", "А что так рано?"]]


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory, corpus_slice) -> Path:
    """A GPT-2-shaped base with GPT-2's kind of tokenizer: `<|endoftext|>` its only special token, so training
    adds bos, pad, unk and the two speakers (new rows)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    bpe = trainers.BpeTrainer(vocab_size=1500, special_tokens=["<|endoftext|>"], show_progress=False,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    backend.train_from_iterator((line.lstrip("- ") for dialogue in corpus_slice for line in dialogue), trainer=bpe)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=64, n_layer=2, n_head=2,
                        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)  # fmt: skip
    model = pretrained_on(GPT2LMHeadModel(config), tokenizer, corpus_slice[1500:])
    # as a base pretrained by this project records one: an adapter checkpoint must serve with its own format
    DialogueFormat(max_history=0, max_length=64, use_token_type_ids=False).store_in(model.config)
    directory = tmp_path_factory.mktemp("base")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def pretrained_on(model: GPT2LMHeadModel, tokenizer, dialogues: list[list[str]], steps: int = 200) -> GPT2LMHeadModel:
    """A few steps of plain language modelling on the text: a base that knows the language, as ruGPT-3 does,
    so that what LoRA learns shows in the loss (a random base's frozen head leaves it little to move)."""
    text = tokenizer.eos_token.join(" ".join(line.lstrip("- ") for line in dialogue) for dialogue in dialogues)
    ids = torch.tensor(tokenizer(text)["input_ids"])
    rows = ids[: len(ids) // 64 * 64].view(-1, 64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(steps):
        batch = rows[torch.randint(len(rows), (16,))]
        model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.eval()


def lora_run(data: Path, base: Path, output_dir: Path, *overrides: str) -> list[str]:
    return [
        "--data", str(data), "--model_name_or_path", str(base), "--use_peft", "true", "--lora_r", "8", "--lora_alpha", "16",
        "--max_length", "96", "--validation_size", "0.1", "--max_eval_samples", "128",
        "--output_dir", str(output_dir), "--use_cpu", "true", "--disable_tqdm", "true", "--seed", "1",
        "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "32", "--learning_rate", "1e-2",
        "--max_steps", "40", "--logging_steps", "5", "--eval_steps", "20", "--save_steps", "20",
        *overrides,
    ]  # fmt: skip


def train_recording_weights(argv: list[str]):
    """(trainer, outcome, every parameter before training)."""
    trainer = build_trainer(*parse_arguments(argv))
    before = {name: weights.detach().clone() for name, weights in trainer.model.named_parameters()}
    return trainer, run_training(trainer), before


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dialogue_file, base_dir):
    return train_recording_weights(lora_run(dialogue_file, base_dir, tmp_path_factory.mktemp("lora")))


def changed_parameters(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> set[str]:
    return {name for name, weights in model.named_parameters() if not torch.equal(weights, before[name])}


def is_adapter_weight(name: str) -> bool:
    return ".lora_A." in name or ".lora_B." in name or ".trainable_tokens_delta." in name


def test_only_the_adapter_and_the_new_token_rows_train(trained, base_dir):
    trainer, _, before = trained
    changed = changed_parameters(trainer.model, before)
    assert changed and all(is_adapter_weight(name) for name in changed), sorted(changed)[:5]
    assert any(".lora_B." in name for name in changed) and any(".trainable_tokens_delta." in name for name in changed)
    frozen = [name for name in before if not is_adapter_weight(name)]
    assert "base_model.model.transformer.h.0.attn.c_attn.base_layer.weight" in frozen and len(frozen) > 20
    tokenizer = trainer.processing_class
    added = set(tokenizer.get_vocab()) - set(AutoTokenizer.from_pretrained(base_dir).get_vocab())
    assert added == {BOS, PAD, "<unk>", SPEAKER_USER, SPEAKER_BOT}
    indices = trainer.model.peft_config["default"].trainable_token_indices
    assert sorted(indices) == sorted(tokenizer.convert_tokens_to_ids([*added, "<|endoftext|>"])), "new tokens and eos"
    # the speakers are also the type ids: their rows, looked up for every position, must have moved
    rows = trainer.model.base_model.model.transformer.wte.token_adapter.trainable_tokens_delta["default"]
    moved = ~torch.isclose(rows, trainer.model.base_model.model.transformer.wte.token_adapter.trainable_tokens_original["default"]).all(dim=1)
    speakers = [indices.index(tokenizer.convert_tokens_to_ids(token)) for token in (SPEAKER_USER, SPEAKER_BOT)]
    assert moved[speakers].all()


def test_validation_perplexity_falls(trained):
    _, outcome, _ = trained
    assert outcome.global_step == 40
    assert outcome.perplexity_after < outcome.perplexity_before / 1.5, outcome


def test_adapter_checkpoint_holds_adapter_tokenizer_format_and_card(trained, dialogue_file):
    trainer, outcome, _ = trained
    directory = Path(outcome.output_dir)
    for name in ["adapter_config.json", "adapter_model.safetensors", "config.json", "generation_config.json",
                 "tokenizer.json", "tokenizer_config.json", "README.md"]:  # fmt: skip
        assert (directory / name).is_file(), name
    assert not (directory / "model.safetensors").exists(), "an adapter checkpoint holds no base weights"
    weights = load_file(directory / "adapter_model.safetensors")
    assert all(is_adapter_weight(name + ".") or name.endswith("trainable_tokens_delta") for name in weights), list(weights)
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    assert config["dialogue_format"]["max_length"] == 96 and config["dialogue_data"]["data"] == [str(dialogue_file)]
    assert config["vocab_size"] == len(trainer.processing_class)
    assert "Chit-chat training" in (directory / "README.md").read_text(encoding="utf-8")
    for checkpoint in directory.glob("checkpoint-*"):
        assert (checkpoint / "adapter_model.safetensors").is_file() and (checkpoint / "config.json").is_file()


def test_best_adapter_is_reloaded_at_the_end(trained):
    trainer, _, _ = trained
    best = trainer.state.best_model_checkpoint
    assert best is not None and trainer.args.load_best_model_at_end
    saved = load_file(Path(best, "adapter_model.safetensors"))
    with torch.no_grad():  # whichever step was best, a reload must overwrite this
        for name, weights in trainer.model.named_parameters():
            if is_adapter_weight(name):
                weights.add_(1.0)
    trainer._load_best_model()
    current = get_peft_model_state_dict(trainer.model, save_embedding_layers=False)
    assert saved.keys() == current.keys()
    assert all(torch.equal(saved[name], current[name]) for name in saved)


def test_adapter_checkpoint_serves_with_the_trained_logits_and_speaker_types(trained):
    trainer, outcome, _ = trained
    chat = ChitChat.from_pretrained(outcome.output_dir, device="cpu")
    assert chat.format.use_token_type_ids and chat.format.max_length == 96
    inputs = chat.padded_inputs([chat.prompt_ids(history) for history in HISTORIES])
    assert "token_type_ids" in inputs
    trainer.model.eval()
    with torch.inference_mode():
        expected = trainer.model(**inputs).logits
        got = chat.model(**inputs).logits
        other_types = chat.model(**inputs | {"token_type_ids": inputs["input_ids"]}).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got, other_types, atol=1e-3), "the speaker types must change the logits"
    replies = chat.reply_batch(HISTORIES, do_sample=False)
    assert len(replies) == 2 and all(isinstance(reply, str) and reply for reply in replies)


def test_evaluate_scores_the_adapter_checkpoint_as_training_did(trained):
    _, outcome, _ = trained
    report = evaluate_checkpoint(outcome.output_dir, num_samples=4, max_eval_samples=128, probe_samples=0, device="cpu")
    assert report.metrics["reply_perplexity"] == pytest.approx(outcome.perplexity_after, rel=1e-4)


def test_merged_model_gives_the_adapter_logits(trained, tmp_path):
    _, outcome, _ = trained
    main(["merge", "--checkpoint", outcome.output_dir, "--output_dir", str(tmp_path)])
    assert not (tmp_path / "adapter_config.json").exists() and (tmp_path / "model.safetensors").is_file()
    merged = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    adapter = load_adapter_model(outcome.output_dir).eval()
    assert merged.lm_head.weight is merged.transformer.wte.weight
    chat = ChitChat.from_pretrained(str(tmp_path), device="cpu")
    inputs = chat.padded_inputs([chat.prompt_ids(history) for history in HISTORIES])
    with torch.inference_mode():
        torch.testing.assert_close(merged(**inputs).logits, adapter(**inputs).logits, atol=1e-5, rtol=0)
    assert AutoConfig.from_pretrained(tmp_path).dialogue_format == AutoConfig.from_pretrained(outcome.output_dir).dialogue_format


def test_packed_rows_train_the_adapter_alone(tmp_path, dialogue_file, base_dir):
    argv = lora_run(dialogue_file, base_dir, tmp_path, "--packing", "true", "--packed_row_length", "192",
                    "--max_steps", "20", "--eval_steps", "10", "--save_steps", "10")  # fmt: skip
    trainer, outcome, before = train_recording_weights(argv)
    assert {tuple(batch["input_ids"].shape[1:]) for batch in trainer.get_train_dataloader()} == {(192,)}
    changed = changed_parameters(trainer.model, before)
    assert changed and all(is_adapter_weight(name) for name in changed)
    assert outcome.perplexity_after < outcome.perplexity_before / 1.5, outcome


@pytest.mark.parametrize(
    "overrides, problem",
    [
        (["--load_in_4bit", "true"], r"load_in_4bit: 4-bit QLoRA needs a CUDA GPU"),
        (["--lora_target_modules", "no_such_layer"], r"lora_target_modules: .*no_such_layer"),
        (["--model_name_or_path", "", "--tokenizer_name", "BASE", "--config_overrides", "n_layer=2,n_embd=64,n_head=2"],
         r"use_peft: LoRA adapts a pretrained model: set model_name_or_path"),
    ],
    ids=["4-bit without CUDA", "unknown layer", "no pretrained model"],
)
def test_bad_lora_settings_fail_before_training(tmp_path, dialogue_file, base_dir, overrides, problem):
    if torch.cuda.is_available() and "--load_in_4bit" in overrides:
        pytest.skip("a GPU is here: 4-bit loading is allowed")
    overrides = [str(base_dir) if value == "BASE" else value for value in overrides]
    with pytest.raises(DataError, match=problem):
        build_trainer(*parse_arguments(lora_run(dialogue_file, base_dir, tmp_path, *overrides)))
    assert not list(tmp_path.glob("checkpoint-*"))


def test_merge_refuses_a_checkpoint_without_an_adapter(tmp_path, tiny_model_dir, capsys):
    with pytest.raises(SystemExit) as exit_status:
        main(["merge", "--checkpoint", str(tiny_model_dir), "--output_dir", str(tmp_path / "merged")])
    assert exit_status.value.code == 2
    assert f"error: {tiny_model_dir}: is no adapter checkpoint" in capsys.readouterr().err


def test_the_large_lora_config_asks_for_peft_on_every_gpt2_linear_layer():
    repo = Path(__file__).resolve().parents[1]
    # bf16 and tf32 need a GPU to parse at all: switched off here
    model_args, _, args, lora = parse_arguments(
        ["--config", str(repo / "configs" / "rugpt3large-lora.yaml"), "--bf16", "false", "--tf32", "false"]
    )
    assert model_args.model_name_or_path == "ai-forever/rugpt3large_based_on_gpt2"
    assert lora.use_peft and not lora.load_in_4bit and lora.lora_target_modules == ["c_attn", "c_proj", "c_fc"]
    assert (lora.lora_r, lora.lora_alpha) == (16, 32) and args.learning_rate == 2e-4


def test_an_untied_head_trains_and_reloads_the_new_rows_too(tmp_path, base_dir):
    """A model whose LM head is not the embedding (GPT-2's is) has new rows there too, drawn at random."""
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    AutoModelForCausalLM.from_pretrained(base_dir, tie_word_embeddings=False).save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    add_dialogue_special_tokens(tokenizer)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    assert model.lm_head.weight is not model.transformer.wte.weight
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    model = with_lora(model, LoraArguments(use_peft=True), tokenizer, str(tmp_path / "base"))
    trainable = [name for name, weights in model.named_parameters() if weights.requires_grad]
    assert any("lm_head.token_adapter" in name for name in trainable) and any("wte.token_adapter" in name for name in trainable)
    with torch.no_grad():  # as training would: every adapter weight and new row moved
        for name, weights in model.named_parameters():
            if weights.requires_grad:
                weights.add_(0.1)
    save_adapter_checkpoint(model, tokenizer, tmp_path / "adapter")
    reloaded = load_adapter_model(tmp_path / "adapter").eval()
    ids = torch.tensor([tokenizer.convert_tokens_to_ids([BOS, SPEAKER_USER, "<|endoftext|>", SPEAKER_BOT, PAD])])
    with torch.inference_mode():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, model.eval()(input_ids=ids).logits, atol=1e-6, rtol=0)


def test_the_format_tokens_train_even_where_the_base_tokenizer_has_them(tiny_model_dir):
    """A base pretrained here (books) holds the speaker tokens in its vocabulary, but never as speakers."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = with_lora(AutoModelForCausalLM.from_pretrained(tiny_model_dir), LoraArguments(use_peft=True), tokenizer, str(tiny_model_dir))
    formats = tokenizer.convert_tokens_to_ids([BOS, tokenizer.eos_token, PAD, SPEAKER_USER, SPEAKER_BOT])
    assert sorted(model.peft_config["default"].trainable_token_indices) == sorted(formats)


@pytest.fixture(scope="module")
def base_without_dropout(tmp_path_factory, base_dir) -> Path:
    """The base with every dropout off (LoRA's too, by `--lora_dropout 0`): two runs that see the same batches do
    the same arithmetic."""
    directory = tmp_path_factory.mktemp("base-no-dropout")
    model = AutoModelForCausalLM.from_pretrained(base_dir, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(directory)
    return directory


RECORDING_SCRIPT = """
import sys
import torch
from transformers import TrainerCallback
from rugpt_chitchat.training.finetune import build_trainer, parse_arguments, run_training

class RecordWeights(TrainerCallback):
    \"\"\"Every parameter before the first step and after the last, the trainable ones after every step: saved by
    each process before anything (the best-model reload) loads the main process's checkpoint everywhere.\"\"\"

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        record["before"] = {name: p.detach().clone() for name, p in model.named_parameters()}

    def on_step_end(self, args, state, control, model=None, **kwargs):
        record["steps"].append({name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad})
        if state.global_step == state.max_steps:
            record["after"] = {name: p.detach().clone() for name, p in model.named_parameters()}
            record["world_size"] = args.world_size
            torch.save(record, f"{args.output_dir}/weights-rank{args.process_index}.pt")

record = {"steps": []}
trainer = build_trainer(*parse_arguments(sys.argv[1:]))
trainer.add_callback(RecordWeights)
run_training(trainer)
"""


def test_two_processes_train_one_adapter_as_one_process_would(tmp_path, dialogue_file, base_without_dropout):
    """LoRA under real data parallelism (two gloo processes, `accelerate launch`): after every step both hold the
    same adapter and token rows, equal to a one-process run of the same global batch; the base stays frozen."""
    common = ["--max_steps", "4", "--eval_steps", "4", "--save_steps", "4", "--max_eval_samples", "32",
              "--lora_dropout", "0", "--train_sampling_strategy", "sequential"]  # fmt: skip
    two, one = tmp_path / "two", tmp_path / "one"
    run_script(RECORDING_SCRIPT, tmp_path, accelerate_two_processes(),
               lora_run(dialogue_file, base_without_dropout, two, *common, "--per_device_train_batch_size", "8"))  # fmt: skip
    run_script(RECORDING_SCRIPT, tmp_path, [sys.executable],
               lora_run(dialogue_file, base_without_dropout, one, *common, "--per_device_train_batch_size", "16"))  # fmt: skip

    ranks = [torch.load(two / f"weights-rank{rank}.pt") for rank in (0, 1)]
    alone = torch.load(one / "weights-rank0.pt")
    assert [record["world_size"] for record in ranks] == [2, 2] and alone["world_size"] == 1
    assert len(ranks[0]["steps"]) == len(ranks[1]["steps"]) == len(alone["steps"]) == 4
    for step, (first, second, expected) in enumerate(zip(ranks[0]["steps"], ranks[1]["steps"], alone["steps"]), 1):
        assert first.keys() == expected.keys() and all(is_adapter_weight(name + ".") or "token_adapter" in name for name in first)
        for name, weights in first.items():
            assert torch.equal(weights, second[name]), f"step {step}: {name} differs between the processes"
            # two shards summed, then all-reduced: Adam turns the other summation order into ~1e-5 at most
            torch.testing.assert_close(weights, expected[name], rtol=1e-4, atol=5e-5, msg=f"step {step}: {name}")
    moved = [name for name, weights in ranks[0]["after"].items() if not torch.equal(weights, ranks[0]["before"][name])]
    assert any(".lora_B." in name for name in moved) and any("trainable_tokens_delta" in name for name in moved)
    base = load_file(base_without_dropout / "model.safetensors")
    frozen = {base_name(name): name for name in alone["before"] if not is_adapter_weight(name)}
    assert frozen.keys() == base.keys(), "every base tensor (the tied head is the embedding) and nothing else"
    for record in [*ranks, alone]:
        for original, name in frozen.items():
            weights = record["after"][name]
            assert torch.equal(weights, record["before"][name]) and torch.equal(weights, alone["before"][name]), name
            assert torch.equal(weights[: len(base[original])], base[original]), f"{name} is not the base's"  # + new rows
    saved = load_file(two / "checkpoint-4" / "adapter_model.safetensors")
    assert saved and all(torch.equal(tensor, ranks[0]["steps"][-1][adapter_parameter(name, ranks[0]["steps"][-1])])
                         for name, tensor in saved.items())  # fmt: skip


def base_name(name: str) -> str:
    """The name in the base model of a frozen parameter of the PeftModel."""
    return name.removeprefix("base_model.model.").replace(".token_adapter", "").replace(".base_layer", "")


def adapter_parameter(saved_name: str, parameters: dict[str, torch.Tensor]) -> str:
    """The parameter name of a tensor in adapter_model.safetensors (saved without the adapter's name)."""
    return next(name for name in parameters if name.replace(".default", "") == saved_name)


class Killed(Exception):
    pass


class EndAfter(TrainerCallback):
    """Ends the run after `step`: stopped cleanly, or killed (an exception: nothing after the last checkpoint is
    kept, as with a preempted job)."""

    def __init__(self, step: int, killed: bool):
        self.step, self.killed = step, killed

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            if self.killed:
                raise Killed(f"killed after step {self.step}")
            control.should_training_stop = True


@pytest.mark.parametrize("step, killed", [(4, False), (6, True)], ids=["stopped at the checkpoint", "killed two steps later"])
def test_an_interrupted_lora_run_resumed_from_its_last_checkpoint_ends_as_the_uninterrupted_one(
    tmp_path, dialogue_file, base_dir, step, killed
):
    """With dropout on: the resumed run restores the adapter, token rows, optimizer, schedule, data position and
    random state from checkpoint-4."""
    common = ["--max_steps", "8", "--eval_steps", "4", "--save_steps", "4", "--max_eval_samples", "32",
              "--load_best_model_at_end", "false", "--early_stopping_patience", "0"]  # fmt: skip
    uninterrupted = build_trainer(*parse_arguments(lora_run(dialogue_file, base_dir, tmp_path / "whole", *common)))
    uninterrupted.train()

    interrupted = build_trainer(*parse_arguments(lora_run(dialogue_file, base_dir, tmp_path / "parts", *common)))
    interrupted.add_callback(EndAfter(step, killed))
    if killed:
        with pytest.raises(Killed):
            interrupted.train()
    else:
        interrupted.train()
    assert interrupted.state.global_step == step
    assert [path.name for path in (tmp_path / "parts").glob("checkpoint-*")] == ["checkpoint-4"]
    resumed = build_trainer(*parse_arguments(lora_run(dialogue_file, base_dir, tmp_path / "parts", *common,
                                                      "--resume_from_checkpoint", "last")))  # fmt: skip
    outcome = run_training(resumed)

    assert outcome.global_step == 8
    expected = get_peft_model_state_dict(uninterrupted.model, save_embedding_layers=False)
    got = get_peft_model_state_dict(resumed.model, save_embedding_layers=False)
    assert got.keys() == expected.keys() and any("trainable_tokens_delta" in name for name in got)
    assert max(float((got[name] - expected[name]).abs().max()) for name in got) <= 1e-6
    saved = load_file(tmp_path / "parts" / "checkpoint-8" / "adapter_model.safetensors")
    assert all(torch.equal(saved[name], got[name]) for name in saved)
