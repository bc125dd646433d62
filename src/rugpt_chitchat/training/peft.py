"""LoRA through PEFT: the larger ruGPT-3 models fine-tuned on one GPU, their adapters served and merged.

The dialogue format adds tokens a pretrained model never saw (the speakers, and bos/pad where it lacks them)
or never used as the format does, and GPT-2 looks `token_type_ids` up in the same word-embedding table: those
rows must train while everything else stays frozen. peft's `trainable_token_indices` does exactly that (the
tied LM head follows) and stores the trained rows in the adapter. An adapter checkpoint holds the adapter, those
rows and everything a full checkpoint holds besides the weights (config.json with the format and data settings,
generation_config.json, tokenizer, card); `load_adapter_model` rebuilds the model from the base it names.

`peft` is an optional extra (`pip install 'rugpt-chitchat[peft]'`), imported only when LoRA is used.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import astuple, dataclass, field
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from ..errors import DataError, not_loadable
from ..format import SpecialIds
from ..tokenizer import load_pretrained_tokenizer

logger = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"
# GPT-2's attention (c_attn: q, k, v; attn.c_proj) and MLP (c_fc, mlp.c_proj) layers: LoRA on every linear
# layer matches full fine-tuning where attention alone falls short (QLoRA paper, section 4)
GPT2_TARGET_MODULES = ["c_attn", "c_proj", "c_fc"]


@dataclass
class LoraArguments:
    """LoRA (and QLoRA) settings of `train`; the names are TRL's."""

    use_peft: bool = field(
        default=False,
        metadata={"help": "Train LoRA adapters (and the rows of the dialogue tokens) instead of every weight; "
                  "needs model_name_or_path and `pip install 'rugpt-chitchat[peft]'`."},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (the update is scaled by alpha/r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: list(GPT2_TARGET_MODULES),
        metadata={"help": "Layer names to adapt; GPT-2's every linear layer by default ('all-linear' for other models)."},
    )
    load_in_4bit: bool = field(
        default=False,
        metadata={"help": "QLoRA: the frozen base in 4-bit NF4 (bitsandbytes, CUDA only), LoRA computed in bf16."},
    )


def require_peft() -> None:
    try:
        import peft  # noqa: F401
    except ImportError as error:
        raise DataError("use_peft", "needs the peft package: pip install 'rugpt-chitchat[peft]'") from error


def quantization_kwargs(args: LoraArguments | None) -> dict:
    """`from_pretrained` arguments that load the base in 4-bit for QLoRA; none without `load_in_4bit`."""
    if args is None or not args.load_in_4bit:
        return {}
    if not args.use_peft:
        raise DataError("load_in_4bit", "4-bit weights cannot be trained themselves: set use_peft: true (QLoRA)")
    if not torch.cuda.is_available():
        raise DataError("load_in_4bit", "4-bit QLoRA needs a CUDA GPU (bitsandbytes); on this machine use plain "
                        "LoRA: set load_in_4bit: false")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as error:
        raise DataError("load_in_4bit", "needs bitsandbytes: pip install bitsandbytes") from error
    from transformers import BitsAndBytesConfig

    config = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16
    )
    return {"quantization_config": config}


def trainable_token_ids(tokenizer: PreTrainedTokenizerBase, base_name: str) -> list[int]:
    """Ids of the dialogue format's tokens (bos, eos, pad, both speakers: roles no pretraining gave them, the
    speakers also being the type ids) and of every token the base model's own tokenizer lacks (rows it never
    trained, mean-initialised or unused)."""
    base_vocabulary = load_pretrained_tokenizer(base_name).get_vocab()
    new = {index for token, index in tokenizer.get_vocab().items() if token not in base_vocabulary}
    return sorted(new | set(astuple(SpecialIds.from_tokenizer(tokenizer))))


def with_lora(model: PreTrainedModel, args: LoraArguments, tokenizer: PreTrainedTokenizerBase, base_name: str | None):
    """`model` wrapped in a PeftModel: LoRA on `lora_target_modules` and the embedding rows of
    `trainable_token_ids` trainable, every other weight frozen."""
    if not base_name:
        raise DataError("use_peft", "LoRA adapts a pretrained model: set model_name_or_path")
    return lora_model(model, args, trainable_token_ids(tokenizer, base_name))


def lora_model(model: PreTrainedModel, args: LoraArguments, token_ids: list[int]):
    """`model` with LoRA adapters and the rows `token_ids` of its input embeddings (and tied head) trainable."""
    require_peft()
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if args.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    targets = args.lora_target_modules
    config = LoraConfig(
        task_type="CAUSAL_LM",
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        trainable_token_indices=trainable_rows(model, token_ids),
    )
    try:
        model = get_peft_model(model, config)
    except ValueError as error:  # e.g. target modules not found in the model
        raise DataError("lora_target_modules", str(error).splitlines()[0]) from error
    trainable, total = model.get_nb_trainable_parameters()
    logger.info("LoRA r=%d on %s, %d token rows: %s of %s parameters trainable (%.2f %%)", args.lora_r,
                config.target_modules, len(token_ids), f"{trainable:,}", f"{total:,}", 100 * trainable / total)
    return model


def trainable_rows(model: PreTrainedModel, token_ids: list[int]) -> list[int] | dict[str, list[int]] | None:
    """peft's `trainable_token_indices`: the rows of the input embeddings, which a tied LM head shares; an untied
    head's rows of the new tokens were never trained either (and are drawn at random on each load)."""
    if not token_ids:
        return None
    head = model.get_output_embeddings()
    if head is None or head.weight is model.get_input_embeddings().weight:
        return token_ids
    names = {module: name for name, module in model.named_modules()}
    return {names[model.get_input_embeddings()]: token_ids, names[head]: token_ids}


def is_adapter_model(model: torch.nn.Module) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


def save_adapter_checkpoint(model, tokenizer: PreTrainedTokenizerBase, directory: str | Path) -> None:
    """The adapter (LoRA and the trained token rows) with the tokenizer, config.json (format, data settings,
    special ids, grown vocabulary) and generation_config.json that serving and `evaluate` read.

    Not the embedding matrix: peft would save all of it whenever the vocabulary grew (`save_embedding_layers`
    "auto"), hundreds of MB at ruGPT-3's size, though only the new rows differ from the base.
    """
    model.save_pretrained(directory, save_embedding_layers=False)
    tokenizer.save_pretrained(directory)
    base = model.get_base_model()
    base.config.save_pretrained(directory)
    base.generation_config.save_pretrained(directory)


def is_adapter_checkpoint(path: str | Path) -> bool:
    return Path(path, ADAPTER_CONFIG).is_file()


def load_adapter_model(path: str | Path, merge: bool = False, **model_kwargs) -> torch.nn.Module:
    """The base model named in adapter_config.json, grown to the checkpoint's vocabulary, with the recorded
    config attributes (format, data settings, special ids) and the adapter on top; merged into a plain model
    when `merge` (faster to serve, same logits within float rounding).

    `model_kwargs` go to the base's `from_pretrained` (e.g. `dtype`, `attn_implementation`).
    """
    require_peft()
    from peft import PeftConfig, PeftModel

    base_name = PeftConfig.from_pretrained(str(path)).base_model_name_or_path
    # the trained model's config (format, data settings, special ids override whatever the base recorded), at
    # the base's vocabulary size to load its weights; a QLoRA run's base was quantized, a served one is not
    config = AutoConfig.from_pretrained(path)
    vocab_size = config.vocab_size
    config.__dict__.pop("quantization_config", None)
    try:
        config.vocab_size = AutoConfig.from_pretrained(base_name).vocab_size
        base = AutoModelForCausalLM.from_pretrained(base_name, config=config, **model_kwargs)
    except OSError as error:
        raise not_loadable(base_name, f"base model (of the adapter in {path})", error) from error
    # the added rows' values come from the adapter: no need to draw them around the mean
    base.resize_token_embeddings(vocab_size, mean_resizing=False)
    model = PeftModel.from_pretrained(base, str(path))
    return model.merge_and_unload() if merge else model


def merge_adapter(path: str | Path, output_dir: str | Path) -> Path:
    """A plain checkpoint in `output_dir` from the adapter checkpoint `path`: merged weights, tokenizer,
    generation config and card; it loads without peft and without the base."""
    if not is_adapter_checkpoint(path):
        raise DataError(path, f"is no adapter checkpoint (no {ADAPTER_CONFIG}): train one with use_peft: true")
    output_dir = Path(output_dir)
    merged = load_adapter_model(path, merge=True)
    merged.save_pretrained(output_dir)
    load_pretrained_tokenizer(str(path)).save_pretrained(output_dir)
    if Path(path, "generation_config.json").is_file():
        GenerationConfig.from_pretrained(path).save_pretrained(output_dir)
    if Path(path, "README.md").is_file():
        shutil.copyfile(Path(path, "README.md"), output_dir / "README.md")
        with open(output_dir / "README.md", "a", encoding="utf-8") as card:
            card.write(f"\nThe LoRA adapter of `{path}` merged into its base: a plain model, loaded without peft.\n")
    logger.info("Merged the adapter of %s into %s", path, output_dir)
    return output_dir
