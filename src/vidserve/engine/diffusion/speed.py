"""The speed knobs of one model, applied when it loads and around each pipeline call
(imports torch). Validation is :mod:`vidserve.engine.diffusion.knobs`' (pure Python).

At load, in this order:

1. ``quantize``: ``from_pretrained`` gets a ``PipelineQuantizationConfig`` mapping each
   denoiser to a torchao config (:func:`load_kwargs`);
2. ``layerwise_casting``: ``enable_layerwise_casting`` on the denoiser(s);
3. ``attention_backend``: ``set_attention_backend`` on the denoiser(s). diffusers also makes
   it the process-wide default (``_AttentionBackendRegistry.set_active_backend``), which
   would leak into every other model of the worker; the previous default is put back, so
   each model keeps its own backend (set on its attention processors);
4. ``cache``: :func:`vidserve.engine.diffusion.cache.enable`;
5. ``offload = "group"``: ``enable_group_offload`` (block level, ``use_stream``);
6. LoRAs: :mod:`vidserve.engine.diffusion.lora`;
7. ``compile``: ``compile_repeated_blocks(fullgraph=True, dynamic=True)`` (regional) or
   ``torch.compile(forward, dynamic=True)`` of the denoiser (full): dynamic shapes, so one
   graph serves every native size and window length; ``pipelines.load`` warms it up.

Around each pipeline call (:meth:`Tuning.call`, under the model's lock): this name's
adapters, a fresh cache state, and the counts of what the cache skipped and what dynamo
compiled, which the job logs and reports to ``/metrics``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from vidserve.engine.diffusion import cache as step_cache
from vidserve.engine.diffusion import lora
from vidserve.engine.diffusion.knobs import QUANTIZE, Speed
from vidserve.engine.diffusion.options import DiffusersOptions

log = logging.getLogger("vidserve.engine.diffusers")

DENOISERS = ("transformer", "transformer_2")
HOST_ATTENTION = ("native", "_native_math", "flex")  # the backends that run off CUDA


def load_kwargs(opts: DiffusersOptions, components: list[str]) -> dict[str, Any]:
    """Extra ``from_pretrained`` arguments (``quantization_config``)."""
    speed = opts.speed
    if speed.quantize is None:
        return {}
    diffusers: Any = importlib.import_module("diffusers")
    config = getattr(importlib.import_module("torchao.quantization"), QUANTIZE[speed.quantize])
    mapping = {name: diffusers.TorchAoConfig(config()) for name in components
               if name in DENOISERS}
    return {"quantization_config": diffusers.PipelineQuantizationConfig(quant_mapping=mapping)}


def compiles() -> int:
    """Graphs dynamo has compiled in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


@dataclass
class CallFigures:
    """What one pipeline call (or a whole job, summed) cost beyond its steps."""

    cache: step_cache.Tally = field(default_factory=step_cache.Tally)
    compiled: int = 0  # graphs dynamo compiled during the call (0 once warm)

    def add(self, other: CallFigures) -> None:
        self.cache = self.cache + other.cache
        self.compiled += other.compiled


@dataclass
class Tuning:
    """The knobs in force on one loaded pipeline (shared by the names on one base)."""

    speed: Speed
    cache: step_cache.StepCache | None = None
    attention: dict[str, str] = field(default_factory=dict)  # denoiser -> backend it uses

    @contextmanager
    def call(self, loaded: Any, pipe: Any, guided: bool) -> Iterator[CallFigures]:
        """Around one pipeline call of ``loaded`` (its lock held); ``guided``: with
        classifier-free guidance (two denoiser calls per step)."""
        lora.activate(loaded)
        figures = CallFigures()
        before = self.cache.tally() if self.cache else None
        compiled = compiles() if self.speed.compile != "off" else 0
        try:
            if self.cache is None:
                yield figures
            else:
                self.cache.reset()
                self.cache.running = pipe
                with step_cache.named_calls(pipe, self.cache.denoisers, guided):
                    yield figures
        finally:
            if self.cache is not None and before is not None:
                self.cache.running = None
                figures.cache = self.cache.tally() - before
            if self.speed.compile != "off":
                figures.compiled = compiles() - compiled


def report(opts: DiffusersOptions, figures: CallFigures) -> str:
    """The job's cache and compile figures for its log line (and ``/metrics``)."""
    from vidserve.telemetry import worker_metrics

    parts = []
    spec = opts.speed.cache
    if spec is not None:
        tally = figures.cache
        worker_metrics().cache_evaluations(opts.name, tally.run, tally.skipped)
        parts.append(f"cache {spec.kind}: {tally.skipped}/{tally.called} {spec.unit} "
                     f"evaluations skipped ({tally.fraction_skipped:.0%})")
    if opts.speed.compile != "off":
        worker_metrics().compiled(opts.name, figures.compiled)
        parts.append(f"compile {opts.speed.compile}: {figures.compiled} new graph(s)")
    return "; " + "; ".join(parts) if parts else ""


def _set_attention(models: dict[str, torch.nn.Module], backend: str) -> dict[str, str]:
    dispatch: Any = importlib.import_module("diffusers.models.attention_dispatch")
    registry = dispatch._AttentionBackendRegistry
    previous = registry.get_active_backend()[0]
    try:
        for model in models.values():
            model.set_attention_backend(backend)  # type: ignore[operator]
    finally:  # diffusers made it the process default: give the other models theirs back
        registry.set_active_backend(previous)
    return dict.fromkeys(models, backend)


def apply(pipe: Any, opts: DiffusersOptions, device: torch.device,
          dtype: torch.dtype) -> Tuning:
    """Steps 2 to 7 above, on the freshly loaded main pipeline."""
    from vidserve.engine.diffusion.pipelines import denoisers

    speed = opts.speed
    models = {k: v for k, v in denoisers(pipe).items() if k in DENOISERS}
    tuning = Tuning(speed)
    if speed.layerwise_casting is not None:
        storage = getattr(torch, speed.layerwise_casting)
        for model in models.values():
            model.enable_layerwise_casting(  # type: ignore[operator]
                storage_dtype=storage, compute_dtype=dtype)
    if speed.attention_backend is not None:
        if device.type != "cuda" and speed.attention_backend not in HOST_ATTENTION:
            raise ValueError(
                f"attention_backend = {speed.attention_backend!r} runs on CUDA GPUs only and "
                f"this model is on {device}; choose one of {', '.join(HOST_ATTENTION)}")
        tuning.attention = _set_attention(models, speed.attention_backend)
    if speed.cache is not None:
        tuning.cache = step_cache.enable(speed.cache, list(models.values()), opts.steps)
    if opts.offload == "group":
        pipe.enable_group_offload(
            onload_device=device, offload_device=torch.device("cpu"),
            offload_type="block_level", num_blocks_per_group=speed.offload_blocks_per_group,
            use_stream=speed.offload_use_stream and device.type == "cuda",
        )
    # dynamic: one graph serves every native size and window length (a job never compiles)
    if speed.compile == "regional":
        for model in models.values():
            model.compile_repeated_blocks(fullgraph=True, dynamic=True)  # type: ignore[operator]
    elif speed.compile == "full":
        for model in models.values():
            model.forward = torch.compile(model.forward, dynamic=True)
    return tuning


def attention_in_use(pipe: Any) -> dict[str, str]:
    """The backend each denoiser's attention processors hold (``default``: the process's)."""
    from vidserve.engine.diffusion.pipelines import denoisers

    found: dict[str, str] = {}
    for name, model in denoisers(pipe).items():
        seen = {getattr(getattr(m, "processor", None), "_attention_backend", None)
                for m in model.modules() if hasattr(m, "processor")}
        seen.discard(None)
        found[name] = ",".join(sorted(str(getattr(b, "value", b)) for b in seen)) or "default"
    return found
