"""Loading diffusers pipelines and running them for one clip (imports torch).

Imported by :mod:`vidserve.engine.diffusion.backend` only when a job needs the model, in the
worker's generation thread: the worker's event loop (heartbeats) never waits for torch.
"""

from __future__ import annotations

import copy
import gc
import inspect
import io
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from vidserve.domain import Audio, Clip, GenerationRequest, StepCallback, StopCheck
from vidserve.engine.base import GenerationCancelled, GenerationFailed
from vidserve.engine.diffusion import hooks, lora, speed
from vidserve.engine.diffusion.families import Call, Family, Geometry, Role
from vidserve.engine.diffusion.options import DiffusersOptions, read_configs
from vidserve.engine.diffusion.plan import (
    AudioStitcher,
    Resampler,
    Stitcher,
    Window,
    carry_over,
    choose_native_size,
    fit_frame,
    fit_reference,
    floor_length,
    native_frame_count,
    plan_windows,
    unstretch,
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
# per-job copies: the state a pipeline call mutates (timesteps, step index, guider state)
_PER_JOB = ("scheduler", "audio_scheduler", "guider")


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


def _quiet_progress_bars() -> None:
    """No tqdm bars in a worker's log (loading shards, loading components)."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:  # pragma: no cover
        pass


def _frames_of(output: Any, width: int, height: int) -> list[Frame]:
    """``(1, F, C, H, W)`` float tensor in [0, 1] -> F ``height x width x 3`` uint8 arrays
    (a pipeline that picks its own resolution, HunyuanVideo 1.5 image-to-video, is fitted to
    the native grid)."""
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
    if array.shape[1:3] != (height, width):
        return [np.asarray(fit_frame(array[i], width, height)) for i in range(array.shape[0])]
    return [array[i] for i in range(array.shape[0])]


def _rgb(frame: Any) -> Frame:
    return np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)


def _decode_source(
    data: bytes, wanted: set[int], width: int, height: int
) -> dict[int, Image.Image]:
    """Decode the source MP4, keeping the frames ``wanted`` at ``width x height`` (unstretched);
    indices past its end get the last frame."""
    import av

    kept: dict[int, Image.Image] = {}
    top = max(wanted)
    last = None
    decoded = 0
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(container.streams.video[0]):
            if decoded in wanted:
                kept[decoded] = unstretch(_rgb(frame), width, height)
            last = frame
            decoded += 1
            if decoded > top:
                break
    if last is None:
        raise GenerationFailed("source_unavailable", "The source video has no frames.")
    if len(kept) < len(wanted):
        final = unstretch(_rgb(last), width, height)
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


def _resolve_device(wanted: str) -> torch.device:
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(wanted)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LoadError(f"device {wanted!r} was asked for, but CUDA is not available")
    return device


def release_memory() -> None:
    """Return cached GPU memory after a failed load or job (tensors must be unreferenced)."""
    gc.collect()
    if torch.cuda.is_available():  # a no-op while CUDA was never initialised
        torch.cuda.empty_cache()


@dataclass
class Loaded:
    """The resident weights of one model and how to make a job's pipeline for each role.

    The pipelines diffusers returns hold mutable per-call state (the scheduler's timesteps
    and step index, a guider's state, ``_num_timesteps``...). Each pipeline call of a job gets
    its own *view*: a new pipeline object of the role's class over the same resident modules
    (no copy of any weight) with its own copy of that state, so jobs in several worker slots
    never share it. The modules themselves are not reentrant either (the Wan VAE keeps a
    causal-convolution cache between chunks; diffusers' cache hooks keep per-call state), so
    ``lock`` lets one pipeline call of this model run at a time: on one device a second
    concurrent denoising loop gains nothing (``bench/concurrency.py``), while the other slots'
    decoding, encoding and uploads overlap with it.
    """

    opts: DiffusersOptions
    family: Family
    main: Any
    image_source: Any | None  # the image pipeline loaded from its own image_weights
    device: torch.device
    dtype: torch.dtype
    geometry: Geometry
    lock: threading.Lock = field(default_factory=threading.Lock)
    handles: list[Any] = field(default_factory=list)
    tuning: speed.Tuning | None = None  # the speed knobs in force (shared on one base)

    def view(self, role: Role) -> Any:
        name = getattr(self.opts.roles, role)
        if name is None:  # pragma: no cover - the job plans only served roles
            raise GenerationFailed("invalid_request", f"this model has no {role} pipeline")
        source = self.image_source if role == "image" and self.image_source else self.main
        return derive(_pipeline_class(name), source)


def derive(cls: Any, source: Any) -> Any:
    """A pipeline of class ``cls`` over ``source``'s resident components (no copy, no cast,
    unlike ``from_pipe``), with its own copy of the per-call state, carrying every component
    of ``source``: a class that takes no ``transformer_2`` gets both experts behind one
    :class:`~vidserve.engine.diffusion.experts.ExpertSwitch`."""
    params = inspect.signature(cls.__init__).parameters
    components = dict(source.components)
    for key in _PER_JOB:
        if components.get(key) is not None:
            components[key] = copy.deepcopy(components[key])
    second = components.get("transformer_2")
    boundary = source.config.get("boundary_ratio")
    if second is not None and "transformer_2" not in params and boundary is not None:
        from vidserve.engine.diffusion.experts import ExpertSwitch

        train = int(components["scheduler"].config.num_train_timesteps)
        components["transformer"] = ExpertSwitch(
            components["transformer"], second, float(boundary) * train
        )
    kwargs = {k: v for k, v in components.items() if k in params}
    for key in params:
        if key != "self" and key not in kwargs and key in source.config:
            kwargs[key] = source.config[key]
    pipe = cls(**kwargs)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _configs(pipe: Any) -> dict[str, dict[str, Any]]:
    configs: dict[str, dict[str, Any]] = {"": dict(pipe.config)}
    for name, component in pipe.components.items():
        config = getattr(component, "config", None)
        if config is not None and hasattr(config, "items"):
            configs[name] = dict(config)
    return configs


def denoisers(pipe: Any) -> dict[str, torch.nn.Module]:
    return {
        name: module for name in ("transformer", "transformer_2", "unet")
        if isinstance(module := getattr(pipe, name, None), torch.nn.Module)
    }


def load(opts: DiffusersOptions) -> Loaded:
    """Load the weights of one model, or share the resident ones of its ``base``; raise
    :class:`LoadError` with a reason. The weights were checked at start
    (``options.check``); corrupt files fail here."""
    try:
        return lora.resident(opts, _load)
    except BaseException:
        lora.forget(opts)
        raise


def _load(opts: DiffusersOptions) -> Loaded:
    device = _resolve_device(opts.device)
    if opts.dtype == "auto":
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    else:
        dtype = _DTYPES[opts.dtype]
    if opts.cpu_threads is not None:
        torch.set_num_threads(opts.cpu_threads)
    _quiet_progress_bars()
    family = opts.model_family

    index = read_configs(opts.weights, opts.local, opts).get("", {})
    present = [k for k, v in index.items() if isinstance(v, list) and None not in v]
    main = _pipeline_class(opts.pipeline).from_pretrained(
        opts.weights, **_from_kwargs(opts, dtype), **speed.load_kwargs(opts, present)
    )
    image_source = None
    if opts.image_weights is not None and opts.image_pipeline is not None:
        image_source = _pipeline_class(opts.image_pipeline).from_pretrained(
            opts.image_weights, **_from_kwargs(opts, dtype)
        )
    geometry = family.geometry(_configs(main))
    problem = geometry.problem(opts.native_sizes, opts.max_frames)
    if problem is not None:
        raise LoadError(problem)

    vae_dtype = None if opts.vae_dtype in (None, "auto") else _DTYPES[opts.vae_dtype]
    resident = [p for p in (main, image_source) if p is not None]
    for pipe in resident:
        vae = getattr(pipe, "vae", None)
        if vae is None:
            continue
        if vae_dtype is not None and vae.dtype != vae_dtype:
            vae.to(dtype=vae_dtype)
        if opts.vae_tiling:
            vae.enable_tiling()
        if opts.vae_slicing:
            vae.enable_slicing()
    offload = opts.offload if device.type == "cuda" or opts.offload == "group" else "none"
    if opts.offload != "none" and offload == "none":
        log.warning("model %s: offload = %r ignored on %s", opts.name, opts.offload, device)
    if offload == "none":
        for pipe in resident:
            pipe.to(device)
    loaded = Loaded(opts, family, main, image_source, device, dtype, geometry)
    compiled = opts.speed.compile != "off"
    for pipe in resident:  # a compiled block must stay free of Python hooks
        loaded.handles.extend(hooks.install(denoisers(pipe), blocks=not compiled))
    try:
        loaded.tuning = speed.apply(main, opts, device, dtype)
    except (RuntimeError, ValueError, ImportError) as exc:  # e.g. a backend's package
        raise LoadError(f"{type(exc).__name__}: {str(exc).strip()[:300]}") from None
    if compiled:
        _warm_up(loaded)
    return loaded


def _warm_up(loaded: Loaded) -> None:
    """One step at the first native size and the full window, so that no job pays the
    compile: the graphs are dynamic in the sizes (``speed.apply``), so other sizes and
    window lengths reuse them; each job's log line counts any graph it still compiled."""
    opts = loaded.opts
    before = speed.compiles()
    started = time.perf_counter()
    budget = floor_length(opts.max_frames, loaded.geometry.temporal)
    for width, height in opts.native_sizes[:1]:
        image = None if opts.text_to_video else np.full((height, width, 3), 127, np.uint8)
        request = GenerationRequest(model=opts.name, prompt="warm-up", width=width,
                                    height=height, seconds=1, seed=0, fps=opts.native_fps,
                                    steps=1, reference_image=image)
        job = _Job(loaded, request, lambda done, total: None, lambda: False)
        job._run_window(Window(0, 0, budget, 0))  # the first window of a long clip
    log.info("model %s: compile = %s warmed up in %.1fs (%d graphs)", opts.name,
             opts.speed.compile, time.perf_counter() - started, speed.compiles() - before)


def _activate(loaded: Loaded, pipe: Any) -> None:
    """With offload, install the hooks of the view about to run (under the model's lock)."""
    mode = loaded.opts.offload
    if mode == "none" or loaded.device.type != "cuda":
        return
    if mode == "model":
        pipe.enable_model_cpu_offload(device=loaded.device)
    else:
        pipe.enable_sequential_cpu_offload(device=loaded.device)


def run(
    loaded: Loaded, request: GenerationRequest, on_step: StepCallback, should_stop: StopCheck
) -> Clip:
    """One clip. Frames stream out window by window; a model with sound runs all its windows
    first, so that the clip carries its stitched sound."""
    job = _Job(loaded, request, on_step, should_stop)
    if loaded.family.audio:
        frames = list(_guarded(job))
        return Clip(frames, job.audio())
    return Clip(_guarded(job))


def _guarded(job: _Job) -> Iterator[Frame]:
    oom = False
    try:
        yield from job.frames()
    except _OOM:
        oom = True
    finally:
        job.close()
        if job.loaded.device.type == "cuda":
            release_memory()
    if oom:  # outside the except block: the traceback no longer pins the tensors
        raise GenerationFailed("out_of_memory", job.oom_message())


@dataclass
class _Progress:
    """Steps over all windows: actual counts for windows run, expected for the rest."""

    steps: list[int]
    done_before: int = 0

    def total(self) -> int:
        return sum(self.steps)


class _Job:
    """One clip: the window plan, progress accounting and the pipeline calls."""

    def __init__(
        self,
        loaded: Loaded,
        request: GenerationRequest,
        on_step: StepCallback,
        should_stop: StopCheck,
    ) -> None:
        self.opts = opts = loaded.opts
        self.family = loaded.family
        self.loaded = loaded
        self.request = request
        self.on_step = on_step
        self.should_stop = should_stop
        self.width, self.height = choose_native_size(
            opts.native_sizes, request.width, request.height
        )
        self.steps = request.steps or opts.steps
        self.guidance = opts.guidance if request.guidance is None else request.guidance
        roles = opts.roles
        factor = loaded.geometry.temporal
        budget = floor_length(opts.max_frames, factor)

        # what conditions the first window, and how later windows continue
        self.condition = self.family.video_conditioning != "sdedit"
        continuing = request.continue_from is not None and roles.video is not None
        self.mode = "text"
        if request.source_video is not None and roles.video is not None:
            self.mode = "source-video"  # remix / edit: the source clip, window by window
        elif request.source_video is not None and roles.text is None:
            self.mode = "source-image"  # an image-only model: re-generate from the first frame
        elif continuing and self.condition and opts.continuation == "video":
            self.mode = "continue"  # an extension: the source's last frames kept, then new ones
        elif request.reference_image is not None and roles.image is not None:
            self.mode = "image"  # input_reference, or an extension's last frame
        elif continuing:
            self.mode = "continue"  # an extension re-noising the source's last frame (SDEdit)
        continuation = "video" if self.mode == "source-video" else opts.continuation
        if continuation == "video":
            overlap = opts.overlap_frames
            if self.condition:
                overlap = floor_length(overlap, factor)  # a condition clip is k*factor+1
            self.overlap = min(overlap, budget - 1)
        else:
            self.overlap = 1
        self.continuation = continuation
        # an extension on a conditioning model: the windows cover the source's last frames
        # first (``lead`` native frames, regenerated as given and then dropped) and the new
        # segment after them
        self.context = self._context(request) if self.mode == "continue" else []
        self.lead = len(self.context) if self.condition else 0

        needed = native_frame_count(request.seconds, opts.native_fps)
        if continuation == "stretch" or budget <= 1:
            self.total = min(needed, budget)
            self.windows = [Window(0, 0, valid_length(self.total, factor), 0)]
        else:
            self.total = needed
            self.windows = plan_windows(self.lead + needed, budget, self.overlap, factor)
        self.progress = _Progress([self._expected_steps(w) for w in self.windows])
        self.stitcher = Stitcher(self.windows, self.lead + self.total)
        self.resampler = Resampler(self.total, request.num_frames)
        self.sound = AudioStitcher(opts.native_fps, request.seconds, self.lead)
        self.references = [
            fit_reference(c.reference, self.width, self.height)
            for c in request.characters if c.reference is not None
        ] if self.family.references else []
        self.source: dict[int, Image.Image] = {}
        self.calls: list[tuple[Role, dict[str, int]]] = []  # denoiser calls per window
        self.window: Window | None = None
        self.figures = speed.CallFigures()  # cache skips and compiles, over all windows
        self.started = time.perf_counter()

    # -- bookkeeping ------------------------------------------------------------------------

    def _strength(self, value: float) -> float:
        return min(1.0, max(value, (1 + 1e-6) / self.steps))

    def _role(self, window: Window) -> Role:
        if self.mode == "source-video":
            return "video"
        if window.index == 0:
            return {"image": "image", "source-image": "image", "continue": "video"}.get(
                self.mode, "text")  # type: ignore[return-value]
        return "video" if self.continuation == "video" else "image"

    def _video_strength(self, window: Window) -> float:
        if self.mode == "source-video":
            return self._strength(self.opts.remix_strength)
        if self.condition:
            return 1.0  # the given frames (source's or previous window's) are kept as they are
        return self._strength(self.opts.continuation_strength)

    def _context(self, request: GenerationRequest) -> list[Image.Image]:
        """The source's last frames an extension continues, at the native frame rate: as
        many as a later window's overlap on a conditioning model, the last one alone on an
        SDEdit one (it is held and re-noised)."""
        assert request.continue_from is not None
        given = list(request.continue_frames) or [request.continue_from]
        spans = max(1, len(given) * self.opts.native_fps // max(request.fps, 1))
        count = floor_length(min(self.overlap, spans), self.loaded.geometry.temporal)
        if not self.condition:
            count = 1
        picked = []
        for j in range(count):  # native frame j, (count - 1 - j) native frames before the end
            back = round((count - 1 - j) * request.fps / self.opts.native_fps)
            picked.append(given[max(0, len(given) - 1 - back)])
        return [unstretch(f, self.width, self.height) for f in picked]

    def _expected_steps(self, window: Window) -> int:
        if self._role(window) == "video" and not self.condition:
            return min(int(self.steps * self._video_strength(window)), self.steps)
        return self.steps

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

    def audio(self) -> Audio | None:
        if self.mode == "source-video" and self.request.source_audio is not None:
            # an edit keeps the source's sound: the condition pipelines condition on frames
            # only, and the edited frames keep the source's timing
            return self.request.source_audio
        return self.sound.result()

    # -- the clip ---------------------------------------------------------------------------

    def frames(self) -> Iterator[Frame]:
        r = self.request
        log.info(
            "generating %s: %dx%d native for %dx%d, %d native frames at %d fps -> %d frames, "
            "%d window(s) of %s, mode %s, %d context frame(s), %d reference image(s)",
            r.model, self.width, self.height, r.width, r.height, self.total,
            self.opts.native_fps, r.num_frames, len(self.windows),
            ",".join(str(w.length) for w in self.windows), self.mode, self.lead,
            len(self.references),
        )
        if self.mode.startswith("source"):
            self._load_source()
        for window in self.windows:
            if self.should_stop():
                raise GenerationCancelled(f"stopped before window {window.index + 1}")
            self.window = window
            frames = self._run_window(window)
            if window.index == 0 and self.lead:  # an extension: no jump at the join
                given = np.asarray(self.context[-1])
                frames = carry_over(frames, given, self.lead, 2 * self.lead, -(-self.lead // 3))
            for index, frame in self.stitcher.add(window, frames):
                if index >= self.lead:  # the source's own frames come first in the file
                    yield from self.resampler.feed(index - self.lead, frame)
        if self.resampler.emitted != r.num_frames:  # pragma: no cover - plan invariant
            raise GenerationFailed(
                "generation_failed",
                f"assembled {self.resampler.emitted} frames where {r.num_frames} were due",
            )
        elapsed = time.perf_counter() - self.started
        log.info("generated %s in %.2fs (%d steps)%s", r.model, elapsed, self.progress.total(),
                 speed.report(self.opts, self.figures))

    def _load_source(self) -> None:
        r = self.request
        assert r.source_video is not None
        count = r.num_frames  # a remix keeps the source's seconds and fps
        if self.mode == "source-image":
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

    def _call(self, window: Window, role: Role) -> Call:
        r = self.request
        image: Image.Image | None = None
        video: list[Image.Image] | None = None
        strength = 1.0
        known = 0
        if role == "video":
            strength = self._video_strength(window)
            if self.mode == "source-video":
                video = self._source_frames(window)
            else:
                if window.index == 0:  # an extension: continue the source's last frames
                    tail = list(self.context)
                else:
                    tail = [fit_frame(f, self.width, self.height)
                            for f in self.stitcher.tail(window.overlap)]
                known = len(tail)
                # an SDEdit pipeline re-noises a whole window: hold the last frame
                pad = 0 if self.condition else window.length - len(tail)
                video = tail + [tail[-1]] * pad
        elif role == "image":
            if window.index > 0:
                image = fit_frame(self.stitcher.tail(1)[-1], self.width, self.height)
            elif self.mode == "source-image":
                image = self.source[0]
            else:
                assert r.reference_image is not None
                # an extension's last frame is a frame of our file; an input_reference is the
                # client's picture, cropped to the native aspect
                fit = unstretch if r.continue_from is not None else fit_frame
                image = fit(r.reference_image, self.width, self.height)
        name = getattr(self.opts.roles, role)
        return Call(
            role=role, pipeline=name, prompt=r.prompt,
            negative_prompt=self.opts.negative_prompt, width=self.width, height=self.height,
            num_frames=window.length, steps=self.steps, guidance=self.guidance,
            fps=self.opts.native_fps, generator=self._generator(window),
            max_sequence_length=self.opts.max_sequence_length, image=image, video=video,
            strength=strength, known=known, references=self.references,
            extra=dict(self.opts.call_args),
        )

    def _run_window(self, window: Window) -> list[Frame]:
        role = self._role(window)
        call = self._call(window, role)
        loaded = self.loaded
        pipe = loaded.view(role)
        self.family.prepare(pipe, call)
        kwargs = self.family.arguments(call)
        progress = self.progress
        cuda = loaded.device.type == "cuda"

        def stepped() -> None:
            if cuda:
                torch.cuda.synchronize(loaded.device)  # report steps the device has finished
            scheduled = int(getattr(pipe, "num_timesteps", 0) or progress.steps[window.index])
            progress.steps[window.index] = scheduled
            done = min(progress.done_before + watch.steps, progress.total())
            self.on_step(done, progress.total())
            watch.check()

        watch = hooks.Watch(self.should_stop, stepped)
        tuning = loaded.tuning or speed.Tuning(self.opts.speed)
        with loaded.lock:
            watch.check()  # a cancel while waiting for the other job
            _activate(loaded, pipe)
            guided = call.guidance > 1.0
            with tuning.call(loaded, pipe, guided) as figures, \
                    hooks.watching(watch, pipe.scheduler), torch.inference_mode():
                output = pipe(**kwargs)
                frames = _frames_of(output, self.width, self.height)
                sound = self.family.sound(pipe, output)
        del output
        self.figures.add(figures)
        progress.steps[window.index] = watch.steps
        progress.done_before += watch.steps
        log.info(
            "%s window %d/%d (%s, %s): %d steps, denoiser calls %s",
            self.request.model, window.index + 1, len(self.windows), role, call.pipeline,
            watch.steps, dict(sorted(watch.calls.items())),
        )
        self.calls.append((role, dict(watch.calls)))
        if sound is not None:
            samples, rate = sound
            self.sound.add(window, np.asarray(samples, dtype=np.float32), rate)
        if len(frames) < window.length:
            raise GenerationFailed(
                "generation_failed",
                f"{call.pipeline} returned {len(frames)} frames where {window.length} were "
                "asked for",
            )
        return frames[: window.length]
