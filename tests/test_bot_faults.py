"""No reply lost: the real bot against a fake Bot API server that fails (5xx, timeouts, down, 401, 429), and stopped mid-flight."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import time

import pytest

from bot_harness import (
    FAST_RETRIES, SECRET, TOKEN, EchoChitChat, bot_process, bot_script, free_port, redis_server_or_skip, running_bot, say,
    wait_until,
)  # fmt: skip
from fake_telegram import FakeTelegram
from rugpt_chitchat.serving.bot import BotSettings, BotStartError, build_bot, build_dispatcher, serve
from rugpt_chitchat.serving.bot.handlers import STORAGE_DOWN
from rugpt_chitchat.cli import main


async def test_a_send_message_failing_once_with_500_or_a_proxy_502_is_sent_again():
    async with running_bot(EchoChitChat(), **FAST_RETRIES) as fake:
        fake.fail("sendMessage", 500)
        assert await say(fake, 1, "a") == "re:a"
        fake.fail("sendMessage", 502)  # an HTML page, not Telegram's JSON
        assert await say(fake, 1, "b") == "re:a|re:a|b"
        assert len(fake.sent("sendMessage", 1)) == 4  # each refused once, then delivered
        assert fake.texts_to(1) == ["re:a", "re:a|re:a|b"]


async def test_a_send_message_timing_out_is_sent_again():
    async with running_bot(EchoChitChat(), **FAST_RETRIES) as fake:
        fake.delay("sendMessage", 2.0)  # the client gives up after its 1 s request timeout
        fake.push_message(2, "hi")
        assert await fake.wait_for_texts(2, 2) == ["re:hi", "re:hi"]  # the timed-out try reached the server too


async def test_a_reply_due_while_the_api_server_is_down_is_delivered_when_it_comes_back(caplog):
    caplog.set_level(logging.INFO)
    async with running_bot(EchoChitChat(cost=0.3), **FAST_RETRIES, retry_attempts=10) as fake:
        fake.push_message(3, "hi")
        await wait_until(lambda: 1 in fake.delivered, what="the message fetched")
        await fake.go_down()  # the reply is being generated; sendMessage and sendChatAction meet a closed port
        await asyncio.sleep(1.5)
        await fake.come_up()
        assert await fake.wait_for_texts(3, 1, timeout=20) == ["re:hi"]
        assert await say(fake, 3, "again") == "re:hi|re:hi|again"
    gc.collect()  # a task whose exception nobody retrieved is reported when it is collected
    assert "sendMessage failed (TelegramNetworkError" in caplog.text
    assert "Task exception was never retrieved" not in caplog.text
    assert "Reply lost" not in caplog.text


async def test_a_reply_failing_past_the_retries_is_logged_as_lost_with_its_chat_and_the_bot_goes_on(caplog):
    caplog.set_level(logging.INFO)
    async with running_bot(EchoChitChat(), **FAST_RETRIES, retry_attempts=3) as fake:
        fake.fail("sendMessage", 500, times=3)
        fake.push_message(4, "lost")
        await wait_until(lambda: len(fake.sent("sendMessage", 4)) == 3, what="three tries")
        assert await say(fake, 5, "other chat") == "re:other chat"
        assert await say(fake, 4, "next") == "re:next"  # the lost turn left no history
        assert len(fake.sent("sendMessage", 4)) == 4 and fake.texts_to(4) == ["re:next"]
    lost = [record.getMessage() for record in caplog.records if "Reply lost" in record.getMessage()]
    assert lost == ["Reply lost: sendMessage to chat 4 failed 3 times (TelegramServerError: "
                    "Telegram server says - Internal Server Error)"]
    assert "Traceback" not in caplog.text


async def test_chat_actions_failing_or_hanging_neither_delay_the_reply_nor_leave_task_exceptions(caplog):
    caplog.set_level(logging.DEBUG)
    async with running_bot(EchoChitChat(cost=0.2), **FAST_RETRIES) as fake:
        fake.fail("sendChatAction", 500, times=2)
        assert await say(fake, 6, "a") == "re:a"
        assert await say(fake, 7, "b") == "re:b"
        fake.delay("sendChatAction", 2.5)
        fake.push_message(8, "c")
        started = time.monotonic()
        assert await fake.wait_for_texts(8, 1) == ["re:c"]
        assert time.monotonic() - started < 1.5  # not held up by the hanging "typing…"
    gc.collect()
    assert "Task exception was never retrieved" not in caplog.text
    assert len(fake.sent("sendChatAction")) == 3  # tried once each, never retried


async def test_flood_control_is_waited_out_and_getupdates_failures_are_polled_through():
    async with running_bot(EchoChitChat(), **FAST_RETRIES) as fake:
        fake.fail("getUpdates", 500, times=2)
        fake.flood("sendMessage", retry_after=1)
        fake.push_message(9, "hi")
        assert await fake.wait_for_texts(9, 1, timeout=15) == ["re:hi"]
        assert len(fake.sent("sendMessage", 9)) == 2


async def test_a_rejected_token_at_start_is_a_start_error_with_the_session_closed(caplog):
    caplog.set_level(logging.DEBUG)
    fake = FakeTelegram(TOKEN)
    settings = BotSettings(api_server=await fake.start(), **FAST_RETRIES)
    try:
        for failing in ("deleteWebhook", "getMe"):
            bot, dispatcher = build_bot(TOKEN, settings), build_dispatcher(EchoChitChat(), settings)
            fake.fail(failing, 401)
            with pytest.raises(BotStartError, match="rejected the bot token") as error:
                await serve(bot, dispatcher, settings, handle_signals=False)
            assert error.value.__cause__ is None and error.value.__suppress_context__
            del bot, dispatcher
    finally:
        await fake.stop()
    gc.collect()  # an unclosed aiohttp session complains when collected
    assert "Unclosed" not in caplog.text
    assert len(fake.sent("deleteWebhook")) == 2 and len(fake.sent("getMe")) == 1  # a 401 is not retried


async def test_sigterm_answers_every_fetched_message_then_exits_0_fetching_no_more():
    fake = FakeTelegram(TOKEN)
    base_url = await fake.start()
    async with bot_process(fake, *bot_script(base_url, json.dumps({"cost": 1.0}))) as (process, output):
        assert await say(fake, 1, "warm-up", timeout=30) == "re:warm-up"
        in_flight = {(11, "a"), (12, "b"), (13, "c"), (11, "d")}  # chat 11's second waits for its first
        ids = [fake.push_message(chat, text) for chat, text in sorted(in_flight)]
        # fetched, and the next long poll waiting
        await wait_until(lambda: fake.confirmed_offset > max(ids), what="the messages fetched")
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(0.3)
        late = fake.push_message(14, "too late")
        assert await asyncio.wait_for(process.wait(), 15) == 0
    answered = {(int(call.params["chat_id"]), call.params["text"].removeprefix("re:")) for call in fake.sent("sendMessage")}
    assert in_flight <= answered
    assert late not in fake.delivered and fake.confirmed_offset <= late  # Telegram keeps it for the next bot
    assert all(call.at < signalled for call in fake.sent("getUpdates"))
    log = output.decode()
    assert "Received SIGTERM" in log and "answering" in log and "Reply lost" not in log
    assert SECRET not in log


async def test_stopping_gives_up_after_shutdown_timeout_and_logs_each_lost_reply(caplog):
    caplog.set_level(logging.INFO)
    async with running_bot(EchoChitChat(cost=3.0), shutdown_timeout=0.5) as fake:
        update = fake.push_message(15, "slow")
        await wait_until(lambda: update in fake.delivered, what="the message fetched")
        started = time.monotonic()
        await fake.dispatcher.stop_gracefully(0.5)
        assert time.monotonic() - started < 1.5
    assert f"Reply lost: update {update} of chat 15 not answered within the 0.5 s shutdown timeout" in caplog.text


async def test_polling_stops_whenever_the_cancel_meets_the_abandoned_long_poll():
    """The stop may cancel polling at any step of abandoning its long poll: it must never be swallowed there."""
    for steps in range(8):
        async with running_bot(EchoChitChat(), shutdown_timeout=1) as fake:
            await wait_until(lambda: not fake.sent("getUpdates")[-1].ok, what="a long poll waiting")
            fake.dispatcher.fetched.closed.set()
            for _ in range(steps):
                await asyncio.sleep(0)
            await asyncio.wait_for(fake.dispatcher.stop_polling(), 2)


ALL_FAULTS = ("500", "502", "timeout", "429", "redirects", "down")


async def test_token_appears_in_no_byte_the_bot_process_writes_whatever_the_api_does():
    """A bot process meets every fault above, logging at DEBUG; its whole output is searched for the token."""
    fake = FakeTelegram(TOKEN)
    base_url = await fake.start()
    settings = json.dumps({"retry_first_delay": 0.05, "request_timeout": 1.0, "retry_attempts": 10})
    async with bot_process(fake, *bot_script(base_url, settings)) as (process, output):
        assert await say(fake, 1, "start", timeout=30) == "re:start"
        for turn, fault in enumerate(ALL_FAULTS):
            if fault == "down":
                fake.push_message(1, fault)
                await fake.go_down()
                await asyncio.sleep(1.0)
                await fake.come_up()
            else:
                {"500": lambda: fake.fail("sendMessage", 500), "502": lambda: fake.fail("sendMessage", 502),
                 "timeout": lambda: fake.delay("sendMessage", 2.0), "429": lambda: fake.flood("sendMessage", 1),
                 "redirects": lambda: fake.redirect("getUpdates", 11)}[fault]()  # fmt: skip
                fake.push_message(1, fault)
            texts = await fake.wait_for_texts(1, len(fake.texts_to(1)) + 1, timeout=30)
            while f"re:{fault}" not in texts:
                texts = await fake.wait_for_texts(1, len(texts) + 1, timeout=30)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    log = output.decode()
    assert "TooManyRedirects" in log and "<token>" in log and "Cannot connect to host" in log
    assert SECRET not in log


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    return path


def cli_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "TELEGRAM_BOT_TOKEN"}


async def test_cli_refuses_a_rejected_token_in_one_line_with_status_2(tiny_model_dir, token_file):
    fake = FakeTelegram("654321:AnotherBotsToken")  # our token is not this server's: every call is a 401
    command = ["-m", "rugpt_chitchat.cli", "bot", "--checkpoint", str(tiny_model_dir), "--device", "cpu",
               "--api_server", await fake.start(), "--token_file", str(token_file)]  # fmt: skip
    async with bot_process(fake, *command, env=cli_env()) as (process, output):
        assert await asyncio.wait_for(process.wait(), 60) == 2
    log = output.decode()
    assert f"\nerror: {fake.base_url}: the Bot API rejected the bot token; check TELEGRAM_BOT_TOKEN or --token_file\n" in log
    assert "Traceback" not in log and "Unclosed" not in log
    assert SECRET not in log


def test_cli_gives_up_on_an_unreachable_api_after_logged_retries_with_status_2(tiny_model_dir, token_file, capsys, caplog):
    caplog.set_level(logging.INFO)
    api = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(SystemExit) as exit_:
        main(["bot", "--checkpoint", str(tiny_model_dir), "--device", "cpu", "--api_server", api,
              "--token_file", str(token_file), "--retry_attempts", "3", "--retry_first_delay", "0.1"])  # fmt: skip
    assert exit_.value.code == 2
    assert caplog.text.count("deleteWebhook failed (TelegramNetworkError") == 2  # tries 2 and 3 announced
    error = capsys.readouterr().err  # the progress bar of loading the model, then the error
    assert f"error: {api}: no answer after 3 tries (TelegramNetworkError: " in error
    assert "check --api_server and the network" in error
    gc.collect()
    assert "Traceback" not in caplog.text + error and "Unclosed" not in caplog.text
    assert SECRET not in caplog.text + error


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--checkpoint", "x", "--rate_limit", "3"], "error: command line: --rate_limit: expected MESSAGES/SECONDS"),
        (["--checkpoint", "x", "--history_ttl", "60"], "error: command line: --history_ttl needs --redis"),
        (["--checkpoint", "x", "--redis", "http://:pw@host/0"], "error: command line: --redis: expected a URL such as"),
        (["--checkpoint", "x", "--no_such_option", "1"], "error: command line: unknown arguments --no_such_option 1"),
        (["--checkpoint", "x", "--token_file", "/no/such/file"], "error: /no/such/file: token file not found"),
        (["--checkpoint", "x"], "error: TELEGRAM_BOT_TOKEN: no bot token"),
        # refused before the token is read or any model loads (these checkpoints do not even exist)
        (["--checkpoint", "/no/a", "/no/a"], "error: checkpoint: /no/a named more than once"),
        (["--checkpoint", "/no/a", "--checkpoint", "/no/b", "--checkpoint", "/no/a"], "/no/a named more than once"),
        (["--checkpoint", "/no/a", "/no/b", "--ab_weights", "nan", "1"], "error: ab_weights: expected 2 finite positive"),
        (["--checkpoint", "/no/a", "/no/b", "--ab_weights", "inf", "1"], "error: ab_weights: expected 2 finite positive"),
        (["--checkpoint", "/no/a", "/no/b", "--ab_weights", "0", "1"], "error: ab_weights: expected 2 finite positive"),
        (["--checkpoint", "/no/a", "--checkpoint", "/no/b", "--ab_weights", "1"], "(/no/a, /no/b); got 1.0"),
        ([], "the following arguments are required: --checkpoint"),
    ],
)
def test_cli_bad_arguments_are_an_error_line_and_status_2(arguments, message, capsys, monkeypatch):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["bot", *arguments])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


@pytest.fixture
def redis_server(tmp_path):
    server = redis_server_or_skip(tmp_path)
    try:
        yield server
    finally:
        server.stop()


async def test_messages_sent_while_redis_is_down_wait_and_are_all_answered_when_it_returns(redis_server, caplog):
    """redis-server is killed under a serving bot and started again: every message of the outage is answered."""
    caplog.set_level(logging.INFO)
    async with running_bot(EchoChitChat(), redis=redis_server.url, rate_limit="off", **FAST_RETRIES,
                           retry_attempts=12) as fake:  # fmt: skip
        assert await say(fake, 1, "before") == "re:before"
        await wait_until(lambda: not fake.dispatcher.fetched.unanswered, what="the history saved")
        redis_server.kill()
        during = [(chat, f"m{turn}") for turn in range(2) for chat in (1, 2, 3)]
        for chat, text in during:
            fake.push_message(chat, text)
        await asyncio.sleep(2.0)
        assert fake.texts_to(2) == fake.texts_to(3) == [] and fake.texts_to(1) == ["re:before"]  # waiting
        redis_server.start()  # empty: the histories before the crash are gone, the messages are not
        for chat in (1, 2, 3):
            texts = await fake.wait_for_texts(chat, 3 if chat == 1 else 2, timeout=30)
            assert [text.split("|")[-1].removeprefix("re:") for text in texts[-2:]] == ["m0", "m1"]  # answered, in order
        assert await say(fake, 4, "after") == "re:after"
    assert "Redis unavailable while locking chat" in caplog.text
    assert STORAGE_DOWN not in [call.params["text"] for call in fake.sent("sendMessage")]
    assert "Traceback" not in caplog.text and "Task exception was never retrieved" not in caplog.text


async def test_a_message_finding_redis_down_past_the_retries_gets_an_apology_and_the_bot_goes_on(redis_server, caplog):
    caplog.set_level(logging.INFO)
    async with running_bot(EchoChitChat(), redis=redis_server.url, **FAST_RETRIES, retry_attempts=3) as fake:
        assert await say(fake, 5, "hi") == "re:hi"
        await wait_until(lambda: not fake.dispatcher.fetched.unanswered, what="the history saved")
        redis_server.kill()
        assert await say(fake, 5, "anyone?") == STORAGE_DOWN
        redis_server.start()
        assert await say(fake, 5, "again") == "re:again"
    assert "Chat 5 gets an apology" in caplog.text and "Traceback" not in caplog.text


def test_cli_refuses_an_unreachable_redis_after_logged_retries_in_one_line_with_status_2(token_file, capsys, caplog):
    """Before any model loads: the checkpoint named does not even exist."""
    caplog.set_level(logging.INFO)
    port = free_port()  # nothing listens there
    with pytest.raises(SystemExit) as exit_:
        main(["bot", "--checkpoint", "/no/such/checkpoint", "--redis", f"redis://:pw123@127.0.0.1:{port}/0",
              "--token_file", str(token_file), "--retry_attempts", "3", "--retry_first_delay", "0.1"])  # fmt: skip
    assert exit_.value.code == 2
    assert caplog.text.count("Redis unavailable while connecting to redis://127.0.0.1") == 2
    error = capsys.readouterr().err
    assert f"error: redis://127.0.0.1:{port}/0: Redis gave no answer after 3 tries (ConnectionError: " in error
    assert "check --redis and that redis-server runs" in error
    assert "pw123" not in caplog.text + error and "Traceback" not in caplog.text + error


async def test_cli_serves_every_checkpoint_whichever_form_the_flag_takes_and_logs_each_share(tiny_model_dir, token_file,
                                                                                            tmp_path):
    other = tmp_path / "other-checkpoint"
    other.symlink_to(tiny_model_dir, target_is_directory=True)
    fake = FakeTelegram(TOKEN)
    command = ["-m", "rugpt_chitchat.cli", "bot", "--checkpoint", str(tiny_model_dir), "--checkpoint", str(other),
               "--ab_weights", "3", "--ab_weights", "1", "--device", "cpu", "--api_server", await fake.start(),
               "--token_file", str(token_file), "--polling_timeout", "1"]  # fmt: skip
    async with bot_process(fake, *command, env=cli_env()) as (process, output):
        await wait_until(lambda: fake.sent("getUpdates") or process.returncode is not None, timeout=60, what="polling")
        fake.push_message(1, "привет")
        await fake.wait_for_texts(1, 1, timeout=30)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    log = output.decode()
    assert f"Serving {tiny_model_dir} to 75.0 % of chats" in log and f"Serving {other} to 25.0 % of chats" in log
