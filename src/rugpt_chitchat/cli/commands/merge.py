"""Adapter checkpoint (`train --use_peft true`) -> a plain model with the LoRA adapter and the trained token rows
merged in: it loads without peft and without its base, with the same logits. Example:
`rugpt-chitchat merge --checkpoint runs/rugpt3large-lora --output_dir runs/rugpt3large-merged`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MergeArguments:
    checkpoint: str = field(metadata={"help": "Adapter checkpoint directory written by `train` with use_peft."})
    output_dir: str = field(metadata={"help": "Directory for the merged model, tokenizer and generation config."})


ARGUMENTS = (MergeArguments,)


def run(args: MergeArguments) -> None:
    from ...training.peft import merge_adapter

    print(f"Merged model saved to {merge_adapter(args.checkpoint, args.output_dir)}")
