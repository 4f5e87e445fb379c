"""One claimed job, from its inputs to its recorded outcome.

:meth:`Job.run` keeps the lease while it works: a fenced heartbeat every few seconds and
after every engine step writes progress and reads ``cancel_requested``; zero rows means the
lease was lost. It loads the inputs (:mod:`vidserve.worker.inputs`), runs the engine in a
thread with its frames streaming straight into the encoder, uploads the assets under
``videos/{id}/{attempt}/`` (while the bucket does not answer, for up to
``storage_retry_seconds``: the clip is on local disk, re-generating it would cost far more
than waiting), then decides the one outcome and records it (:mod:`vidserve.worker.outcome`).
A lost lease, a cancel or a worker that must stop ends the job at the next step.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vidserve import ids, scratch
from vidserve import logging as log_context
from vidserve.domain import Claim
from vidserve.engine.base import GenerationCancelled, GenerationFailed, VideoBackend
from vidserve.engine.registry import ModelSpec
from vidserve.media.encode import EncodedClip, encode_video
from vidserve.runtime import Runtime
from vidserve.store.blobs import BlobUnavailable
from vidserve.telemetry import JobTimer, WorkerMetrics
from vidserve.worker.inputs import InputLoader, Inputs
from vidserve.worker.outcome import Outcome, Recorder, Stop, decide

log = logging.getLogger("vidserve.worker")

GENERATION_SHARE = 90  # progress 0..90 is generation; encode/upload finish the rest


@dataclass(frozen=True, slots=True)
class JobEnv:
    """What every job of one worker shares."""

    runtime: Runtime
    backend_for: Callable[[ModelSpec], VideoBackend]  # the worker's model cache
    halted: Callable[[], bool]  # the worker must stop now (drain grace over, parent gone)
    loader: InputLoader
    recorder: Recorder
    metrics: WorkerMetrics


class Job:
    def __init__(self, claim: Claim, env: JobEnv) -> None:
        self.claim = claim
        self.env = env
        self.rt = env.runtime
        self.settings = env.runtime.settings
        self.progress = 0
        self.cancel = False  # the client deleted the video
        self.lost = False  # the lease is gone: another attempt may own the job
        self.last_beat_ok = self.rt.clock()

    def should_stop(self) -> bool:
        return self.cancel or self.lost or self.env.halted()

    async def run(self) -> Outcome:
        video, attempt = self.claim.video, self.claim.attempt
        logged_as = log_context.video_id.set(video.id)  # every log line of this job carries it
        timer = self.env.metrics.job_started(video.model, video.created_at, self.rt.clock())
        log.info("job %s attempt %d: %s %s %ss", video.id, attempt, video.model, video.size,
                 video.seconds)
        keeper = asyncio.create_task(self._keep_lease())
        workdir = scratch.make("job")
        outcome = None
        try:
            error: Exception | None = None
            try:
                await self._work(workdir, timer)
            except Exception as exc:
                error = exc
            outcome = decide(error, Stop(cancel=self.cancel, lost=self.lost), self.claim,
                             self.settings.max_attempts)
            if outcome.code in ("internal_error", "out_of_memory"):
                log.error("job %s attempt %d crashed", video.id, attempt, exc_info=error)
            await self.env.recorder.record(self.claim, outcome)
            return outcome
        finally:
            keeper.cancel()
            shutil.rmtree(workdir, ignore_errors=True)
            self.env.metrics.job_finished(timer, outcome.label if outcome else "failed")
            log_context.video_id.reset(logged_as)

    async def _work(self, workdir: Path, timer: JobTimer) -> None:
        """Render, encode and upload; raises what :func:`~vidserve.worker.outcome.decide`
        turns into the outcome."""
        video = self.claim.video
        served = self.rt.registry.get(video.model)
        if served is None:
            raise GenerationFailed(
                "model_unavailable", f"Model '{video.model}' is not served any more."
            )
        try:
            backend = self.env.backend_for(served.spec)
        except Exception as exc:
            log.exception("loading model %s failed", served.spec.name)
            raise GenerationFailed(
                "model_unavailable", f"Model '{video.model}' could not be loaded."
            ) from exc
        inputs = await self.env.loader.load(video, served, workdir)
        path = workdir / "video.mp4"
        clip = await asyncio.to_thread(
            self._render, backend, inputs, path, self._step_callback(timer)
        )
        self.progress = 95
        await self._beat()
        if self.should_stop():
            raise GenerationCancelled()
        await self._upload_retrying(clip, path)

    def _step_callback(self, timer: JobTimer) -> Callable[[int, int], None]:
        loop = asyncio.get_running_loop()

        def on_step(done: int, total: int) -> None:  # on the render thread
            self.progress = min(GENERATION_SHARE, done * GENERATION_SHARE // max(total, 1))
            self.env.metrics.step(timer, done)
            asyncio.run_coroutine_threadsafe(self._beat(), loop).result()

        return on_step

    def _render(
        self,
        backend: VideoBackend,
        inputs: Inputs,
        path: Path,
        on_step: Callable[[int, int], None],
    ) -> EncodedClip:
        request = inputs.request
        clip = backend.generate(request, on_step, self.should_stop)
        return encode_video(
            inputs.frames(clip.frames),
            path,
            width=request.width,
            height=request.height,
            fps=request.fps,
            expected_frames=inputs.expected_frames,
            preset=self.settings.x264_preset,
            crf=self.settings.x264_crf,
            audio=inputs.audio(clip.audio),
            audio_track=self.settings.silent_audio_track,
        )

    # -- the lease ----------------------------------------------------------------------------

    async def _beat(self) -> None:
        now = self.rt.clock()
        claim = self.claim
        try:
            beat = await self.rt.queue.heartbeat(
                claim.video.id, claim.attempt, self.progress, self.settings.lease_seconds, now
            )
        except Exception:
            log.exception("heartbeat failed for %s", claim.video.id)
            if now - self.last_beat_ok > self.settings.lease_seconds:
                self.lost = True
            return
        self.last_beat_ok = now
        self.lost = self.lost or not beat.alive
        self.cancel = self.cancel or beat.cancel

    async def _keep_lease(self) -> None:
        interval = min(max(self.settings.lease_seconds / 3, 0.05), 2.0)
        while True:
            await asyncio.sleep(interval)
            await self._beat()

    # -- the upload ---------------------------------------------------------------------------

    async def _upload(self, clip: EncodedClip, video_path: Path) -> None:
        vid, attempt = self.claim.video.id, self.claim.attempt
        blobs = self.rt.blob_store
        await blobs.put_file(ids.asset_key(vid, attempt, "video"), video_path)
        await blobs.put_bytes(ids.asset_key(vid, attempt, "thumbnail"), clip.thumbnail)
        await blobs.put_bytes(ids.asset_key(vid, attempt, "spritesheet"), clip.spritesheet)

    async def _upload_retrying(self, clip: EncodedClip, video_path: Path) -> None:
        """Upload; while the bucket does not answer, keep the lease and try again."""
        deadline = time.monotonic() + self.settings.storage_retry_seconds
        delay = 0.5
        while True:
            try:
                await self._upload(clip, video_path)
                return
            except BlobUnavailable as exc:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("job %s: upload failed (%s); retrying in %.1fs",
                            self.claim.video.id, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            if self.should_stop():
                raise GenerationCancelled()

