"""One rank of a device group: diffusers' context parallelism for one job (imports torch).

A model with ``parallel = { ulysses = U, ring = R }`` runs in ``U * R`` processes started by
:mod:`vidserve.worker.group`, one per device. Each rank (:func:`rank_main`):

1. joins the group (``torch.distributed``: NCCL on CUDA with rank ``r`` on ``cuda:r`` of
   ``CUDA_VISIBLE_DEVICES``, gloo on CPU; a FileStore rendezvous the supervisor made), loads
   the weights like a single-device worker (:class:`~vidserve.engine.diffusion.backend.
   DiffusersBackend`) and hands each denoiser to diffusers' own
   ``enable_parallelism(config=ContextParallelConfig(ulysses_degree=U, ring_degree=R))``;
   then says ``Ready`` (or ``Problem`` with the reason: no such device, out of memory, a
   transformer without a context-parallel plan, ring attention without an attention backend
   that returns the log-sum-exp);
2. rank 0 takes requests from the supervisor and broadcasts each to the others (a ``None``
   tick while idle, so a dead or hung rank is found between jobs too); every rank runs the
   same pipeline call with the same seed, so the denoised latents are the same as one
   device's, and only rank 0's frames, steps and sound go back to the supervisor;
3. every stop check of the engine (before each window, at each step, before each transformer
   block: :mod:`~vidserve.engine.diffusion.hooks`) is one small collective on a gloo group
   (:meth:`Member.agree`, MAX of each rank's flag): rank 0 brings the job's stop flag (a
   cancel, a lost lease, a drain), so every rank stops at the same block and none is left
   waiting in a collective for a rank that stopped. The agreement runs on the CPU, so on CUDA
   it does not wait for the device;
4. a collective that waits longer than ``parallel.timeout_seconds`` raises, the rank exits,
   and the supervisor tears the group down; a rank also exits when its supervisor is gone.

The VAE decode runs on every rank (the latents are gathered at the end of the denoiser):
diffusers 0.42 has no parallel decode for the Wan or LTX VAEs, so it costs the time of one
device's decode, and ``vae_tiling`` bounds its memory on each.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from multiprocessing.connection import Client, Connection
from typing import Any
from unittest import mock

import torch
import torch.distributed as dist

from vidserve.domain import Frame, GenerationRequest
from vidserve.engine.base import GenerationCancelled, GenerationFailed
from vidserve.engine.diffusion import pipelines
from vidserve.engine.diffusion.backend import DiffusersBackend
from vidserve.engine.diffusion.options import ParallelOptions
from vidserve.engine.diffusion.parallel_protocol import (
    Ended,
    FrameOut,
    Hello,
    Job,
    Launch,
    Problem,
    Quit,
    RankSpec,
    Ready,
    Start,
    Step,
    StopJob,
)
from vidserve.engine.loader import wrapped

log = logging.getLogger("vidserve.engine.parallel")

# diffusers attention backends that return the log-sum-exp ring attention merges its partial
# results with (``native`` raises on ``return_lse=True``); all of them are CUDA kernels
LSE_BACKENDS = frozenset({
    "flash", "flash_hub", "flash_varlen_hub", "_flash_3_hub", "_flash_3_varlen_hub",
    "_native_cudnn", "_native_flash", "sage", "sage_hub",
})
RING_ON_CPU = (
    "ring attention needs an attention backend that returns the log-sum-exp, and on CPU none "
    "of diffusers' does: native raises on return_lse=True, _native_flash calls "
    "aten::_scaled_dot_product_flash_attention (no CPU kernel), flash, sage and cudnn are CUDA "
    "kernels; use ulysses on CPU"
)


def device_for(wanted: str, rank: int) -> torch.device:
    """Rank ``r`` runs on ``cuda:r`` (of the devices ``CUDA_VISIBLE_DEVICES`` shows), or on
    the CPU; raise :class:`pipelines.LoadError` if that device is not there."""
    if wanted == "cpu" or (wanted == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise pipelines.LoadError(f"device {wanted!r} was asked for, but CUDA is not available")
    count = torch.cuda.device_count()
    if rank >= count:
        raise pipelines.LoadError(
            f"rank {rank} needs a GPU cuda:{rank}, but only {count} are visible "
            "(CUDA_VISIBLE_DEVICES)"
        )
    return torch.device("cuda", rank)


def attention_backend_of(model: torch.nn.Module) -> str:
    """The attention backend the model's processors use (what diffusers checks too)."""
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    for module in model.modules():
        processor = getattr(module, "processor", None)
        if processor is not None and hasattr(processor, "_attention_backend"):
            chosen = processor._attention_backend
            if chosen is None:
                chosen, _ = _AttentionBackendRegistry.get_active_backend()  # type: ignore[no-untyped-call]
            return str(getattr(chosen, "value", chosen))
    name, _ = _AttentionBackendRegistry.get_active_backend()  # type: ignore[no-untyped-call]
    return str(getattr(name, "value", name))


def ring_problem(model: torch.nn.Module, device: torch.device) -> str | None:
    if device.type == "cpu":
        return RING_ON_CPU
    backend = attention_backend_of(model)
    if backend not in LSE_BACKENDS:
        return (
            f"ring attention needs an attention backend that returns the log-sum-exp "
            f"({', '.join(sorted(LSE_BACKENDS))}); {type(model).__name__} uses {backend!r}"
        )
    return None


@contextmanager
def _one_device_per_cpu_rank(device: torch.device) -> Iterator[None]:
    """diffusers places rank ``r`` on ``r % torch.accelerator.device_count()``, which is 0 on
    a CPU-only host: there, every rank has the one CPU."""
    if device.type != "cpu":
        yield
        return
    with mock.patch.object(torch.accelerator, "device_count", return_value=1):
        yield


def parallelize(loaded: pipelines.Loaded, parallel: ParallelOptions) -> None:
    """``enable_parallelism`` on every resident denoiser (raise ``LoadError``: why not)."""
    import diffusers
    from diffusers import ContextParallelConfig

    for pipe in (loaded.main, loaded.image_source):
        if pipe is None:
            continue
        for name, model in pipelines.denoisers(pipe).items():
            if getattr(type(model), "_cp_plan", None) is None:
                raise pipelines.LoadError(
                    f"{type(model).__name__} ({name}) has no context-parallel plan in "
                    f"diffusers {diffusers.__version__}: serve it without parallel"
                )
            if parallel.ring > 1:
                problem = ring_problem(model, loaded.device)
                if problem is not None:
                    raise pipelines.LoadError(problem)
            config = ContextParallelConfig(  # type: ignore[no-untyped-call]
                ulysses_degree=parallel.ulysses, ring_degree=parallel.ring
            )
            with _one_device_per_cpu_rank(loaded.device):
                model.enable_parallelism(config=config)  # type: ignore[operator]


class Member:
    """This process's place in the group: the loaded model and the collectives it uses."""

    def __init__(self, rank: RankSpec) -> None:
        spec = rank.spec
        opts = spec.diffusers
        if opts is None or opts.parallel is None:  # pragma: no cover - the supervisor checks
            raise pipelines.LoadError(f"model {spec.name} has no parallel entry")
        self.rank = rank.rank
        self.parallel = parallel = opts.parallel
        self.device = device = device_for(opts.device, rank.rank)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo",
            init_method=f"file://{rank.rendezvous}",
            rank=rank.rank,
            world_size=rank.world_size,
            timeout=timedelta(seconds=parallel.start_timeout_seconds),  # ranks load unevenly
        )
        # stop agreement and request hand-over: CPU collectives with the short timeout
        self.control: Any = dist.new_group(
            backend="gloo", timeout=timedelta(seconds=parallel.timeout_seconds)
        )
        engine = DiffusersBackend(
            replace(opts, device=str(device)), spec.capabilities, problem=spec.problem,
            on_load=lambda loaded: parallelize(loaded, parallel),
        )
        engine.load()  # GenerationFailed(model_unavailable) with the reason
        self.backend = wrapped(engine, spec)  # the model's ``wrap`` runs on every rank

    def agree(self, local: bool) -> bool:
        """Whether any rank says stop (every rank calls this at the same points)."""
        flag = torch.tensor([1 if local else 0], dtype=torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self.control)
        return bool(flag.item())

    def hand_over(self, message: Job | Quit | None) -> Job | Quit | None:
        """Rank 0's ``message`` on every rank."""
        box = [message]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]

    def run(
        self,
        request: GenerationRequest,
        on_step: Callable[[int, int], None],
        on_frame: Callable[[Frame], None],
        local_stop: Callable[[], bool],
    ) -> Ended:
        def should_stop() -> bool:
            return self.agree(local_stop())

        try:
            clip = self.backend.generate(request, on_step, should_stop)
            for frame in clip.frames:
                on_frame(frame)
        except GenerationCancelled as exc:
            return Ended(self.rank, "cancelled", message=str(exc))
        except GenerationFailed as exc:
            return Ended(self.rank, "failed", exc.code, exc.message)
        return Ended(self.rank, "done", audio=clip.audio if self.rank == 0 else None)

    def lead(self, conn: Connection) -> None:
        """Rank 0: each request from the supervisor to every rank, and its results back."""
        tick = min(5.0, self.parallel.timeout_seconds / 4)
        while True:
            if not conn.poll(tick):
                self.hand_over(None)  # idle: a dead or hung rank shows here
                continue
            message = conn.recv()
            if isinstance(message, StopJob):
                continue  # for a job that is over
            if not isinstance(message, Job):
                self.hand_over(Quit())
                return
            self.hand_over(message)
            stop = _StopFlag(conn, message.number)
            ended = self.run(
                message.request,
                lambda done, total: conn.send(Step(done, total)),
                lambda frame: conn.send(FrameOut(frame)),
                stop.is_set,
            )
            conn.send(ended)

    def follow(self, conn: Connection) -> None:
        """Ranks 1..N-1: run what rank 0 hands over; only how it ended goes back."""
        while True:
            message = self.hand_over(None)
            if message is None:
                continue
            if isinstance(message, Quit):
                return
            conn.send(self.run(message.request, _ignore_step, _ignore_frame, _never))

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


class _StopFlag:
    """Rank 0's view of one job's ``should_stop()``: a ``StopJob`` from the supervisor."""

    def __init__(self, conn: Connection, number: int) -> None:
        self.conn = conn
        self.number = number
        self.stopped = False

    def is_set(self) -> bool:
        while not self.stopped and self.conn.poll():
            message = self.conn.recv()
            self.stopped = isinstance(message, StopJob) and message.number == self.number
        return self.stopped


def _ignore_step(done: int, total: int) -> None:
    pass


def _ignore_frame(frame: Frame) -> None:
    pass


def _never() -> bool:
    return False


def _exit_with(parent_pid: int) -> None:
    """Leave no rank behind a supervisor that is gone (killed with -9, say)."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class _RankPrefix(logging.Filter):
    """``rank 1/2: `` before every line a rank logs (the worker's log carries them all)."""

    def __init__(self, rank: RankSpec) -> None:
        super().__init__()
        self.prefix = f"rank {rank.rank}/{rank.world_size}: "

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.prefix):
            record.msg = self.prefix + str(record.msg)
        return True


def _reason(exc: BaseException) -> str:
    if isinstance(exc, GenerationFailed):
        return exc.message
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:400]


def rank_main(launch: Launch) -> None:
    """The body of one rank process (started by :mod:`vidserve.worker.group`)."""
    rank = launch.rank
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the worker's to handle
    _exit_with(rank.parent_pid)
    # diffusers 0.42's context-parallel hooks call a torch collective torch deprecates
    warnings.filterwarnings("ignore", message=r".*all_gather_tensor. is deprecated",
                            category=FutureWarning)
    from vidserve.logging import setup_logging

    setup_logging(rank.log_level, rank.log_format)  # type: ignore[arg-type]
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RankPrefix(rank))
    conn = Client(launch.address, authkey=launch.authkey)
    conn.send(Hello(rank.rank))
    try:
        member = Member(rank)
    except Exception as exc:
        log.warning("rank %d cannot join: %s", rank.rank, _reason(exc))
        conn.send(Problem(rank.rank, _reason(exc)))
        return
    conn.send(Ready(rank.rank))
    if isinstance(conn.recv(), Start):
        if rank.rank == 0:
            member.lead(conn)
        else:
            member.follow(conn)
    member.close()


if __name__ == "__main__":
    rank_main(pickle.load(sys.stdin.buffer))
