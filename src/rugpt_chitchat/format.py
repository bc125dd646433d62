"""The dialogue format, in one place: the collator trains on it and generation prompts with it.

A sample becomes `[bos] <sp> h1 <sp> h2 … <speaker1> input <speaker2> reply [eos]`: every utterance opens
with its speaker's token, speakers alternate backwards from the reply, which is always the bot's. GPT-2 looks
token types up in the word-embedding table, so `token_type_ids` hold the speaker *token ids*, never 0/1.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from .tokenizer import SPEAKER_BOT, SPEAKER_USER

IGNORE_INDEX = -100
FORMAT_FILE = "dialogue_format.json"


@dataclass
class DialogueFormat:
    """Settings that training and generation must share; saved beside every checkpoint."""

    max_history: int = 3
    max_length: int = 256
    use_token_type_ids: bool = True
    use_attention_mask: bool = True
    loss_on_reply_only: bool = True

    def save(self, directory: str | Path) -> None:
        Path(directory, FORMAT_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> DialogueFormat:
        path = Path(directory, FORMAT_FILE)
        return cls(**json.loads(path.read_text(encoding="utf-8"))) if path.exists() else cls()


@dataclass(frozen=True)
class SpecialIds:
    bos: int
    eos: int
    pad: int
    user: int
    bot: int

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase) -> SpecialIds:
        """Resolve the ids, refusing a tokenizer that lacks any of them (see `add_dialogue_special_tokens`)."""
        vocab = tokenizer.get_vocab()
        missing = [name for name in (SPEAKER_USER, SPEAKER_BOT) if name not in vocab]
        missing += [name for name in ("bos_token", "eos_token", "pad_token") if getattr(tokenizer, name) is None]
        if missing or tokenizer.pad_token_id == tokenizer.eos_token_id:
            raise ValueError(
                f"Tokenizer {tokenizer.name_or_path!r} lacks the dialogue special tokens {missing or ['pad != eos']}; "
                "call rugpt_chitchat.tokenizer.add_dialogue_special_tokens(tokenizer) and resize the model's embeddings."
            )
        return cls(
            tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, vocab[SPEAKER_USER], vocab[SPEAKER_BOT]
        )


def min_length_for_reply(history_turns: int = 0) -> int:
    """Shortest sequence that still holds one reply token: bos, two speaker tokens, the reply and eos."""
    return 4 + history_turns


def last_utterances(history: list, count: int) -> list:
    """The last `count` utterances (none when `count` is 0): the history a prompt with `max_history=count` reads."""
    return history[-count:] if count > 0 else []


def build_segments(
    history: list[list[int]],
    input_ids: list[int],
    reply: list[int],
    special: SpecialIds,
    max_length: int,
    max_history: int | None = None,
    with_eos: bool = True,
    loss_on_reply_only: bool = True,
) -> dict[str, list[int]]:
    """Token ids, speaker type ids and labels of one sample, truncated to `max_length`.

    Truncation keeps what matters for the reply: the oldest history utterances go first, then the input
    loses tokens from its left; the reply is only cut at its tail when it alone does not fit, and then loses its
    eos (the model must not learn to stop where a reply was cut). With
    `reply=[]` and `with_eos=False` the result is a generation prompt ending with the bot's speaker token.
    `max_history` keeps only the last utterances of `history` (a baseline trains with 0 on the same data).
    """
    if max_history is not None:
        history = last_utterances(history, max_history)
    room = max_length - 3  # bos and the two speaker tokens of input and reply
    end = [special.eos] if with_eos and len(reply) < room else []
    reply = reply[: max(room - len(end), 0)]
    room -= len(reply) + len(end)
    input_ids = input_ids[max(len(input_ids) - room, 0) :]
    room -= len(input_ids)
    kept: list[list[int]] = []
    for utterance in reversed(history):
        if len(utterance) + 1 > room:
            break
        kept.insert(0, utterance)
        room -= len(utterance) + 1

    turns = [*kept, input_ids, reply]
    speakers = [special.bot if (len(turns) - 1 - i) % 2 == 0 else special.user for i in range(len(turns))]
    ids, types = [special.bos], [speakers[0]]
    for speaker, turn in zip(speakers, turns):
        ids += [speaker, *turn]
        types += [speaker] * (len(turn) + 1)
    ids += end
    types += [special.bot] * len(end)
    if loss_on_reply_only:
        prompt_length = len(ids) - len(reply) - len(end)
        labels = [IGNORE_INDEX] * prompt_length + ids[prompt_length:]
    else:
        labels = [IGNORE_INDEX] + ids[1:]
    return {"input_ids": ids, "token_type_ids": types, "labels": labels}
