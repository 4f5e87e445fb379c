"""Step caches (``cache = { kind = ..., ... }``) and what they skip (imports torch).

The cache is diffusers' own: ``transformer.enable_cache(FirstBlockCacheConfig(...))`` and the
other configs of :data:`~vidserve.engine.diffusion.knobs.CACHE_KINDS`. What vidserve adds:

- the callbacks some configs need (``current_timestep_callback``: the timestep of the pipeline
  call now running on this model, which holds the model's lock);
- a reset of the cache's state before every pipeline call (``HookRegistry.
  reset_stateful_hooks``), so a job never reuses residuals of the job before it and the same
  (prompt, seed) gives the same frames every time;
- for a pipeline that does not name its denoiser calls (``WanVideoToVideoPipeline`` runs the
  transformer without ``cache_context``, which the cache hooks need), the names the other
  pipelines use: ``cond`` then ``uncond`` within each step with classifier-free guidance,
  ``cond`` without (:func:`named_calls`);
- a count of the evaluations the cache really ran: a diffusers ``ModelHook`` registered on
  each transformer block and attention module *before* the cache's hooks sits inside them,
  so it sees a call only when the cache lets the module compute. Skipped = called - run.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from vidserve.engine.diffusion.knobs import Cache

_COUNT_HOOK = "vidserve_evaluations"


def _hooks() -> Any:
    """``diffusers.hooks`` (HookRegistry, ModelHook, the cache configs), untyped."""
    return importlib.import_module("diffusers.hooks")


@dataclass
class Tally:
    """Evaluations of the modules a cache works on: ``called`` and really ``run``."""

    called: int = 0
    run: int = 0

    @property
    def skipped(self) -> int:
        return self.called - self.run

    @property
    def fraction_skipped(self) -> float:
        return self.skipped / self.called if self.called else 0.0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.called + other.called, self.run + other.run)

    def __sub__(self, other: Tally) -> Tally:
        return Tally(self.called - other.called, self.run - other.run)


def _blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [block for child in model.children() if isinstance(child, torch.nn.ModuleList)
            for block in child]


def _attention(model: torch.nn.Module) -> list[torch.nn.Module]:
    from diffusers.models.attention import AttentionModuleMixin
    from diffusers.models.attention_processor import Attention

    return [m for m in model.modules() if isinstance(m, (Attention, AttentionModuleMixin))]


@dataclass
class StepCache:
    """The cache of one loaded model: its config on each denoiser, and the counters."""

    spec: Cache
    denoisers: list[torch.nn.Module]
    running: Any = None  # the pipeline call holding the model's lock (for timestep callbacks)
    counters: list[Any] = field(default_factory=list)

    def current_timestep(self) -> int:
        step = getattr(self.running, "current_timestep", None)
        return int(step.flatten()[0]) if isinstance(step, torch.Tensor) else int(step or 0)

    def tally(self) -> Tally:
        total = Tally()
        for counter in self.counters:
            total = total + counter.tally
        return total

    def reset(self) -> None:
        """Forget every cached residual and step index (before each pipeline call)."""
        for model in self.denoisers:
            _hooks().HookRegistry.check_if_exists_or_initialize(model).reset_stateful_hooks(recurse=True)


def _config(spec: Cache, cache: StepCache, steps: int) -> Any:
    import dataclasses

    cls = getattr(_hooks(), spec.config_class)
    names = {f.name for f in dataclasses.fields(cls)}
    params: dict[str, Any] = dict(spec.params)
    for key, value in params.items():
        if isinstance(value, list) and key.endswith("_range"):
            params[key] = tuple(value)
        elif isinstance(value, list) and key.endswith("_identifiers"):
            params[key] = tuple(value) if spec.kind == "pab" else list(value)
    if "current_timestep_callback" in names:
        params["current_timestep_callback"] = cache.current_timestep
    if "num_inference_steps" in names:
        params.setdefault("num_inference_steps", steps)
    return cls(**params)


def enable(spec: Cache, denoisers: list[torch.nn.Module], steps: int) -> StepCache:
    """Count, then enable the cache on every denoiser (the count hooks go first, inside)."""
    hooks = _hooks()
    registry, model_hook = hooks.HookRegistry, hooks.ModelHook

    class Count(model_hook):  # type: ignore[misc,valid-type]
        def __init__(self, tally: Tally) -> None:
            super().__init__()
            self.tally = tally

        def pre_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
            self.tally.run += 1
            return args, kwargs

    class Called(model_hook):  # type: ignore[misc,valid-type]
        def __init__(self, tally: Tally) -> None:
            super().__init__()
            self.tally = tally

        def pre_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
            self.tally.called += 1
            return args, kwargs

    cache = StepCache(spec, list(denoisers))
    modules = [m for model in denoisers
               for m in (_blocks(model) if spec.unit == "block" else _attention(model))]
    for module in modules:
        counter = Count(Tally())
        registry.check_if_exists_or_initialize(module).register_hook(counter, _COUNT_HOOK)
        cache.counters.append(counter)
    for model in denoisers:
        model.enable_cache(_config(spec, cache, steps))  # type: ignore[operator]
    for module, counter in zip(modules, cache.counters, strict=True):  # outside the cache
        registry.check_if_exists_or_initialize(module).register_hook(
            Called(counter.tally), _COUNT_HOOK + "_called")
    return cache


_naming: dict[str, bool] = {}


def _names_its_calls(cls: type) -> bool:
    key = f"{cls.__module__}.{cls.__qualname__}"
    if key not in _naming:
        try:
            _naming[key] = "cache_context" in inspect.getsource(cls.__call__)
        except (OSError, TypeError):  # pragma: no cover - no source: assume it does
            _naming[key] = True
    return _naming[key]


@contextmanager
def named_calls(pipe: Any, denoisers: list[torch.nn.Module], guided: bool) -> Iterator[None]:
    """Run ``pipe`` with every denoiser call inside ``cache_context``, if it does not do so
    itself: ``cond``/``uncond`` alternate with guidance (cond first, as diffusers' Wan
    pipelines call them), ``cond`` without."""
    if _names_its_calls(type(pipe)):
        yield
        return
    calls = [0]
    open_contexts: list[Any] = []

    def enter(module: torch.nn.Module, args: Any) -> None:
        name = ("cond", "uncond")[calls[0] % 2] if guided else "cond"
        calls[0] += 1
        context = module.cache_context(name)  # type: ignore[operator]
        context.__enter__()
        open_contexts.append(context)

    def leave(module: torch.nn.Module, args: Any, output: Any) -> None:
        if open_contexts:
            open_contexts.pop().__exit__(None, None, None)

    handles = [h for model in denoisers for h in (model.register_forward_pre_hook(enter),
                                                  model.register_forward_hook(leave))]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        while open_contexts:  # a call that raised (a cancel) never reached its forward hook
            open_contexts.pop().__exit__(None, None, None)
