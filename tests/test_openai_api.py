"""The OpenAI-compatible API (`rugpt-chitchat serve`) on 127.0.0.1, driven by the official `openai` client."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from bot_harness import free_port
from rugpt_chitchat.serving.api import SYSTEM_NOTE, ChatApi
from rugpt_chitchat.serving.generation import ChitChat

openai = pytest.importorskip("openai", reason="the openai client is in the test extra: pip install -e '.[test]'")

KEY = "sk-test-0123456789abcdef"
SAMPLING = {"temperature": 0.9, "top_p": 0.95, "max_tokens": 24}
SAME_SAMPLING = {"do_sample": True, "temperature": 0.9, "top_p": 0.95, "max_new_tokens": 24}  # ChitChat's names


@pytest.fixture(scope="module")
def chat(tiny_model_dir) -> ChitChat:
    return ChitChat.from_pretrained(str(tiny_model_dir), device="cpu")


class CountingChitChat:
    """The real ChitChat, recording how many histories each `reply_batch` call drew."""

    def __init__(self, chat: ChitChat):
        self.chat, self.batch_sizes = chat, []

    def reply_batch(self, histories, **settings):
        self.batch_sizes.append(len(histories))
        return self.chat.reply_batch(histories, **settings)

    def __getattr__(self, name):
        return getattr(self.chat, name)


@asynccontextmanager
async def serving(models, api_key: str | None = KEY, **options):
    """The API on a free port; yields an AsyncOpenAI client talking to it."""
    api = ChatApi(models, api_key, **options)
    runner = web.AppRunner(api.app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=api_key or "none", max_retries=0)
    client.api = api
    try:
        yield client
    finally:
        await client.close()
        await runner.cleanup()


def history_messages(history: list[str]) -> list[dict]:
    roles = ["user", "assistant"] if len(history) % 2 else ["assistant", "user"]
    return [{"role": roles[i % 2], "content": text} for i, text in enumerate(history)]


HISTORY = ["Привет! Как дела?", "Хорошо, а у тебя?", "Тоже неплохо. Что делаешь вечером?"]


async def test_reply_equals_chitchat_reply_under_the_same_seed(chat):
    async with serving({"tiny": chat}) as client:
        for seed in (1, 2, 3):
            expected = chat.reply(HISTORY, seed=seed, **SAME_SAMPLING)
            answer = await client.chat.completions.create(
                model="tiny", messages=history_messages(HISTORY), seed=seed, **SAMPLING
            )
            assert answer.choices[0].message.content == expected
            assert answer.choices[0].finish_reason == "stop"
            assert answer.usage.prompt_tokens == len(chat.prompt_ids(HISTORY, 24)["input_ids"])
            assert answer.usage.completion_tokens == chat.count_tokens(expected)


async def test_streamed_deltas_add_up_to_the_reply_under_the_same_seed(chat):
    async with serving({"tiny": chat}) as client:
        for seed in range(6):
            expected = chat.reply(HISTORY, seed=seed, **SAME_SAMPLING)
            stream = await client.chat.completions.create(
                model="tiny", messages=history_messages(HISTORY), seed=seed, stream=True,
                stream_options={"include_usage": True}, **SAMPLING,
            )
            chunks = [chunk async for chunk in stream]
            deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
            assert "".join(deltas) == expected
            assert chunks[0].choices[0].delta.role == "assistant"
            assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
            assert chunks[-1].usage.completion_tokens == chat.count_tokens(expected)


async def test_fifty_concurrent_clients_all_get_their_replies_in_shared_batches(chat):
    counting = CountingChitChat(chat)
    histories = [[f"Сообщение номер {i}. Как тебе погода?"] for i in range(50)]
    greedy = {"do_sample": False, "max_new_tokens": 12}
    expected = chat.reply_batch(histories, **greedy)  # greedy batched rows equal one-by-one replies (test_generation)
    async with serving({"tiny": counting}, max_batch_size=16, max_wait=0.05) as client:

        async def ask(history, stream):
            request = {"model": "tiny", "messages": history_messages(history), "temperature": 0, "max_tokens": 12}
            if not stream:
                return (await client.chat.completions.create(**request)).choices[0].message.content
            chunks = [c async for c in await client.chat.completions.create(stream=True, **request)]
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

        replies = await asyncio.gather(*(ask(history, stream=i % 2 == 1) for i, history in enumerate(histories)))
    assert replies == expected
    assert sum(counting.batch_sizes) == 50
    assert max(counting.batch_sizes) > 1 and len(counting.batch_sizes) < 50


async def test_n_choices_share_one_batch_and_several_models_are_served_by_name(chat):
    first, second = CountingChitChat(chat), CountingChitChat(chat)
    async with serving({"first": first, "second": second}) as client:
        assert sorted(model.id for model in (await client.models.list()).data) == ["first", "second"]
        answer = await client.chat.completions.create(model="second", messages=history_messages(HISTORY), n=3, seed=5, **SAMPLING)
    assert [choice.index for choice in answer.choices] == [0, 1, 2]
    assert [c.message.content for c in answer.choices] == chat.reply_batch([HISTORY] * 3, seed=5, **SAME_SAMPLING)
    assert (first.batch_sizes, second.batch_sizes) == ([], [3])


async def test_system_message_is_ignored_with_a_note(chat):
    async with serving({"tiny": chat}) as client:
        messages = [{"role": "system", "content": "Ты пират."}, *history_messages(HISTORY)]
        raw = await client.chat.completions.with_raw_response.create(model="tiny", messages=messages, seed=4, **SAMPLING)
        assert raw.headers["X-Chitchat-Note"] == SYSTEM_NOTE
        assert raw.parse().choices[0].message.content == chat.reply(HISTORY, seed=4, **SAME_SAMPLING)


async def test_stop_strings_cut_the_reply(chat):
    async with serving({"tiny": chat}) as client:
        seed = 0
        full = chat.reply(HISTORY, seed=seed, **SAME_SAMPLING)
        stop = full.split()[1] if len(full.split()) > 1 else full[1:3]
        answer = await client.chat.completions.create(model="tiny", messages=history_messages(HISTORY), seed=seed, stop=[stop], **SAMPLING)
    assert answer.choices[0].message.content == full[: full.find(stop)].rstrip()


async def test_bad_requests_get_the_api_error_shape_and_status(chat):
    async with serving({"tiny": chat}) as client:
        with pytest.raises(openai.AuthenticationError) as error:
            await client.with_options(api_key="sk-wrong").models.list()
        assert error.value.code == "invalid_api_key"
        with pytest.raises(openai.NotFoundError) as error:
            await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert error.value.code == "model_not_found" and "tiny" in error.value.message
        bad = {
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
            "temperature": 5,
            "max_tokens": 1000,
            "n": 100,
            "stop": ["a", "b", "c", "d", "e"],
        }
        for field, value in bad.items():
            request = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], field: value}
            with pytest.raises(openai.BadRequestError) as error:
                await client.chat.completions.create(**request)
            assert error.value.body["param"] == field and error.value.body["type"] == "invalid_request_error"
        base = str(client.base_url).rstrip("/")
        headers = {"Authorization": f"Bearer {KEY}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.post(f"{base}/chat/completions", data=b"{not json") as response:
                assert response.status == 400
                assert (await response.json())["error"]["message"] == "the request body is not valid JSON"
            async with session.get(f"{base}/no/such/path") as response:
                assert response.status == 404 and (await response.json())["error"]["type"] == "invalid_request_error"
        # after all of that, the server still answers
        assert (await client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}])).choices


async def test_cli_serve_answers_and_never_logs_the_api_key(tiny_model_dir):
    port = free_port()
    env = {**os.environ, "RUGPT_CHITCHAT_API_KEY": KEY}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rugpt_chitchat.cli", "serve", "--checkpoint", f"tiny={tiny_model_dir}", "--device", "cpu",
        "--port", str(port), "--log_level", "debug", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                models = await client.models.list()
                break
            except openai.APIConnectionError:
                assert time.monotonic() < deadline and process.returncode is None, "serve did not come up"
                await asyncio.sleep(0.2)
        assert [model.id for model in models.data] == ["tiny"]
        answer = await client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Привет"}])
        assert answer.choices[0].message.content
        with pytest.raises(openai.AuthenticationError):
            await client.with_options(api_key=KEY[:-1] + "x").models.list()
    finally:
        await client.close()
        process.send_signal(signal.SIGINT)
        output = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
    assert "Serving tiny on http://127.0.0.1" in output
    assert KEY not in output
