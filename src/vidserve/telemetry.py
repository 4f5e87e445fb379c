"""The worker's own numbers, as Prometheus metrics: job wait and run time, denoising steps,
GPU memory.

The worker is another process than the API (a child of ``vidserve serve``, or ``vidserve
worker`` on a GPU machine), so how its numbers reach a scrape depends on the mode:

- embedded: the child writes them through prometheus_client's multiprocess mode into
  ``{data_dir}/metrics/`` (memory-mapped files, one per process, see
  :func:`enable_multiprocess`); the API's ``/metrics`` merges that folder into its answer.
  The server empties the folder when it starts.
- scale-out: ``vidserve worker --metrics-port PORT`` serves them itself
  (:func:`serve_metrics`); Prometheus scrapes each worker.

Everything about the queue as a whole (depth by model and status, failures by error code,
busy workers) is read from the database at scrape time by the API (``vidserve.queue.stats``),
so it is right whichever process did the work.

This module never imports torch: GPU memory is read only when the engine already loaded it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger("vidserve.telemetry")

WAIT_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
RUN_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

OUTCOMES = ("completed", "failed", "cancelled", "released", "lost")
"""How a run ended: ``released`` = handed back on drain, ``lost`` = the lease was taken away."""

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def embedded_metrics_dir(data_dir: Path) -> Path:
    """Where the embedded worker writes its metrics and the API reads them."""
    return data_dir / "metrics"


def enable_multiprocess(path: Path) -> None:
    """Make this process write its metrics into ``path`` (prometheus_client multiprocess mode).

    Call it before any metric is created. prometheus_client finds the folder through the
    ``PROMETHEUS_MULTIPROC_DIR`` environment variable, so it is set here for this process
    (the one place vidserve writes the environment: it is that library's interface).
    """
    from prometheus_client import values

    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def serve_metrics(port: int, host: str) -> None:
    """Serve this process's metrics on ``http://host:port/metrics`` (a daemon thread)."""
    from prometheus_client import REGISTRY, start_http_server

    start_http_server(port, addr=host, registry=REGISTRY)
    log.info("worker metrics on http://%s:%d/metrics", host, port)


@dataclass
class JobTimer:
    """One run of one job, as the worker sees it."""

    model: str
    started: float = field(default_factory=time.monotonic)
    steps: int = 0
    generating_since: float | None = None
    last_step_at: float | None = None


class WorkerMetrics:
    """The metrics one worker process records. ``registry=None``: the default registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        kw: dict[str, Any] = {} if registry is None else {"registry": registry}
        self.wait = Histogram(
            "vidserve_job_wait_seconds",
            "Time from create to a worker starting the job (per run).",
            ["model"],
            buckets=WAIT_BUCKETS,
            **kw,
        )
        self.run = Histogram(
            "vidserve_job_run_seconds",
            "Time a worker spent on one run of a job: generate, encode, upload.",
            ["model", "outcome"],
            buckets=RUN_BUCKETS,
            **kw,
        )
        self.steps = Counter(
            "vidserve_denoising_steps",
            "Generation steps run (denoising steps; procedural: render steps).",
            ["model"],
            **kw,
        )
        self.step_seconds = Counter(
            "vidserve_denoising_step_seconds",
            "Wall time spent in generation steps; rate(steps)/rate(this) is steps per second.",
            ["model"],
            **kw,
        )
        self.steps_per_second = Gauge(
            "vidserve_denoising_steps_per_second",
            "Generation steps per second of the most recent job of each model.",
            ["model"],
            multiprocess_mode="mostrecent",
            **kw,
        )
        self.cache_blocks = Counter(
            "vidserve_cache_evaluations",
            "Evaluations of the modules a step cache works on (blocks, or attention for "
            "pab/faster/taylorseer): outcome=run|skipped.",
            ["model", "outcome"],
            **kw,
        )
        self.cache_skipped = Gauge(
            "vidserve_cache_skipped_fraction",
            "Fraction of the step cache's module evaluations skipped in the most recent job.",
            ["model"],
            multiprocess_mode="mostrecent",
            **kw,
        )
        self.compiles = Counter(
            "vidserve_compiled_graphs",
            "Graphs torch.compile built during jobs (0 once warm; load-time warm-up excluded).",
            ["model"],
            **kw,
        )
        self.gpu_memory = Gauge(
            "vidserve_gpu_memory_bytes",
            "GPU memory as torch sees it: kind=allocated|reserved|peak_allocated|total.",
            ["device", "kind"],
            multiprocess_mode="liveall",
            **kw,
        )

    # -- the worker calls these ---------------------------------------------------------------

    def job_started(self, model: str, created_at: float, now: float) -> JobTimer:
        self.wait.labels(model).observe(max(0.0, now - created_at))
        return JobTimer(model)

    def step(self, timer: JobTimer, done: int) -> None:
        """``done`` steps finished so far (the engine's ``on_step(done, total)``)."""
        now = time.monotonic()
        if timer.generating_since is None:
            # the first step's time includes model warm-up; count from the job's start
            timer.generating_since = timer.started
            timer.last_step_at = timer.started
        assert timer.last_step_at is not None
        new = max(0, done - timer.steps)
        if new:
            self.steps.labels(timer.model).inc(new)
            self.step_seconds.labels(timer.model).inc(now - timer.last_step_at)
            timer.steps = done
            timer.last_step_at = now
            elapsed = now - timer.generating_since
            if elapsed > 0:
                self.steps_per_second.labels(timer.model).set(timer.steps / elapsed)

    def cache_evaluations(self, model: str, run: int, skipped: int) -> None:
        """One job's step-cache figures (the engine calls this)."""
        self.cache_blocks.labels(model, "run").inc(run)
        self.cache_blocks.labels(model, "skipped").inc(skipped)
        if run + skipped:
            self.cache_skipped.labels(model).set(skipped / (run + skipped))

    def compiled(self, model: str, graphs: int) -> None:
        self.compiles.labels(model).inc(graphs)

    def job_finished(self, timer: JobTimer, outcome: str) -> None:
        self.run.labels(timer.model, outcome).observe(time.monotonic() - timer.started)
        self.sample_gpu_memory()

    def sample_gpu_memory(self) -> None:
        """Record torch's CUDA memory figures, if the engine has loaded torch and CUDA."""
        torch: Any = sys.modules.get("torch")
        if torch is None:
            return
        try:
            if not torch.cuda.is_available() or not torch.cuda.is_initialized():
                return
            for index in range(torch.cuda.device_count()):
                device = f"cuda:{index}"
                figures = {
                    "allocated": torch.cuda.memory_allocated(index),
                    "reserved": torch.cuda.memory_reserved(index),
                    "peak_allocated": torch.cuda.max_memory_allocated(index),
                    "total": torch.cuda.get_device_properties(index).total_memory,
                }
                for kind, value in figures.items():
                    self.gpu_memory.labels(device, kind).set(float(value))
        except Exception:  # metrics never break a job
            log.debug("could not read GPU memory", exc_info=True)


_metrics: WorkerMetrics | None = None


def worker_metrics() -> WorkerMetrics:
    """This process's ``WorkerMetrics`` (created on first use, in the default registry)."""
    global _metrics
    if _metrics is None:
        _metrics = WorkerMetrics()
    return _metrics
