"""Collect reply requests from concurrent chats into one `reply_batch` call off the event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

ReplyBatchFn = Callable[[list[list[str]]], list[str]]


class ReplyBatcher:
    """Queue of histories answered in batches by one worker task.

    `reply(history)` waits for its answer; the worker takes the first waiting request, gathers
    more for up to `max_wait` seconds or until `max_batch_size`, and runs `reply_batch` in a
    thread so generation never blocks the event loop. Requests that arrive while a batch is
    generating form the next batch. A failing batch raises its exception in every waiting caller.
    """

    def __init__(self, reply_batch: ReplyBatchFn, max_batch_size: int = 16, max_wait: float = 0.05):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.reply_batch = reply_batch
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self._queue: asyncio.Queue[tuple[list[str], asyncio.Future[str]]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._generating: list[tuple[list[str], asyncio.Future[str]]] = []

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
        for _, future in [*self._generating, *waiting]:
            future.cancel()
        self._worker = None

    async def reply(self, history: list[str]) -> str:
        """The model's reply to `history` (its last item is the user's utterance)."""
        if self._worker is None:
            raise RuntimeError("ReplyBatcher.reply() called before start()")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await self._queue.put((history, future))
        return await future

    async def _serve(self) -> None:
        while True:
            batch = self._generating = await self._next_batch()
            try:
                replies = await asyncio.to_thread(self.reply_batch, [history for history, _ in batch])
                if len(replies) != len(batch):
                    raise RuntimeError(f"reply_batch returned {len(replies)} replies for {len(batch)} histories")
            except Exception as error:  # handed to every waiting handler, which apologises
                logger.exception("Generation failed for a batch of %d", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            logger.debug("Answered a batch of %d", len(batch))
            for (_, future), text in zip(batch, replies):
                if not future.done():
                    future.set_result(text)

    async def _next_batch(self) -> list[tuple[list[str], asyncio.Future[str]]]:
        batch = [await self._queue.get()]
        deadline = asyncio.get_running_loop().time() + self.max_wait
        try:
            while len(batch) < self.max_batch_size:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
        except asyncio.CancelledError:  # stopped while gathering: these callers are off the queue, release them here
            for _, future in batch:
                future.cancel()
            raise
        return batch
