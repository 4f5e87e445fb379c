"""``DeviceGroup``: the backend of a model served on a group of devices, inside one worker.

A model with ``parallel = { ulysses = U, ring = R }`` runs every job on ``U * R`` rank
processes, one per device (:mod:`vidserve.engine.diffusion.parallel` is their side,
:mod:`vidserve.engine.diffusion.parallel_protocol` what they say). This worker stays the one
the queue knows: it claims, heartbeats, reads cancel, encodes and uploads, exactly as for a
single-device model; the group is one more :class:`~vidserve.engine.base.VideoBackend`. The
worker itself joins no process group, so a collective that hangs, or NCCL's watchdog
killing a rank, never takes the queue-facing process down.

- The ranks start when the worker starts (:meth:`DeviceGroup.start`), load their weights and
  join; a rank that cannot (no such GPU, out of memory, an unsupported plan) makes the model
  unavailable with its reason: its jobs fail with ``model_unavailable`` and the group is tried
  again after :data:`RETRY_SECONDS`.
- One job at a time: the request goes to rank 0, which broadcasts it; rank 0's steps and
  frames come back as they are made; the job's ``should_stop()`` (cancel, lost lease, drain)
  sets a shared flag that the ranks agree on at the next stop check.
- A rank that exits (``kill -9``), a group silent for longer than ``timeout_seconds``, or
  ranks that end a job differently: the group is killed (every process reaped) and started
  again, and the job raises :class:`DeviceGroupFailed`, which hands it back to the queue while
  attempts remain (:mod:`vidserve.worker.outcome`; the attempt fencing keeps it from being
  lost or finished twice).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import pickle
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, Listener, wait
from typing import Literal

from vidserve.domain import (
    Audio,
    Capabilities,
    Clip,
    Frame,
    GenerationRequest,
    StepCallback,
    StopCheck,
)
from vidserve.engine.base import GenerationCancelled, GenerationFailed
from vidserve.engine.diffusion.options import DiffusersOptions, ParallelOptions
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
from vidserve.engine.registry import ModelSpec

log = logging.getLogger("vidserve.worker.group")

RETRY_SECONDS = 30.0  # a group that could not start is tried again after this
QUIT_SECONDS = 5.0  # a clean stop waits this long for the ranks before killing them
POLL_SECONDS = 0.05  # how often a running job's should_stop() is asked
CONNECT_SECONDS = 120.0  # a rank process connects back within this (imports torch first)

State = Literal["starting", "ready", "unavailable", "restarting", "stopped"]


class DeviceGroupFailed(Exception):
    """A rank died, hung past the collective timeout, or the ranks disagreed: the group was
    torn down and starts again; the job goes back to the queue."""


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """What ``vidserve status`` and ``/readyz`` show of a device group."""

    model: str
    ranks: int
    state: State
    restarts: int
    reason: str | None = None

    def describe(self) -> str:
        text = f"{self.model}: {self.state}, {self.ranks} ranks, {self.restarts} restarts"
        return f"{text} ({self.reason})" if self.reason else text


class DeviceGroup:
    name = "diffusers"

    def __init__(
        self,
        spec: ModelSpec,
        *,
        clock: Callable[[], float] = time.monotonic,
        log_level: str = "info",
        log_format: str = "auto",
    ) -> None:
        opts = spec.diffusers
        if opts is None or opts.parallel is None:
            raise ValueError(f"model {spec.name} is not served on a device group")
        self.spec = spec
        self.options: DiffusersOptions = opts
        self.parallel: ParallelOptions = opts.parallel
        self.world_size = opts.parallel.world_size
        self._clock = clock
        self._logging = (log_level, log_format)
        self._job_lock = threading.Lock()  # one job at a time
        self._lock = threading.Lock()  # the processes and the state
        self._procs: list[subprocess.Popen[bytes]] = []
        self._conns: list[Connection] = []
        self._jobs = 0
        self._folder: str | None = None
        self._booted = threading.Event()
        self._state: State = "stopped"
        self._reason: str | None = None
        self._failed_at = 0.0
        self._restarts = 0
        _GROUPS.add(self)

    def capabilities(self) -> Capabilities:
        return self.spec.capabilities

    def status(self) -> GroupStatus:
        return GroupStatus(self.spec.name, self.world_size, self._state, self._restarts,
                           self._reason)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    # -- the processes ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the ranks in the background (nothing if they run or are starting)."""
        if self.spec.problem is not None:
            self._state, self._reason = "unavailable", self.spec.problem
            return
        with self._lock:
            if self._state in ("starting", "ready", "restarting"):
                return
            self._launch("starting")

    def _launch(self, state: State) -> None:
        """Start the rank processes (the caller holds ``_lock``); :meth:`_boot` waits for
        them in a thread."""
        self._folder = tempfile.mkdtemp(prefix="vidserve-group-")
        address = os.path.join(self._folder, "supervisor")
        authkey = secrets.token_bytes(32)
        listener = Listener(address, family="AF_UNIX", authkey=authkey)
        self._procs, self._conns = [], []
        for rank in range(self.world_size):
            spec = RankSpec(self.spec, rank, self.world_size,
                            os.path.join(self._folder, "rendezvous"), os.getpid(),
                            *self._logging)
            proc = subprocess.Popen(
                [sys.executable, "-m", "vidserve.engine.diffusion.parallel",
                 f"--model={self.spec.name}", f"--rank={rank}"],  # for ps; read from stdin
                stdin=subprocess.PIPE,
            )
            assert proc.stdin is not None
            with proc.stdin:  # the socket's key never shows in ps
                proc.stdin.write(pickle.dumps(Launch(address, authkey, spec)))
            self._procs.append(proc)
        self._state, self._reason = state, None
        self._booted.clear()
        log.info("model %s: starting %d ranks (ulysses %d, ring %d): pids %s",
                 self.spec.name, self.world_size, self.parallel.ulysses, self.parallel.ring,
                 self.pids)
        threading.Thread(target=self._boot, args=(listener,), name=f"group-{self.spec.name}",
                         daemon=True).start()

    def _accept(self, listener: Listener, deadline: float) -> str | None:
        """Every rank's connection, in rank order; or why not."""
        conns: dict[int, Connection] = {}
        listener._listener._socket.settimeout(0.2)  # type: ignore[attr-defined]
        while len(conns) < self.world_size:
            if time.monotonic() > deadline:
                return f"only {len(conns)} of {self.world_size} ranks connected"
            for rank, proc in enumerate(self._procs):
                if proc.poll() is not None and rank not in conns:
                    return f"rank {rank} exited with code {proc.returncode} while starting"
            try:
                conn = listener.accept()
            except (TimeoutError, OSError):
                continue
            hello = conn.recv()
            if isinstance(hello, Hello):
                conns[hello.rank] = conn
        self._conns = [conns[r] for r in range(self.world_size)]
        return None

    def _boot(self, listener: Listener) -> None:
        """Wait for every rank's ``Ready``; the first ``Problem`` makes the model unavailable."""
        deadline = time.monotonic() + self.parallel.start_timeout_seconds
        with listener:
            problem = self._accept(listener, min(deadline, time.monotonic() + CONNECT_SECONDS))
        waiting = set(range(self.world_size)) if problem is None else set()
        while waiting and problem is None:
            left = deadline - time.monotonic()
            if left <= 0:
                problem = (f"ranks {sorted(waiting)} not ready within "
                           f"{self.parallel.start_timeout_seconds:g}s")
                break
            wait([self._conns[r] for r in waiting], timeout=min(left, 0.2))
            for rank in sorted(waiting):
                message = self._receive(rank)
                if isinstance(message, Ready):
                    waiting.discard(rank)
                elif isinstance(message, Problem):
                    problem = f"rank {message.rank}: {message.reason}"
                    break
                elif self._procs[rank].poll() is not None:
                    problem = (f"rank {rank} exited with code {self._procs[rank].returncode} "
                               "while starting")
                    break
        with self._lock:
            if problem is None:
                for conn in self._conns:
                    conn.send(Start())
                self._state = "ready"
                log.info("model %s: %d ranks ready", self.spec.name, self.world_size)
            else:
                log.error("model %s cannot run on its device group: %s", self.spec.name,
                          problem)
                self._kill()
                self._state, self._reason = "unavailable", problem
                self._failed_at = self._clock()
        self._booted.set()

    def _receive(self, rank: int) -> object | None:
        conn = self._conns[rank]
        try:
            return conn.recv() if conn.poll() else None
        except (EOFError, OSError):
            return None

    def _kill(self) -> None:
        """Kill every rank and reap it (the caller holds ``_lock``)."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self._procs:
            try:
                proc.wait(QUIT_SECONDS)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
                log.error("rank pid %d did not exit after SIGKILL", proc.pid)
        for conn in self._conns:
            conn.close()
        self._procs, self._conns = [], []
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def close(self) -> None:
        """Stop the ranks: ``Quit``, then kill what is left after :data:`QUIT_SECONDS`."""
        with self._lock:
            if self._state == "ready":
                for conn in self._conns:
                    try:
                        conn.send(Quit())
                    except OSError:
                        pass
                deadline = time.monotonic() + QUIT_SECONDS
                for proc in self._procs:
                    try:
                        proc.wait(max(0.01, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        break  # killed below
            self._kill()
            self._state = "stopped"
        _GROUPS.discard(self)

    def _broken(self, reason: str) -> DeviceGroupFailed:
        """Tear the group down and start it again; the job goes back to the queue."""
        log.error("model %s: device group failed (%s); restarting it", self.spec.name, reason)
        with self._lock:
            self._kill()
            self._restarts += 1
            self._launch("restarting")
        return DeviceGroupFailed(f"the device group of model {self.spec.name} failed: {reason}")

    # -- jobs -------------------------------------------------------------------------------

    def _unavailable(self, model: str, reason: str) -> GenerationFailed:
        return GenerationFailed(
            "model_unavailable", f"Model '{model}' cannot run on its device group: {reason}"
        )

    def _ready(self, model: str, should_stop: StopCheck) -> None:
        if self.spec.problem is not None:
            raise self._unavailable(model, self.spec.problem)
        with self._lock:
            due = self._state == "unavailable" and (
                self._clock() - self._failed_at >= RETRY_SECONDS)
            if self._state == "stopped" or due:
                self._launch("starting")
        while not self._booted.wait(0.1):
            if should_stop():
                raise GenerationCancelled("stopped while the device group was starting")
        if self._state != "ready":
            raise self._unavailable(model, self._reason or self._state)

    def generate(
        self, request: GenerationRequest, on_step: StepCallback, should_stop: StopCheck
    ) -> Clip:
        while not self._job_lock.acquire(timeout=0.1):  # another slot's job runs
            if should_stop():
                raise GenerationCancelled("stopped while waiting for the device group")
        try:
            self._ready(request.model, should_stop)
        except BaseException:
            self._job_lock.release()
            raise
        sound: list[Audio | None] = []
        frames = self._stream(request, on_step, should_stop, sound)
        if self.options.audio:  # the clip carries its stitched sound: all windows first
            collected = list(frames)
            return Clip(collected, sound[0] if sound else None)
        try:  # started here, so that the lock is released however the frames are consumed
            head = next(frames)
        except StopIteration:
            return Clip([])
        return Clip(itertools.chain([head], frames))

    def _stream(
        self,
        request: GenerationRequest,
        on_step: StepCallback,
        should_stop: StopCheck,
        sound: list[Audio | None],
    ) -> Iterator[Frame]:
        """Rank 0's frames as they come; every rank's ``Ended`` before it returns."""
        conns, procs = list(self._conns), list(self._procs)
        self._jobs += 1
        number = self._jobs
        stopping = False
        ended: dict[int, Ended] = {}
        heard = time.monotonic()
        settled = False
        try:
            conns[0].send(Job(number, request))
            while len(ended) < self.world_size:
                if not stopping and should_stop():
                    stopping = True
                    conns[0].send(StopJob(number))
                wait(conns, timeout=POLL_SECONDS)
                for rank, conn in enumerate(conns):
                    while rank not in ended and conn.poll():
                        message = conn.recv()
                        heard = time.monotonic()
                        if isinstance(message, Step):
                            on_step(message.done, message.total)
                        elif isinstance(message, FrameOut):
                            yield message.frame
                        elif isinstance(message, Ended):
                            ended[rank] = message
                if any(p.poll() is not None for r, p in enumerate(procs) if r not in ended):
                    raise self._broken(_who_died(procs))
                silent = time.monotonic() - heard
                if silent > self.parallel.timeout_seconds:
                    raise self._broken(f"no word from the ranks for {silent:.0f}s")
            kinds = {e.kind for e in ended.values()}
            if len(kinds) > 1:
                raise self._broken("the ranks ended the job differently: " + ", ".join(
                    f"rank {r} {e.kind}" for r, e in sorted(ended.items())))
            settled = True
            first = ended[0]
            if first.kind == "cancelled":
                raise GenerationCancelled(first.message)
            if first.kind == "failed":
                raise GenerationFailed(first.code, first.message)
            sound.append(first.audio)
        except (EOFError, OSError):  # a rank is gone: say which, once they have all noticed
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and all(p.poll() is None for p in procs):
                time.sleep(0.05)
            raise self._broken(_who_died(procs)) from None
        finally:
            if not settled and self._state == "ready":
                # left early (the encoder failed): the ranks are mid-job, start them afresh
                self._broken("the job was abandoned mid-way")
            self._job_lock.release()


def _who_died(procs: list[subprocess.Popen[bytes]]) -> str:
    """The rank that died first, as far as exit codes tell: one killed by a signal (the
    others then fail in a collective and exit with an error)."""
    gone = [(r, p.returncode) for r, p in enumerate(procs) if p.poll() is not None]
    if not gone:
        return "lost the pipe to a rank"
    rank, code = min(gone, key=lambda g: (g[1] >= 0, g[0]))
    return f"rank {rank} exited with code {code} mid-job"


_GROUPS: weakref.WeakSet[DeviceGroup] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """No rank outlives its worker (the ranks also exit when their parent is gone)."""
    for group in list(_GROUPS):
        group.close()
