"""The dialogue format, in one place: how utterances become ids, how a sample and a prompt are laid out, and
how a reply is decoded. The collator trains on it, generation prompts with it, the chat template renders it.

A sample becomes `[bos] <sp> h1 <sp> h2 … <speaker1> input <speaker2> reply [eos]`: every utterance opens
with its speaker's token, speakers alternate backwards from the reply, which is always the bot's. GPT-2 looks
token types up in the word-embedding table, so `token_type_ids` hold the speaker *token ids*, never 0/1.

Light on purpose (transformers is imported inside the functions that need it): the settings and the CLI
read `DialogueFormat` without loading torch.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DataError
from .tokenizer import SPEAKER_BOT, SPEAKER_USER

if TYPE_CHECKING:
    from transformers import GenerationConfig, PretrainedConfig, PreTrainedTokenizerBase

IGNORE_INDEX = -100
FORMAT_FILE = "dialogue_format.json"  # where checkpoints made before the format moved into config.json keep it
CONFIG_ATTRIBUTE = "dialogue_format"  # the model config's attribute holding the format
PROMPT_OVERHEAD = 3  # tokens of every sample besides the utterances: bos and the speaker tokens of input and reply
# Used when the checkpoint has no generation_config.json; training writes its own.
DEFAULT_DECODING = dict(
    do_sample=True, top_p=0.9, top_k=30, temperature=0.8, repetition_penalty=1.2, no_repeat_ngram_size=3, max_new_tokens=40
)


@dataclass
class DialogueFormat:
    """Settings that training and generation must share; stored in the model's config.json by training."""

    max_history: int = field(default=3, metadata={"help": "Utterances kept before the user's input (history turns)."})
    max_length: int = field(default=256, metadata={"help": "Tokens per sample; oldest history goes first."})
    use_token_type_ids: bool = field(default=True, metadata={"help": "Speaker token ids as token_type_ids."})
    use_attention_mask: bool = field(default=True, metadata={"help": "Pass attention_mask (False: the seed baseline)."})
    loss_on_reply_only: bool = field(default=True, metadata={"help": "Loss on the reply and its eos only."})
    context_loss_weight: float | None = field(
        default=None,
        metadata={"help": "Loss weight of the tokens before the reply (0: the reply alone, 1: every token; between: "
                  "the reply counts fully, the history and input by this weight). Empty: loss_on_reply_only decides."},
    )

    def context_weight(self) -> float:
        """The loss weight of the tokens before the reply: `context_loss_weight`, else 0 with `loss_on_reply_only`
        and 1 without; refuses a weight outside [0, 1] or one that contradicts `loss_on_reply_only: false`."""
        weight = self.context_loss_weight
        if weight is None:
            return 0.0 if self.loss_on_reply_only else 1.0
        if not 0 <= weight <= 1:
            raise DataError("context_loss_weight", f"{weight} is outside [0, 1]")
        if not self.loss_on_reply_only and weight != 1:
            raise DataError("context_loss_weight", f"{weight} contradicts loss_on_reply_only: false (loss on every "
                            "token, weight 1); leave loss_on_reply_only at true")
        return weight

    def save(self, directory: str | Path) -> None:
        """`dialogue_format.json` in `directory` (the older layout; training stores the format in config.json)."""
        Path(directory, FORMAT_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    def store_in(self, config: PretrainedConfig) -> None:
        """Put the format into a model config, so every save_pretrained and Hub push carries it."""
        setattr(config, CONFIG_ATTRIBUTE, asdict(self))

    @classmethod
    def from_dict(cls, values: dict, source: str) -> DialogueFormat:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DataError(source, f"unknown dialogue format settings {unknown} (known: {sorted(known)})")
        return cls(**values)

    @classmethod
    def load(cls, directory: str | Path, config: PretrainedConfig | None = None) -> DialogueFormat:
        """The format of a checkpoint: from its model config, else its dialogue_format.json, else the defaults."""
        stored = getattr(config, CONFIG_ATTRIBUTE, None)
        if stored is not None:
            return cls.from_dict(stored, str(Path(directory, "config.json")))
        path = Path(directory, FORMAT_FILE)
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path)) if path.exists() else cls()


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
            raise DataError(
                tokenizer.name_or_path,
                f"Tokenizer {tokenizer.name_or_path!r} lacks the dialogue special tokens {missing or ['pad != eos']}; "
                "call rugpt_chitchat.tokenizer.add_dialogue_special_tokens(tokenizer) and resize the model's embeddings."
            )
        return cls(
            tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, vocab[SPEAKER_USER], vocab[SPEAKER_BOT]
        )


def min_length_for_reply() -> int:
    """Shortest sample that still holds one reply token: the prompt overhead, one reply token and eos."""
    return PROMPT_OVERHEAD + 2


def min_prompt_length() -> int:
    """Shortest generation prompt that still holds one token of the user's input."""
    return PROMPT_OVERHEAD + 1


def encode_utterances(texts: list[str], tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
    """Ids without special tokens; straight through the Rust backend when there is one (3x faster here)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [encoding.ids for encoding in backend.encode_batch_fast(texts, add_special_tokens=False)]


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
    room = max_length - PROMPT_OVERHEAD
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


def default_generation_config(special: SpecialIds) -> GenerationConfig:
    """Nucleus sampling that stops at eos or at either speaker token (the model starting a new turn)."""
    from transformers import GenerationConfig

    return with_dialogue_tokens(GenerationConfig(**DEFAULT_DECODING), special)


def with_dialogue_tokens(config: GenerationConfig, special: SpecialIds) -> GenerationConfig:
    """A copy of `config` that stops at eos and the speaker tokens, pads with pad, never emits pad or bos,
    never replies with nothing and bounds the reply by `max_new_tokens` (the prompt gets the rest of `max_length`)."""
    config = copy.deepcopy(config)
    config.eos_token_id = [special.eos, special.user, special.bot]
    config.pad_token_id = special.pad
    config.bos_token_id = special.bos
    config.min_new_tokens = config.min_new_tokens or 1
    config.suppress_tokens = sorted({*(config.suppress_tokens or []), special.pad, special.bos})  # never inside a reply
    config.max_new_tokens = config.max_new_tokens or DEFAULT_DECODING["max_new_tokens"]
    return config
