"""Training on a real-corpus slice: perplexity falls, early stopping stops, checkpoints reload exactly,
two processes under `accelerate launch` share the work, bad input fails before the first step."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from datasets import Dataset, DatasetDict
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig, TrainerCallback

from distributed import accelerate_two_processes, run_script
from rugpt_chitchat.errors import DataError, TrainingDiverged
from rugpt_chitchat.evaluation.report import learning_curve_series
from rugpt_chitchat.format import DialogueFormat
from rugpt_chitchat.training.finetune import build_trainer, parse_arguments, run_training
from rugpt_chitchat.training.model import load_model

REPO = Path(__file__).resolve().parents[1]
TINY_MODEL = "n_layer=2,n_embd=64,n_head=2,n_positions=128"


def small_run(data: Path | str, tokenizer_dir: Path, output_dir: Path, *overrides: str) -> list[str]:
    return [
        "--data", str(data), "--tokenizer_name", str(tokenizer_dir), "--config_overrides", TINY_MODEL,
        "--max_length", "96", "--validation_size", "0.1", "--max_eval_samples", "128",
        "--output_dir", str(output_dir), "--use_cpu", "true", "--disable_tqdm", "true", "--seed", "1",
        "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "32", "--learning_rate", "3e-3",
        "--max_steps", "40", "--logging_steps", "5", "--eval_steps", "20", "--save_steps", "20",
        *overrides,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dialogue_file, tokenizer_dir):
    output_dir = tmp_path_factory.mktemp("run")
    trainer = build_trainer(*parse_arguments(small_run(dialogue_file, tokenizer_dir, output_dir)))
    return trainer, run_training(trainer)


def test_validation_perplexity_falls_on_real_dialogues(trained):
    _, outcome = trained
    assert outcome.global_step == 40
    assert outcome.perplexity_after < outcome.perplexity_before / 3, outcome


def test_checkpoint_holds_model_tokenizer_generation_config_format_and_card(trained, dialogue_file):
    trainer, outcome = trained
    output_dir = Path(outcome.output_dir)
    for directory in [output_dir, *output_dir.glob("checkpoint-*")]:
        assert {"model.safetensors", "tokenizer.json", "generation_config.json"} <= {
            path.name for path in directory.iterdir()
        }, directory
        config = json.loads((directory / "config.json").read_text())
        assert config["dialogue_format"]["max_length"] == 96, directory
        assert config["dialogue_data"] == {
            "data": [str(dialogue_file)], "max_history": 3, "validation_size": 0.1, "seed": 1, "dedup": True,
            "max_utterance_chars": 2000,
        }
    assert DialogueFormat.load(output_dir, AutoConfig.from_pretrained(output_dir)) == DialogueFormat(max_history=3, max_length=96)
    generation = GenerationConfig.from_pretrained(output_dir)
    assert generation.do_sample and generation.top_p == 0.9 and generation.pad_token_id == trainer.processing_class.pad_token_id
    card = (output_dir / "README.md").read_text(encoding="utf-8")
    assert "dialogues.txt" in card and '"max_history": 3' in card
    assert f"{outcome.perplexity_before:.2f}" in card


def test_reloaded_checkpoint_gives_identical_logits(trained):
    trainer, outcome = trained
    batch = trainer.data_collator([trainer.eval_dataset[i] for i in range(4)])
    model = trainer.model.eval()
    reloaded = AutoModelForCausalLM.from_pretrained(outcome.output_dir).eval()
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, reloaded(**batch).logits)


def test_perplexity_before_training_is_logged_at_step_0_and_the_curve_plots_the_token_weighted_loss(trained):
    trainer, outcome = trained
    history = json.loads(Path(outcome.output_dir, "trainer_state.json").read_text())["log_history"]
    evaluations = [log for log in history if "eval_perplexity" in log]
    assert evaluations[0]["step"] == 0 and evaluations[0]["eval_perplexity"] == outcome.perplexity_before
    curve = learning_curve_series(history)["eval"]
    assert [point[:2] for point in curve] == [(log["step"], log["eval_reply_loss"]) for log in evaluations]
    assert all(log["eval_reply_loss"] != log["eval_loss"] for log in evaluations), "HF's eval_loss weighs samples"


def test_training_resumes_from_the_last_checkpoint(trained, tokenizer_dir, dialogue_file):
    _, outcome = trained
    argv = small_run(dialogue_file, tokenizer_dir, Path(outcome.output_dir), "--max_steps", "45", "--resume_from_checkpoint", "last")
    trainer = build_trainer(*parse_arguments(argv))
    resumed = run_training(trainer)
    assert resumed.global_step == 45
    assert [log["step"] for log in trainer.state.log_history if "loss" in log] == [5, 10, 15, 20, 25, 30, 35, 40, 45]


def test_early_stopping_stops_when_perplexity_stops_improving(tmp_path, dialogue_file, tokenizer_dir):
    argv = small_run(
        dialogue_file, tokenizer_dir, tmp_path, "--learning_rate", "0", "--max_steps", "100",
        "--eval_steps", "2", "--save_steps", "2", "--early_stopping_patience", "1",
    )  # fmt: skip
    outcome = run_training(build_trainer(*parse_arguments(argv)))
    assert outcome.global_step == 4  # best at step 2, no better at step 4: patience 1 is spent


def _weights(model) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def _differing(first: dict, second: dict) -> list[str]:
    return [name for name in first if not torch.equal(first[name], second[name])]


def test_one_config_and_seed_give_identical_initial_and_final_weights(tmp_path, dialogue_file, tokenizer_dir):
    quick = ["--max_steps", "4", "--eval_steps", "4", "--save_steps", "4", "--max_eval_samples", "16"]
    runs = [small_run(dialogue_file, tokenizer_dir, tmp_path / name, *quick, "--seed", seed)
            for name, seed in (("a", "1"), ("b", "1"), ("c", "2"))]  # fmt: skip
    trainers = [build_trainer(*parse_arguments(argv)) for argv in runs]
    initial = [_weights(trainer.model) for trainer in trainers]
    assert not _differing(initial[0], initial[1])
    assert _differing(initial[0], initial[2])  # the seed, not a fixed init, makes them equal
    for trainer in trainers[:2]:
        run_training(trainer)
    assert not _differing(_weights(trainers[0].model), _weights(trainers[1].model))
    assert _differing(_weights(trainers[0].model), initial[0])


def test_new_token_rows_are_reproducible_under_one_seed(tmp_path, tiny_model_dir, dialogue_file):
    """`mean_resizing` draws the new rows at random around the mean: the seed must come before it."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.add_tokens(["<new-token>"], special_tokens=True)
    tokenizer.save_pretrained(tmp_path / "grown")
    argv = ["--model_name_or_path", str(tiny_model_dir), "--config_overrides", ""]
    trainers = [build_trainer(*parse_arguments([*small_run(dialogue_file, tmp_path / "grown", tmp_path / name), *argv]))
                for name in ("a", "b")]  # fmt: skip
    rows = [trainer.model.get_input_embeddings().weight[-1].detach() for trainer in trainers]
    assert torch.equal(rows[0], rows[1])


def test_length_grouped_samplers_hold_the_lengths_as_a_list_read_once(trained):
    """Not the lazy `dataset["length"]` Column, whose every `[i]` (the sampler sorts by it) re-reads the
    column: on 200k samples that cost minutes at the start of every epoch and evaluation."""
    trainer, _ = trained
    splits = [(trainer._get_train_sampler(), trainer.train_dataset), (trainer._get_eval_sampler(trainer.eval_dataset), trainer.eval_dataset)]
    for sampler, dataset in splits:
        assert type(sampler.lengths) is list
        assert sampler.lengths == list(dataset["length"]) and len(set(sampler.lengths)) > 1
        assert sorted(iter(sampler)) == list(range(len(dataset)))


def test_best_model_reload_restores_the_tied_head_without_a_missing_keys_warning(trained, caplog):
    trainer, outcome = trained
    model = trainer.model
    assert model.lm_head.weight is model.transformer.wte.weight
    best = AutoModelForCausalLM.from_pretrained(trainer.state.best_model_checkpoint)
    assert torch.equal(model.lm_head.weight, best.transformer.wte.weight)
    with caplog.at_level("WARNING"):
        trainer._load_best_model()
    assert "missing keys" not in caplog.text
    assert model.lm_head.weight is model.transformer.wte.weight


@pytest.mark.parametrize(
    "batching",
    [["--packing", "true", "--packed_row_length", "128", "--dataloader_drop_last", "true"], ["--train_sampling_strategy", "random"]],
    ids=["packed rows", "padded samples"],
)
def test_batches_by_token_budget_train_as_well(tmp_path, dialogue_file, tokenizer_dir, batching):
    argv = small_run(dialogue_file, tokenizer_dir, tmp_path, *batching, "--max_tokens_per_batch", "1024")
    trainer = build_trainer(*parse_arguments(argv))
    shapes = [tuple(batch["input_ids"].shape) for batch in trainer.get_train_dataloader()]
    assert all(rows * width <= 1024 for rows, width in shapes)
    if "--packing" in batching:
        assert set(shapes) == {(8, 128)}, "packed rows: one shape, for torch_compile"
    else:
        assert len({rows for rows, _ in shapes}) > 3, "short samples make larger batches"
    outcome = run_training(trainer)
    assert outcome.perplexity_after < outcome.perplexity_before / 3, outcome


class PoisonAWeight(TrainerCallback):
    """Writes one NaN into the first attention block after `step`, as a kernel that returns NaN would."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step:
            with torch.no_grad():
                model.transformer.h[0].attn.c_attn.weight[0, 0] = float("nan")


def test_a_diverged_run_stops_at_the_next_log_instead_of_saving_nan_weights(tmp_path, dialogue_file, tokenizer_dir):
    trainer = build_trainer(*parse_arguments(small_run(dialogue_file, tokenizer_dir, tmp_path, "--max_steps", "30")))
    trainer.add_callback(PoisonAWeight(step=7))
    with pytest.raises(TrainingDiverged, match=r"grad_norm=nan at step 10: .*--attn_implementation eager"):
        run_training(trainer)
    assert not list(tmp_path.glob("checkpoint-*")) and not (tmp_path / "model.safetensors").exists()


def test_new_token_rows_start_at_the_mean_of_the_old_embeddings(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    old = AutoModelForCausalLM.from_pretrained(tiny_model_dir).get_input_embeddings().weight.detach()
    tokenizer.add_tokens(["<new-token>"], special_tokens=True)
    model_args, *_ = parse_arguments(["--model_name_or_path", str(tiny_model_dir)])
    grown = load_model(model_args, tokenizer, DialogueFormat(max_length=128)).get_input_embeddings().weight.detach()
    assert grown.shape[0] == old.shape[0] + 1
    assert torch.equal(grown[:-1], old)
    torch.testing.assert_close(grown[-1], old.mean(dim=0), atol=1e-3, rtol=0)


@pytest.mark.parametrize("source", ["pretrained", "from scratch"])
def test_attention_kernels_can_be_chosen(tiny_model_dir, source):
    """The way around an attention kernel that misbehaves on some GPU: `--attn_implementation eager`."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model_source = ["--model_name_or_path", str(tiny_model_dir)] if source == "pretrained" else ["--config_overrides", TINY_MODEL]
    model_args, *_ = parse_arguments([*model_source, "--attn_implementation", "eager"])
    assert load_model(model_args, tokenizer, DialogueFormat(max_length=96)).config._attn_implementation == "eager"


def test_command_line_overrides_the_yaml_config():
    model_args, data_args, args, _ = parse_arguments(
        ["--config", str(REPO / "configs" / "tiny.yaml"), "--max_steps", "7", "--output_dir", "elsewhere"]
    )
    assert (args.max_steps, args.output_dir) == (7, "elsewhere")
    assert data_args.data == ["../shared/data/*.xz"] and model_args.tokenizer_name == "train"
    assert args.metric_for_best_model == "perplexity" and args.train_sampling_strategy == "group_by_length"


def test_the_gpu_config_asks_for_bf16_tf32_fused_adamw_compile_and_workers():
    # bf16 and tf32 need a GPU to parse at all: the values are read from the YAML, then switched off here
    config = yaml.safe_load((REPO / "configs" / "rugpt3small.yaml").read_text(encoding="utf-8"))
    assert config["bf16"] and config["tf32"]
    _, _, args, _ = parse_arguments(["--config", str(REPO / "configs" / "rugpt3small.yaml"), "--bf16", "false", "--tf32", "false"])
    assert args.optim == "adamw_torch_fused" and args.torch_compile
    assert args.dataloader_num_workers >= 2 and args.dataloader_pin_memory


def _config(tmp_path: Path, **values) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return str(path)


def test_unknown_config_key_is_refused_with_a_suggestion(tmp_path):
    with pytest.raises(DataError, match="unknown key 'learning_rat'.*'learning_rate'"):
        parse_arguments(["--config", _config(tmp_path, learning_rat=0.1)])


def test_unknown_command_line_argument_is_refused():
    with pytest.raises(DataError, match="unknown arguments --max_stepz 3"):
        parse_arguments(["--max_stepz", "3"])


def test_unknown_config_key_fails_the_command_with_a_clear_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rugpt_chitchat.cli", "train", "--config", _config(tmp_path, n_layers=4)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "unknown key 'n_layers'" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        (["--data", "/no/such/dialogues.txt"], "no such file"),
        (["--data", "/no/such/*.xz"], "no file matches"),
        (["--max_length", "3"], "leaves no room for a reply"),
        (["--max_length", "512"], "exceeds the model's 128 positions"),
        (["--max_train_samples", "0"], "training split is empty"),
        (["--validation_size", "0"], "no validation samples"),
    ],
)
def test_bad_input_fails_before_training(tmp_path, dialogue_file, tokenizer_dir, overrides, problem):
    with pytest.raises(DataError, match=problem):
        build_trainer(*parse_arguments(small_run(dialogue_file, tokenizer_dir, tmp_path, *overrides)))
    assert not list(tmp_path.glob("checkpoint-*"))


def _save_samples(directory: Path, reply: list[int]) -> Path:
    sample = {"history": [[300, 301]], "input": [302], "reply": reply}
    DatasetDict(train=Dataset.from_list([sample] * 8), validation=Dataset.from_list([sample] * 2)).save_to_disk(directory)
    return directory


def test_preprocessed_samples_train_with_the_tokenizer_that_made_them(tmp_path, tokenizer_dir):
    samples = _save_samples(tmp_path / "samples", reply=[1999, 303])
    trainer = build_trainer(*parse_arguments(small_run(samples, tokenizer_dir, tmp_path / "out")))
    assert len(trainer.train_dataset) == 8 and len(trainer.eval_dataset) == 2


def test_preprocessed_samples_are_refused_without_their_tokenizer(tmp_path, tokenizer_dir):
    samples = _save_samples(tmp_path / "samples", reply=[1999, 303])
    with pytest.raises(DataError, match="need the tokenizer that made them"):
        build_trainer(*parse_arguments(small_run(samples, tokenizer_dir, tmp_path / "out", "--tokenizer_name", "train")))
    foreign = _save_samples(tmp_path / "foreign", reply=[40000])
    with pytest.raises(DataError, match="made with another tokenizer"):
        build_trainer(*parse_arguments(small_run(foreign, tokenizer_dir, tmp_path / "out")))


def test_preprocessed_samples_with_a_split_saved_empty_are_one_clear_error(tmp_path, tokenizer_dir):
    sample = {"history": [[300, 301]], "input": [302], "reply": [303]}
    empty = Dataset.from_list([sample]).select([])
    DatasetDict(train=Dataset.from_list([sample] * 8), validation=empty).save_to_disk(tmp_path / "samples")
    with pytest.raises(DataError, match="samples: holds a split saved empty, which cannot be loaded back"):
        build_trainer(*parse_arguments(small_run(tmp_path / "samples", tokenizer_dir, tmp_path / "out")))


@pytest.fixture(scope="module")
def prepared_with_one_turn(tmp_path_factory, dialogue_file, tokenizer_dir) -> Path:
    """The real dialogues preprocessed with max_history=1, saved as `preprocess` saves them."""
    from rugpt_chitchat.data.samples import PipelineConfig, prepare_dataset, save_samples

    config = PipelineConfig(max_history=1, validation_size=0.1, seed=4)
    samples, _ = prepare_dataset([str(dialogue_file)], AutoTokenizer.from_pretrained(tokenizer_dir), config)
    directory = tmp_path_factory.mktemp("prepared")
    save_samples(samples, directory, config, [str(dialogue_file)], str(tokenizer_dir))
    return directory


def test_training_refuses_more_history_than_the_samples_hold(tmp_path, prepared_with_one_turn, tokenizer_dir):
    with pytest.raises(DataError, match="prepared with max_history=1, but training asks for max_history=3"):
        build_trainer(*parse_arguments(small_run(prepared_with_one_turn, tokenizer_dir, tmp_path)))


def test_preprocessed_settings_and_tokenizer_travel_into_the_checkpoint(tmp_path, prepared_with_one_turn, dialogue_file):
    argv = small_run(prepared_with_one_turn, Path("unused"), tmp_path, "--max_history", "1", "--max_steps", "2")
    for flag in ("--tokenizer_name", "unused"):  # the directory records its tokenizer
        argv.remove(flag)
    trainer = build_trainer(*parse_arguments(argv))
    run_training(trainer)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["dialogue_data"] == {
        "data": [str(prepared_with_one_turn)], "max_history": 1, "validation_size": 0.1, "seed": 4, "dedup": True,
        "max_utterance_chars": 2000, "preprocessed_from": [str(dialogue_file)],
    }
    assert config["dialogue_format"]["max_history"] == 1


TRAINING_SCRIPT = """
import json, sys
import torch
from transformers import TrainerCallback
from rugpt_chitchat.training.finetune import build_trainer, parse_arguments, run_training

class RecordWeights(TrainerCallback):
    \"\"\"After every optimizer step, a checksum of this process's weights; after the last, the weights, saved
    before `load_best_model_at_end` reloads the main process's checkpoint on every process.\"\"\"

    def on_step_end(self, args, state, control, model=None, **kwargs):
        weights = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
        checksums.append(sum(float(tensor.double().abs().sum()) for tensor in weights.values()))
        if state.global_step == state.max_steps:
            torch.save(weights, f"{args.output_dir}/weights-rank{args.process_index}.pt")

trainer = build_trainer(*parse_arguments(sys.argv[1:]))
args = trainer.args
checksums = []
trainer.add_callback(RecordWeights)
trainer.train_dataset = trainer.train_dataset.map(lambda _, i: {"sample_id": i}, with_indices=True, keep_in_memory=True)
record = open(f"{args.output_dir}/rank{args.process_index}.jsonl", "w")
collate, step = trainer.data_collator, trainer.training_step

def collate_with_ids(samples):
    batch = collate(samples)
    if "sample_id" in samples[0]:
        batch["sample_ids"] = [s["sample_id"] for s in samples]
    return batch

def recording_step(model, inputs, num_items_in_batch=None):
    ids = inputs.pop("sample_ids")
    loss = step(model, inputs, num_items_in_batch)
    record.write(json.dumps({"ids": ids, "loss": loss.item()}) + "\\n")
    return loss

trainer.data_collator, trainer.training_step = collate_with_ids, recording_step
run_training(trainer)
record.write(json.dumps({"world_size": args.world_size, "checksums": checksums}) + "\\n")
"""


def test_two_processes_train_one_model_on_disjoint_shards_as_one_process_would(tmp_path, dialogue_file, tokenizer_dir):
    """Real data parallelism: both processes hold the same weights after every step (gradients all-reduced), and
    they equal a one-process run of the same global batch. Samples in order and no dropout, so the two runs see
    the same batches and the same arithmetic up to the order of summation."""
    no_dropout = f"{TINY_MODEL},resid_pdrop=0,embd_pdrop=0,attn_pdrop=0"
    common = ["--max_steps", "6", "--logging_steps", "1", "--eval_steps", "6", "--save_steps", "6",
              "--train_sampling_strategy", "sequential", "--config_overrides", no_dropout]  # fmt: skip
    two, one = tmp_path / "two", tmp_path / "one"
    two_argv = small_run(dialogue_file, tokenizer_dir, two, *common, "--per_device_train_batch_size", "8")
    run_script(TRAINING_SCRIPT, tmp_path, accelerate_two_processes(), two_argv)
    one_argv = small_run(dialogue_file, tokenizer_dir, one, *common, "--per_device_train_batch_size", "16")
    run_script(TRAINING_SCRIPT, tmp_path, [sys.executable], one_argv)

    records = [[json.loads(line) for line in (two / f"rank{rank}.jsonl").open()] for rank in (0, 1)]
    ids = [[i for r in rank for i in r.get("ids", [])] for rank in records]
    losses = [[r["loss"] for r in rank if "loss" in r] for rank in records]
    finals = [rank[-1] for rank in records]
    assert [final["world_size"] for final in finals] == [2, 2]
    assert len(ids[0]) == len(ids[1]) == 6 * 8 and not set(ids[0]) & set(ids[1])
    assert len(finals[0]["checksums"]) == 6 and finals[0]["checksums"] == finals[1]["checksums"]

    weights = [torch.load(two / f"weights-rank{rank}.pt") for rank in (0, 1)]
    alone = torch.load(one / "weights-rank0.pt")
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name
        # the summation order differs (two shards, then all-reduce); Adam's normalised step turns that into weight
        # differences of ~2e-5 at most here, against the ~3e-3 (the learning rate) one step moves a weight
        torch.testing.assert_close(tensor, alone[name], rtol=1e-4, atol=5e-5, msg=name)

    state = json.loads((two / "checkpoint-6" / "trainer_state.json").read_text())
    logged = [log["loss"] for log in state["log_history"] if "loss" in log]
    assert losses[0] != losses[1]
    assert logged == pytest.approx([(a + b) / 2 for a, b in zip(*losses)], rel=1e-3)
    assert [log["step"] for log in state["log_history"] if "eval_perplexity" in log] == [0, 6]
    assert [path.name for path in two.glob("checkpoint-*")] == ["checkpoint-6"]
    assert "dialogue_format" in json.loads((two / "checkpoint-6" / "config.json").read_text())


def test_validation_scores_the_reply_alone_whatever_the_loss_covers(tmp_path, dialogue_file, tokenizer_dir):
    """A model trained with loss on every token (the seed's baseline) is validated on its reply tokens, as
    `evaluate` scores it: its `eval_perplexity` and early stopping compare with a reply-loss run's."""
    from rugpt_chitchat.training.collator import DialogueCollator
    from rugpt_chitchat.scoring import reply_nll_per_sample

    argv = small_run(dialogue_file, tokenizer_dir, tmp_path, "--loss_on_reply_only", "false", "--max_eval_samples", "48",
                     "--max_steps", "20", "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
                     "--early_stopping_patience", "0")
    trainer = build_trainer(*parse_arguments(argv))
    trainer.train()  # untrained, every token is as unlikely as any other: both perplexities would be the same
    rows = list(trainer.eval_dataset)
    model = trainer.model.eval()

    def perplexity(collator) -> float:
        batch = collator(rows)
        labels = batch.pop("labels")
        with torch.no_grad():
            sums = reply_nll_per_sample(model(**batch).logits, labels)
        return float(torch.exp(sums[:, 0].sum() / sums[:, 1].sum()))

    reply_format = dataclasses.replace(trainer.dialogue_format, loss_on_reply_only=True)
    reply_only = perplexity(DialogueCollator(trainer.data_collator.special, reply_format))
    assert trainer.evaluate()["eval_perplexity"] == pytest.approx(reply_only, rel=1e-4)
    assert perplexity(trainer.data_collator) != pytest.approx(reply_only, rel=1e-2)  # training labels every token


def test_context_loss_weight_trains_on_the_weighted_loss_and_validates_on_the_reply(tmp_path, dialogue_file, tokenizer_dir):
    """The training loss of a context weight w is (w x context NLL + reply NLL) / (w x context tokens + reply
    tokens), computed here from the reply-only and every-token NLL of the same batch; validation scores the reply."""
    from rugpt_chitchat.training.collator import DialogueCollator
    from rugpt_chitchat.scoring import reply_nll_per_sample

    argv = small_run(dialogue_file, tokenizer_dir, tmp_path, "--context_loss_weight", "0.25", "--max_eval_samples", "48",
                     "--max_steps", "10", "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
                     "--early_stopping_patience", "0")
    trainer = build_trainer(*parse_arguments(argv))
    trainer.train()
    assert all(math.isfinite(log["loss"]) for log in trainer.state.log_history if "loss" in log)
    model = trainer.model.eval()
    rows = list(trainer.eval_dataset)
    special, fmt = trainer.data_collator.special, trainer.dialogue_format

    def nll_sums(collator) -> tuple[float, float]:
        batch = collator(rows)
        batch.pop("loss_weights", None)
        labels = batch.pop("labels")
        with torch.no_grad():
            sums = reply_nll_per_sample(model(**batch).logits, labels).sum(dim=0)
        return float(sums[0]), float(sums[1])

    reply_nll, reply_tokens = nll_sums(DialogueCollator(special, dataclasses.replace(fmt, context_loss_weight=0.0)))
    every_nll, every_tokens = nll_sums(DialogueCollator(special, dataclasses.replace(fmt, context_loss_weight=1.0)))
    expected = (0.25 * (every_nll - reply_nll) + reply_nll) / (0.25 * (every_tokens - reply_tokens) + reply_tokens)
    with torch.no_grad():
        loss = trainer.compute_loss(model, trainer.data_collator(rows))
    assert float(loss) == pytest.approx(expected, rel=1e-4)
    assert trainer.evaluate()["eval_reply_loss"] == pytest.approx(reply_nll / reply_tokens, rel=1e-4), "the reply alone"


def test_random_order_batches_mix_lengths_where_length_grouped_ones_do_not(tmp_path, dialogue_file, tokenizer_dir):
    """`--train_sampling_strategy random` (a TrainingArguments field) against our default `group_by_length`:
    sample length tracks how much history a sample has, so grouped batches hold one kind of sample at a time."""
    def mean_length_spread(strategy: str) -> float:
        argv = small_run(dialogue_file, tokenizer_dir, tmp_path / strategy, "--train_sampling_strategy", strategy)
        trainer = build_trainer(*parse_arguments(argv))
        lengths = trainer.train_dataset["length"][:]
        order = list(iter(trainer._get_train_sampler()))
        assert sorted(order) == list(range(len(lengths)))
        batches = [order[start : start + 16] for start in range(0, len(order) - 15, 16)]
        return sum(max(lengths[i] for i in batch) - min(lengths[i] for i in batch) for batch in batches) / len(batches)

    assert mean_length_spread("random") > 4 * mean_length_spread("group_by_length")
