"""An OpenAI-compatible chat API (`rugpt-chitchat serve`) on aiohttp: `POST /v1/chat/completions` and `GET /v1/models`.

Unlike servers that take token ids only (vLLM, TGI), the prompt here is `build_segments`' with the speaker
`token_type_ids` the model was trained with. Concurrent requests to a model share `generate` calls through
its `ReplyBatcher`, as the bot's chats do. Errors are answered in the API's shape
(`{"error": {"message", "type", "param", "code"}}`) with its status codes, never with a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from ..errors import DataError
from .bot.batcher import ReplyBatcher
from .streaming import SafeDeltas, cut_at_stop

logger = logging.getLogger(__name__)

SYSTEM_NOTE = "system messages are ignored: the model knows two speakers, the user and itself"
MAX_STOP = 4


class ApiModel(Protocol):
    """What the API needs of `ChitChat`."""

    def reply_batch(self, histories: list[list[str]], **settings: Any) -> list[str]: ...

    def prompt_ids(self, history: list[str], max_new_tokens: int | None = None) -> dict[str, list[int]]: ...

    def count_tokens(self, text: str) -> int: ...


class ApiError(Exception):
    """A request the API refuses: answered with `status` and the OpenAI error object."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def response(self) -> web.Response:
        kind = "server_error" if self.status >= 500 else "invalid_request_error"
        error = {"message": self.message, "type": kind, "param": self.param, "code": self.code}
        return web.json_response({"error": error}, status=self.status)


@dataclass
class Completion:
    """A parsed `chat/completions` request."""

    model: str
    history: list[str]
    n: int = 1
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # reply_batch's keyword arguments
    notes: list[str] = field(default_factory=list)


def parse_completion(body: Any, models: Mapping[str, Any], max_n: int) -> Completion:
    """The request `body` (decoded JSON) checked and translated; raises ApiError naming the bad field."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or model not in models:
        raise ApiError(404, f"The model {model!r} does not exist; served: {', '.join(models)}", "model", "model_not_found")
    history, notes = parse_messages(body.get("messages"))
    completion = Completion(model, history, notes=notes)
    n = _number(body, "n", int, 1, max_n, default=1)
    completion.n, completion.stream = n, _typed(body, "stream", bool, False)
    completion.include_usage = bool(_typed(body, "stream_options", dict, {}).get("include_usage"))
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or len(stop) > MAX_STOP or not all(isinstance(s, str) and s for s in stop):
        raise ApiError(400, f"stop must be a string or a list of at most {MAX_STOP} non-empty strings", "stop")
    completion.stop = stop
    settings = completion.settings
    max_tokens = _number(body, "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens",
                         int, 1, None)  # fmt: skip
    if max_tokens is not None:
        settings["max_new_tokens"] = max_tokens
    temperature = _number(body, "temperature", float, 0.0, 2.0)
    if temperature is not None:
        settings.update({"do_sample": False} if temperature == 0 else {"do_sample": True, "temperature": temperature})
    top_p = _number(body, "top_p", float, 0.0, 1.0)
    if top_p is not None:
        settings["top_p"] = top_p
    seed = _number(body, "seed", int, None, None)
    if seed is not None:
        settings["seed"] = seed
    if body.get("tools") or body.get("functions") or body.get("logprobs"):
        raise ApiError(400, "tools, functions and logprobs are not supported by a chit-chat model")
    return completion


def parse_messages(messages: Any) -> tuple[list[str], list[str]]:
    """The dialogue history (the user's utterance last) and notes; consecutive messages of one speaker are joined."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list", "messages")
    history, roles, notes = [], [], []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise ApiError(400, f"{where} must be an object with role and content", where)
        role, content = message.get("role"), message.get("content")
        if isinstance(content, list):  # content parts: only text
            if not all(isinstance(part, dict) and part.get("type") == "text" for part in content):
                raise ApiError(400, f"{where}.content: only text parts are supported", f"{where}.content")
            content = " ".join(str(part.get("text", "")) for part in content)
        if not isinstance(content, str):
            raise ApiError(400, f"{where}.content must be a string", f"{where}.content")
        if role in {"system", "developer"}:
            notes = [SYSTEM_NOTE]
            continue
        if role not in {"user", "assistant"}:
            raise ApiError(400, f"{where}.role must be user, assistant or system; got {role!r}", f"{where}.role")
        if roles and roles[-1] == role:
            history[-1] = f"{history[-1]} {content}"
        else:
            history.append(content)
            roles.append(role)
    if not roles or roles[-1] != "user":
        raise ApiError(400, "the last message must be the user's: the model answers the user", "messages")
    return history, notes


def _typed(body: dict, name: str, kind: type, default: Any) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise ApiError(400, f"{name} must be a {kind.__name__}", name)
    return value


def _number(body: dict, name: str, kind: type, low: float | None, high: float | None, default: Any = None) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
        raise ApiError(400, f"{name} must be a{'n integer' if kind is int else ' number'}", name)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ApiError(400, f"{name} must be between {low} and {high}; got {value}", name)
    return kind(value)


class ChatApi:
    """The aiohttp application serving `models` (name -> ChitChat), each through its own batcher."""

    def __init__(self, models: Mapping[str, ApiModel], api_key: str | None = None, max_batch_size: int = 16,
                 max_wait: float = 0.05, max_n: int = 8):  # fmt: skip
        if not models:
            raise DataError("checkpoint", "no model to serve: give at least one --checkpoint")
        self.models = dict(models)
        self.batchers = {name: ReplyBatcher(model.reply_batch, max_batch_size, max_wait) for name, model in models.items()}
        self._api_key = api_key.encode() if api_key else None
        self.max_n = max_n
        self.created = int(time.time())
        self.app = web.Application(middlewares=[self._errors, self._authorize])
        self.app.router.add_get("/v1/models", self.list_models)
        self.app.router.add_post("/v1/chat/completions", self.complete)
        self.app.on_startup.append(self._start)
        self.app.on_cleanup.append(self._stop)

    async def _start(self, app: web.Application) -> None:
        for batcher in self.batchers.values():
            await batcher.start()

    async def _stop(self, app: web.Application) -> None:
        for batcher in self.batchers.values():
            await batcher.stop()

    @web.middleware
    async def _errors(self, request: web.Request, handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as error:
            return error.response()
        except web.HTTPException as error:
            if error.status < 400:
                raise
            return ApiError(error.status, f"{request.method} {request.path}: {error.reason}").response()
        except Exception:
            logger.exception("Request %s %s failed", request.method, request.path)
            return ApiError(500, "the server failed to answer this request; try again").response()

    @web.middleware
    async def _authorize(self, request: web.Request, handler) -> web.StreamResponse:
        if self._api_key is not None:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip().encode()
            if not hmac.compare_digest(given, self._api_key):  # constant time: the key cannot be guessed byte by byte
                raise ApiError(401, "Incorrect API key provided", code="invalid_api_key")
        return await handler(request)

    async def list_models(self, request: web.Request) -> web.Response:
        data = [{"id": name, "object": "model", "created": self.created, "owned_by": "rugpt-chitchat"} for name in self.models]
        return web.json_response({"object": "list", "data": data})

    async def complete(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, "the request body is not valid JSON") from None
        completion = parse_completion(body, self.models, self.max_n)
        model = self.models[completion.model]
        try:
            prompt_tokens = len(model.prompt_ids(completion.history, completion.settings.get("max_new_tokens"))["input_ids"])
        except DataError as error:
            raise ApiError(400, str(error), "max_tokens") from None
        for note in completion.notes:
            logger.info("Request to %s: %s", completion.model, note)
        headers = {"X-Chitchat-Note": "; ".join(completion.notes)} if completion.notes else {}
        head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": completion.model}
        if completion.stream:
            return await self._stream(request, completion, head, headers, prompt_tokens)
        replies = await self._replies(completion)
        choices = [{"index": i, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": "stop"}
                   for i, text in enumerate(replies)]  # fmt: skip
        usage = self._usage(model, prompt_tokens, replies)
        return web.json_response({**head, "object": "chat.completion", "choices": choices, "usage": usage}, headers=headers)

    async def _replies(self, completion: Completion, on_words=None) -> list[str]:
        batcher = self.batchers[completion.model]
        replies = await batcher.replies([completion.history] * completion.n, on_words, **completion.settings)
        return [cut_at_stop(reply, completion.stop)[0] for reply in replies]

    async def _stream(self, request: web.Request, completion: Completion, head: dict, headers: dict,
                      prompt_tokens: int) -> web.StreamResponse:  # fmt: skip
        """Server-sent events: a role chunk per choice, content deltas as whole sentences appear, the rest of each
        reply once drawn, a finish chunk per choice, the usage if asked, then `[DONE]`."""
        response = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)

        async def send(data: dict | str) -> None:
            text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
            await response.write(f"data: {text}\n\n".encode())

        def chunk(index: int, delta: dict, finish: str | None = None) -> dict:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {**head, "object": "chat.completion.chunk", "choices": [choice]}

        deltas = [SafeDeltas(completion.history[-1], completion.stop) for _ in range(completion.n)]
        pieces: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()

        def on_words(index: int, text: str) -> None:
            if piece := deltas[index].delta(text):
                pieces.put_nowait((index, piece))

        drawing = asyncio.ensure_future(self._replies(completion, on_words))
        drawing.add_done_callback(lambda _: pieces.put_nowait(None))
        try:
            for index in range(completion.n):
                await send(chunk(index, {"role": "assistant", "content": ""}))
            while (piece := await pieces.get()) is not None:
                await send(chunk(piece[0], {"content": piece[1]}))
        except ConnectionResetError:  # the client left: its rows are drawn with the batch anyway
            drawing.cancel()
            return response
        try:
            replies = drawing.result()
        except Exception as error:  # headers are sent: the error goes in the stream
            logger.exception("Streaming to %s failed", request.remote)
            await send({"error": {"message": f"generation failed: {type(error).__name__}", "type": "server_error",
                                  "param": None, "code": None}})  # fmt: skip
            return response
        for index, reply in enumerate(replies):
            if rest := deltas[index].finish(reply):
                await send(chunk(index, {"content": rest}))
            await send(chunk(index, {}, "stop"))
        if completion.include_usage:
            model = self.models[completion.model]
            await send({**head, "object": "chat.completion.chunk", "choices": [],
                        "usage": self._usage(model, prompt_tokens, replies)})  # fmt: skip
        await send("[DONE]")
        await response.write_eof()
        return response

    @staticmethod
    def _usage(model: ApiModel, prompt_tokens: int, replies: list[str]) -> dict[str, int]:
        completion_tokens = sum(model.count_tokens(reply) for reply in replies)
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens}  # fmt: skip


def run(api: ChatApi, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until SIGINT/SIGTERM (aiohttp answers the requests in flight before it stops)."""
    logger.info("Serving %s on http://%s:%d/v1", ", ".join(api.models), host, port)
    web.run_app(api.app, host=host, port=port, print=None, access_log=logger)
