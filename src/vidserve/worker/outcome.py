"""How a job ended, decided once, and the one function that records it.

A job's run ends in exactly one :class:`Outcome` (:func:`decide` maps what happened to it);
:func:`record` makes it so with one fenced queue write and the file clean-up that goes with it:

=============  =========================================  ==================================
action         queue write (guarded by id and attempt)    files
=============  =========================================  ==================================
``complete``   ``complete`` (read back if unanswered)     other attempts' removed
``fail``       ``fail`` with the error code and message   this attempt's (all, if deleted)
``release``    ``release``: queued again for any worker   this attempt's
``discard``    none: the lease is gone, another owns it   this attempt's
=============  =========================================  ==================================

Trouble with the infrastructure is never the job's fault: a database or bucket that does not
answer hands the job back while attempts remain, and fails it after the last one. A queue
write is retried while the database does not answer (every write is fenced by the attempt,
so retrying is safe); a ``complete`` that gets no answer is resolved by reading the row back,
since a commit whose reply was lost leaves the job completed with this attempt's files.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from vidserve import ids
from vidserve.domain import Claim, VideoStatus
from vidserve.engine.base import GenerationCancelled, GenerationFailed
from vidserve.errors import storage_full
from vidserve.queue.jobs import JobQueue
from vidserve.store.blobs import BlobStore, BlobUnavailable
from vidserve.store.database import is_transient
from vidserve.store.videos import VideoStore
from vidserve.worker.group import DeviceGroupFailed

log = logging.getLogger("vidserve.worker")

T = TypeVar("T")

CANCELLED_MESSAGE = "The video was deleted while it was being generated."


class Action(Enum):
    COMPLETE = "complete"
    FAIL = "fail"
    RELEASE = "release"
    DISCARD = "discard"


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    label: str  # the ``outcome`` label of the job's metrics
    code: str | None = None  # fail: ``video.error.code`` ...
    message: str | None = None  # ... and its message
    deleted: bool = False  # fail: the client deleted the video; remove every file of it


COMPLETE = Outcome(Action.COMPLETE, "completed")


@dataclass(frozen=True, slots=True)
class Stop:
    """Why a job was told to stop (its ``should_stop()`` said so)."""

    cancel: bool  # the client deleted the video
    lost: bool  # the lease is gone: another attempt may own the job


def decide(error: BaseException | None, stop: Stop, claim: Claim, max_attempts: int) -> Outcome:
    """The outcome of a run that ended with ``error`` (None: the assets are uploaded)."""
    video = claim.video
    if error is None:
        return COMPLETE
    if isinstance(error, GenerationCancelled):
        if stop.cancel:
            return Outcome(Action.FAIL, "cancelled", "cancelled", CANCELLED_MESSAGE,
                           deleted=True)
        if stop.lost:
            return Outcome(Action.DISCARD, "lost")
        return Outcome(Action.RELEASE, "released")  # the worker is stopping
    infrastructure = _infrastructure(error)
    if infrastructure is not None:
        if claim.attempt < max_attempts:  # another worker, or this one later, runs it again
            return Outcome(Action.RELEASE, "failed", infrastructure)
        reason = INFRASTRUCTURE[infrastructure]
        return Outcome(
            Action.FAIL, "failed", infrastructure,
            f"The video could not be generated: {reason} ({claim.attempt} attempts).",
        )
    if isinstance(error, GenerationFailed):
        return Outcome(Action.FAIL, "failed", error.code, error.message)
    if isinstance(error, MemoryError):
        return Outcome(
            Action.FAIL, "failed", "out_of_memory",
            f"Generating {video.size} for {video.seconds}s with model '{video.model}' ran "
            "out of memory.",
        )
    return Outcome(Action.FAIL, "failed", "internal_error",
                   "The video could not be generated because of an internal error.")


INFRASTRUCTURE = {
    "storage_full": "the server's disk or storage bucket was full",
    "storage_unavailable": "the storage bucket did not answer",
    "database_unavailable": "the database did not answer",
    "device_group_failed": "a rank of the model's device group died or hung",
}


def _infrastructure(error: BaseException) -> str | None:
    """The failing part of the infrastructure (a code of :data:`INFRASTRUCTURE`), if any.
    A full disk or bucket counts even where an engine reported it as its own failure."""
    if storage_full(error) is not None:
        return "storage_full"
    if isinstance(error, GenerationFailed):
        return None
    if isinstance(error, DeviceGroupFailed):
        return "device_group_failed"
    if isinstance(error, BlobUnavailable):
        return "storage_unavailable"
    if is_transient(error):
        return "database_unavailable"
    return None


class Recorder:
    """Records outcomes: the queue write and the files that go with it."""

    def __init__(
        self,
        queue: JobQueue,
        video_store: VideoStore,
        blob_store: BlobStore,
        clock: Callable[[], float],
        *,
        lease_seconds: float,
        expires_after_seconds: int | None,
    ) -> None:
        self.queue = queue
        self.video_store = video_store
        self.blob_store = blob_store
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.expires_after_seconds = expires_after_seconds

    async def record(self, claim: Claim, outcome: Outcome) -> None:
        vid, attempt = claim.video.id, claim.attempt
        if outcome.action is Action.COMPLETE:
            await self._complete(claim)
            return
        if outcome.action is Action.FAIL:
            assert outcome.code is not None and outcome.message is not None
            code, message = outcome.code, outcome.message
            log.warning("job %s attempt %d failed: %s %s", vid, attempt, code, message)
            await self._settle(
                f"fail {vid}", lambda: self.queue.fail(vid, attempt, code, message, self.clock())
            )
        elif outcome.action is Action.RELEASE:
            log.info("job %s attempt %d handed back to the queue (%s)", vid, attempt,
                     outcome.code or "worker stopping")
            await self._settle(f"release {vid}", lambda: self.queue.release(vid, attempt))
        else:
            log.warning("job %s attempt %d lost its lease; discarding", vid, attempt)
        await self._remove(claim, everything=outcome.deleted)

    async def _complete(self, claim: Claim) -> None:
        vid, attempt = claim.video.id, claim.attempt
        done = await self._settle(
            f"complete {vid}",
            lambda: self.queue.complete(vid, attempt, self.clock(), self.expires_after_seconds),
        )
        if not done:
            # Refused, or no answer: read the row back. A commit whose reply was lost
            # (database restart) leaves the job completed with *our* attempt's files.
            row = await self._settle(f"read {vid}", lambda: self.video_store.get_any(vid))
            if row is None:
                log.error("job %s attempt %d: outcome unknown; keeping its files", vid, attempt)
                return
            if not (row.status is VideoStatus.COMPLETED and row.assets_attempt == attempt):
                log.warning("job %s attempt %d was fenced off (status %s, attempt %d)",
                            vid, attempt, row.status.value, row.attempt)
                await self._remove(claim, everything=row.cancel_requested)
                return
        log.info("job %s completed (attempt %d)", vid, attempt)
        for stale in range(1, attempt):  # losing attempts' assets
            await self._delete(ids.attempt_prefix(vid, stale), claim)

    async def _remove(self, claim: Claim, *, everything: bool) -> None:
        """Remove this attempt's files (all of the video's when it was deleted)."""
        vid = claim.video.id
        if everything:
            await self._delete(ids.video_prefix(vid), claim)
            await self._delete(ids.inputs_prefix(vid), claim)
        else:
            await self._delete(ids.attempt_prefix(vid, claim.attempt), claim)

    async def _delete(self, prefix: str, claim: Claim) -> None:
        try:
            await self.blob_store.delete_prefix(prefix)
        except Exception:
            log.exception("could not remove %s (job %s attempt %d)", prefix, claim.video.id,
                          claim.attempt)

    async def _settle(self, what: str, op: Callable[[], Awaitable[T]]) -> T | None:
        """Run a fenced queue write, retrying while the database does not answer (at most
        about a lease; the reaper covers what is left). None: it never got through."""
        deadline = time.monotonic() + max(self.lease_seconds, 10.0)
        delay = 0.2
        while True:
            try:
                return await op()
            except Exception as exc:
                if not is_transient(exc) or time.monotonic() + delay > deadline:
                    log.error("%s: giving up (%s)", what, exc, exc_info=not is_transient(exc))
                    return None
                log.warning("%s: database unavailable (%s); retrying", what, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
