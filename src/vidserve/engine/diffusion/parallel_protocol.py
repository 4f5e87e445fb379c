"""What a device group's supervisor and its ranks say to each other (pure Python, no torch).

A model with ``parallel = { ulysses = U, ring = R }`` runs each job on ``U * R`` rank
processes: :mod:`vidserve.worker.group` (the supervisor, inside the worker the queue knows)
starts them and :mod:`vidserve.engine.diffusion.parallel` is their side. Every rank has one
pipe to the supervisor:

========================  =================================================================
rank -> supervisor        ``Hello`` on connecting, then ``Ready`` (loaded, joined) or
                          ``Problem`` (cannot join: why), once
supervisor -> rank        ``Start`` (every rank is ready) or ``Quit``
supervisor -> rank 0      ``Job`` (a request), ``StopJob`` (its should_stop() said so)
rank 0 -> supervisor      ``Step`` and ``FrameOut`` while the job runs
every rank -> supervisor  ``Ended`` once per job: how the job ended on that rank
========================  =================================================================

A rank is ``python -m vidserve.engine.diffusion.parallel``: it reads a pickled
:class:`Launch` from its stdin and connects to the supervisor's local socket with its key.

Rank 0 hands each request to the others with a broadcast (and a ``None`` tick while idle, so
that a dead or hung rank is found between jobs too, not only in the next job).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vidserve.domain import Audio, Frame, GenerationRequest
from vidserve.engine.registry import ModelSpec

EndKind = Literal["done", "cancelled", "failed"]


@dataclass(frozen=True, slots=True)
class RankSpec:
    """What one rank process is started with."""

    spec: ModelSpec  # the served model (``spec.diffusers.parallel`` is set)
    rank: int
    world_size: int
    rendezvous: str  # a fresh file for torch.distributed's FileStore
    parent_pid: int  # the supervisor: a rank exits when it is gone
    log_level: str = "info"  # the worker's logging, so that the ranks log as it does
    log_format: str = "auto"


@dataclass(frozen=True, slots=True)
class Launch:
    """What a rank process reads from its stdin."""

    address: str  # the supervisor's listening socket (a path in its private folder)
    authkey: bytes
    rank: RankSpec


@dataclass(frozen=True, slots=True)
class Hello:
    rank: int


@dataclass(frozen=True, slots=True)
class Ready:
    rank: int


@dataclass(frozen=True, slots=True)
class Problem:
    rank: int
    reason: str


@dataclass(frozen=True, slots=True)
class Start:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class Job:
    number: int
    request: GenerationRequest


@dataclass(frozen=True, slots=True)
class StopJob:
    number: int  # a stop for a job already over is ignored


@dataclass(frozen=True, slots=True)
class Step:
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class FrameOut:
    frame: Frame


@dataclass(frozen=True, slots=True)
class Ended:
    rank: int
    kind: EndKind
    code: str = ""  # failed: GenerationFailed's code and message; cancelled: where
    message: str = ""
    audio: Audio | None = None  # rank 0, done: the clip's sound
