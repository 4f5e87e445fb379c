"""``DiffusersBackend``: open video models (Wan 2.x, LTX-Video, ...) through diffusers.

One instance per served model and worker. The weights are loaded on the first job (in the
worker's generation thread, so heartbeats go on) and stay resident; a load failure fails that
job with ``model_unavailable`` and the reason, and is retried after :data:`RETRY_LOAD_SECONDS`.

Per job (:meth:`DiffusersBackend.generate`):

1. The model's native resolution closest in aspect to the request is used; the encoder
   resizes to the requested ``width x height``.
2. The clip is ``ceil(seconds * native_fps)`` native frames. If that exceeds the model's frame
   budget (``max_frames``), it is generated in windows: each later window is conditioned on
   the last frames of the one before (``continuation = "video"``: Wan video-to-video / LTX
   condition; ``"image"``: image-to-video from the last frame) and the overlap is cross-faded.
   The native frames are then mapped onto ``seconds * fps`` output frames (nearest in time),
   so a 12 s request gives a 12 s file.
3. ``input_reference`` runs the image-to-video pipeline on the first window. A remix re-runs
   generation conditioned on the source clip (Wan video-to-video with ``remix_strength``, LTX
   condition with that strength) with the source's seed and the new prompt.
4. Hooks the engine owns (:mod:`~vidserve.engine.diffusion.hooks`) report every denoising
   step the job's scheduler really runs (a video-to-video window with strength < 1 runs fewer)
   to ``on_step(done, total)`` over all windows, after synchronising the GPU, for any pipeline
   (HunyuanVideo 1.5 has no ``callback_on_step_end``); ``should_stop()`` is asked before every
   transformer block, so a cancel or a lost lease stops the GPU within one block.
5. Each pipeline call runs on a per-job view of the resident weights (its own scheduler and
   guider), so ``--concurrency N`` never shares their state, and one call of a model runs at
   a time (its modules are not reentrant); the other slots' decoding, encoding and uploads
   overlap with it.
6. A model with sound (LTX-2) returns it in ``Clip.audio``, stitched across windows.
7. CUDA out-of-memory becomes ``GenerationFailed("out_of_memory", ...)`` naming the model and
   sizes, after the memory is released; the worker stays up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from vidserve.domain import Capabilities, Clip, GenerationRequest, StepCallback, StopCheck
from vidserve.engine.base import GenerationCancelled, GenerationFailed
from vidserve.engine.diffusion.options import DiffusersOptions

if TYPE_CHECKING:
    from vidserve.engine.diffusion.pipelines import Loaded
    from vidserve.engine.registry import ModelSpec

log = logging.getLogger("vidserve.engine.diffusers")

RETRY_LOAD_SECONDS = 30.0


class DiffusersBackend:
    name = "diffusers"

    def __init__(
        self,
        options: DiffusersOptions,
        capabilities: Capabilities,
        *,
        problem: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_load: Callable[[Loaded], None] | None = None,
    ) -> None:
        self.options = options
        self._capabilities = capabilities
        self._problem = problem  # found at start (options.check): every job fails with it
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded: Loaded | None = None
        self._failed: tuple[float, str] | None = None
        self._on_load = on_load  # more set-up of the loaded weights (a rank: its parallelism)

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> DiffusersBackend:
        if spec.diffusers is None:  # pragma: no cover - the registry parses every entry
            raise ValueError(f"model {spec.name} has no diffusers options")
        return cls(spec.diffusers, spec.capabilities, problem=spec.problem)

    def capabilities(self) -> Capabilities:
        return self._capabilities

    # -- loading ----------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> None:
        """Load the weights now (idempotent); raise ``GenerationFailed(model_unavailable)``."""
        self._ensure_loaded(self.options.name)

    def _ensure_loaded(self, model: str) -> Loaded:
        if self._problem is not None:
            raise self._unavailable(model, self._problem)
        try:  # torch and diffusers load here, in the generation thread, on the first job
            from vidserve.engine.diffusion import pipelines
        except ImportError as exc:
            raise self._unavailable(
                model, f"this worker cannot import torch/diffusers ({exc}); install them with "
                "pip install 'vidserve[diffusers]'"
            ) from None

        with self._lock:
            if self._loaded is not None:
                return self._loaded
            if self._failed is not None and self._clock() - self._failed[0] < RETRY_LOAD_SECONDS:
                raise self._unavailable(model, self._failed[1])
            started = time.perf_counter()
            try:
                loaded = pipelines.load(self.options)
                if self._on_load is not None:
                    self._on_load(loaded)
                self._loaded = loaded
            except pipelines.LoadError as exc:
                reason = str(exc)
                log.error("model %s cannot be loaded: %s", self.options.name, reason)
            except Exception as exc:  # corrupt files, out of memory, a diffusers error, ...
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                reason = f"{type(exc).__name__}: {text}"[:400]
                log.exception("model %s failed to load", self.options.name)
            else:
                reason = ""
            if self._loaded is None:  # outside the except: the half-loaded model is garbage
                pipelines.release_memory()
                self._failed = (self._clock(), reason)
                raise self._unavailable(model, reason)
            self._failed = None
            log.info(
                "model %s loaded (%s from %s) on %s in %.1fs",
                self.options.name, self.options.pipeline, self.options.weights,
                self._loaded.device, time.perf_counter() - started,
            )
            return self._loaded

    def _unavailable(self, model: str, reason: str) -> GenerationFailed:
        shown = model if model == self.options.name else f"{model}' ('{self.options.name}"
        return GenerationFailed("model_unavailable", f"Model '{shown}' cannot be loaded: {reason}")

    # -- generation -------------------------------------------------------------------------

    def generate(
        self, request: GenerationRequest, on_step: StepCallback, should_stop: StopCheck
    ) -> Clip:
        opts = self.options
        if request.width <= 0 or request.height <= 0 or request.fps <= 0 or request.seconds <= 0:
            raise GenerationFailed(
                "invalid_request",
                f"cannot generate {request.width}x{request.height} for {request.seconds}s",
            )
        if request.reference_image is None and not opts.text_to_video and (
            request.source_video is None
        ):
            if request.source_prompt is not None:  # a remix whose source clip is gone
                raise GenerationFailed(
                    "source_unavailable",
                    f"Model '{request.model}' remixes from the source video, which is no "
                    "longer available.",
                )
            raise GenerationFailed(
                "invalid_request",
                f"Model '{request.model}' generates video from an image: send an "
                "input_reference.",
            )
        if (request.reference_image is not None and opts.image_pipeline is None
                and request.continue_from is None):
            raise GenerationFailed(
                "invalid_request", f"Model '{request.model}' does not accept an input_reference."
            )
        if should_stop():
            raise GenerationCancelled("stopped before loading")
        loaded = self._ensure_loaded(request.model)
        from vidserve.engine.diffusion import pipelines

        return pipelines.run(loaded, request, on_step, should_stop)

