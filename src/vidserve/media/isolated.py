"""Hostile media costs a child process, not the server: probing and re-encoding uploads.

:class:`MediaChildren` runs a module-level function in a fresh child process (forked from a
``forkserver`` that has the media libraries imported already, so a start costs milliseconds)
under an address-space limit (``RLIMIT_AS``) and a wall-clock timeout, at most
``concurrency`` at a time. The result comes back through a pipe. A :class:`MediaError` raised
in the child is raised again in the caller; a child that runs out of memory, crashes or takes
too long is killed and its upload refused with a clear ``MediaError`` (the client's file did
not fit the server's limits). Nothing of the file's decoding ever touches the caller's heap.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import resource
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from vidserve.media.errors import MediaError, MediaSubject

T = TypeVar("T")

_PRELOAD = ["vidserve.media.probe", "vidserve.media.encode"]
_context_lock = threading.Lock()
_context: Any = None


def _forkserver() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            _context = context
        return _context


@dataclass(frozen=True, slots=True)
class ChildLimits:
    memory_bytes: int
    timeout_seconds: float
    concurrency: int


def _child_main(
    conn: multiprocessing.connection.Connection,
    memory_bytes: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    outcome: tuple[Literal["ok", "media", "memory", "error"], Any]
    try:
        outcome = ("ok", fn(*args))
    except MediaError as exc:
        outcome = ("media", (exc.message, exc.subject, exc.code))
    except MemoryError:
        outcome = ("memory", None)
    except Exception as exc:  # the file broke a library: refused, with the library's reason
        outcome = ("error", f"{type(exc).__name__}: {str(exc)[:200]}")
    try:
        conn.send(outcome)
    finally:
        conn.close()


_shared: dict[tuple[ChildLimits, MediaSubject], MediaChildren] = {}


def media_children(limits: ChildLimits, subject: MediaSubject = "video") -> MediaChildren:
    """The process's one pool for these limits (so ``concurrency`` holds process-wide)."""
    with _context_lock:
        found = _shared.get((limits, subject))
        if found is None:
            found = _shared[(limits, subject)] = MediaChildren(limits, subject)
        return found


class MediaChildren:
    def __init__(self, limits: ChildLimits, subject: MediaSubject = "video") -> None:
        self.limits = limits
        self.subject: MediaSubject = subject
        self._slots = threading.BoundedSemaphore(limits.concurrency)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a child; ``fn`` must be a module-level function, args picklable."""
        return await asyncio.to_thread(self._run_in_slot, fn, args)

    def _run_in_slot(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self._slots:
            return self._run(fn, args)

    def _refused(self, why: str) -> MediaError:
        what = "video" if self.subject == "video" else "image"
        return MediaError(
            f"The {what} file could not be processed within this server's limits ({why}).",
            subject=self.subject,
            code=f"invalid_{what}",
        )

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        context = _forkserver()
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(
            target=_child_main,
            args=(sender, self.limits.memory_bytes, fn, args),
            daemon=True,
            name="vidserve-media",
        )
        child.start()
        sender.close()
        try:
            if not receiver.poll(self.limits.timeout_seconds):
                raise self._refused(f"it took longer than {self.limits.timeout_seconds:g} s")
            try:
                kind, payload = receiver.recv()
            except EOFError:
                raise self._refused("the decoder stopped unexpectedly") from None
        finally:
            receiver.close()
            if child.is_alive():
                child.kill()
            child.join(5)
        if kind == "ok":
            return payload  # type: ignore[no-any-return]
        if kind == "media":
            message, subject, code = payload
            raise MediaError(message, subject=subject, code=code)
        if kind == "memory":
            mib = self.limits.memory_bytes // (1024 * 1024)
            raise self._refused(f"decoding it needed more than {mib} MiB")
        raise self._refused(str(payload))
