"""Replies from a checkpoint: prompts built by `build_segments`, many chats answered by one `generate` call.

`generate` (transformers 5) carries `token_type_ids` through decoding by repeating the last column, and
derives `position_ids` from the attention mask. Our prompts end with the bot's speaker token, left padded,
so every generated token gets the bot's type id and the position it had in training; `tests/test_generation.py`
checks the logits against a training-style forward pass so a change in transformers cannot slip by.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from ..data.cleaning import clean_utterance, has_words, normalize_utterance
from ..errors import DataError, not_loadable
from ..format import (
    PROMPT_OVERHEAD,
    DialogueFormat,
    SpecialIds,
    build_segments,
    default_generation_config,
    encode_utterances,
    min_prompt_length,
    with_dialogue_tokens,
)
from ..tokenizer import load_pretrained_tokenizer
from .streaming import OnText, WordStreamer
from ..training.peft import is_adapter_checkpoint, load_adapter_model

logger = logging.getLogger(__name__)

FALLBACK_REPLY = "Не знаю, что и сказать."
_LAST_SENTENCE_END = re.compile(r"^(.*[.!?…])[^.!?…]*$", re.DOTALL)


def check_finite_weights(model: PreTrainedModel, path: str) -> None:
    """Refuse a checkpoint of a diverged run here: sampling from NaN logits fails later and, on a GPU, as an
    opaque device-side assert that takes the whole process down."""
    broken = [name for name, weights in model.named_parameters() if not torch.isfinite(weights).all()]
    if broken:
        raise DataError(
            path, f"{len(broken)} weight tensors hold NaN or inf (first: {broken[0]}); the training run "
            "diverged before this checkpoint was saved: use an earlier checkpoint"
        )


def trim_to_clean_end(text: str) -> str:
    """Drop the unfinished fragment after the last sentence end, when there is a sentence end to keep."""
    match = _LAST_SENTENCE_END.match(text)
    return match.group(1).strip() if match and match.group(1).strip() else text.strip()


@dataclass
class _Draw:
    """One generated reply: its token ids (stop token excluded) and whether a stop token ended it."""

    tokens: list[int]
    finished: bool


class ChitChat:
    """A chit-chat model that answers a dialogue history with the bot's next utterance."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        dialogue_format: DialogueFormat,
        generation_config: GenerationConfig | None = None,
        max_redraws: int = 3,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.format = dialogue_format
        self.special = SpecialIds.from_tokenizer(tokenizer)
        config = generation_config or default_generation_config(self.special)
        self.generation_config = with_dialogue_tokens(config, self.special)
        self.max_redraws = max_redraws

    @classmethod
    def from_pretrained(cls, path: str, device: str | None = None, **model_kwargs) -> ChitChat:
        """Load model, tokenizer, the dialogue format (config.json, or an older checkpoint's dialogue_format.json)
        and generation_config.json (defaults when absent). An adapter checkpoint (`use_peft`) loads as its base
        with the adapter merged in.

        `model_kwargs` go to `AutoModelForCausalLM.from_pretrained` (e.g. `dtype`, `attn_implementation`).
        """
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        tokenizer = load_pretrained_tokenizer(path)
        try:
            if is_adapter_checkpoint(path):
                model = load_adapter_model(path, merge=True, **model_kwargs)
            else:
                model = AutoModelForCausalLM.from_pretrained(path, **model_kwargs)
        except OSError as error:
            raise not_loadable(path, "model", error) from error
        model = model.to(device)
        check_finite_weights(model, path)
        config = None
        if Path(path, "generation_config.json").exists():
            config = GenerationConfig.from_pretrained(path)
            # save_pretrained writes one copied from the model config (greedy, 20 tokens): not decoding settings
            config = None if getattr(config, "_from_model_config", False) else config
        return cls(model, tokenizer, DialogueFormat.load(path, model.config), config)

    @property
    def max_history(self) -> int:
        """How many utterances before the user's last one the model was trained to read."""
        return self.format.max_history

    def reply(self, history: list[str], **generation_kwargs) -> str:
        """The bot's answer to `history`, whose last item is the user's utterance."""
        return self.reply_batch([history], **generation_kwargs)[0]

    def reply_batch(
        self, histories: list[list[str]], seed: int | None = None, on_text: OnText | None = None, **generation_kwargs
    ) -> list[str]:
        """Answers to many histories from one left-padded `generate` call (plus redraws of bad rows only).

        `generation_kwargs` override the checkpoint's GenerationConfig for this call; `seed` seeds torch
        first, so the same seed draws the same replies. `on_text(row, text)` sees each row's first draw grow
        word by word (`streaming.WordStreamer`), while it is generated. A wordless reply (no
        letter or digit: "", ".", ", …") or one that repeats the user's utterance (normalised) is redrawn up
        to `max_redraws` times, the earlier attempts banned; the last draw is kept, or FALLBACK_REPLY if it
        is still wordless.
        """
        return self.reply_batch_with_first_draws(histories, seed, on_text, **generation_kwargs)[0]

    def reply_batch_with_first_draws(
        self, histories: list[list[str]], seed: int | None = None, on_text: OnText | None = None, **generation_kwargs
    ) -> tuple[list[str], list[str]]:
        """`reply_batch`'s replies and the model's first draws, before any redraw: what the raw model says."""
        if any(not history for history in histories):
            raise ValueError("every history needs at least the user's utterance")
        config = copy.deepcopy(self.generation_config)
        unknown = config.update(**generation_kwargs)
        if unknown:
            raise TypeError(f"not generation settings: {', '.join(unknown)}")
        prompts = [self.prompt_ids(history, config.max_new_tokens) for history in histories]
        if seed is not None:
            torch.manual_seed(seed)
        streamer = None
        if on_text is not None:
            streamer = WordStreamer(partial(self.tokenizer.decode, skip_special_tokens=True), on_text, config.eos_token_id)
        draws = self._generate(prompts, config, streamer)
        replies = [self._to_text(draw) for draw in draws]
        first_draws = list(replies)
        users = [normalize_utterance(history[-1]) for history in histories]
        banned: list[list[int]] = list(config.bad_words_ids or [])
        for _ in range(self.max_redraws):
            bad = [i for i, text in enumerate(replies) if not has_words(text) or normalize_utterance(text) == users[i]]
            if not bad:
                break
            # banning the exact tokens drawn makes a redraw differ even under greedy decoding
            banned += [draws[i].tokens for i in bad if draws[i].tokens]
            logger.debug("Redrawing %d echoing or wordless replies of %d", len(bad), len(replies))
            redraw_config = copy.deepcopy(config)
            redraw_config.bad_words_ids = banned or None
            for i, draw in zip(bad, self._generate([prompts[i] for i in bad], redraw_config)):
                draws[i], replies[i] = draw, self._to_text(draw)
        return [text if has_words(text) else FALLBACK_REPLY for text in replies], first_draws

    def prompt_ids(self, history: list[str], max_new_tokens: int | None = None) -> dict[str, list[int]]:
        """`input_ids` and `token_type_ids` of the generation prompt, within the budget left for the reply."""
        *context, user = self._encode(history)
        segments = build_segments(
            context, user, [], self.special, self._prompt_budget(max_new_tokens), self.max_history, with_eos=False
        )
        return {"input_ids": segments["input_ids"], "token_type_ids": segments["token_type_ids"]}

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` as the model reads it (the API reports them as usage)."""
        return len(self._encode([text])[0])

    def truncate_utterance(self, text: str) -> str:
        """`text` cut to its last tokens the prompt can hold, as `build_segments` would cut it."""
        room = self._prompt_budget() - PROMPT_OVERHEAD
        ids = self._encode([text])[0]
        if len(ids) <= room:
            return text
        return self.tokenizer.decode(ids[-room:]).lstrip("\ufffd").strip()

    def _prompt_budget(self, max_new_tokens: int | None = None) -> int:
        max_new_tokens = self.generation_config.max_new_tokens if max_new_tokens is None else max_new_tokens
        budget = self.format.max_length - max_new_tokens
        if budget < min_prompt_length():
            raise DataError("max_new_tokens", f"{max_new_tokens} leaves no room for a prompt in max_length={self.format.max_length}")
        return budget

    def _encode(self, texts: list[str]) -> list[list[int]]:
        """Cleaned as the pipeline cleans, encoded as it encodes: prompts match the training samples."""
        return encode_utterances([clean_utterance(text) for text in texts], self.tokenizer)

    def _to_text(self, draw: _Draw) -> str:
        text = clean_utterance(self.tokenizer.decode(draw.tokens, skip_special_tokens=True))
        return text if draw.finished else trim_to_clean_end(text)

    def padded_inputs(self, prompts: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        """Prompts left padded into `generate` inputs; padding gets the pad id as both token and type."""
        width = max(len(prompt["input_ids"]) for prompt in prompts)
        padding = [width - len(prompt["input_ids"]) for prompt in prompts]
        pad, device = self.special.pad, self.model.device

        def padded(key: str) -> torch.Tensor:
            return torch.tensor([[pad] * n + prompt[key] for n, prompt in zip(padding, prompts)], device=device)

        inputs = {
            "input_ids": padded("input_ids"),
            "attention_mask": torch.tensor([[0] * n + [1] * (width - n) for n in padding], device=device),
        }
        if self.format.use_token_type_ids:
            inputs["token_type_ids"] = padded("token_type_ids")
        return inputs

    @torch.inference_mode()
    def _generate(
        self, prompts: list[dict[str, list[int]]], config: GenerationConfig, streamer: WordStreamer | None = None
    ) -> list[_Draw]:
        """One `generate` call; each row's reply ends before its first stop token (or at max_new_tokens)."""
        inputs = self.padded_inputs(prompts)
        output = self.model.generate(**inputs, generation_config=config, streamer=streamer)
        stops = set(config.eos_token_id)
        draws = []
        for row in output[:, inputs["input_ids"].shape[1] :].tolist():
            end = next((i for i, token in enumerate(row) if token in stops), None)
            draws.append(_Draw(row[:end] if end is not None else row, end is not None))
        return draws
