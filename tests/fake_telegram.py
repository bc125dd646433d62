"""A small Bot API server on 127.0.0.1 (aiohttp) for driving the real bot over HTTP.

It speaks the methods the bot uses (getMe, getUpdates with offset/timeout, deleteWebhook,
setWebhook, sendMessage, sendChatAction, sendMessageDraft (private chats only, as Telegram's),
answerCallbackQuery, editMessageReplyMarkup), records every
call, lets a test push updates (private and group messages, service messages, button presses) and
make calls fail the ways the real one does: flood control (429 with retry_after), 5xx, 401, slow
answers (client timeouts), redirect loops, or the whole server down and back up on the same port.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
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
    ok: bool = False  # answered with success (a refused or failed call stays False)


class FakeTelegram:
    def __init__(self, token: str):
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict] = []
        self.pushed_at: dict[int, float] = {}  # update_id -> monotonic time it was pushed
        self.webhook: dict | None = None
        self.delivered: set[int] = set()  # ids of the updates getUpdates has returned
        self.chats: dict[int, dict] = {}
        self.messages: dict[tuple[int, int], dict] = {}  # (chat id, message id) -> every message pushed or sent
        self._floods: dict[str, list[int]] = {}
        self._redirects: dict[str, int] = {}
        self._failures: dict[str, list[int]] = {}
        self._delays: dict[str, list[float]] = {}
        self._port = 0
        self._arrived = asyncio.Event()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.base_url = ""

    async def start(self) -> str:
        """Serve on a free port; returns the base URL for `TelegramAPIServer.from_base`."""
        await self.come_up()
        self.base_url = f"http://127.0.0.1:{self._port}"
        self._client = aiohttp.ClientSession()
        return self.base_url

    async def stop(self) -> None:
        await self.go_down()
        if self._client is not None:
            await self._client.close()

    async def go_down(self) -> None:
        """Stop listening: calls are refused (connection refused) until `come_up()`."""
        if self._runner is not None:
            self._arrived.set()  # release a pending long poll so the server shuts down at once
            await self._runner.cleanup()
            self._runner = None

    async def come_up(self) -> None:
        """Listen again, on the same port, with everything recorded so far."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)  # its access log would carry the token
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]

    def fail(self, method: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP `status` (502: an HTML page, as a proxy sends)."""
        self._failures.setdefault(method, []).extend([status] * times)

    def delay(self, method: str, seconds: float, times: int = 1) -> None:
        """Answer the next `times` calls of `method` only after `seconds` (past the client's timeout)."""
        self._delays.setdefault(method, []).extend([seconds] * times)

    def flood(self, method: str, retry_after: int, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with 429 Too Many Requests."""
        self._floods.setdefault(method, []).extend([retry_after] * times)

    def redirect(self, method: str, times: int) -> None:
        """Answer the next `times` calls of `method` with a redirect to the same URL."""
        self._redirects[method] = times

    def push_message(
        self,
        chat_id: int,
        text: str | None = None,
        user_id: int | None = None,
        chat_type: str = "private",
        reply_to: int | None = None,
        **content,
    ) -> int:
        """Queue a message update (text, or other content such as sticker=...); returns the update id.

        A negative `chat_id` with chat_type="group" or "supergroup" is a group; `reply_to` is the id of a
        message in that chat it answers; '/commands' and '@mentions' in the text get their entities.
        """
        user_id = (chat_id if chat_id > 0 else 1) if user_id is None else user_id
        chat = {"id": chat_id, "type": chat_type}
        chat.update({"first_name": f"user{user_id}"} if chat_type == "private" else {"title": f"group{-chat_id}"})
        self.chats[chat_id] = chat
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
            **({"text": text, "entities": _entities(text)} if text is not None else {}),
            **content,
        }
        if reply_to is not None:
            message["reply_to_message"] = self.messages[(chat_id, reply_to)]
        self.messages[(chat_id, message["message_id"])] = message
        return self._push({"message": message})

    def push_callback(self, chat_id: int, message_id: int, data: str, user_id: int | None = None) -> int:
        """Queue a button press under the message `message_id` the bot sent to `chat_id`."""
        user_id = (chat_id if chat_id > 0 else 1) if user_id is None else user_id
        callback = {
            "id": f"cb{next(self._update_ids)}",
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
            "message": self.messages[(chat_id, message_id)],
            "chat_instance": str(chat_id),
            "data": data,
        }
        return self._push({"callback_query": callback})

    def _push(self, content: dict) -> int:
        update_id = next(self._update_ids)
        update = {"update_id": update_id, **content}
        self.pushed_at[update_id] = time.monotonic()
        if self.webhook:
            asyncio.get_running_loop().create_task(self._post_to_webhook(update))
        else:
            self.updates.append(update)
            self._arrived.set()
        return update_id

    @property
    def confirmed_offset(self) -> int:
        """The highest offset a getUpdates call has confirmed: updates below it are gone for good."""
        return max((int(call.params.get("offset", 0)) for call in self.sent("getUpdates")), default=0)

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[Call]:
        return [
            call
            for call in self.calls
            if call.method == method and (chat_id is None or int(call.params["chat_id"]) == chat_id)
        ]

    def texts_to(self, chat_id: int) -> list[str]:
        """The texts delivered to `chat_id` (calls refused or failed not counted; see `sent` for every try)."""
        return [call.params["text"] for call in self.sent("sendMessage", chat_id) if call.ok]

    async def wait_for_texts(self, chat_id: int, count: int, timeout: float = 10.0) -> list[str]:
        """The first `count` texts delivered to `chat_id`, waiting up to `timeout` seconds for them."""
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
        call = Call(method, dict(await request.post()), time.monotonic())
        self.calls.append(call)
        if self._delays.get(method):
            await asyncio.sleep(self._delays[method].pop(0))
        if self._failures.get(method):
            return _failure(self._failures[method].pop(0))
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
        if method == "sendMessageDraft" and self.chats.get(int(call.params["chat_id"]), {}).get("type") != "private":
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: drafts are only "
                                      "available in private chats"}, status=400)  # fmt: skip
        if answer is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        result = await answer(call.params)
        call.ok = True
        if method == "getUpdates" and request.transport is not None and not request.transport.is_closing():
            self.delivered.update(update["update_id"] for update in result)  # a client that hung up got nothing
        return web.json_response({"ok": True, "result": result})

    async def _getMe(self, params: dict) -> dict:
        return {**BOT_USER, "id": int(self.token.partition(":")[0])}  # a bot's id is its token's first part

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

    async def _sendMessageDraft(self, params: dict) -> bool:
        return True

    def drafts_to(self, chat_id: int) -> list[str]:
        """The draft texts shown in `chat_id` (sendMessageDraft calls answered with success)."""
        return [call.params["text"] for call in self.sent("sendMessageDraft", chat_id) if call.ok]

    async def _sendMessage(self, params: dict) -> dict:
        chat_id = int(params["chat_id"])
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chats.get(chat_id, {"id": chat_id, "type": "private"}),
            "from": BOT_USER,
            "text": params["text"],
        }
        if "reply_markup" in params:
            message["reply_markup"] = json.loads(params["reply_markup"])
        self.messages[(chat_id, message["message_id"])] = message
        return message

    async def _answerCallbackQuery(self, params: dict) -> bool:
        return True

    async def _editMessageReplyMarkup(self, params: dict) -> dict:
        message = self.messages[(int(params["chat_id"]), int(params["message_id"]))]
        if "reply_markup" in params:
            message["reply_markup"] = json.loads(params["reply_markup"])
        else:
            message.pop("reply_markup", None)
        return message

    async def _post_to_webhook(self, update: dict) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook["secret_token"] or ""}
        async with self._client.post(self.webhook["url"], json=update, headers=headers) as response:
            response.raise_for_status()


def _entities(text: str) -> list[dict]:
    """The bot_command and mention entities Telegram would attach (offsets in UTF-16 units)."""
    entities = []
    for match in re.finditer(r"(?:^/\w+(?:@\w+)?)|@\w+", text):
        offset = len(text[: match.start()].encode("utf-16-le")) // 2
        length = len(match.group().encode("utf-16-le")) // 2
        entities.append({"type": "bot_command" if match.group().startswith("/") else "mention", "offset": offset, "length": length})
    return entities


def _failure(status: int) -> web.Response:
    if status == 502:
        return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")
    descriptions = {401: "Unauthorized", 500: "Internal Server Error", 503: "Service Unavailable"}
    description = descriptions.get(status, "Error")
    return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)
