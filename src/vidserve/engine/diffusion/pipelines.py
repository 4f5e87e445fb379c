"""Loading diffusers pipelines and running them for one clip (imports torch).

Imported by :mod:`vidserve.engine.diffusion.backend` only when a job needs the model, in the
worker's generation thread: the worker's event loop (heartbeats) never waits for torch.
"""

from __future__ import annotations

import gc
import inspect
import io
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from vidserve.domain import GenerationRequest, StepCallback, StopCheck
from vidserve.engine.base import GenerationCancelled, GenerationFailed
from vidserve.engine.diffusion.options import DiffusersOptions, check_weights
from vidserve.engine.diffusion.plan import (
    Resampler,
    Stitcher,
    Window,
    choose_native_size,
    fit_frame,
    floor_length,
    native_frame_count,
    plan_windows,
    valid_length,
)

if TYPE_CHECKING:
    from vidserve.domain import Frame

log = logging.getLogger("vidserve.engine.diffusers")

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
_OOM: tuple[type[BaseException], ...] = (
    getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError),
    MemoryError,
)
_WAN_V2V = "WanVideoToVideoPipeline"
_LTX_CONDITION = "LTXConditionPipeline"


class LoadError(Exception):
    """The model cannot be loaded; the message says why."""


class _QuietSchedulerNote(logging.Filter):
    """LTX pipelines always pass ``timesteps`` without ``sigmas``; diffusers then logs a
    warning on every call that says nothing an operator can act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("`timesteps` were passed without `sigmas`")


logging.getLogger("diffusers.schedulers.scheduling_flow_match_euler_discrete").addFilter(
    _QuietSchedulerNote()
)


@dataclass
class Loaded:
    """The resident pipelines of one model."""

    main: Any
    image: Any | None
    video: Any | None
    device: torch.device
    dtype: torch.dtype
    temporal: int  # VAE temporal stride: window lengths are k * temporal + 1
    spatial: int  # native sizes are multiples of this
    active: Any | None = None  # the pipeline whose offload hooks are installed
    pipelines: list[Any] = field(default_factory=list)


@dataclass
class _Progress:
    """Steps over all windows: actual counts for windows run, expected for the rest."""

    steps: list[int]
    done_before: int = 0

    def total(self) -> int:
        return sum(self.steps)


def _quiet_progress_bars() -> None:
    """No tqdm bars in a worker's log (loading shards, loading components)."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:  # pragma: no cover
        pass


def _frames_of(output: Any) -> list[Frame]:
    """``(1, F, C, H, W)`` float tensor in [0, 1] -> F ``H x W x 3`` uint8 arrays."""
    video = output.frames
    if isinstance(video, torch.Tensor):
        data = video[0].clamp(0, 1).mul(255).round().to(torch.uint8)
        array = data.permute(0, 2, 3, 1).contiguous().cpu().numpy()
    else:  # np or a list of PIL images
        first = video[0]
        if isinstance(first, list):
            array = np.stack([np.asarray(im.convert("RGB")) for im in first])
        else:
            array = np.clip(np.asarray(first, dtype=np.float32) * 255 + 0.5, 0, 255)
            array = array.astype(np.uint8)
    return [array[i] for i in range(array.shape[0])]


def _rgb(frame: Any) -> Frame:
    return np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)


def _decode_source(
    data: bytes, wanted: set[int], width: int, height: int
) -> dict[int, Image.Image]:
    """Decode the source MP4, keeping the frames ``wanted`` fitted to ``width x height``;
    indices past its end get the last frame."""
    import av

    kept: dict[int, Image.Image] = {}
    top = max(wanted)
    last = None
    decoded = 0
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(container.streams.video[0]):
            if decoded in wanted:
                kept[decoded] = fit_frame(_rgb(frame), width, height)
            last = frame
            decoded += 1
            if decoded > top:
                break
    if last is None:
        raise GenerationFailed("source_unavailable", "The source video has no frames.")
    if len(kept) < len(wanted):
        final = fit_frame(_rgb(last), width, height)
        for index in wanted:
            kept.setdefault(index, final)
    return kept


def _pipeline_class(name: str) -> Any:
    import diffusers

    cls = getattr(diffusers, name, None)
    if cls is None or not isinstance(cls, type) or not hasattr(cls, "from_pretrained"):
        raise LoadError(
            f"diffusers {diffusers.__version__} has no pipeline class {name!r}"
        )
    return cls


def _from_kwargs(opts: DiffusersOptions, dtype: torch.dtype) -> dict[str, Any]:
    from diffusers.pipelines import pipeline_utils

    # diffusers >= 0.36 calls it dtype (torch_dtype warns); older releases know only torch_dtype
    key = "dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype"
    kwargs: dict[str, Any] = {key: dtype}
    if opts.cache_dir is not None:
        kwargs["cache_dir"] = opts.cache_dir
    if opts.revision is not None:
        kwargs["revision"] = opts.revision
    if opts.variant is not None:
        kwargs["variant"] = opts.variant
    if opts.local_files_only:
        kwargs["local_files_only"] = True
    return kwargs


def _derive(cls: Any, main: Any) -> Any:
    """A pipeline of class ``cls`` sharing ``main``'s components (no copy, no cast:
    unlike ``from_pipe``, which casts every shared module to one dtype)."""
    params = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in main.components.items() if k in params}
    for key in params:
        if key != "self" and key not in kwargs and key in main.config:
            kwargs[key] = main.config[key]
    return cls(**kwargs)


def _resolve_device(wanted: str) -> torch.device:
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(wanted)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LoadError(f"device {wanted!r} was asked for, but CUDA is not available")
    return device


def load(opts: DiffusersOptions) -> Loaded:
    """Load the pipelines of one model; raise :class:`LoadError` with a reason."""
    problem = check_weights(opts)
    if problem is not None:
        raise LoadError(problem)
    device = _resolve_device(opts.device)
    if opts.dtype == "auto":
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    else:
        dtype = _DTYPES[opts.dtype]
    if opts.cpu_threads is not None:
        torch.set_num_threads(opts.cpu_threads)
    _quiet_progress_bars()

    main = _pipeline_class(opts.pipeline).from_pretrained(
        opts.weights, **_from_kwargs(opts, dtype)
    )
    image = video = None
    separate: list[Any] = []
    if opts.image_pipeline == opts.pipeline:
        image = main
    elif opts.image_pipeline is not None:
        image_cls = _pipeline_class(opts.image_pipeline)
        if opts.image_weights is not None:
            image = image_cls.from_pretrained(opts.image_weights, **_from_kwargs(opts, dtype))
            separate.append(image)
        else:
            image = _derive(image_cls, main)
    if opts.video_pipeline == opts.pipeline:
        video = main
    elif opts.video_pipeline is not None:
        video = _derive(_pipeline_class(opts.video_pipeline), main)
    _check_compatible(opts, main, image)

    vae_dtype = None if opts.vae_dtype in (None, "auto") else _DTYPES[opts.vae_dtype]
    pipelines = [p for p in (main, image, video) if p is not None]
    pipelines = list({id(p): p for p in pipelines}.values())
    for pipe in [main, *separate]:
        vae = getattr(pipe, "vae", None)
        if vae_dtype is not None and vae is not None and vae.dtype != vae_dtype:
            vae.to(dtype=vae_dtype)
        if opts.vae_tiling and getattr(pipe, "vae", None) is not None:
            pipe.vae.enable_tiling()
        if opts.vae_slicing and getattr(pipe, "vae", None) is not None:
            pipe.vae.enable_slicing()
    for pipe in pipelines:
        pipe.set_progress_bar_config(disable=True)

    offload = opts.offload if device.type == "cuda" else "none"
    if opts.offload != "none" and offload == "none":
        log.warning("model %s: offload = %r ignored on %s", opts.name, opts.offload, device)
    if offload == "none":
        for pipe in [main, *separate]:
            pipe.to(device)

    temporal = int(
        getattr(main, "vae_scale_factor_temporal", None)
        or getattr(main, "vae_temporal_compression_ratio", None)
        or 4
    )
    spatial = _spatial_multiple(main)
    for w, h in opts.native_sizes:
        if w % spatial or h % spatial:
            raise LoadError(
                f"native size {w}x{h} is not a multiple of {spatial}, which this "
                f"{opts.pipeline} needs"
            )
    loaded = Loaded(main, image, video, device, dtype, temporal, spatial,
                     pipelines=pipelines)
    if offload != "none":
        activate(loaded, main, opts.offload)
    return loaded


def _check_compatible(opts: DiffusersOptions, main: Any, image: Any | None) -> None:
    if (
        image is not None
        and opts.image_weights is None
        and opts.image_pipeline == "WanImageToVideoPipeline"
        and opts.pipeline != opts.image_pipeline
    ):
        in_channels = main.transformer.config.in_channels
        if in_channels == 16 and not main.config.get("expand_timesteps", False):
            raise LoadError(
                f"{opts.weights} is a text-to-video checkpoint (16 input channels): "
                "WanImageToVideoPipeline needs image-to-video weights; set image_weights "
                "(e.g. Wan-AI/Wan2.1-I2V-14B-480P-Diffusers) or remove image_pipeline"
            )


def _spatial_multiple(pipe: Any) -> int:
    name = type(pipe).__name__
    if name.startswith("LTX"):
        return 32
    factor = int(getattr(pipe, "vae_scale_factor_spatial", 8) or 8)
    transformer = getattr(pipe, "transformer", None)
    patch = getattr(getattr(transformer, "config", None), "patch_size", None)
    if isinstance(patch, (list, tuple)) and patch:
        factor *= int(patch[-1])
    elif isinstance(patch, int):
        factor *= patch
    return factor


def release_memory() -> None:
    """Return cached GPU memory after a failed load or job (tensors must be unreferenced)."""
    gc.collect()
    if torch.cuda.is_available():  # a no-op while CUDA was never initialised
        torch.cuda.empty_cache()


def activate(loaded: Loaded, pipe: Any, mode: str) -> None:
    """With offload, (re)install the hooks of the pipeline about to run."""
    if mode == "none" or loaded.device.type != "cuda" or loaded.active is pipe:
        return
    if mode == "model":
        pipe.enable_model_cpu_offload(device=loaded.device)
    else:
        pipe.enable_sequential_cpu_offload(device=loaded.device)
    loaded.active = pipe


def run(
    options: DiffusersOptions,
    loaded: Loaded,
    request: GenerationRequest,
    on_step: StepCallback,
    should_stop: StopCheck,
) -> Iterator[Frame]:
    job = _Job(options, loaded, request, on_step, should_stop)
    oom = False
    try:
        yield from job.frames()
    except _OOM:
        oom = True
    finally:
        job.close()
        if loaded.device.type == "cuda":
            release_memory()
    if oom:  # outside the except block: the traceback no longer pins the tensors
        raise GenerationFailed("out_of_memory", job.oom_message())


class _Job:
    """One clip: the window plan, progress accounting and the pipeline calls."""

    def __init__(
        self,
        options: DiffusersOptions,
        loaded: Loaded,
        request: GenerationRequest,
        on_step: StepCallback,
        should_stop: StopCheck,
    ) -> None:
        self.opts = options
        self.loaded = loaded
        self.request = request
        self.on_step = on_step
        self.should_stop = should_stop
        self.width, self.height = choose_native_size(
            self.opts.native_sizes, request.width, request.height
        )
        self.steps = request.steps or self.opts.steps
        self.guidance = self.opts.guidance if request.guidance is None else request.guidance
        opts = self.opts
        factor = loaded.temporal
        budget = floor_length(opts.max_frames, factor)

        # what conditions the first window, and how later windows continue
        self.mode = "text"
        if request.source_video is not None and loaded.video is not None:
            self.mode = "remix-video"
        elif request.source_video is not None and not opts.text_to_video:
            self.mode = "remix-image"  # an image-only model: re-generate from the first frame
        elif request.reference_image is not None and loaded.image is not None:
            self.mode = "image"
        continuation = opts.continuation
        if self.mode == "remix-video":
            continuation = "video"
        if continuation == "video":
            overlap = opts.overlap_frames
            if type(loaded.video).__name__ == _LTX_CONDITION:
                overlap = floor_length(overlap, factor)  # a condition video is k*factor+1
            self.overlap = min(overlap, budget - 1)
        else:
            self.overlap = 1
        self.continuation = continuation

        needed = native_frame_count(request.seconds, opts.native_fps)
        if continuation == "stretch" or budget <= 1:
            self.total = min(needed, budget)
            self.windows = [Window(0, 0, valid_length(self.total, factor), 0)]
        else:
            self.total = needed
            self.windows = plan_windows(needed, budget, self.overlap, factor)
        self.progress = _Progress([self._expected_steps(w) for w in self.windows])
        self.stitcher = Stitcher(self.windows, self.total)
        self.resampler = Resampler(self.total, request.num_frames)
        self.source: dict[int, Image.Image] = {}
        self.window: Window | None = None
        self.started = time.perf_counter()

    # -- bookkeeping ------------------------------------------------------------------------

    def _strength(self, value: float) -> float:
        return min(1.0, max(value, (1 + 1e-6) / self.steps))

    def _expected_steps(self, window: Window) -> int:
        name = self._pipeline_for(window)[1]
        if name == _WAN_V2V:
            strength = self._strength(
                self.opts.remix_strength if self.mode == "remix-video"
                else self.opts.continuation_strength
            )
            return min(int(self.steps * strength), self.steps)
        return self.steps

    def _pipeline_for(self, window: Window) -> tuple[Any, str]:
        loaded = self.loaded
        if self.mode == "remix-video":
            pipe = loaded.video
        elif window.index == 0:
            pipe = loaded.image if self.mode in ("image", "remix-image") else loaded.main
        elif self.continuation == "video":
            pipe = loaded.video
        elif self.continuation == "image":
            pipe = loaded.image
        else:  # pragma: no cover - stretch has a single window
            pipe = loaded.main
        return pipe, type(pipe).__name__

    def oom_message(self) -> str:
        r = self.request
        window = self.window or self.windows[0]
        memory = "GPU memory" if self.loaded.device.type == "cuda" else "memory"
        return (
            f"Model '{r.model}' ran out of {memory} generating {self.width}x{self.height}, "
            f"{window.length} frames per window ({r.width}x{r.height}, {r.seconds}s requested). "
            "Try a smaller size or fewer seconds, or set offload / vae_tiling for this model."
        )

    def close(self) -> None:
        self.source.clear()

    # -- the clip ---------------------------------------------------------------------------

    def frames(self) -> Iterator[Frame]:
        r = self.request
        log.info(
            "generating %s: %dx%d native for %dx%d, %d native frames at %d fps -> %d frames, "
            "%d window(s) of %s, mode %s",
            r.model, self.width, self.height, r.width, r.height, self.total,
            self.opts.native_fps, r.num_frames, len(self.windows),
            ",".join(str(w.length) for w in self.windows), self.mode,
        )
        if self.mode.startswith("remix"):
            self._load_source()
        for window in self.windows:
            if self.should_stop():
                raise GenerationCancelled(f"stopped before window {window.index + 1}")
            self.window = window
            frames = self._run_window(window)
            for index, frame in self.stitcher.add(window, frames):
                yield from self.resampler.feed(index, frame)
        if self.resampler.emitted != r.num_frames:  # pragma: no cover - plan invariant
            raise GenerationFailed(
                "generation_failed",
                f"assembled {self.resampler.emitted} frames where {r.num_frames} were due",
            )
        elapsed = time.perf_counter() - self.started
        log.info("generated %s in %.2fs (%d steps)", r.model, elapsed, self.progress.total())

    def _load_source(self) -> None:
        r = self.request
        assert r.source_video is not None
        count = r.num_frames  # a remix keeps the source's seconds and fps
        if self.mode == "remix-image":
            wanted = {0}
        else:
            wanted = {self._source_index(n, count) for n in range(self.total)}
        try:
            self.source = _decode_source(r.source_video, wanted, self.width, self.height)
        except GenerationFailed:
            raise
        except Exception as exc:
            raise GenerationFailed(
                "source_unavailable", f"The source video could not be decoded: {exc}"
            ) from None

    def _source_index(self, native: int, count: int) -> int:
        native = min(native, self.total - 1)
        return min(count - 1, (2 * native + 1) * count // (2 * self.total))

    def _source_frames(self, window: Window) -> list[Image.Image]:
        count = self.request.num_frames
        return [
            self.source[self._source_index(window.start + k, count)]
            for k in range(window.length)
        ]

    def _generator(self, window: Window) -> torch.Generator:
        seed = (int(self.request.seed) + 7919 * window.index) % (2**63)
        return torch.Generator(device="cpu").manual_seed(seed)

    def _kwargs(self, window: Window, name: str) -> dict[str, Any]:
        opts = self.opts
        r = self.request
        kwargs: dict[str, Any] = {
            "prompt": r.prompt,
            "height": self.height,
            "width": self.width,
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance,
            "generator": self._generator(window),
            "output_type": "pt",
        }
        if name != _WAN_V2V:
            kwargs["num_frames"] = window.length
        if opts.negative_prompt is not None:
            kwargs["negative_prompt"] = opts.negative_prompt
        if opts.max_sequence_length is not None:
            kwargs["max_sequence_length"] = opts.max_sequence_length
        if name.startswith("LTX"):
            kwargs["frame_rate"] = opts.native_fps

        image: Image.Image | None = None
        video: list[Image.Image] | None = None
        strength = 1.0
        if self.mode == "remix-video":
            video, strength = self._source_frames(window), self.opts.remix_strength
        elif window.index == 0:
            if self.mode == "image":
                assert r.reference_image is not None
                image = fit_frame(r.reference_image, self.width, self.height)
            elif self.mode == "remix-image":
                image = self.source[0]
        elif self.continuation == "video":
            tail = [fit_frame(f, self.width, self.height) for f in self.stitcher.tail(
                window.overlap)]
            if name == _WAN_V2V:
                video = tail + [tail[-1]] * (window.length - len(tail))
                strength = self.opts.continuation_strength
            else:
                video, strength = tail, 1.0
        elif self.continuation == "image":
            image = fit_frame(self.stitcher.tail(1)[-1], self.width, self.height)

        if name == _WAN_V2V:
            assert video is not None
            kwargs["video"] = video
            kwargs["strength"] = self._strength(strength)
        elif name == _LTX_CONDITION:
            from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

            if video is not None:
                kwargs["conditions"] = [
                    LTXVideoCondition(video=video, frame_index=0, strength=strength)
                ]
            elif image is not None:
                kwargs["conditions"] = [
                    LTXVideoCondition(image=image, frame_index=0, strength=1.0)
                ]
        elif image is not None:
            kwargs["image"] = image
        return kwargs

    def _run_window(self, window: Window) -> list[Frame]:
        pipe, name = self._pipeline_for(window)
        kwargs = self._kwargs(window, name)
        loaded = self.loaded
        progress = self.progress
        cuda = loaded.device.type == "cuda"
        delay = self.opts.step_delay

        def on_step_end(p: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> Any:
            if cuda:
                torch.cuda.synchronize(loaded.device)  # report steps the GPU has finished
            if delay:
                time.sleep(delay)
            scheduled = int(getattr(p, "_num_timesteps", 0) or progress.steps[window.index])
            progress.steps[window.index] = scheduled
            self.on_step(min(progress.done_before + step + 1, progress.total()), progress.total())
            if self.should_stop():
                raise GenerationCancelled(f"stopped after step {step + 1} of window "
                                          f"{window.index + 1}")
            return tensors

        activate(loaded, pipe, self.opts.offload)
        with torch.inference_mode():
            output = pipe(**kwargs, callback_on_step_end=on_step_end)
            frames = _frames_of(output)
        del output
        actual = int(getattr(pipe, "_num_timesteps", 0) or progress.steps[window.index])
        progress.steps[window.index] = actual
        progress.done_before += actual
        if len(frames) < window.length:
            raise GenerationFailed(
                "generation_failed",
                f"{name} returned {len(frames)} frames where {window.length} were asked for",
            )
        return frames[: window.length]
