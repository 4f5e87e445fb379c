"""``Worker``: runs jobs from the queue, one at a time per worker, until told to stop.

For each claimed job: build the ``GenerationRequest``, run the backend in a thread (frames
stream straight into the encoder), write progress through the fenced heartbeat after every
step (which also reads ``cancel_requested``), upload the assets under
``videos/{id}/{attempt}/``, then finish with one guarded UPDATE. A lost lease, a cancel or a
drain stops the job at the next step; a stale attempt's files are removed, never shown.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vidserve import ids
from vidserve.domain import Claim, Frame, GenerationRequest, Size
from vidserve.engine.base import GenerationCancelled, GenerationFailed, VideoBackend
from vidserve.engine.registry import ModelSpec, load_backend
from vidserve.media.encode import EncodedClip, encode_video
from vidserve.queue.reaper import reap_forever
from vidserve.runtime import Runtime

log = logging.getLogger("vidserve.worker")

GENERATION_SHARE = 90  # progress 0..90 is generation; encode/upload finish the rest


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
    ) -> None:
        self.rt = runtime
        self.settings = runtime.settings
        self.id = ids.new_worker_id(socket.gethostname(), os.getpid())
        self.models = models or runtime.registry.names()
        self.parent_pid = parent_pid
        self.reaper = reaper
        self._stopping = asyncio.Event()
        self._hard_stop = False
        self._backends: dict[str, VideoBackend] = {}
        self.jobs_done = 0

    # -- lifecycle --------------------------------------------------------------------------

    def request_stop(self, grace: float | None = None) -> None:
        """Drain: take no new job; stop the running one after ``grace`` seconds."""
        if self._stopping.is_set():
            self._hard_stop = True  # a second signal: stop now
            return
        self._stopping.set()
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
        log.info("worker %s serving models %s", self.id, ", ".join(self.models))
        try:
            while not self._stopping.is_set():
                if self._parent_gone():
                    log.warning("parent process is gone; worker exits")
                    break
                try:
                    claim = await self.rt.queue.claim(
                        self.id, self.models, self.settings.lease_seconds, self.rt.clock()
                    )
                except Exception:
                    log.exception("claim failed; retrying")
                    claim = None
                    await asyncio.sleep(1.0)
                if claim is None:
                    try:
                        await asyncio.wait_for(
                            self._stopping.wait(), timeout=self.settings.poll_interval_seconds
                        )
                    except TimeoutError:
                        pass
                    continue
                await self.run_job(claim)
                self.jobs_done += 1
                if max_jobs is not None and self.jobs_done >= max_jobs:
                    break
        finally:
            reaper_stop.set()
            if reaper_task is not None:
                await reaper_task

    # -- one job ----------------------------------------------------------------------------

    def _backend(self, spec: ModelSpec) -> VideoBackend:
        backend = self._backends.get(spec.name)
        if backend is None:
            backend = load_backend(spec, step_delay=self.settings.procedural_step_delay)
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
        if video.remixed_from_video_id:
            source = await self.rt.videos.get_any(video.remixed_from_video_id)
            source_prompt = source.prompt if source is not None else None
        served = self.rt.registry.get(video.model)
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
        )

    async def run_job(self, claim: Claim) -> None:
        video = claim.video
        log.info("job %s attempt %d: %s %s %ss", video.id, claim.attempt, video.model,
                 video.size, video.seconds)
        state = _JobState(last_beat_ok=self.rt.clock())
        loop = asyncio.get_running_loop()
        keeper = asyncio.create_task(self._keep_lease(claim, state))
        workdir = Path(tempfile.mkdtemp(prefix="vidserve-job-"))

        def on_step(done: int, total: int) -> None:
            state.progress = min(GENERATION_SHARE, done * GENERATION_SHARE // max(total, 1))
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
            clip = await asyncio.to_thread(
                self._render, backend, request, on_step, should_stop, workdir / "video.mp4"
            )
            state.progress = 95
            await self._beat(claim, state)
            if should_stop():
                raise GenerationCancelled()
            await self._upload(claim, clip, workdir / "video.mp4")
            finished = await self.rt.queue.complete(
                video.id, claim.attempt, self.rt.clock(), self.settings.expires_after_seconds
            )
            if finished:
                log.info("job %s completed (attempt %d)", video.id, claim.attempt)
                await self._drop_other_attempts(claim)
            else:
                await self._discard(claim, cancelled=await self._was_cancelled(claim))
        except GenerationCancelled:
            await self._after_stop(claim, state)
        except GenerationFailed as exc:
            log.warning("job %s failed: %s %s", video.id, exc.code, exc.message)
            await self.rt.queue.fail(video.id, claim.attempt, exc.code, exc.message,
                                     self.rt.clock())
            await self._discard(claim, cancelled=False)
        except MemoryError:
            log.exception("job %s ran out of memory", video.id)
            await self.rt.queue.fail(
                video.id, claim.attempt, "out_of_memory",
                f"Generating {video.size} for {video.seconds}s with model '{video.model}' ran "
                "out of memory.", self.rt.clock())
            await self._discard(claim, cancelled=False)
        except Exception:
            log.exception("job %s crashed", video.id)
            await self.rt.queue.fail(
                video.id, claim.attempt, "internal_error",
                "The video could not be generated because of an internal error.",
                self.rt.clock())
            await self._discard(claim, cancelled=False)
        finally:
            keeper.cancel()
            shutil.rmtree(workdir, ignore_errors=True)

    def _render(
        self,
        backend: VideoBackend,
        request: GenerationRequest,
        on_step: object,
        should_stop: object,
        path: Path,
    ) -> EncodedClip:
        frames = backend.generate(request, on_step, should_stop)  # type: ignore[arg-type]
        return encode_video(
            frames,
            path,
            width=request.width,
            height=request.height,
            fps=request.fps,
            expected_frames=request.num_frames,
            preset=self.settings.x264_preset,
            crf=self.settings.x264_crf,
        )

    async def _upload(self, claim: Claim, clip: EncodedClip, video_path: Path) -> None:
        vid, attempt = claim.video.id, claim.attempt
        await self.rt.blobs.put_file(ids.asset_key(vid, attempt, "video"), video_path)
        await self.rt.blobs.put_bytes(ids.asset_key(vid, attempt, "thumbnail"), clip.thumbnail)
        await self.rt.blobs.put_bytes(
            ids.asset_key(vid, attempt, "spritesheet"), clip.spritesheet
        )

    async def _was_cancelled(self, claim: Claim) -> bool:
        row = await self.rt.videos.get_any(claim.video.id)
        return row is not None and row.cancel_requested

    async def _after_stop(self, claim: Claim, state: _JobState) -> None:
        vid, attempt = claim.video.id, claim.attempt
        if state.cancel:
            log.info("job %s cancelled at %d%%", vid, state.progress)
            await self.rt.queue.fail(
                vid, attempt, "cancelled",
                "The video was deleted while it was being generated.", self.rt.clock())
            await self._discard(claim, cancelled=True)
        elif state.lost:
            log.warning("job %s attempt %d lost its lease; discarding", vid, attempt)
            await self._discard(claim, cancelled=False)
        else:
            log.info("job %s attempt %d released (worker stopping)", vid, attempt)
            await self.rt.queue.release(vid, attempt)
            await self._discard(claim, cancelled=False)

    async def _discard(self, claim: Claim, *, cancelled: bool) -> None:
        """Remove this attempt's files (all of the video's when it was deleted)."""
        vid = claim.video.id
        try:
            if cancelled:
                await self.rt.blobs.delete_prefix(ids.video_prefix(vid))
                await self.rt.blobs.delete_prefix(f"inputs/{vid}/")
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
                     parent_pid: int | None = None) -> None:
    worker = Worker(runtime, models=models, parent_pid=parent_pid)
    started = time.monotonic()
    try:
        await worker.run()
    finally:
        log.info("worker %s stopped after %d jobs in %.0fs", worker.id, worker.jobs_done,
                 time.monotonic() - started)
