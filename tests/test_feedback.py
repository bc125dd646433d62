"""Ratings from users (👍/👎 presses through getUpdates) and A/B between models, with the real bot and the fake server."""

from __future__ import annotations

import collections
import json
import sqlite3

import pytest
from datasets import load_from_disk

from bot_harness import TOKEN, EchoChitChat, running_bot, say, wait_until
from rugpt_chitchat.serving.bot.feedback import CheckpointRating, FeedbackStore, difference_interval, report_markdown, wilson_interval
from rugpt_chitchat.serving.bot.handlers import NOT_RATABLE, THANKS
from rugpt_chitchat.serving.bot.models import ModelPool
from rugpt_chitchat.cli import main

BOT_ID = int(TOKEN.split(":")[0])


def buttons(call) -> list[tuple[str, str]]:
    markup = json.loads(call.params.get("reply_markup", "{}"))
    return [(button["text"], button["callback_data"]) for row in markup.get("inline_keyboard", []) for button in row]


async def press(fake, chat_id: int, message_id: int, data: str) -> str:
    """Push a button press and return the text the bot acknowledged it with."""
    already = len(fake.sent("answerCallbackQuery"))
    fake.push_callback(chat_id, message_id, data)
    await wait_until(lambda: len(fake.sent("answerCallbackQuery")) > already, what="answerCallbackQuery")
    return fake.sent("answerCallbackQuery")[already].params.get("text", "")


async def test_a_press_is_stored_with_what_the_model_saw_acknowledged_and_its_buttons_removed(tmp_path):
    db = tmp_path / "feedback.sqlite3"
    async with running_bot(EchoChitChat(), feedback=True, feedback_db=str(db)) as fake:
        assert await say(fake, 1, "привет") == "re:привет"
        assert await say(fake, 1, "как дела?") == "re:привет|re:привет|как дела?"
        first, second = fake.sent("sendMessage", 1)
        (like, like_data), (dislike, dislike_data) = buttons(second)
        assert (like, dislike) == ("👍", "👎") and buttons(first) == buttons(second)
        message_id = max(mid for chat, mid in fake.messages if chat == 1)

        assert await press(fake, 1, message_id, dislike_data) == THANKS
        await wait_until(lambda: fake.sent("editMessageReplyMarkup"), what="the buttons removed")
        assert "reply_markup" not in fake.messages[(1, message_id)]  # rated once: the buttons are gone
        assert await press(fake, 1, message_id - 2, like_data) == THANKS  # the first reply, rated later

        fake.push_message(2, "/start")  # a reply the model did not write carries no buttons
        await fake.wait_for_texts(2, 1)
        assert buttons(fake.sent("sendMessage", 2)[0]) == []
    rows = {row["reply"]: row for row in FeedbackStore(db).rated()}
    assert set(rows) == {"re:привет", "re:привет|re:привет|как дела?"}
    disliked = rows["re:привет|re:привет|как дела?"]
    assert disliked["history"] == ["привет", "re:привет", "как дела?"] and disliked["label"] is False
    assert disliked["chat_id"] == 1 and disliked["checkpoint"] == "default" and disliked["rated_at"] > 0
    assert rows["re:привет"]["label"] is True


async def test_a_press_on_a_reply_the_store_does_not_know_is_acknowledged_and_not_stored(tmp_path):
    db = tmp_path / "feedback.sqlite3"
    async with running_bot(EchoChitChat(), feedback=True, feedback_db=str(db)) as fake:
        fake.push_message(3, "/help")
        await fake.wait_for_texts(3, 1)
        help_message = max(mid for chat, mid in fake.messages if chat == 3)
        assert await press(fake, 3, help_message, "rate:1") == NOT_RATABLE
    assert FeedbackStore(db).rated() == []


async def test_without_feedback_replies_carry_no_buttons(tmp_path):
    async with running_bot(EchoChitChat(), feedback_db=str(tmp_path / "unused.sqlite3")) as fake:
        assert await say(fake, 4, "hi") == "re:hi"
        assert buttons(fake.sent("sendMessage", 4)[0]) == []
    assert not (tmp_path / "unused.sqlite3").exists()


def test_chats_are_split_between_models_by_a_stable_hash_in_the_given_shares():
    pool = ModelPool({"a": EchoChitChat(), "b": EchoChitChat()}, weights=[3, 1])
    again = ModelPool({"a": EchoChitChat(), "b": EchoChitChat()}, weights=[3, 1])
    chats = range(-5000, 5000)
    assigned = [pool.for_chat(chat).name for chat in chats]
    assert assigned == [again.for_chat(chat).name for chat in chats]  # the same in every process, every restart
    assert 0.73 < assigned.count("a") / len(assigned) < 0.77
    for weights in ([1], [0, 1], [float("nan"), 1], [float("inf"), 1], [-1, 2]):  # every model named is served
        with pytest.raises(ValueError, match="ab_weights: expected 2 finite positive shares"):
            ModelPool({"a": EchoChitChat(), "b": EchoChitChat()}, weights=weights)


async def test_ab_each_chat_talks_to_one_model_each_model_batches_alone_and_the_report_compares_them(tmp_path):
    db = tmp_path / "feedback.sqlite3"
    models = {"ckpt-a": EchoChitChat(prefix="A:"), "ckpt-b": EchoChitChat(prefix="B:")}
    chats = range(300, 316)
    async with running_bot(models, feedback=True, feedback_db=str(db), rate_limit="off", max_wait_ms=30) as fake:
        for turn in range(3):
            for chat in chats:
                fake.push_message(chat, f"m{turn}")
        for chat in chats:
            replies = await fake.wait_for_texts(chat, 3, timeout=30)
            model = {reply[0] for reply in replies}
            assert len(model) == 1  # a chat never changes model
            assert fake.dispatcher["models"].for_chat(chat).name == f"ckpt-{model.pop().lower()}"
        # A's replies liked, B's disliked
        for (chat, message_id), message in list(fake.messages.items()):
            if message.get("reply_markup"):
                liked = message["text"].startswith("A:")
                await press(fake, chat, message_id, buttons_of(message)[0 if liked else 1])
    for name, chitchat in models.items():
        assert sum(chitchat.batch_sizes) == 3 * sum(fake.dispatcher["models"].for_chat(c).name == name for c in chats)
        assert max(chitchat.batch_sizes) > 1  # each model batches its own chats
    rows = FeedbackStore(db).rated()
    assert {row["checkpoint"] for row in rows} == set(models) and len(rows) == 3 * len(chats)
    report = report_markdown(rows)
    a_rated = sum(row["checkpoint"] == "ckpt-a" for row in rows)
    assert f"| ckpt-a | {a_rated} | {a_rated} | 100.0% |" in report and "| ckpt-b |" in report
    assert "worse" in report.splitlines()[-1]


def buttons_of(message: dict) -> list[str]:
    return [button["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for button in row]


def test_wilson_and_difference_intervals_match_newcombes_published_values():
    # Newcombe (1998): Wilson 81/263 -> 0.2553-0.3662, 15/148 -> 0.0624-0.1605, 0/10 -> 0-0.2775;
    # the difference 56/70 - 48/80 = 0.2000 -> 0.0524-0.3339 (method 10)
    for (likes, total), expected in {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605), (0, 10): (0.0, 0.2775)}.items():
        assert wilson_interval(likes, total) == pytest.approx(expected, abs=1e-4)
    difference = difference_interval(CheckpointRating("a", 56, 70), CheckpointRating("b", 48, 80))
    assert difference == pytest.approx((0.2, 0.0524, 0.3339), abs=1e-4)


def rated_database(path, ratings: dict[str, list[bool]]) -> None:
    """A feedback file as the bot writes it: one reply per rating, then the press."""
    store = FeedbackStore(path)
    message_ids = collections.Counter()
    for checkpoint, labels in ratings.items():
        for label in labels:
            message_ids[1] += 1
            store.add_reply(BOT_ID, 1, message_ids[1], checkpoint, ["как дела?"], f"{checkpoint} reply {message_ids[1]}")
            assert store.rate(BOT_ID, 1, message_ids[1], label, user_id=1)
    store.add_reply(BOT_ID, 1, 999, "never-rated", ["эй"], "unrated reply")
    store.close()


def test_feedback_report_prints_like_rates_with_intervals_and_compares_checkpoints(tmp_path, capsys):
    db = tmp_path / "feedback.sqlite3"
    rated_database(db, {"base": [True] * 20 + [False] * 80, "new": [True] * 60 + [False] * 40})
    main(["feedback", "report", str(db)])
    report = capsys.readouterr().out
    assert "| base | 100 | 20 | 20.0% | 13.3% – 28.9% |" in report
    assert "| new | 100 | 60 | 60.0% | 50.2% – 69.1% |" in report
    assert "new vs base: +40.0% (95 % interval +26.8% to +51.2%): better" in report
    assert "never-rated" not in report


def test_feedback_export_writes_a_dataset_preference_training_can_read(tmp_path, capsys):
    db, out = tmp_path / "feedback.sqlite3", tmp_path / "preferences"
    rated_database(db, {"base": [True, False], "new": [True]})
    main(["feedback", "export", "--feedback_db", str(db), "--output_dir", str(out)])
    assert "3 rated replies (2 liked)" in capsys.readouterr().out
    dataset = load_from_disk(str(out))
    assert dataset.column_names == ["prompt", "reply", "label", "checkpoint"]
    assert dataset[0] == {"prompt": ["как дела?"], "reply": "base reply 1", "label": True, "checkpoint": "base"}
    assert dataset["label"] == [True, False, True]


@pytest.mark.parametrize("action", ["report", "export"])
def test_feedback_commands_refuse_a_missing_or_foreign_file_with_an_error_line(tmp_path, capsys, action):
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("not a database\n" * 100, encoding="utf-8")
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    for path in (tmp_path / "missing.sqlite3", not_sqlite, empty):
        with pytest.raises(SystemExit) as exit_:
            main(["feedback", action, str(path), str(tmp_path / "out")])
        assert exit_.value.code == 2
        error = capsys.readouterr().err
        assert error.startswith(f"error: {path}: ") and "Traceback" not in error
    assert not (tmp_path / "missing.sqlite3").exists() and empty.stat().st_size == 0


def test_the_feedback_file_is_plain_sqlite_others_can_query(tmp_path):
    db = tmp_path / "feedback.sqlite3"
    rated_database(db, {"base": [True, False]})
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT checkpoint, label FROM replies WHERE label IS NOT NULL ORDER BY message_id").fetchall() == [
            ("base", 1), ("base", 0)]  # fmt: skip


async def test_two_bots_sharing_one_file_keep_their_own_replies_and_presses(tmp_path):
    """Both bots send message 1 to chat 1 (message ids are per bot): neither overwrites the other's reply, and a
    press reaches the reply of the bot it was made in."""
    db = tmp_path / "feedback.sqlite3"
    models = {"ckpt-a": EchoChitChat(prefix="A:")}, {"ckpt-b": EchoChitChat(prefix="B:")}
    async with running_bot(models[0], feedback=True, feedback_db=str(db)) as fake_a:
        async with running_bot(models[1], token="777:OtherBotsToken", feedback=True, feedback_db=str(db)) as fake_b:
            assert await say(fake_a, 1, "hi") == "A:hi" and await say(fake_b, 1, "hi") == "B:hi"
            (a_message,), (b_message,) = fake_a.sent("sendMessage", 1), fake_b.sent("sendMessage", 1)
            reply_id = max(mid for chat, mid in fake_a.messages if chat == 1)
            assert reply_id == max(mid for chat, mid in fake_b.messages if chat == 1)
            assert await press(fake_b, 1, reply_id, buttons(b_message)[1][1]) == THANKS  # 👎 in bot B
            assert await press(fake_a, 1, reply_id, buttons(a_message)[0][1]) == THANKS  # 👍 in bot A
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT bot_id, message_id, checkpoint, reply, label FROM replies ORDER BY bot_id").fetchall()
    assert rows == [(777, reply_id, "ckpt-b", "B:hi", 0), (BOT_ID, reply_id, "ckpt-a", "A:hi", 1)]


OLD_SCHEMA = """CREATE TABLE replies (chat_id INTEGER NOT NULL, message_id INTEGER NOT NULL, checkpoint TEXT NOT NULL,
    history TEXT NOT NULL, reply TEXT NOT NULL, sent_at REAL NOT NULL, label INTEGER, rated_by INTEGER, rated_at REAL,
    PRIMARY KEY (chat_id, message_id))"""


def old_database(path, label=1, schema: str = OLD_SCHEMA) -> None:
    """A file as the bot wrote it before ratings carried the bot's id, with one rated reply."""
    with sqlite3.connect(path) as connection:
        connection.execute(schema)
        connection.execute("INSERT INTO replies VALUES (1, 5, 'base', '[\"привет\"]', 're', 1.0, ?, 1, 2.0)", (label,))
    connection.close()


def test_a_file_from_before_bot_ids_is_reported_as_it_is_and_migrated_by_the_bot_keeping_its_rows(tmp_path, capsys):
    db = tmp_path / "old.sqlite3"
    old_database(db)
    main(["feedback", "report", str(db)])
    assert "| base | 1 | 1 | 100.0% |" in capsys.readouterr().out
    store = FeedbackStore(db)  # as the bot opens it
    assert store.rated()[0]["history"] == ["привет"] and store.rate(BOT_ID, 1, 5, False, 1) is False  # 0: unknown bot
    store.add_reply(BOT_ID, 1, 5, "new", ["эй"], "re")  # the same chat and message id, from a known bot
    store.close()
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT bot_id, checkpoint FROM replies ORDER BY bot_id").fetchall() == [
            (0, "base"), (BOT_ID, "new")]  # fmt: skip


def other_applications_database(path) -> bytes:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        connection.execute("INSERT INTO notes (text) VALUES ('мои заметки')")
    connection.close()
    return path.read_bytes()


@pytest.mark.parametrize("action", ["report", "export"])
def test_feedback_commands_open_the_file_read_only_and_refuse_what_is_not_a_feedback_database(tmp_path, capsys, action):
    foreign = tmp_path / "notes.sqlite3"
    before = other_applications_database(foreign)
    renamed = tmp_path / "renamed.sqlite3"
    old_database(renamed, schema=OLD_SCHEMA.replace("label INTEGER", "rating INTEGER"))
    for path, problem in ((foreign, "not a feedback database: it has no table `replies`"),
                          (renamed, "not a feedback database: table `replies` lacks the column(s) label")):
        with pytest.raises(SystemExit) as exit_:
            main(["feedback", action, str(path), str(tmp_path / "out")])
        assert exit_.value.code == 2
        error = capsys.readouterr().err
        assert error.startswith(f"error: {path}: {problem}") and "Traceback" not in error
    assert foreign.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "notes.sqlite3", "renamed.sqlite3"]  # fmt: skip  # no table, no WAL switch, no -wal or -shm file, no out


def test_feedback_report_refuses_a_label_that_is_not_0_or_1_naming_its_row(tmp_path, capsys):
    db = tmp_path / "feedback.sqlite3"
    old_database(db, label="dislike")
    with pytest.raises(SystemExit) as exit_:
        main(["feedback", "report", str(db)])
    assert exit_.value.code == 2
    assert f"error: {db}: table replies, rowid 1: label 'dislike' is neither 1 (👍) nor 0 (👎)" in capsys.readouterr().err


def test_feedback_export_refuses_a_non_empty_directory_unless_overwrite_replaces_the_dataset_there(tmp_path, capsys):
    db, out, other = tmp_path / "feedback.sqlite3", tmp_path / "preferences", tmp_path / "notes"
    rated_database(db, {"base": [True] * 3})
    main(["feedback", "export", str(db), str(out)])
    (out / "data-00001-of-00002.arrow").write_bytes(b"an old shard")  # as a larger earlier export leaves
    with pytest.raises(SystemExit) as exit_:
        main(["feedback", "export", str(db), str(out)])
    assert exit_.value.code == 2
    assert f"error: {out}: not empty; choose another directory or pass --overwrite" in capsys.readouterr().err
    main(["feedback", "export", str(db), str(out), "--overwrite"])
    assert not (out / "data-00001-of-00002.arrow").exists() and len(load_from_disk(str(out))) == 3
    other.mkdir()
    (other / "keep.txt").write_text("не датасет", encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["feedback", "export", str(db), str(other), "--overwrite"])
    assert "not a dataset saved by `feedback export`" in capsys.readouterr().err and (other / "keep.txt").exists()


def test_the_bot_refuses_another_applications_file_as_feedback_db_before_loading_models_and_leaves_it(tmp_path, capsys,
                                                                                                     monkeypatch):
    foreign = tmp_path / "notes.sqlite3"
    before = other_applications_database(foreign)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    with pytest.raises(SystemExit) as exit_:
        main(["bot", "--checkpoint", "/no/such/checkpoint", "--feedback", "--feedback_db", str(foreign)])
    assert exit_.value.code == 2
    assert f"error: {foreign}: not a feedback database: it has no table `replies`" in capsys.readouterr().err
    assert foreign.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["notes.sqlite3"]
