"""The worker's metrics object on its own: steps per second, outcomes, GPU memory."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from vidserve.telemetry import WorkerMetrics


def _fake_torch(devices: int) -> SimpleNamespace:
    gib = 1024**3
    cuda = SimpleNamespace(
        is_available=lambda: True,
        is_initialized=lambda: True,
        device_count=lambda: devices,
        memory_allocated=lambda i: (i + 1) * gib,
        memory_reserved=lambda i: (i + 2) * gib,
        max_memory_allocated=lambda i: (i + 3) * gib,
        get_device_properties=lambda i: SimpleNamespace(total_memory=141 * gib),
    )
    return SimpleNamespace(cuda=cuda)


def test_steps_wait_and_run_times() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    timer = metrics.job_started("sora-2", created_at=100.0, now=103.5)
    for done in (1, 2, 3, 3, 4):  # a repeated report counts once
        time.sleep(0.01)
        metrics.step(timer, done)
    metrics.job_finished(timer, "completed")

    def sample(name: str, **labels: str) -> float:
        found = registry.get_sample_value(name, labels)
        assert found is not None, (name, labels)
        return found

    assert sample("vidserve_job_wait_seconds_sum", model="sora-2") == 3.5
    assert sample("vidserve_denoising_steps_total", model="sora-2") == 4
    assert 0.03 < sample("vidserve_denoising_step_seconds_total", model="sora-2") < 1
    rate = sample("vidserve_denoising_steps_per_second", model="sora-2")
    assert 4 < rate < 150
    assert sample("vidserve_job_run_seconds_count", model="sora-2", outcome="completed") == 1
    assert registry.get_sample_value("vidserve_gpu_memory_bytes", {"device": "cuda:0",
                                                                   "kind": "total"}) is None


def test_gpu_memory_when_the_engine_uses_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torch", _fake_torch(devices=2))
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    metrics.sample_gpu_memory()
    gib = 1024**3
    for index in (0, 1):
        device = f"cuda:{index}"
        for kind, expected in (
            ("allocated", index + 1), ("reserved", index + 2), ("peak_allocated", index + 3),
            ("total", 141),
        ):
            value = registry.get_sample_value(
                "vidserve_gpu_memory_bytes", {"device": device, "kind": kind}
            )
            assert value == expected * gib, (device, kind, value)


def test_gpu_memory_never_breaks_a_job(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    def broken() -> bool:
        raise RuntimeError("CUDA driver gone")

    torch = _fake_torch(devices=1)
    torch.cuda.is_available = broken
    monkeypatch.setitem(sys.modules, "torch", torch)
    WorkerMetrics(CollectorRegistry()).sample_gpu_memory()  # logs at debug, raises nothing
