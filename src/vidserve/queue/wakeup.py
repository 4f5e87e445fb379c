"""Wake-ups for idle workers: LISTEN/NOTIFY on PostgreSQL, polling elsewhere.

A worker loop reads ``seen = wakeup.generation`` *before* it tries to claim, and when the
claim finds nothing it calls ``await wakeup.wait(seen)``. Every notification bumps the
generation, so one that arrives between the claim and the wait is never missed.

``PgWakeup`` keeps one plain asyncpg connection (outside the pool) that LISTENs on
``vidserve_jobs``. The payload is the job's model: a worker is woken only for the models it
serves. If that connection drops (database restart, network), it reconnects with backoff;
while it is down, ``wait`` falls back to the short poll, and every (re)connect wakes the
workers once so a notification sent during the gap is not needed. While it is up, ``wait``
still returns after ``listen_poll`` seconds: a safety net, not the mechanism.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from typing import Any, Protocol

from vidserve.store.database import JOBS_CHANNEL, Database

log = logging.getLogger("vidserve.wakeup")


class Wakeup(Protocol):
    @property
    def generation(self) -> int: ...
    @property
    def listening(self) -> bool: ...
    async def start(self) -> None: ...
    async def wait(self, seen: int) -> bool:
        """Until something may be claimable; True when a notification (not a timeout) ended it."""
        ...
    def poke(self) -> None: ...
    async def close(self) -> None: ...


class _Generations:
    def __init__(self) -> None:
        self._generation = 0
        self._changed = asyncio.Event()

    @property
    def generation(self) -> int:
        return self._generation

    def poke(self) -> None:
        """Wake every waiter (also used in-process, e.g. when a drain starts)."""
        self._generation += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait(self, seen: int, seconds: float) -> bool:
        if self._generation != seen:
            return True
        try:
            await asyncio.wait_for(self._changed.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True


class PollingWakeup(_Generations):
    """No notifications (SQLite): workers look again every ``poll`` seconds."""

    def __init__(self, poll: float) -> None:
        super().__init__()
        self.poll = poll

    @property
    def listening(self) -> bool:
        return False

    async def start(self) -> None:
        return None

    async def wait(self, seen: int) -> bool:
        return await self._wait(seen, self.poll)

    async def close(self) -> None:
        return None


class PgWakeup(_Generations):
    """LISTEN ``vidserve_jobs`` on a dedicated connection; reconnects by itself."""

    def __init__(
        self,
        db: Database,
        models: Collection[str] | None,
        *,
        poll: float,
        listen_poll: float,
        channel: str = JOBS_CHANNEL,
    ) -> None:
        super().__init__()
        self.db = db
        self.models = set(models) if models is not None else None
        self.poll = poll
        self.listen_poll = listen_poll
        self.channel = channel
        self.notifications = 0
        self.reconnects = 0
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._lost = asyncio.Event()

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        """Start listening (waits briefly for the first connection; never raises)."""
        self._task = asyncio.create_task(self._keep_listening())
        deadline = asyncio.get_running_loop().time() + 5
        while not self.listening and asyncio.get_running_loop().time() < deadline:
            if self._task.done():
                break
            await asyncio.sleep(0.01)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.notifications += 1
        if self.models is None or not payload or payload in self.models:
            self.poke()

    def _on_termination(self, _conn: Any) -> None:
        self._lost.set()

    async def _keep_listening(self) -> None:
        backoff = 0.1
        while not self._closing:
            try:
                conn = await self.db.listen_connection()
            except Exception as exc:  # database down or restarting
                log.warning("LISTEN connection failed (%s); polling every %.2fs meanwhile",
                            exc, self.poll)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            self._lost.clear()
            try:
                conn.add_termination_listener(self._on_termination)
                await conn.add_listener(self.channel, self._on_notify)
                self._conn = conn
                self.reconnects += 1
                self.poke()  # whatever was sent while we were not listening: look once
                # asyncpg tells us when the connection ends; check now and then anyway
                while not self._closing and not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._lost.wait(), timeout=5.0)
                    if self._lost.is_set():
                        break
                    try:
                        await asyncio.wait_for(conn.execute("SELECT 1"), timeout=5.0)
                    except Exception:
                        break
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", exc)
            finally:
                self._conn = None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), timeout=2.0)
            if not self._closing:
                log.warning("LISTEN connection ended; reconnecting")
                await asyncio.sleep(backoff)

    async def wait(self, seen: int) -> bool:
        return await self._wait(seen, self.listen_poll if self.listening else self.poll)

    async def close(self) -> None:
        self._closing = True
        self._lost.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def make_wakeup(
    db: Database, models: Collection[str] | None, *, poll: float, listen_poll: float
) -> Wakeup:
    if db.dialect == "postgresql":
        return PgWakeup(db, models, poll=poll, listen_poll=listen_poll)
    return PollingWakeup(poll)
