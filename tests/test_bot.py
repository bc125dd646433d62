"""The real bot (Dispatcher, long polling or webhook over HTTP) against a fake Bot API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from contextlib import suppress

import pytest

from bot_harness import (
    SECRET, TOKEN, EchoChitChat, bot_process, bot_script, free_port, redis_server_or_skip, running_bot, say, wait_until,
)  # fmt: skip
from fake_telegram import FakeTelegram
from rugpt_chitchat.serving.bot import BotSettings, ReplyBatcher, build_bot, build_dispatcher, serve
from rugpt_chitchat.serving.bot.handlers import APOLOGY, GREETING, HELP, RESET_DONE, TEXT_ONLY
from rugpt_chitchat.serving.bot.middlewares import NOT_ALLOWED
from rugpt_chitchat.cli import main

async def test_start_greets_and_help_explains():
    async with running_bot(EchoChitChat()) as fake:
        assert await say(fake, 1, "/start") == GREETING
        assert await say(fake, 1, "/help") == HELP


async def test_history_is_kept_per_chat_and_cleared_by_reset():
    chitchat = EchoChitChat(max_history=2, max_chars=20)
    async with running_bot(chitchat) as fake:
        assert await say(fake, 1, "a") == "re:a"
        assert await say(fake, 2, "x") == "re:x"
        assert await say(fake, 1, "b") == "re:a|re:a|b"
        # only the last max_history=2 utterances come before the new one
        assert await say(fake, 1, "c") == "re:b|re:a|re:a|b|c"
        assert await say(fake, 2, "y") == "re:x|re:x|y"
        assert await say(fake, 1, "/reset") == RESET_DONE
        assert await say(fake, 1, "d") == "re:d"
        assert await say(fake, 2, "z") == "re:y|re:x|re:x|y|z"
        assert await say(fake, 3, "ы" * 50) == "re:" + "ы" * 20  # an overlong message is truncated
        assert {call.params["action"] for call in fake.sent("sendChatAction", 1)} == {"typing"}


async def test_ten_chats_ten_messages_at_once_are_all_answered_in_batches():
    chitchat = EchoChitChat(max_history=2)
    async with running_bot(chitchat, rate_limit="off", max_batch_size=16, max_wait_ms=20) as fake:
        chats = range(100, 110)
        for turn in range(10):
            for chat in chats:
                fake.push_message(chat, f"c{chat}m{turn}")
        for chat in chats:
            replies = await fake.wait_for_texts(chat, 10, timeout=30)
            # each chat's messages are answered in order, each seeing the previous turn
            assert [reply.split("|")[-1].removeprefix("re:") for reply in replies] == [f"c{chat}m{t}" for t in range(10)]
            assert all(f"c{chat}m{t - 1}" in replies[t] for t in range(1, 10))
    assert sum(chitchat.batch_sizes) == 100
    assert max(chitchat.batch_sizes) > 1
    assert len(chitchat.batch_sizes) < 100


async def test_sticker_and_photo_get_a_polite_text_answer():
    chitchat = EchoChitChat()
    async with running_bot(chitchat) as fake:
        sticker = {"file_id": "s1", "file_unique_id": "u1", "type": "regular", "width": 512, "height": 512,
                   "is_animated": False, "is_video": False}
        fake.push_message(5, sticker=sticker)
        assert await fake.wait_for_texts(5, 1) == [TEXT_ONLY]
        fake.push_message(5, photo=[{"file_id": "p1", "file_unique_id": "u2", "width": 90, "height": 90}])
        assert await fake.wait_for_texts(5, 2) == [TEXT_ONLY, TEXT_ONLY]
    assert chitchat.seen == []


async def test_failed_generation_apologises_and_the_bot_goes_on():
    async with running_bot(EchoChitChat()) as fake:
        assert await say(fake, 9, "boom") == APOLOGY
        assert await say(fake, 9, "hello") == "re:hello"  # the failed turn left no history


async def test_allow_list_refuses_other_users():
    chitchat = EchoChitChat()
    async with running_bot(chitchat, allow_user=[1]) as fake:
        assert await say(fake, 2, "hi") == NOT_ALLOWED
        assert await say(fake, 1, "hi") == "re:hi"
    assert chitchat.seen == [["hi"]]


async def test_rate_limit_answers_a_flood_in_a_friendly_way():
    chitchat = EchoChitChat(max_history=0)
    async with running_bot(chitchat, rate_limit="2/60") as fake:
        answers = [await say(fake, 4, text) for text in ("one", "two", "three")]
        assert answers[:2] == ["re:one", "re:two"]
        assert "Не так быстро" in answers[2]
        assert await say(fake, 4, "/help") == HELP  # commands do not reach the model, so they are not limited
        assert await say(fake, 8, "other chat") == "re:other chat"
    assert len(chitchat.seen) == 3


async def test_flood_control_on_send_message_is_waited_out_and_the_reply_delivered():
    async with running_bot(EchoChitChat()) as fake:
        fake.flood("sendMessage", retry_after=1)
        fake.push_message(6, "hi")
        assert await fake.wait_for_texts(6, 1, timeout=5) == ["re:hi"]
        refused, delivered = fake.sent("sendMessage", 6)
        assert delivered.at - refused.at >= 0.95


async def test_token_never_reaches_the_logs_even_in_errors_quoting_urls(caplog):
    caplog.set_level(logging.DEBUG)
    async with running_bot(EchoChitChat()) as fake:
        fake.redirect("getUpdates", times=11)  # aiohttp gives up with an error quoting the URL (and token)
        await asyncio.sleep(1.5)
        assert await say(fake, 3, "hi") == "re:hi"
    assert "TooManyRedirects" in caplog.text and "<token>" in caplog.text
    assert SECRET not in caplog.text
    assert all(SECRET not in record.getMessage() for record in caplog.records)


async def test_webhook_mode_receives_updates_replies_and_answers_the_posts_in_flight_when_stopped():
    fake = FakeTelegram(TOKEN)
    port = free_port()
    settings = BotSettings(
        api_server=await fake.start(), webhook_url=f"http://127.0.0.1:{port}/telegram",
        webhook_host="127.0.0.1", webhook_port=port,
    )
    chitchat = EchoChitChat(cost=1.0)
    server = asyncio.create_task(serve(build_bot(TOKEN, settings), build_dispatcher(chitchat, settings), settings, handle_signals=False))
    try:
        await wait_until(lambda: fake.webhook is not None, what="the webhook set")
        assert fake.webhook["secret_token"]
        assert await say(fake, 11, "hi") == "re:hi"
        fake.push_message(12, "in flight")
        await wait_until(lambda: ["in flight"] in chitchat.seen, what="the reply being generated")
    finally:
        server.cancel()  # as SIGTERM does: stop taking posts, answer those in flight, then shut down
        with suppress(asyncio.CancelledError):
            await server
        await fake.stop()
    assert fake.texts_to(12) == ["re:in flight"]


async def test_bot_command_serves_a_real_checkpoint_and_collects_its_ratings(tiny_model_dir, tmp_path, capsys):
    """`rugpt-chitchat bot --checkpoint DIR --feedback` end to end: the real ChitChat behind the real bot, token
    from a file, a 👍 stored under the checkpoint's name and reported by `feedback report`."""
    token_file, db = tmp_path / "token", tmp_path / "feedback.sqlite3"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    fake = FakeTelegram(TOKEN)
    base_url = await fake.start()
    command = ["-m", "rugpt_chitchat.cli", "bot", "--checkpoint", str(tiny_model_dir), "--device", "cpu",
               "--api_server", base_url, "--token_file", str(token_file), "--feedback", "--feedback_db", str(db)]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "TELEGRAM_BOT_TOKEN"}
    async with bot_process(fake, *command, env=env) as (process, output):
        reply = await say(fake, 5, "Привет, как дела?", timeout=60)  # the process loads torch and the model first
        assert reply.strip() and reply != APOLOGY and reply != "Привет, как дела?"
        reply_id = max(message_id for chat, message_id in fake.messages if chat == 5)
        fake.push_callback(5, reply_id, "rate:1")
        await wait_until(lambda: fake.sent("editMessageReplyMarkup"), what="the rating acknowledged")
        assert await say(fake, 5, "/reset") == RESET_DONE
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    assert SECRET not in output.decode()
    main(["feedback", "report", str(db)])
    assert f"| {tiny_model_dir} | 1 | 1 | 100.0% |" in capsys.readouterr().out


async def test_batcher_bounds_batches_and_keeps_the_event_loop_free():
    chitchat = EchoChitChat(cost=0.3)
    batcher = ReplyBatcher(chitchat.reply_batch, max_batch_size=3, max_wait=0.01)
    await batcher.start()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    replies = await asyncio.gather(*(batcher.reply([f"m{i}"]) for i in range(7)))
    ticker.cancel()
    await batcher.stop()
    assert replies == [f"re:m{i}" for i in range(7)]
    assert chitchat.batch_sizes == [3, 3, 1]
    assert ticks > 20  # ~0.9 s of generation in a thread; a blocked loop would not tick at all


async def test_stopping_the_batcher_releases_callers_queued_and_mid_generation():
    batcher = ReplyBatcher(EchoChitChat(cost=1.0).reply_batch, max_batch_size=1, max_wait=0.0)
    await batcher.start()
    generating = asyncio.create_task(batcher.reply(["first"]))
    await asyncio.sleep(0.2)
    queued = asyncio.create_task(batcher.reply(["second"]))
    await asyncio.sleep(0.05)
    await batcher.stop()
    for caller in (generating, queued):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(caller, 0.5)  # released at once, not left waiting forever


@pytest.fixture
def redis_url(tmp_path):
    """A redis-server of the test's own, so RedisStorage is tested for real."""
    server = redis_server_or_skip(tmp_path)
    try:
        yield server.url
    finally:
        server.stop()


async def test_redis_keeps_history_per_chat_and_reset_clears_it(redis_url):
    async with running_bot(EchoChitChat(max_history=2), redis=redis_url) as fake:
        assert await say(fake, 1, "a") == "re:a"
        assert await say(fake, 2, "x") == "re:x"
        assert await say(fake, 1, "b") == "re:a|re:a|b"
        assert await say(fake, 1, "c") == "re:b|re:a|re:a|b|c"
        assert await say(fake, 1, "/reset") == RESET_DONE
        assert await say(fake, 1, "d") == "re:d"
        assert await say(fake, 2, "y") == "re:x|re:x|y"


async def test_redis_history_survives_a_bot_restart_and_the_bot_closes_its_connections(redis_url):
    """The point of Redis: a bot restarted on the same URL carries on every conversation."""
    import redis.asyncio

    async with running_bot(EchoChitChat(max_history=2), redis=redis_url) as fake:
        assert await say(fake, 1, "a") == "re:a"
        assert await say(fake, 2, "x") == "re:x"
    async with redis.asyncio.Redis.from_url(redis_url, decode_responses=True) as client:
        # FSMStrategy.CHAT keys by chat for both chat and user; the per-chat locks are released and gone
        assert sorted(await client.keys("*")) == ["fsm:1:1:data", "fsm:2:2:data"]
        assert json.loads(await client.get("fsm:1:1:data")) == {"history": ["a", "re:a"]}
        assert len(await client.client_list()) == 1  # the stopped bot closed its storage: only this client is left
    async with running_bot(EchoChitChat(max_history=2), redis=redis_url) as fake:
        assert await say(fake, 1, "b") == "re:a|re:a|b"
        assert await say(fake, 2, "/reset") == RESET_DONE
    async with redis.asyncio.Redis.from_url(redis_url, decode_responses=True) as client:
        assert await client.keys("*") == ["fsm:1:1:data"]  # an emptied history is deleted, not stored as {}


async def test_redis_isolation_serialises_each_of_five_chats_sending_four_messages_at_once(redis_url):
    """Each chat's updates run one at a time, in order, under the Redis lock, each seeing the history the one before left."""
    chitchat = EchoChitChat(max_history=2)
    async with running_bot(chitchat, redis=redis_url, rate_limit="off", max_batch_size=16, max_wait_ms=20) as fake:
        chats = range(200, 205)
        for turn in range(4):
            for chat in chats:
                fake.push_message(chat, f"c{chat}m{turn}")
        for chat in chats:
            replies = await fake.wait_for_texts(chat, 4, timeout=30)
            turns = [seen for seen in chitchat.seen if seen[-1].startswith(f"c{chat}m")]
            assert [seen[-1] for seen in turns] == [f"c{chat}m{t}" for t in range(4)]
            history = []
            for seen in turns:  # in the order they ran: no turn lost or saw a stale history
                assert seen[:-1] == history
                history = [seen[-1], "re:" + "|".join(seen)]
            assert replies == ["re:" + "|".join(seen) for seen in turns]
    assert sum(chitchat.batch_sizes) == 20
    assert max(chitchat.batch_sizes) > 1  # chats still share batches


GROUP = -1001


async def test_service_messages_get_no_reply():
    chitchat = EchoChitChat()
    async with running_bot(chitchat) as fake:
        joined = {"new_chat_members": [{"id": 77, "is_bot": False, "first_name": "new"}]}
        fake.push_message(GROUP, chat_type="supergroup", **joined)
        fake.push_message(GROUP, chat_type="supergroup", left_chat_member={"id": 78, "is_bot": False, "first_name": "gone"})
        fake.push_message(GROUP, chat_type="supergroup", new_chat_title="Новое название")
        fake.push_message(5, pinned_message={"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}})
        assert await say(fake, 5, "hi") == "re:hi"  # answered after the service messages, which got nothing
        assert fake.texts_to(GROUP) == [] and fake.texts_to(5) == ["re:hi"]
    assert chitchat.seen == [["hi"]]


async def test_in_a_group_the_bot_answers_only_when_addressed_and_reads_the_rest_into_the_history():
    chitchat = EchoChitChat(max_history=3, max_chars=40)
    async with running_bot(chitchat) as fake:
        for text in ("всем привет", "кто идёт в кино?", "/help@other_bot"):
            fake.push_message(GROUP, text, chat_type="group", user_id=2)
        fake.push_message(GROUP, chat_type="group", user_id=2, sticker={
            "file_id": "s1", "file_unique_id": "u1", "type": "regular", "width": 512, "height": 512,
            "is_animated": False, "is_video": False})  # fmt: skip
        # mentioned: the model reads the last turns it overheard, without the mention itself
        assert await say(fake, GROUP, "@chitchat_test_bot а ты?", chat_type="group", user_id=3) == \
            "re:всем привет|кто идёт в кино?|/help@other_bot|а ты?"
        bot_message = max(message_id for chat, message_id in fake.messages if chat == GROUP)
        answer = await say(fake, GROUP, "почему?", chat_type="group", user_id=2, reply_to=bot_message)
        assert answer.endswith("|почему?")  # a reply to the bot is addressed to it
        assert await say(fake, GROUP, "/help", chat_type="group") == HELP
        assert await say(fake, GROUP, "/help@chitchat_test_bot", chat_type="group") == HELP
        fake.push_message(GROUP, "просто болтаем", chat_type="group", user_id=2)
        assert await say(fake, 9, "private") == "re:private"  # private chats: every message, their own history
        assert len(fake.texts_to(GROUP)) == 4
        replied = [json.loads(call.params["reply_parameters"])["message_id"] for call in fake.sent("sendMessage", GROUP)]
        assert len(replied) == 4  # in a group every answer quotes the message it answers


async def test_redis_histories_expire_after_history_ttl(redis_url):
    import redis.asyncio

    async with running_bot(EchoChitChat(max_history=2), redis=redis_url, history_ttl=1) as fake:
        assert await say(fake, 1, "a") == "re:a"
        async with redis.asyncio.Redis.from_url(redis_url) as client:
            assert 0 < await client.pttl("fsm:1:1:data") <= 1000
        assert await say(fake, 1, "b") == "re:a|re:a|b"  # within the ttl: remembered, and the ttl starts again
        await asyncio.sleep(1.2)
        assert await say(fake, 1, "c") == "re:c"  # forgotten


async def test_redis_lock_of_a_killed_bot_is_free_again_within_its_lease(redis_url):
    """A bot killed mid-reply leaves its chat's lock in Redis; the next bot answers that chat within the lease."""
    import redis.asyncio

    fake = FakeTelegram(TOKEN)
    settings = json.dumps({"redis": redis_url, "redis_lock_lease": 1.0, "cost": 60})
    async with bot_process(fake, *bot_script(await fake.start(), settings)) as (process, _):
        fake.push_message(21, "never answered")
        async with redis.asyncio.Redis.from_url(redis_url) as client:
            await wait_until(lambda: client.exists("fsm:21:21:lock"), timeout=60, what="the lock taken")
            process.kill()
            await process.wait()
            assert await client.exists("fsm:21:21:lock")  # left behind by the killed bot
    async with running_bot(EchoChitChat(), redis=redis_url, redis_lock_lease=1.0) as fake:
        started = time.monotonic()
        assert await say(fake, 21, "hello again", timeout=5) == "re:hello again"
        assert time.monotonic() - started < 2.0


async def test_redis_lock_is_renewed_while_a_reply_takes_longer_than_its_lease(redis_url, caplog):
    import redis.asyncio

    async with running_bot(EchoChitChat(cost=1.5), redis=redis_url, redis_lock_lease=0.3) as fake:
        fake.push_message(22, "slow")
        async with redis.asyncio.Redis.from_url(redis_url) as client:
            await wait_until(lambda: client.exists("fsm:22:22:lock"), what="the lock taken")
            await asyncio.sleep(1.0)  # more than three leases
            assert await client.exists("fsm:22:22:lock")
        assert await fake.wait_for_texts(22, 1) == ["re:slow"]
    assert "LockNotOwned" not in caplog.text and "Traceback" not in caplog.text
