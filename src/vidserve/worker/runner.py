"""``Worker``: runs jobs from the queue (``concurrency`` at a time) until told to stop.

The loop: ``concurrency`` slots each claim a job (one guarded statement, which bumps the
attempt that fences every later write), run it (:class:`vidserve.worker.job.Job`) and claim
the next; idle slots sleep on a ``Wakeup`` (LISTEN/NOTIFY on PostgreSQL, a short poll on
SQLite). The worker keeps one loaded backend per model (the model cache), runs the reaper
beside the slots, keeps its row in the ``workers`` table (:mod:`vidserve.worker.presence`),
and drains on SIGTERM/SIGINT: no new claims, running jobs stop after
``drain_grace_seconds`` (a second signal: at once) and are handed back to the queue. The
embedded worker also stops when its parent process is gone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time

from vidserve import ids, scratch
from vidserve.domain import Claim
from vidserve.engine.base import GenerationFailed, Preloadable, VideoBackend
from vidserve.engine.loader import load_backend
from vidserve.engine.registry import ModelSpec
from vidserve.queue.reaper import reap_forever
from vidserve.queue.wakeup import Wakeup, make_wakeup
from vidserve.runtime import Runtime
from vidserve.store.database import is_transient
from vidserve.store.workers import GroupInfo, WorkerBeat, WorkerStore
from vidserve.telemetry import worker_metrics
from vidserve.worker.group import DeviceGroup, GroupStatus
from vidserve.worker.inputs import InputLoader
from vidserve.worker.job import Job, JobEnv
from vidserve.worker.outcome import Outcome, Recorder
from vidserve.worker.presence import beat_interval, keep_presence

log = logging.getLogger("vidserve.worker")


class Worker:
    def __init__(
        self,
        runtime: Runtime,
        *,
        models: list[str] | None = None,
        parent_pid: int | None = None,
        reaper: bool = True,
        concurrency: int | None = None,
    ) -> None:
        self.rt = runtime
        self.settings = runtime.settings
        self.id = ids.new_worker_id(socket.gethostname(), os.getpid())
        self.models = models or runtime.registry.names()
        self.parent_pid = parent_pid
        self.reaper = reaper
        self.concurrency = concurrency or self.settings.worker_concurrency
        self.running: dict[str, Claim] = {}
        self.jobs_done = 0
        self._claimed = 0
        self._wakeup: Wakeup | None = None
        self._stopping = asyncio.Event()
        self._hard_stop = False
        self._backends: dict[str, VideoBackend] = {}
        self._started_at = runtime.clock()
        self.env = JobEnv(
            runtime=runtime,
            backend_for=self._backend,
            halted=self._halted,
            loader=InputLoader(runtime.blob_store, runtime.video_store, runtime.character_store),
            recorder=Recorder(
                runtime.queue, runtime.video_store, runtime.blob_store, runtime.clock,
                lease_seconds=self.settings.lease_seconds,
                expires_after_seconds=self.settings.expires_after_seconds,
            ),
            metrics=worker_metrics(),
        )

    # -- signals and drain --------------------------------------------------------------------

    def request_stop(self, grace: float | None = None) -> None:
        """Drain: take no new job; stop the running one after ``grace`` seconds."""
        if self._stopping.is_set():
            self._hard_stop = True  # a second signal: stop now
            return
        self._stopping.set()
        if self._wakeup is not None:
            self._wakeup.poke()  # idle slots exit now
        delay = self.settings.drain_grace_seconds if grace is None else grace
        if self.running:
            log.info("draining: %d job(s) running, grace %.1fs", len(self.running), delay)
        asyncio.get_running_loop().call_later(delay, self._set_hard_stop)

    def _set_hard_stop(self) -> None:
        self._hard_stop = True

    def _parent_gone(self) -> bool:
        return self.parent_pid is not None and os.getppid() != self.parent_pid

    def _halted(self) -> bool:
        """Running jobs must stop now: the drain's grace is over, or the parent is gone."""
        return self._hard_stop or self._parent_gone()

    # -- the loop -----------------------------------------------------------------------------

    async def run(self, *, max_jobs: int | None = None) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.request_stop)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        reaper_stop = asyncio.Event()
        reaper_task = None
        if self.reaper:
            reaper_task = asyncio.create_task(
                reap_forever(
                    self.rt.queue,
                    interval=self.settings.reaper_interval_seconds,
                    max_attempts=self.settings.max_attempts,
                    clock=self.rt.clock,
                    stop=reaper_stop,
                )
            )
        listen_poll = self.settings.wakeup_poll_seconds
        if self.parent_pid is not None:  # the embedded worker also watches its parent
            listen_poll = min(listen_poll, 1.0)
        self._wakeup = make_wakeup(
            self.rt.db, self.models, poll=self.settings.poll_interval_seconds,
            listen_poll=listen_poll,
        )
        await self._wakeup.start()
        self._start_groups()
        await self._warm_up()
        presence_stop = asyncio.Event()
        presence = asyncio.create_task(keep_presence(
            WorkerStore(self.rt.db), self._describe,
            beat_interval(self.settings.lease_seconds), presence_stop,
        ))
        log.info("worker %s serving models %s, %d at a time (%s)", self.id,
                 ", ".join(self.models), self.concurrency,
                 "LISTEN/NOTIFY" if self._wakeup.listening else "polling")
        try:
            await asyncio.gather(*(self._slot(max_jobs) for _ in range(self.concurrency)))
        finally:
            presence_stop.set()
            await presence
            await asyncio.to_thread(self._close_groups)
            await self._wakeup.close()
            reaper_stop.set()
            if reaper_task is not None:
                await reaper_task

    def _describe(self) -> WorkerBeat:
        return WorkerBeat(
            id=self.id, host=socket.gethostname(), pid=os.getpid(), models=tuple(self.models),
            current_job=tuple(self.running), started_at=self._started_at,
            last_beat=self.rt.clock(),
            groups=tuple(GroupInfo(g.model, g.ranks, g.state, g.restarts, g.reason)
                         for g in self.groups()),
        )

    async def _slot(self, max_jobs: int | None) -> None:
        """One job at a time: claim, run, repeat; sleep on the wake-up when the queue is empty."""
        assert self._wakeup is not None
        wakeup = self._wakeup
        while not self._stopping.is_set():
            if self._parent_gone():
                log.warning("parent process is gone; worker exits")
                self._stopping.set()
                wakeup.poke()
                break
            if max_jobs is not None and self._claimed >= max_jobs:
                break
            seen = wakeup.generation
            self._claimed += 1  # reserved before the await, so max_jobs holds across slots
            try:
                claim = await self.rt.queue.claim(
                    self.id, self.models, self.settings.lease_seconds, self.rt.clock()
                )
            except Exception as exc:
                self._claimed -= 1
                log.warning("claim failed (%s); retrying", exc,
                            exc_info=not is_transient(exc))
                await self._pause(1.0)
                continue
            if claim is None:
                self._claimed -= 1
                await wakeup.wait(seen)
                continue
            await self.run_job(claim)

    async def run_job(self, claim: Claim) -> Outcome:
        self.running[claim.video.id] = claim
        try:
            return await Job(claim, self.env).run()
        finally:
            self.running.pop(claim.video.id, None)
            self.jobs_done += 1

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    # -- the model cache ----------------------------------------------------------------------

    def _backend(self, spec: ModelSpec) -> VideoBackend:
        backend = self._backends.get(spec.name)
        if backend is None:
            if spec.diffusers is not None and spec.diffusers.parallel is not None:
                group = DeviceGroup(  # one job on several devices: rank processes
                    spec, log_level=self.settings.log_level,
                    log_format=self.settings.log_format,
                )
                group.start()
                backend = group
            else:
                backend = load_backend(spec, caption=self.settings.procedural_caption)
            self._backends[spec.name] = backend
        return backend

    def _start_groups(self) -> None:
        """The ranks of models served on a device group start with the worker (loading
        takes minutes; ``vidserve status`` shows them starting)."""
        for name in self.models:
            served = self.rt.registry.get(name)
            if served is not None and served.spec.diffusers is not None and (
                    served.spec.diffusers.parallel is not None):
                self._backend(served.spec)

    async def _warm_up(self) -> None:
        """Compiled models load (and compile) before the first claim, so no job pays for it."""
        for name in self.models:
            served = self.rt.registry.get(name)
            if served is None or served.spec.diffusers is None or (
                    served.spec.diffusers.parallel is not None
                    or served.spec.diffusers.speed.compile == "off"):
                continue
            backend = self._backend(served.spec)
            if not isinstance(backend, Preloadable):  # an operator's wrap may hide it
                continue
            log.info("model %s: loading before the first claim (compile = %s)", name,
                     served.spec.diffusers.speed.compile)
            try:
                await asyncio.to_thread(backend.load)
            except GenerationFailed as exc:  # its jobs fail with the same reason
                log.warning("model %s is unavailable: %s", name, exc.message)

    def groups(self) -> list[GroupStatus]:
        return [b.status() for b in self._backends.values() if isinstance(b, DeviceGroup)]

    def _close_groups(self) -> None:
        for backend in self._backends.values():
            if isinstance(backend, DeviceGroup):
                backend.close()


async def run_worker(runtime: Runtime, *, models: list[str] | None = None,
                     parent_pid: int | None = None, concurrency: int | None = None) -> None:
    scratch.sweep()  # what a killed worker (or server) on this machine left in TMPDIR
    worker = Worker(runtime, models=models, parent_pid=parent_pid, concurrency=concurrency)
    started = time.monotonic()
    try:
        await worker.run()
    finally:
        log.info("worker %s stopped after %d jobs in %.0fs", worker.id, worker.jobs_done,
                 time.monotonic() - started)
