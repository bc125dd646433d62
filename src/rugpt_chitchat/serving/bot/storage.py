"""Where chat histories live (aiogram FSM storage) and the lock that runs one chat's updates in order.

With Redis, a Redis outage loses no message: every storage call and lock step is retried with the Bot API's
backoff (`retry.backoff_delays`), so an update waits, logged, until Redis answers again; one that still
finds it down after the last try raises `StorageUnavailable`, which the handlers answer with an apology.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StateType, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation

from .retry import backoff_delays

logger = logging.getLogger(__name__)

REDIS_TIMEOUT = 5.0  # seconds one Redis call may take: a stalled server is an outage too, not a hang
T = TypeVar("T")


class StorageUnavailable(Exception):
    """Redis still did not answer after the last retry."""


def build_storage(
    redis_url: str | None,
    history_ttl: int | None = None,
    lock_lease: float = 5.0,
    retry_attempts: int = 8,
    retry_first_delay: float = 0.5,
) -> tuple[BaseStorage, BaseEventIsolation]:
    """Memory storage and a per-chat asyncio lock; or Redis, with histories expiring after `history_ttl` s and
    each call tried `retry_attempts` times, waiting `retry_first_delay` s, doubling, between tries."""
    if redis_url is None:
        return MemoryStorage(), SimpleEventIsolation()
    try:
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError as error:
        raise RuntimeError("--redis needs the redis package: pip install 'rugpt-chitchat[redis]'") from error
    from aiogram.fsm.storage.redis import RedisStorage

    # redis-py's own retries are off: ours are logged and bounded by the settings
    connection = {"retry": Retry(NoBackoff(), 0), "socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT}
    redis = RedisStorage.from_url(redis_url, connection_kwargs=connection, state_ttl=history_ttl, data_ttl=history_ttl)
    delays = backoff_delays(retry_attempts, retry_first_delay)
    return PatientStorage(redis, delays, redacted(redis_url)), LeasedRedisIsolation(redis, lock_lease, delays)


def redacted(redis_url: str) -> str:
    """The URL without its user and password, fit for logs and error messages."""
    parts = urlsplit(redis_url)
    host = parts.hostname or ""
    return parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host).geturl()


async def patiently(call: Callable[[], Awaitable[T]], delays: Sequence[float], what: str) -> T:
    """`await call()`, tried again after each of `delays` while Redis is unreachable; then StorageUnavailable."""
    from redis.exceptions import ConnectionError, TimeoutError

    for attempt, delay in enumerate([*delays, None], start=1):
        try:
            return await call()
        except (ConnectionError, TimeoutError) as error:
            failure = error
        if delay is None:
            break
        logger.warning("Redis unavailable while %s (%s: %s); waiting, try %d of %d in %g s",
                       what, type(failure).__name__, failure, attempt + 1, len(delays) + 1, delay)
        await asyncio.sleep(delay)
    raise StorageUnavailable(f"no answer after {len(delays) + 1} tries ({type(failure).__name__}: {failure})")


class PatientStorage(BaseStorage):
    """The Redis storage with every call retried through an outage (`patiently`); `where` names it in logs."""

    def __init__(self, redis: BaseStorage, delays: Sequence[float], where: str):
        self.redis_storage = redis
        self.delays = delays
        self.where = where

    async def ping(self) -> None:
        """Returns once Redis answers; StorageUnavailable after the last try (the bot's start-up check)."""
        await patiently(self.redis_storage.redis.ping, self.delays, f"connecting to {self.where}")

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await patiently(lambda: self.redis_storage.set_state(key, state), self.delays, f"saving chat {key.chat_id}")

    async def get_state(self, key: StorageKey) -> str | None:
        return await patiently(lambda: self.redis_storage.get_state(key), self.delays, f"reading chat {key.chat_id}")

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await patiently(lambda: self.redis_storage.set_data(key, data), self.delays, f"saving chat {key.chat_id}")

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return await patiently(lambda: self.redis_storage.get_data(key), self.delays, f"reading chat {key.chat_id}")

    async def close(self) -> None:
        await self.redis_storage.close()


class LeasedRedisIsolation(BaseEventIsolation):
    """A Redis lock per chat (across processes), taken in arrival order, that a killed bot cannot keep.

    redis-py's lock is polled every 0.1 s, not queued, so alone it lets a chat's later message overtake
    an earlier one; a FIFO asyncio lock per chat in front of it keeps the order. The Redis lock expires
    `lease` seconds after its holder stops renewing it, so a chat whose bot was killed is free again
    within `lease` seconds, while a long generation keeps its lock by renewing it every `lease / 3`.
    Taking and freeing it wait through a Redis outage like the storage (`delays`); a lock Redis lost
    meanwhile (it expired, or Redis restarted empty) is only logged: the update was answered.
    """

    def __init__(self, storage, lease: float = 5.0, delays: Sequence[float] = ()):
        self.local = SimpleEventIsolation()
        self.redis = storage.redis
        self.key_builder = storage.key_builder
        self.lease = lease
        self.delays = delays

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncIterator[None]:
        async with self.local.lock(key):
            redis_lock = self.redis.lock(self.key_builder.build(key, "lock"), timeout=self.lease, sleep=0.05)
            await patiently(redis_lock.acquire, self.delays, f"locking chat {key.chat_id}")
            renewal = asyncio.create_task(self._renew(redis_lock))
            try:
                yield
            finally:
                renewal.cancel()
                await asyncio.gather(renewal, return_exceptions=True)
                await self._release(redis_lock, key)

    async def _renew(self, redis_lock) -> None:
        from redis.exceptions import ConnectionError, TimeoutError

        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await redis_lock.reacquire()
            except (ConnectionError, TimeoutError):  # an outage: the next renewal may find Redis back
                continue

    async def _release(self, redis_lock, key: StorageKey) -> None:
        from redis.exceptions import LockError

        try:
            await patiently(redis_lock.release, self.delays, f"unlocking chat {key.chat_id}")
        except LockError:
            logger.warning("The Redis lock of chat %s was lost during an outage (it expired or Redis restarted)", key.chat_id)
        except StorageUnavailable as error:
            logger.warning("The Redis lock of chat %s is left to expire within %g s: %s", key.chat_id, self.lease, error)

    async def close(self) -> None:
        await self.local.close()
