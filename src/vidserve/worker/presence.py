"""The worker's row in the ``workers`` table, refreshed every ``interval`` seconds.

What it says: host, pid, the models served, the jobs running now. A database that does not
answer is retried at the next beat (presence is advisory: the queue's leases stay the truth
about jobs). On a clean stop the row is removed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from vidserve.store.workers import WorkerBeat, WorkerStore

log = logging.getLogger("vidserve.worker")


def beat_interval(lease_seconds: float) -> float:
    """Often enough that a reader calling a worker dead after one lease is never wrong."""
    return max(0.05, min(5.0, lease_seconds / 3))


async def keep_presence(
    store: WorkerStore, describe: Callable[[], WorkerBeat], interval: float, stop: asyncio.Event
) -> None:
    worker_id = describe().id
    try:
        while not stop.is_set():
            try:
                await store.beat(describe())
            except Exception:
                log.warning("worker heartbeat not recorded; retrying", exc_info=True)
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass
    finally:
        try:
            await store.remove(worker_id)
        except Exception:
            log.warning("could not remove worker %s from the workers table", worker_id)
