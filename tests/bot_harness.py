"""The real bot against the fake Bot API server: in this process (`running_bot`) or as a child (`bot_process`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager

from fake_telegram import FakeTelegram
from rugpt_chitchat.serving.bot import BotSettings, build_bot, build_dispatcher, serve

TOKEN = "123456:AAHsecretPartOfTheTestToken_0123456789"
SECRET = TOKEN.split(":")[1]
FAST_RETRIES = {"retry_first_delay": 0.05, "request_timeout": 1.0}  # faults are seen and retried in a blink


class EchoChitChat:
    """Stand-in for ChitChat: each reply spells out the history it saw, so tests can check it.

    A batch containing the utterance "boom" fails, as a generation that raises would. Asked to stream
    (`on_text`), it shows each reply's first half, then takes its `cost` to finish.
    """

    def __init__(self, max_history: int = 2, max_chars: int = 20, cost: float = 0.005, prefix: str = "re:"):
        self.max_history = max_history
        self.max_chars = max_chars
        self.cost = cost
        self.prefix = prefix
        self.batch_sizes: list[int] = []
        self.seen: list[list[str]] = []

    def reply_batch(self, histories: list[list[str]], on_text=None, **generation_kwargs) -> list[str]:
        self.batch_sizes.append(len(histories))
        self.seen.extend(histories)
        replies = [self.prefix + "|".join(history) for history in histories]
        for row, reply in enumerate(replies if on_text else []):
            on_text(row, reply[: len(reply) // 2])
        time.sleep(self.cost)
        if any(history[-1] == "boom" for history in histories):
            raise RuntimeError("CUDA out of memory (pretend)")
        return replies

    def truncate_utterance(self, text: str) -> str:
        return text[: self.max_chars]


@asynccontextmanager
async def running_bot(chitchat, token: str = TOKEN, **settings_overrides):
    """A fake Bot API server and the bot long-polling it; yields the server (the bot's dispatcher as its
    `dispatcher` attribute), then drains and stops the bot."""
    fake = FakeTelegram(token)
    settings = BotSettings(api_server=await fake.start(), polling_timeout=1, **settings_overrides)
    bot, dispatcher = build_bot(token, settings), build_dispatcher(chitchat, settings)
    polling = asyncio.create_task(serve(bot, dispatcher, settings, handle_signals=False))
    fake.dispatcher = dispatcher
    try:
        while not fake.sent("getUpdates") and not polling.done():
            await asyncio.sleep(0.01)
        yield fake
    finally:
        try:  # a bot that does not stop fails the test instead of hanging it
            if not polling.done():
                await asyncio.wait_for(dispatcher.stop_gracefully(settings.shutdown_timeout), settings.shutdown_timeout + 5)
            await asyncio.wait_for(polling, 5)
        finally:
            await fake.stop()


async def say(fake: FakeTelegram, chat_id: int, text: str, timeout: float = 10.0, **message) -> str:
    """Push one message and return the bot's answer to it."""
    already = len(fake.texts_to(chat_id))
    fake.push_message(chat_id, text, **message)
    return (await fake.wait_for_texts(chat_id, already + 1, timeout))[-1]


async def wait_until(condition, timeout: float = 10.0, what: str = "the condition") -> None:
    """Poll `condition()` (sync or async) every 10 ms until it is true; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (await result if asyncio.iscoroutine(result := condition()) else result):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


BOT_PROCESS = """
import json, logging, sys, time
from rugpt_chitchat.serving.bot import BotSettings, read_token, run
logging.basicConfig(level=logging.DEBUG)
class Echo:
    max_history = 2
    def __init__(self, cost):
        self.cost = cost
    def reply_batch(self, histories, **settings):
        time.sleep(self.cost)
        return ["re:" + h[-1] for h in histories]
    def truncate_utterance(self, text):
        return text
settings = json.loads(sys.argv[2])
cost = settings.pop("cost", 0.0)
run(Echo(cost), BotSettings(api_server=sys.argv[1], polling_timeout=1, **settings), read_token())
"""


def bot_script(base_url: str, settings_json: str = "{}") -> tuple[str, ...]:
    """Arguments of `bot_process` for a bot child whose replier echoes ("re:" + text) after a `cost` in seconds."""
    return "-c", BOT_PROCESS, base_url, settings_json


@asynccontextmanager
async def bot_process(fake: FakeTelegram, *args: str, env: dict[str, str] | None = None):
    """`python *args` as a child process with stdout and stderr collected together; killed if still running,
    `fake` stopped, after. The default environment carries the token in TELEGRAM_BOT_TOKEN."""
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN} if env is None else env
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output = bytearray()
    reader = asyncio.create_task(_collect(process.stdout, output))
    try:
        yield process, output
    finally:
        if process.returncode is None:
            process.kill()
        await reader
        await fake.stop()


async def _collect(stream: asyncio.StreamReader, into: bytearray) -> None:
    while chunk := await stream.read(4096):
        into.extend(chunk)


class RedisServer:
    """A redis-server of the test's own (empty, no persistence) on a free loopback port, which a test may kill
    (SIGKILL, as a crash) and start again on the same port."""

    def __init__(self, directory):
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = os.path.join(self.directory, "redis.log")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--logfile", log],
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not _answers_ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not come up: {open(log, errors='replace').read()}")
            time.sleep(0.02)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16) == b"+PONG\r\n"
    except OSError:
        return False


def redis_server_or_skip(directory) -> RedisServer:
    """A started RedisServer; without redis-server on PATH the test is skipped (failed on CI, which must run it)."""
    import pytest

    if shutil.which("redis-server") is None:
        reason = "redis-server is not on PATH (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the Redis tests")
        pytest.skip(reason)
    server = RedisServer(directory)
    server.start()
    return server
