"""``Worker``: runs jobs from the queue (``concurrency`` at a time) until told to stop.

For each claimed job: build the ``GenerationRequest``, run the backend in a thread (frames
stream straight into the encoder), write progress through the fenced heartbeat after every
step (which also reads ``cancel_requested``), upload the assets under
``videos/{id}/{attempt}/``, then finish with one guarded UPDATE. A lost lease, a cancel or a
drain stops the job at the next step; a stale attempt's files are removed, never shown.

Idle slots sleep on a ``Wakeup`` (LISTEN/NOTIFY on PostgreSQL, a short poll on SQLite).
Trouble with the infrastructure is never the job's fault: a database that does not answer
is retried (every write is fenced by the attempt, so retrying is safe; an ambiguous commit
is resolved by reading the row back), and a bucket that does not answer is retried for
``storage_retry_seconds``, after which the job is handed back to the queue.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import shutil
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from vidserve import ids, scratch
from vidserve import logging as log_context
from vidserve.domain import Claim, Frame, GenerationRequest, Size, VideoStatus
from vidserve.engine.base import GenerationCancelled, GenerationFailed, VideoBackend
from vidserve.engine.loader import load_backend
from vidserve.engine.registry import ModelSpec
from vidserve.errors import storage_full
from vidserve.media.encode import EncodedClip, encode_video
from vidserve.queue.reaper import reap_forever
from vidserve.queue.wakeup import Wakeup, make_wakeup
from vidserve.runtime import Runtime
from vidserve.store.blobs import BlobUnavailable
from vidserve.store.database import is_transient
from vidserve.store.workers import WorkerBeat, WorkerStore
from vidserve.telemetry import worker_metrics
from vidserve.worker.presence import beat_interval, keep_presence
from vidserve.worker.sources import LeadIn, chain_audio, chain_frames, prepare_inputs

log = logging.getLogger("vidserve.worker")

GENERATION_SHARE = 90  # progress 0..90 is generation; encode/upload finish the rest

T = TypeVar("T")


@dataclass
class _JobState:
    progress: int = 0
    cancel: bool = False  # the client deleted the video
    lost: bool = False  # the lease is gone: another attempt may own the job
    last_beat_ok: float = 0.0


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
        self._claimed = 0
        self._wakeup: Wakeup | None = None
        self._stopping = asyncio.Event()
        self._hard_stop = False
        self._backends: dict[str, VideoBackend] = {}
        self.jobs_done = 0
        self.metrics = worker_metrics()
        self._started_at = runtime.clock()

    # -- lifecycle --------------------------------------------------------------------------

    def request_stop(self, grace: float | None = None) -> None:
        """Drain: take no new job; stop the running one after ``grace`` seconds."""
        if self._stopping.is_set():
            self._hard_stop = True  # a second signal: stop now
            return
        self._stopping.set()
        if self._wakeup is not None:
            self._wakeup.poke()  # idle slots exit now
        if self.running:
            log.info("draining: %d job(s) running, grace %.1fs", len(self.running),
                     self.settings.drain_grace_seconds if grace is None else grace)
        loop = asyncio.get_running_loop()
        delay = self.settings.drain_grace_seconds if grace is None else grace
        loop.call_later(delay, self._set_hard_stop)

    def _set_hard_stop(self) -> None:
        self._hard_stop = True

    def _parent_gone(self) -> bool:
        return self.parent_pid is not None and os.getppid() != self.parent_pid

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
            await self._wakeup.close()
            reaper_stop.set()
            if reaper_task is not None:
                await reaper_task

    def _describe(self) -> WorkerBeat:
        return WorkerBeat(
            id=self.id, host=socket.gethostname(), pid=os.getpid(), models=tuple(self.models),
            current_job=tuple(self.running), started_at=self._started_at,
            last_beat=self.rt.clock(),
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
            self.running[claim.video.id] = claim
            try:
                await self.run_job(claim)
            finally:
                self.running.pop(claim.video.id, None)
            self.jobs_done += 1

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    # -- one job ----------------------------------------------------------------------------

    def _backend(self, spec: ModelSpec) -> VideoBackend:
        backend = self._backends.get(spec.name)
        if backend is None:
            backend = load_backend(spec, step_delay=self.settings.procedural_step_delay,
                                   caption=self.settings.procedural_caption)
            self._backends[spec.name] = backend
        return backend

    async def _beat(self, claim: Claim, state: _JobState) -> None:
        now = self.rt.clock()
        try:
            beat = await self.rt.queue.heartbeat(
                claim.video.id, claim.attempt, state.progress, self.settings.lease_seconds, now
            )
        except Exception:
            log.exception("heartbeat failed for %s", claim.video.id)
            if now - state.last_beat_ok > self.settings.lease_seconds:
                state.lost = True
            return
        state.last_beat_ok = now
        state.lost = state.lost or not beat.alive
        state.cancel = state.cancel or beat.cancel

    async def _keep_lease(self, claim: Claim, state: _JobState) -> None:
        interval = min(max(self.settings.lease_seconds / 3, 0.05), 2.0)
        while True:
            await asyncio.sleep(interval)
            await self._beat(claim, state)
            if self._parent_gone():
                self._hard_stop = True

    async def _request_for(self, claim: Claim) -> GenerationRequest:
        video = claim.video
        size = Size.parse(video.size)
        reference = None
        if video.input_reference_key:
            data = await self.rt.blobs.get_bytes(video.input_reference_key)
            reference = await asyncio.to_thread(_png_to_frame, data)
        source_prompt = None
        source_video = None
        served = self.rt.registry.get(video.model)
        if video.remixed_from_video_id:
            source = await self.rt.videos.get_any(video.remixed_from_video_id)
            source_prompt = source.prompt if source is not None else None
            if (
                source is not None
                and source.assets_attempt is not None
                and served is not None
                and served.capabilities.remix_from_source
            ):
                # the model re-generates conditioned on the source clip (video-to-video)
                key = ids.asset_key(source.id, source.assets_attempt, "video")
                try:
                    source_video = await self.rt.blobs.get_bytes(key)
                except Exception:
                    log.warning("remix %s: source %s is gone; generating from its seed only",
                                video.id, source.id, exc_info=True)
        fps = served.capabilities.fps if served is not None else 24
        return GenerationRequest(
            model=video.model,
            prompt=video.prompt,
            width=size.width,
            height=size.height,
            seconds=video.seconds,
            seed=video.seed,
            fps=fps,
            reference_image=reference,
            source_prompt=source_prompt,
            source_video=source_video,
        )

    async def run_job(self, claim: Claim) -> None:
        video = claim.video
        logged_as = log_context.video_id.set(video.id)  # every log line of this job carries it
        timer = self.metrics.job_started(video.model, video.created_at, self.rt.clock())
        outcome = "failed"
        log.info("job %s attempt %d: %s %s %ss", video.id, claim.attempt, video.model,
                 video.size, video.seconds)
        state = _JobState(last_beat_ok=self.rt.clock())
        loop = asyncio.get_running_loop()
        keeper = asyncio.create_task(self._keep_lease(claim, state))
        workdir = scratch.make("job")

        def on_step(done: int, total: int) -> None:
            state.progress = min(GENERATION_SHARE, done * GENERATION_SHARE // max(total, 1))
            self.metrics.step(timer, done)
            asyncio.run_coroutine_threadsafe(self._beat(claim, state), loop).result()

        def should_stop() -> bool:
            return state.cancel or state.lost or self._hard_stop

        try:
            served = self.rt.registry.get(video.model)
            if served is None:
                raise GenerationFailed(
                    "model_unavailable", f"Model '{video.model}' is not served any more."
                )
            try:
                backend = self._backend(served.spec)
            except Exception as exc:
                log.exception("loading model %s failed", served.spec.name)
                raise GenerationFailed(
                    "model_unavailable", f"Model '{video.model}' could not be loaded."
                ) from exc
            request = await self._request_for(claim)
            # edits, extensions, characters: the source clip, the lead-in, the character clips
            request, lead_in = await prepare_inputs(self.rt, video, request, workdir)
            clip = await asyncio.to_thread(
                self._render, backend, request, on_step, should_stop, workdir / "video.mp4",
                lead_in,
            )
            state.progress = 95
            await self._beat(claim, state)
            if should_stop():
                raise GenerationCancelled()
            await self._upload_retrying(claim, clip, workdir / "video.mp4", should_stop)
            await self._finish(claim)
            outcome = "completed"
        except GenerationCancelled:
            outcome = "cancelled" if state.cancel else "lost" if state.lost else "released"
            await self._after_stop(claim, state)
        except GenerationFailed as exc:
            if storage_full(exc) is not None:  # writing the clip or its inputs ran out of space
                await self._infrastructure_failed(claim, "storage_full", str(exc))
            else:
                log.warning("job %s failed: %s %s", video.id, exc.code, exc.message)
                await self._fail(claim, exc.code, exc.message)
        except MemoryError:
            log.exception("job %s ran out of memory", video.id)
            await self._fail(
                claim, "out_of_memory",
                f"Generating {video.size} for {video.seconds}s with model '{video.model}' ran "
                "out of memory.")
        except Exception as exc:
            if storage_full(exc) is not None:  # a full disk or bucket: not the job's fault
                await self._infrastructure_failed(claim, "storage_full", str(exc))
            elif isinstance(exc, BlobUnavailable):
                await self._infrastructure_failed(claim, "storage_unavailable", str(exc))
            elif is_transient(exc):
                await self._infrastructure_failed(claim, "database_unavailable", str(exc))
            else:
                log.exception("job %s crashed", video.id)
                await self._fail(
                    claim, "internal_error",
                    "The video could not be generated because of an internal error.")
        finally:
            keeper.cancel()
            shutil.rmtree(workdir, ignore_errors=True)
            self.metrics.job_finished(timer, outcome)
            log_context.video_id.reset(logged_as)

    def _render(
        self,
        backend: VideoBackend,
        request: GenerationRequest,
        on_step: object,
        should_stop: object,
        path: Path,
        lead_in: LeadIn | None = None,
    ) -> EncodedClip:
        clip = backend.generate(request, on_step, should_stop)  # type: ignore[arg-type]
        # an extension's file is the source's frames, then the new segment's
        frames, expected = chain_frames(lead_in, request, clip.frames)
        return encode_video(
            frames,
            path,
            width=request.width,
            height=request.height,
            fps=request.fps,
            expected_frames=expected,
            preset=self.settings.x264_preset,
            crf=self.settings.x264_crf,
            audio=chain_audio(lead_in, request, clip.audio),
            audio_track=self.settings.silent_audio_track,
        )

    async def _upload(self, claim: Claim, clip: EncodedClip, video_path: Path) -> None:
        vid, attempt = claim.video.id, claim.attempt
        await self.rt.blobs.put_file(ids.asset_key(vid, attempt, "video"), video_path)
        await self.rt.blobs.put_bytes(ids.asset_key(vid, attempt, "thumbnail"), clip.thumbnail)
        await self.rt.blobs.put_bytes(
            ids.asset_key(vid, attempt, "spritesheet"), clip.spritesheet
        )

    async def _upload_retrying(
        self, claim: Claim, clip: EncodedClip, video_path: Path, should_stop: Callable[[], bool]
    ) -> None:
        """Upload; while the bucket does not answer, keep the lease and try again (the clip
        is on local disk: re-generating it would cost far more than waiting)."""
        deadline = time.monotonic() + self.settings.storage_retry_seconds
        delay = 0.5
        while True:
            try:
                await self._upload(claim, clip, video_path)
                return
            except BlobUnavailable as exc:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("job %s: upload failed (%s); retrying in %.1fs",
                            claim.video.id, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            if should_stop():
                raise GenerationCancelled()

    async def _settle(self, what: str, op: Callable[[], Awaitable[T]]) -> T | None:
        """Run a fenced queue write, retrying while the database does not answer (at most
        about a lease; the reaper covers what is left). None: it never got through."""
        deadline = time.monotonic() + max(self.settings.lease_seconds, 10.0)
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

    async def _finish(self, claim: Claim) -> None:
        vid, attempt = claim.video.id, claim.attempt
        done = await self._settle(
            f"complete {vid}",
            lambda: self.rt.queue.complete(
                vid, attempt, self.rt.clock(), self.settings.expires_after_seconds
            ),
        )
        if not done:
            # Refused, or no answer: read the row back. A commit whose reply was lost
            # (database restart) leaves the job completed with *our* attempt's files.
            row = await self._settle(f"read {vid}", lambda: self.rt.videos.get_any(vid))
            if row is None:
                log.error("job %s attempt %d: outcome unknown; keeping its files", vid, attempt)
                return
            done = row.status is VideoStatus.COMPLETED and row.assets_attempt == attempt
            if not done:
                log.warning("job %s attempt %d was fenced off (status %s, attempt %d)",
                            vid, attempt, row.status.value, row.attempt)
                await self._discard(claim, cancelled=row.cancel_requested)
                return
        log.info("job %s completed (attempt %d)", vid, attempt)
        await self._drop_other_attempts(claim)

    async def _fail(self, claim: Claim, code: str, message: str) -> None:
        await self._settle(
            f"fail {claim.video.id}",
            lambda: self.rt.queue.fail(claim.video.id, claim.attempt, code, message,
                                       self.rt.clock()),
        )
        await self._discard(claim, cancelled=False)

    async def _infrastructure_failed(self, claim: Claim, code: str, detail: str) -> None:
        """The database or the bucket did not answer: hand the job back while attempts
        remain (another worker, or this one later, runs it again), else fail it."""
        vid, attempt = claim.video.id, claim.attempt
        if attempt < self.settings.max_attempts:
            log.warning("job %s attempt %d handed back: %s (%s)", vid, attempt, code, detail)
            await self._settle(f"release {vid}", lambda: self.rt.queue.release(vid, attempt))
            await self._discard(claim, cancelled=False)
        else:
            log.error("job %s failed after %d attempts: %s (%s)", vid, attempt, code, detail)
            reason = {
                "storage_unavailable": "the storage bucket did not answer",
                "storage_full": "the server's disk or storage bucket was full",
            }.get(code, "the database did not answer")
            await self._fail(claim, code, f"The video could not be generated: {reason} "
                             f"({attempt} attempts).")

    async def _after_stop(self, claim: Claim, state: _JobState) -> None:
        vid, attempt = claim.video.id, claim.attempt
        if state.cancel:
            log.info("job %s cancelled at %d%%", vid, state.progress)
            await self._settle(
                f"cancel {vid}",
                lambda: self.rt.queue.fail(
                    vid, attempt, "cancelled",
                    "The video was deleted while it was being generated.", self.rt.clock()),
            )
            await self._discard(claim, cancelled=True)
        elif state.lost:
            log.warning("job %s attempt %d lost its lease; discarding", vid, attempt)
            await self._discard(claim, cancelled=False)
        else:
            log.info("job %s attempt %d released (worker stopping)", vid, attempt)
            await self._settle(f"release {vid}", lambda: self.rt.queue.release(vid, attempt))
            await self._discard(claim, cancelled=False)

    async def _discard(self, claim: Claim, *, cancelled: bool) -> None:
        """Remove this attempt's files (all of the video's when it was deleted)."""
        vid = claim.video.id
        try:
            if cancelled:
                await self.rt.blobs.delete_prefix(ids.video_prefix(vid))
                await self.rt.blobs.delete_prefix(ids.inputs_prefix(vid))
            else:
                await self.rt.blobs.delete_prefix(f"{ids.video_prefix(vid)}{claim.attempt}/")
        except Exception:
            log.exception("could not remove files of %s attempt %d", vid, claim.attempt)

    async def _drop_other_attempts(self, claim: Claim) -> None:
        for attempt in range(1, claim.attempt):
            try:
                await self.rt.blobs.delete_prefix(f"{ids.video_prefix(claim.video.id)}{attempt}/")
            except Exception:
                log.exception("could not remove stale attempt %d of %s", attempt, claim.video.id)


def _png_to_frame(data: bytes) -> Frame:
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


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
