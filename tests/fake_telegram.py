"""A small Bot API server on 127.0.0.1 (aiohttp) for driving the real bot over HTTP.

It speaks the methods the bot uses (getMe, getUpdates with offset/timeout, deleteWebhook,
setWebhook, sendMessage, sendChatAction), records every call, lets a test push updates and
inject flood control (HTTP 429 with retry_after) or redirect loops.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

import aiohttp
from aiohttp import web

BOT_USER = {"id": 123456, "is_bot": True, "first_name": "ChitChat", "username": "chitchat_test_bot"}


@dataclass
class Call:
    method: str
    params: dict
    at: float  # time.monotonic() when the request arrived


class FakeTelegram:
    def __init__(self, token: str):
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict] = []
        self.pushed_at: dict[int, float] = {}  # update_id -> monotonic time it was pushed
        self.webhook: dict | None = None
        self._floods: dict[str, list[int]] = {}
        self._redirects: dict[str, int] = {}
        self._arrived = asyncio.Event()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.base_url = ""

    async def start(self) -> str:
        """Serve on a free port; returns the base URL for `TelegramAPIServer.from_base`."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)  # its access log would carry the token
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self._client = aiohttp.ClientSession()
        return self.base_url

    async def stop(self) -> None:
        self._arrived.set()  # release a pending long poll so the server shuts down at once
        await self._client.close()
        await self._runner.cleanup()

    def flood(self, method: str, retry_after: int, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with 429 Too Many Requests."""
        self._floods.setdefault(method, []).extend([retry_after] * times)

    def redirect(self, method: str, times: int) -> None:
        """Answer the next `times` calls of `method` with a redirect to the same URL."""
        self._redirects[method] = times

    def push_message(self, chat_id: int, text: str | None = None, user_id: int | None = None, **content) -> int:
        """Queue a private-chat message update (text, or other content such as sticker=...)."""
        user_id = chat_id if user_id is None else user_id
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": f"user{user_id}"},
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
            **({"text": text} if text is not None else {}),
            **content,
        }
        if text is not None and text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        update_id = next(self._update_ids)
        update = {"update_id": update_id, "message": message}
        self.pushed_at[update_id] = time.monotonic()
        if self.webhook:
            asyncio.get_running_loop().create_task(self._post_to_webhook(update))
        else:
            self.updates.append(update)
            self._arrived.set()
        return update_id

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[Call]:
        return [
            call
            for call in self.calls
            if call.method == method and (chat_id is None or int(call.params["chat_id"]) == chat_id)
        ]

    def texts_to(self, chat_id: int) -> list[str]:
        return [call.params["text"] for call in self.sent("sendMessage", chat_id)]

    async def wait_for_texts(self, chat_id: int, count: int, timeout: float = 10.0) -> list[str]:
        """The first `count` texts sent to `chat_id`, waiting up to `timeout` seconds for them."""
        deadline = time.monotonic() + timeout
        while len(self.texts_to(chat_id)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"chat {chat_id}: expected {count} messages, got {self.texts_to(chat_id)}")
            await asyncio.sleep(0.01)
        return self.texts_to(chat_id)[:count]

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if self._redirects.get(method, 0) > 0:
            self._redirects[method] -= 1
            raise web.HTTPFound(str(request.url))
        params = dict(await request.post())
        self.calls.append(Call(method, params, time.monotonic()))
        if self._floods.get(method):
            retry_after = self._floods[method].pop(0)
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry_after}",
                    "parameters": {"retry_after": retry_after},
                },
                status=429,
            )
        answer = getattr(self, f"_{method}", None)
        if answer is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.json_response({"ok": True, "result": await answer(params)})

    async def _getMe(self, params: dict) -> dict:
        return BOT_USER

    async def _getUpdates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset", 0))
        self.updates = [update for update in self.updates if update["update_id"] >= offset]
        if not self.updates:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), float(params.get("timeout", 0)))
            except asyncio.TimeoutError:
                return []
        return self.updates[: int(params.get("limit", 100))]

    async def _deleteWebhook(self, params: dict) -> bool:
        self.webhook = None
        return True

    async def _setWebhook(self, params: dict) -> bool:
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
        return True

    async def _sendChatAction(self, params: dict) -> bool:
        return True

    async def _sendMessage(self, params: dict) -> dict:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "from": BOT_USER,
            "text": params["text"],
        }

    async def _post_to_webhook(self, update: dict) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook["secret_token"] or ""}
        async with self._client.post(self.webhook["url"], json=update, headers=headers) as response:
            response.raise_for_status()
