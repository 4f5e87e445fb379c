"""The reaper loop: puts jobs of dead workers back in the queue, or fails them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from vidserve.queue.jobs import JobQueue

log = logging.getLogger("vidserve.reaper")


async def reap_forever(
    queue: JobQueue,
    *,
    interval: float,
    max_attempts: int,
    clock: Callable[[], float],
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        try:
            reaped = await queue.reap(clock(), max_attempts)
            if reaped.requeued or reaped.failed:
                log.warning(
                    "reaped expired leases: requeued=%s failed=%s", reaped.requeued, reaped.failed
                )
        except Exception:  # the database may be restarting; try again next round
            log.exception("reaper round failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
