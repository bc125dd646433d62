"""Streaming: the word streamer on a real model, safe API deltas, and the bot's drafts against the fake Bot API server."""

from __future__ import annotations

import pytest
import torch

from bot_harness import EchoChitChat, running_bot, say, wait_until
from rugpt_chitchat.data.cleaning import clean_utterance
from rugpt_chitchat.serving.generation import ChitChat
from rugpt_chitchat.serving.streaming import SafeDeltas, WordStreamer


def test_word_streamer_sends_whole_words_per_row_and_stops_a_row_at_its_stop_token(tokenizer):
    rows = [tokenizer.encode(" Привет, как дела у тебя?"), tokenizer.encode(" Да так себе")]
    stop = tokenizer.eos_token_id
    seen: list[tuple[int, str]] = []
    streamer = WordStreamer(tokenizer.decode, lambda row, text: seen.append((row, text)), [stop])
    streamer.put(torch.zeros((2, 5), dtype=torch.long))  # the prompt: skipped
    width = max(map(len, rows)) + 3
    padded = [row + [stop] + [0] * (width - len(row) - 1) for row in rows]  # after the stop: padding, not text
    for step in range(width):
        streamer.put(torch.tensor([padded[0][step], padded[1][step]]))
    streamer.end()
    first = [text for row, text in seen if row == 0]
    second = [text for row, text in seen if row == 1]
    assert first == ["Привет,", "Привет, как", "Привет, как дела", "Привет, как дела у", "Привет, как дела у тебя?"]
    assert second == ["Да", "Да так", "Да так себе"]


def test_chitchat_streams_each_rows_first_draw_as_it_grows(tiny_model_dir):
    chat = ChitChat.from_pretrained(str(tiny_model_dir), device="cpu")
    histories = [["Привет! Как дела?"], ["Что нового?", "Ничего.", "Совсем ничего?"]]
    seen: dict[int, list[str]] = {0: [], 1: []}
    settings = {"do_sample": True, "max_new_tokens": 30, "seed": 3}
    replies, first_draws = chat.reply_batch_with_first_draws(histories, on_text=lambda row, text: seen[row].append(text), **settings)
    assert replies == chat.reply_batch(histories, **settings)  # streaming changes nothing drawn
    for row, texts in seen.items():
        assert len(texts) > 1, "a 30-token draw is streamed in more than one piece"
        assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))
        assert clean_utterance(texts[-1]).startswith(first_draws[row])  # the draw is its streamed text, maybe trimmed


def test_safe_deltas_let_out_whole_sentences_only_and_finish_with_the_rest():
    deltas = SafeDeltas(user="Как дела?")
    assert deltas.delta("Хорошо, спаси") == ""  # no sentence end: an unfinished reply may lose this
    assert deltas.delta("Хорошо, спасибо. А у") == "Хорошо, спасибо."
    assert deltas.delta("Хорошо, спасибо. А у тебя? Я") == " А у тебя?"
    assert deltas.finish("Хорошо, спасибо. А у тебя? Я рад.") == " Я рад."
    echo = SafeDeltas(user="Как дела? Что нового?")
    assert echo.delta("Как дела? Что") == ""  # may still turn out to repeat the user, and be redrawn
    stopped = SafeDeltas(user="Привет", stop=["STOP"])
    assert stopped.delta("Ага. Ну. STO") == "Ага. Ну."
    assert stopped.delta("Ага. Ну. STOP и дальше. Да.") == ""
    assert stopped.finish("Ага. Ну.") == ""


async def test_drafts_reach_the_server_before_the_final_message():
    async with running_bot(EchoChitChat(cost=0.6)) as fake:
        final = await say(fake, 1, "привет, как дела")
        drafts = fake.sent("sendMessageDraft", 1)
        message = fake.sent("sendMessage", 1)[-1]
    assert final == "re:привет, как дела"
    assert [call.params["text"] for call in drafts] == [final[: len(final) // 2]]
    assert drafts[0].at < message.at - 0.3  # shown while the rest was still being generated
    assert {call.params["action"] for call in fake.sent("sendChatAction", 1)} == {"typing"}


@pytest.mark.parametrize("status", [400, 404, 500])
async def test_refused_drafts_fall_back_to_typing_and_the_reply_arrives(status):
    async with running_bot(EchoChitChat(cost=0.3), retry_first_delay=0.05) as fake:
        fake.fail("sendMessageDraft", status, times=10)
        assert await say(fake, 2, "раз") == "re:раз"
        assert len(fake.sent("sendMessageDraft", 2)) == 1  # refused once: no more drafts, no retries
        assert fake.sent("sendChatAction", 2)
        assert await say(fake, 2, "два") == "re:раз|re:раз|два"


async def test_groups_and_stream_off_get_no_drafts():
    async with running_bot(EchoChitChat(cost=0.3)) as fake:
        assert await say(fake, -5, "@chitchat_test_bot привет", chat_type="group") == "re:привет"
        assert fake.sent("sendMessageDraft") == []
    async with running_bot(EchoChitChat(cost=0.3), stream=False) as fake:
        assert await say(fake, 3, "привет") == "re:привет"
        await wait_until(lambda: fake.sent("sendChatAction", 3), what="typing")
        assert fake.sent("sendMessageDraft") == []
