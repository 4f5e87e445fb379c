"""The embedded worker's metrics folder: merged at scrape time, compacted when worker processes
keep dying, and counts never lost.

The worker's files are written here with prometheus_client's own file format (``MmapedDict``,
what a worker process in multiprocess mode writes); the server only reads them through the
public multiprocess API."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict, mmap_key

from vidserve.api.ops.metrics import COMPACT_AFTER, WorkerMetricsFolder

DEAD = 4_194_304 + 1000  # above Linux's largest pid: never a live process


def _write(path: Path, kind: str, pid: int, steps: float, run_seconds: float) -> None:
    if kind == "counter":
        d = MmapedDict(str(path / f"counter_{pid}.db"))
        d.write_value(
            mmap_key("vidserve_denoising_steps", "vidserve_denoising_steps_total", ["model"],
                     ["sora-2"], "steps"),
            steps, 0.0,
        )
    else:
        d = MmapedDict(str(path / f"histogram_{pid}.db"))
        labels = (["model", "outcome", "le"], ["sora-2", "completed"])
        for bound, count in (("1.0", 1.0), ("+Inf", 0.0)):
            d.write_value(
                mmap_key("vidserve_job_run_seconds", "vidserve_job_run_seconds_bucket",
                         labels[0], [*labels[1], bound], "runs"),
                count, 0.0,
            )
        d.write_value(
            mmap_key("vidserve_job_run_seconds", "vidserve_job_run_seconds_sum",
                     labels[0][:2], labels[1], "runs"),
            run_seconds, 0.0,
        )
    d.close()


def _totals(folder: WorkerMetricsFolder) -> tuple[float, float, float]:
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in folder.families()
        for s in family.samples
    }
    steps = samples[("vidserve_denoising_steps_total", (("model", "sora-2"),))]
    count = samples[("vidserve_job_run_seconds_count",
                     (("model", "sora-2"), ("outcome", "completed")))]
    total = samples[("vidserve_job_run_seconds_sum",
                     (("model", "sora-2"), ("outcome", "completed")))]
    return steps, count, total


def test_dead_workers_files_are_compacted_without_losing_counts(tmp_path: Path) -> None:
    folder = WorkerMetricsFolder(tmp_path)
    for n in range(COMPACT_AFTER):  # a worker that died this many times
        _write(tmp_path, "counter", DEAD + n, steps=8, run_seconds=0.5)
        _write(tmp_path, "histogram", DEAD + n, steps=8, run_seconds=0.5)
    expected = (8.0 * 16, 16.0, 0.5 * 16)
    assert _totals(folder) == expected
    assert list(tmp_path.iterdir()) == []  # their counts live on in the folder's archive
    assert _totals(folder) == expected  # ... and every later scrape still has them

    # more deaths later, beside a live worker's files: added to the archive, nothing lost
    _write(tmp_path, "counter", os.getpid(), steps=2, run_seconds=0)
    for n in range(COMPACT_AFTER):
        _write(tmp_path, "counter", DEAD + 100 + n, steps=1, run_seconds=1.0)
        _write(tmp_path, "histogram", DEAD + 100 + n, steps=1, run_seconds=1.0)
    assert _totals(folder) == (8.0 * 16 + 16 + 2, 32.0, 0.5 * 16 + 16)
    assert [p.name for p in tmp_path.iterdir()] == [f"counter_{os.getpid()}.db"]


def test_a_few_dead_workers_are_left_as_they_are(tmp_path: Path) -> None:
    _write(tmp_path, "counter", DEAD, steps=3, run_seconds=0)
    _write(tmp_path, "histogram", DEAD, steps=0, run_seconds=2.0)
    assert _totals(WorkerMetricsFolder(tmp_path)) == (3.0, 1.0, 2.0)
    assert len(list(tmp_path.iterdir())) == 2
