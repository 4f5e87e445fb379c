"""Progress and cancel for any diffusers pipeline, from hooks the engine owns (imports torch).

Not every pipeline has ``callback_on_step_end`` (HunyuanVideo 1.5 has none), and a step of a
14B model at 720p takes ~20 s, too long to wait for a cancel. So, once per loaded model:

- a forward pre-hook on the denoiser(s) and on each of their transformer blocks (the modules of
  every ``nn.ModuleList`` child) asks the running job whether to stop, and raises
  :class:`~vidserve.engine.base.GenerationCancelled` there: a cancel or a lost lease stops the
  job within one transformer block;
- a forward hook counts the denoiser calls per expert (Wan 2.2 A14B: both must run);
- each job's own scheduler (a per-job copy, see ``pipelines.Loaded.view``) reports every
  ``step`` it really runs, so progress counts the steps run, whatever the pipeline.

The weights are shared by the jobs of all worker slots; the hooks find the job of the calling
thread (each job runs its pipeline calls in its own thread), so two jobs never see each
other's cancel or progress.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from vidserve.engine.base import GenerationCancelled


class Watch:
    """One job's view of its pipeline calls: stop checks and the steps it really ran."""

    def __init__(self, should_stop: Callable[[], bool], on_step: Callable[[], None]) -> None:
        self.should_stop = should_stop
        self.on_step = on_step
        self.scheduler: Any = None  # the scheduler whose steps are this job's steps
        self.steps = 0
        self.calls: Counter[str] = Counter()  # denoiser forward calls, by component name

    def check(self) -> None:
        if self.should_stop():
            raise GenerationCancelled(f"stopped inside step {self.steps + 1}")


_local = threading.local()


def current() -> Watch | None:
    return getattr(_local, "watch", None)


@contextmanager
def watching(watch: Watch, scheduler: Any) -> Iterator[Watch]:
    """Route the hooks of this thread's pipeline calls to ``watch``."""
    previous = current()
    watch.scheduler = scheduler
    _count_steps(scheduler)
    _local.watch = watch
    try:
        yield watch
    finally:
        _local.watch = previous


def _check_stop(module: torch.nn.Module, args: Any) -> None:
    watch = current()
    if watch is not None:
        watch.check()


def install(denoisers: dict[str, torch.nn.Module], *, blocks: bool = True) -> list[Any]:
    """Hook the denoisers (``{"transformer": ..., "transformer_2": ...}``) and, with
    ``blocks``, their blocks (a compiled model's blocks stay hook-free: a cancel then stops
    it within one denoiser call); returns the handles."""
    handles = []
    for name, model in denoisers.items():
        def counted(module: torch.nn.Module, args: Any, output: Any, name: str = name) -> None:
            watch = current()
            if watch is not None:
                watch.calls[name] += 1

        handles.append(model.register_forward_pre_hook(_check_stop))
        handles.append(model.register_forward_hook(counted))
        for child in model.children() if blocks else ():
            if isinstance(child, torch.nn.ModuleList):
                handles.extend(block.register_forward_pre_hook(_check_stop) for block in child)
    return handles


_counting: dict[type, type] = {}


def _count_steps(scheduler: Any) -> None:
    """Make ``scheduler`` report each ``step`` to the watch whose scheduler it is (a copy made
    with ``copy.deepcopy`` inside a pipeline, LTX-2's audio scheduler, is not counted)."""
    cls = type(scheduler)
    if cls in _counting.values():
        return
    counted = _counting.get(cls)
    if counted is None:
        original = cls.step

        def step(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            watch = current()
            if watch is not None and watch.scheduler is self:
                watch.steps += 1
                watch.on_step()
            return result

        counted = type(cls.__name__, (cls,), {"step": step, "__module__": cls.__module__})
        _counting[cls] = counted
    scheduler.__class__ = counted
