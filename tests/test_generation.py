"""ChitChat: prompts equal to training samples, speaker type ids through generate, batching, anti-echo, chat REPL."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM

from rugpt_chitchat.data.cleaning import clean_utterance, normalize_utterance
from rugpt_chitchat.training.collator import DialogueCollator
from rugpt_chitchat.errors import DataError
from rugpt_chitchat.format import DialogueFormat, build_segments
from rugpt_chitchat.serving.generation import FALLBACK_REPLY, ChitChat, trim_to_clean_end

GREEDY = {"do_sample": False, "max_new_tokens": 8}
ECHOED = ["Привет, как дела?", "Куда ты идёшь?", "Сколько стоит билет?", "Ты меня слышишь?"]


@pytest.fixture(scope="module")
def chat(tiny_model_dir) -> ChitChat:
    return ChitChat.from_pretrained(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="module")
def histories(corpus_slice) -> list[list[str]]:
    """Real dialogue openings of 1 to 4 utterances, so prompts differ in length and get left padding."""
    dialogues = [[clean_utterance(line) for line in dialogue] for dialogue in corpus_slice if len(dialogue) >= 4]
    return [dialogue[: 1 + i % 4] for i, dialogue in enumerate(dialogues[:6])]


def encode(chat: ChitChat, text: str) -> list[int]:
    return chat.tokenizer(text, add_special_tokens=False)["input_ids"]


def test_prompt_is_the_training_sample_up_to_the_reply(chat, histories, corpus_slice):
    """The collator's ids and type ids for (history, reply) start with exactly the generation prompt."""
    collator = DialogueCollator(chat.special, chat.format)
    for history, dialogue in zip(histories, corpus_slice):
        reply = encode(chat, "Да, конечно.")
        sample = {"history": [encode(chat, text) for text in history[:-1]], "input": encode(chat, history[-1]), "reply": reply}
        batch = collator([sample])
        prompt = chat.prompt_ids(history)
        width = len(prompt["input_ids"])
        assert batch["input_ids"][0, :width].tolist() == prompt["input_ids"]
        assert batch["token_type_ids"][0, :width].tolist() == prompt["token_type_ids"]
        assert batch["input_ids"][0, width : width + len(reply)].tolist() == reply
        assert prompt["input_ids"][-1] == prompt["token_type_ids"][-1] == chat.special.bot


def test_prompt_keeps_the_room_for_the_reply(chat):
    long_history = ["очень длинная реплика " * 40] * 3
    for max_new_tokens in (8, 40):
        prompt = chat.prompt_ids(long_history, max_new_tokens)
        assert len(prompt["input_ids"]) <= chat.format.max_length - max_new_tokens


def test_generated_tokens_get_the_bot_type_ids_as_in_training(chat, histories):
    """Logits of every generated position equal a plain forward pass over prompt + reply with training-style
    token_type_ids (bot type on the reply): left padding, position ids and the KV cache all included."""
    prompts = [chat.prompt_ids(history, 6) for history in histories]
    config = copy.deepcopy(chat.generation_config)
    config.update(do_sample=False, max_new_tokens=6, min_new_tokens=6)  # no row stops early, so all have 6 positions
    inputs = chat.padded_inputs(prompts)
    assert len(set(inputs["attention_mask"].sum(dim=1).tolist())) > 1, "histories must need padding"
    with torch.inference_mode():
        output = chat.model.generate(**inputs, generation_config=config, output_logits=True, return_dict_in_generate=True)
    width = inputs["input_ids"].shape[1]
    for row, history in enumerate(histories):
        generated = output.sequences[row, width:].tolist()
        *context, user = [encode(chat, text) for text in history]
        full = build_segments(context, user, generated, chat.special, chat.format.max_length, chat.max_history, with_eos=False)
        ids, types = torch.tensor([full["input_ids"]]), torch.tensor([full["token_type_ids"]])
        with torch.inference_mode():
            expected = chat.model(input_ids=ids, token_type_ids=types).logits[0, -len(generated) - 1 : -1]
            wrong_types = types.clone()
            wrong_types[0, -len(generated) :] = chat.special.user
            wrong = chat.model(input_ids=ids, token_type_ids=wrong_types).logits[0, -len(generated) - 1 : -1]
        got = torch.stack([step_logits[row] for step_logits in output.logits])
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
        assert not torch.allclose(got[1:], wrong[1:], atol=1e-3), "the check must tell the speaker types apart"


def test_reply_batch_equals_one_by_one_replies_under_greedy_decoding(chat, histories):
    batched = chat.reply_batch(histories, **GREEDY)
    assert batched == [chat.reply(history, **GREEDY) for history in histories]
    assert all(batched)


def test_per_call_settings_override_the_checkpoint_config(chat, histories):
    with pytest.raises(TypeError, match="not generation settings"):
        chat.reply(histories[0], no_such_setting=1)
    short = chat.reply_batch(histories, do_sample=False, max_new_tokens=2)
    assert all(len(encode(chat, text)) <= 2 for text in short)
    assert chat.generation_config.max_new_tokens == 40


def test_unfinished_reply_is_cut_after_its_last_sentence():
    assert trim_to_clean_end("Пойдём домой. Уже поздно! А завтра мы") == "Пойдём домой. Уже поздно!"
    assert trim_to_clean_end("Да ну тебя") == "Да ну тебя"
    assert trim_to_clean_end("Правда?") == "Правда?"


def test_truncate_utterance_keeps_what_the_prompt_holds(chat):
    assert chat.truncate_utterance("Короткое сообщение.") == "Короткое сообщение."
    long_text = " ".join(f"слово{i}" for i in range(300)) + " конец"
    cut = chat.truncate_utterance(long_text)
    assert cut.endswith("конец") and len(cut) < len(long_text)
    assert len(chat.prompt_ids([cut])["input_ids"]) <= chat.format.max_length - chat.generation_config.max_new_tokens


def chat_trained_on(tiny_model_dir, pairs: list[tuple[str, str]]) -> ChitChat:
    """The tiny model trained (120 full-batch steps) to answer each input of `pairs` with its reply."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    chat = ChitChat(model, ChitChat.from_pretrained(str(tiny_model_dir)).tokenizer, DialogueFormat(max_length=128))
    samples = [{"history": [encode(chat, "Добрый вечер.")], "input": encode(chat, text), "reply": encode(chat, reply)}
               for text, reply in pairs]
    batch = DialogueCollator(chat.special, chat.format)(samples)
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(120):
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    chat.model = model.eval()
    return chat


@pytest.fixture(scope="module")
def echo_chat(tiny_model_dir) -> ChitChat:
    """Trained to answer four utterances by repeating them: greedy decoding echoes."""
    return chat_trained_on(tiny_model_dir, [(text, text) for text in ECHOED])


def test_echoing_replies_are_redrawn_and_other_rows_kept(echo_chat):
    settings = {**GREEDY, "max_new_tokens": 16, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0}
    histories = [["Добрый вечер.", text] for text in ECHOED]
    echo_chat.max_redraws = 0
    echoes = echo_chat.reply_batch(histories, **settings)
    assert [normalize_utterance(reply) for reply in echoes] == [normalize_utterance(text) for text in ECHOED]
    other = ["Добрый вечер.", "Расскажи что-нибудь о погоде"]
    not_echoed = echo_chat.reply(other, **settings)
    assert normalize_utterance(not_echoed) != normalize_utterance(other[-1])

    echo_chat.max_redraws = 3
    replies = echo_chat.reply_batch([*histories, other], **settings)
    assert all(reply and normalize_utterance(reply) != normalize_utterance(text) for reply, text in zip(replies, ECHOED))
    assert replies[-1] == not_echoed


def test_wordless_replies_are_redrawn_and_first_draws_kept(tiny_model_dir):
    """Trained to answer "." twice as often as "Хорошо": greedy says "." first, the guard redraws to words."""
    chat = chat_trained_on(tiny_model_dir, [(text, reply) for text in ECHOED for reply in (".", ".", "Хорошо")])
    settings = {**GREEDY, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0}
    histories = [["Добрый вечер.", text] for text in ECHOED]
    chat.max_redraws = 0
    replies, first_draws = chat.reply_batch_with_first_draws(histories, **settings)
    assert first_draws == ["."] * 4
    assert replies == [FALLBACK_REPLY] * 4, "a reply still wordless after the redraws is never shown"
    chat.max_redraws = 3
    replies, first_draws = chat.reply_batch_with_first_draws(histories, **settings)
    assert first_draws == ["."] * 4
    assert replies == ["Хорошо"] * 4


def test_chat_repl_keeps_going_through_stdin(tiny_model_dir):
    lines = "Привет!\nКак дела?\n/reset\nЧто нового?\n/quit\nэто уже не читается\n"
    result = subprocess.run(
        [sys.executable, "-m", "rugpt_chitchat.cli", "chat", "--checkpoint", str(tiny_model_dir), "--device", "cpu"],
        input=lines, capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr
    replies = [line for line in result.stdout.splitlines() if "bot: " in line]
    assert len(replies) == 3 and all(line.split("bot: ", 1)[1].strip() for line in replies)
    assert "(new dialogue)" in result.stdout


def test_chat_skips_a_line_it_cannot_decode_with_a_message_and_lines_without_visible_text(tiny_model_dir):
    lines = ("Привет!\n".encode() + "Как дела?\n".encode("cp1251") + "\x00\x07\u200b\u2060 \t\n".encode()
             + "Что нового?\n/quit\n".encode())  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "rugpt_chitchat.cli", "chat", "--checkpoint", str(tiny_model_dir), "--device", "cpu"],
        input=lines, capture_output=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, stderr
    assert len([line for line in stdout.splitlines() if "bot: " in line]) == 2  # the two lines of text, no more
    assert "(line 2 is not UTF-8 text: byte 0xca at position 0; it was skipped" in stderr and "Traceback" not in stderr


def test_a_checkpoint_with_nan_weights_is_refused_by_name(tiny_model_dir, tmp_path):
    """A diverged run's checkpoint fails at load with the file named, not later inside sampling."""
    shutil.copytree(tiny_model_dir, tmp_path, dirs_exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    with torch.no_grad():
        model.lm_head.weight[3, 5] = float("inf")
    model.save_pretrained(tmp_path)
    with pytest.raises(DataError, match=rf"{tmp_path}: 1 weight tensors hold NaN or inf \(first: .*wte.weight\)"):
        ChitChat.from_pretrained(str(tmp_path), device="cpu")


def test_serving_and_training_import_only_the_layers_below_them():
    """Serving needs the format and the tokenizer, not the data pipeline; training needs the format, not serving."""
    code = (
        "import sys, importlib\n"
        "importlib.import_module(sys.argv[1])\n"
        "print(' '.join(m for m in sys.argv[2:] if m in sys.modules))"
    )
    pipeline = ["datasets", "pyarrow", "rugpt_chitchat.data.samples", "rugpt_chitchat.data.readers"]
    for module, forbidden in [("rugpt_chitchat.serving.generation", pipeline), ("rugpt_chitchat.training.finetune", ["rugpt_chitchat.serving.generation"])]:
        result = subprocess.run([sys.executable, "-c", code, module, *forbidden], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and result.stdout.strip() == "", (module, result.stdout, result.stderr[-500:])
