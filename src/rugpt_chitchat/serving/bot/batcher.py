"""Collect reply requests from concurrent chats (or API clients) into one `reply_batch` call off the event loop."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

ReplyBatchFn = Callable[..., list[str]]  # reply_batch(histories, **settings) -> one reply per history
OnWords = Callable[[int, str], None]  # (index among the request's histories, its reply so far)


@dataclass(eq=False)
class _Request:
    histories: list[list[str]]
    settings: dict[str, Any]
    future: asyncio.Future[list[str]]
    on_words: OnWords | None = None
    key: tuple | None = field(init=False)

    def __post_init__(self) -> None:
        # requests batch together only with the same settings; a seeded one never (its draws must not depend on others)
        self.key = None if "seed" in self.settings else tuple(sorted((k, repr(v)) for k, v in self.settings.items()))


class ReplyBatcher:
    """Queue of histories answered in batches by one worker task.

    `reply(history)` waits for its answer; the worker takes the first waiting request, gathers
    more with the same generation settings for up to `max_wait` seconds or until `max_batch_size`
    histories, and runs `reply_batch` in a thread so generation never blocks the event loop. Requests
    that arrive while a batch is generating, or with other settings, form the next batches. A failing
    batch raises its exception in every waiting caller.
    """

    def __init__(self, reply_batch: ReplyBatchFn, max_batch_size: int = 16, max_wait: float = 0.05):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.reply_batch = reply_batch
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._generating: list[_Request] = []
        self._held: collections.deque[_Request] = collections.deque()  # taken off the queue, for a later batch

    async def start(self) -> None:
        """Start the worker on the running loop (the dispatcher's startup hook)."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._serve(), name="reply-batcher")

    async def stop(self) -> None:
        """Stop the worker; callers still waiting get `asyncio.CancelledError`."""
        if self._worker is None:
            return
        self._worker.cancel()
        try:
            await self._worker
        except asyncio.CancelledError:
            pass
        waiting = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        for request in [*self._generating, *self._held, *waiting]:
            request.future.cancel()
        self._held.clear()
        self._worker = None

    async def reply(self, history: list[str], on_words: OnWords | None = None, **settings: Any) -> str:
        """The model's reply to `history` (its last item is the user's utterance); `on_words(0, text)` is
        called with the reply so far as it grows, when the model streams."""
        return (await self.replies([history], on_words, **settings))[0]

    async def replies(self, histories: list[list[str]], on_words: OnWords | None = None, **settings: Any) -> list[str]:
        """Replies to `histories` (e.g. n choices of one history) drawn in the same batch, with generation
        `settings` (`reply_batch`'s keyword arguments: `seed`, `temperature`...)."""
        if self._worker is None:
            raise RuntimeError("ReplyBatcher.reply() called before start()")
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(histories, settings, future, on_words))
        return await future

    async def _serve(self) -> None:
        while True:
            batch = self._generating = await self._next_batch()
            histories = [history for request in batch for history in request.histories]
            try:
                replies = await asyncio.to_thread(self._reply_batch, batch, histories, asyncio.get_running_loop())
                if len(replies) != len(histories):
                    raise RuntimeError(f"reply_batch returned {len(replies)} replies for {len(histories)} histories")
            except Exception as error:  # handed to every waiting handler, which apologises
                logger.exception("Generation failed for a batch of %d", len(histories))
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(error)
                continue
            logger.debug("Answered a batch of %d", len(histories))
            start = 0
            for request in batch:
                if not request.future.done():
                    request.future.set_result(replies[start : start + len(request.histories)])
                start += len(request.histories)

    def _reply_batch(self, batch: list[_Request], histories: list[list[str]], loop: asyncio.AbstractEventLoop) -> list[str]:
        """In the worker thread: one `reply_batch` call, whose streamed rows go to their requests' `on_words`."""
        settings = dict(batch[0].settings)
        listeners = [(request.on_words, index) for request in batch for index in range(len(request.histories))]
        if any(on_words for on_words, _ in listeners):

            def on_text(row: int, text: str) -> None:
                on_words, index = listeners[row]
                if on_words is not None:
                    loop.call_soon_threadsafe(on_words, index, text)

            settings["on_text"] = on_text
        return self.reply_batch(histories, **settings)

    async def _next_batch(self) -> list[_Request]:
        first = self._held.popleft() if self._held else await self._queue.get()
        batch, size = [first], len(first.histories)

        def fits(request: _Request) -> bool:
            return first.key is not None and request.key == first.key and size + len(request.histories) <= self.max_batch_size

        for request in [request for request in self._held if fits(request)]:
            self._held.remove(request)
            batch.append(request)
            size += len(request.histories)
        deadline = asyncio.get_running_loop().time() + self.max_wait
        try:
            while first.key is not None and size < self.max_batch_size:
                if self._queue.empty():
                    remaining = deadline - asyncio.get_running_loop().time()
                    if remaining <= 0:
                        break
                    try:
                        request = await asyncio.wait_for(self._queue.get(), remaining)
                    except asyncio.TimeoutError:
                        break
                else:
                    request = self._queue.get_nowait()
                if fits(request):
                    batch.append(request)
                    size += len(request.histories)
                else:
                    self._held.append(request)
        except asyncio.CancelledError:  # stopped while gathering: these callers are off the queue, release them here
            for request in batch:
                request.future.cancel()
            raise
        return batch
