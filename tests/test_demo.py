"""The web chat (`rugpt-chitchat demo`) in a real headless Chromium: it answers, keeps a history per session, resets."""

from __future__ import annotations

import os
import shutil

import pytest

from bot_harness import free_port
from rugpt_chitchat.serving.generation import ChitChat

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def require(found: bool, reason: str) -> None:
    if not found:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the browser test")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def web_chat(tiny_model_dir):
    """The demo of a greedy tiny model on a free port; yields (its URL, the ChitChat behind it)."""
    try:
        import gradio  # noqa: F401
        import playwright  # noqa: F401
    except ImportError as error:
        require(False, f"{error.name} is not installed (pip install -e '.[test,demo]')")
    require(shutil.which(CHROMIUM) is not None, f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from rugpt_chitchat.serving.demo import build_demo

    chat = ChitChat.from_pretrained(str(tiny_model_dir), device="cpu")
    chat.generation_config.do_sample = False  # replies the test can predict
    port = free_port()
    demo = build_demo(chat).queue()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", chat
    finally:
        demo.close()


def test_web_chat_answers_keeps_each_sessions_history_and_resets(web_chat):
    from playwright.sync_api import expect, sync_playwright

    url, chat = web_chat
    first, second = "Привет! Как дела?", "А что ты делаешь вечером?"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url)
            bot = page.locator('[data-testid="bot"]')

            def say(text: str, answers: int) -> str:
                page.locator("textarea").first.fill(text)
                page.locator("textarea").first.press("Enter")
                expect(bot).to_have_count(answers, timeout=60_000)
                expect(page.locator('[data-testid="stop-button"]')).to_have_count(0, timeout=60_000)  # done streaming
                return bot.nth(answers - 1).inner_text().strip()

            reply = say(first, 1)
            assert reply == chat.reply([first])
            assert say(second, 2) == chat.reply([first, reply, second])  # the session's history is read

            other = browser.new_page()  # another session: its own, empty history
            other.goto(url)
            other.locator("textarea").first.fill(second)
            other.locator("textarea").first.press("Enter")
            expect(other.locator('[data-testid="bot"]')).to_have_text([chat.reply([second])], timeout=60_000)

            page.get_by_label("Clear").first.click()
            expect(bot).to_have_count(0)
            assert say(second, 1) == chat.reply([second])  # reset: nothing before the new message
        finally:
            browser.close()
