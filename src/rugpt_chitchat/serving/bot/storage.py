"""Where chat histories live (aiogram FSM storage) and the lock that runs one chat's updates in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation

logger = logging.getLogger(__name__)


def build_storage(
    redis_url: str | None, history_ttl: int | None = None, lock_lease: float = 5.0
) -> tuple[BaseStorage, BaseEventIsolation]:
    """Memory storage and a per-chat asyncio lock; or Redis, with histories expiring after `history_ttl` s."""
    if redis_url is None:
        return MemoryStorage(), SimpleEventIsolation()
    try:
        from aiogram.fsm.storage.redis import RedisStorage
    except ImportError as error:
        raise RuntimeError("--redis needs the redis package: pip install 'rugpt-chitchat[redis]'") from error
    storage = RedisStorage.from_url(redis_url, state_ttl=history_ttl, data_ttl=history_ttl)
    return storage, LeasedRedisIsolation(storage, lock_lease)


class LeasedRedisIsolation(BaseEventIsolation):
    """A Redis lock per chat (across processes), taken in arrival order, that a killed bot cannot keep.

    redis-py's lock is polled every 0.1 s, not queued, so alone it lets a chat's later message overtake
    an earlier one; a FIFO asyncio lock per chat in front of it keeps the order. The Redis lock expires
    `lease` seconds after its holder stops renewing it, so a chat whose bot was killed is free again
    within `lease` seconds, while a long generation keeps its lock by renewing it every `lease / 3`.
    """

    def __init__(self, storage, lease: float = 5.0):
        self.local = SimpleEventIsolation()
        self.redis = storage.redis
        self.key_builder = storage.key_builder
        self.lease = lease

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncIterator[None]:
        async with self.local.lock(key):
            redis_lock = self.redis.lock(self.key_builder.build(key, "lock"), timeout=self.lease, sleep=0.05)
            async with redis_lock:
                renewal = asyncio.create_task(self._renew(redis_lock))
                try:
                    yield
                finally:
                    renewal.cancel()
                    await asyncio.gather(renewal, return_exceptions=True)

    async def _renew(self, redis_lock) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            await redis_lock.reacquire()

    async def close(self) -> None:
        await self.local.close()
