"""One job on a group of 2 CPU ranks (gloo) through the real server and the openai SDK.

The models file serves the same tiny Wan on one device and with ``parallel = { ulysses = 2 }``:
the group's MP4 is byte-identical to the single device's for the same seed, progress is
reported, a cancel stops both ranks at the same block, and a ``kill -9`` of rank 1 mid-job
restarts the group and re-runs the job to completion; a tiny LTX-Video the same (byte for byte).
Modes diffusers cannot run on a group (ring attention on CPU) are UNAVAILABLE with the reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.servers import ServerProcess

pytest.importorskip("diffusers")
pytestmark = [
    pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning"),
    pytest.mark.timeout(300),
]

STEP_DELAY = 0.3
TINY = """
native_sizes = ["64x32", "32x64"]
native_fps = 8
max_frames = 17
overlap_frames = 5
max_sequence_length = 16
cpu_threads = 1
"""
RANK_MODULE = "vidserve.engine.diffusion.parallel"


def _models(weights: Path) -> str:
    wan, ltx = weights / "wan-t2v", weights / "ltx"
    return f"""
[models.tiny-wan]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{wan}"
steps = 4
{TINY}
[models.tiny-wan-x2]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{wan}"
steps = 4
parallel = {{ ulysses = 2, timeout_seconds = 20 }}
{TINY}
[models.tiny-wan-x2-slow]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{wan}"
steps = 12
parallel = {{ ulysses = 2, timeout_seconds = 8 }}
wrap = "tests.backends:slow_reported_steps"
wrap_options = {{ step_delay = {STEP_DELAY} }}
{TINY}
[models.tiny-wan-ring2]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{wan}"
steps = 4
parallel = {{ ring = 2, timeout_seconds = 20 }}
{TINY}
[models.tiny-ltx]
backend = "diffusers"
pipeline = "LTXPipeline"
weights = "{ltx}"
steps = 2
{TINY}
[models.tiny-ltx-x2]
backend = "diffusers"
pipeline = "LTXPipeline"
weights = "{ltx}"
steps = 2
parallel = {{ ulysses = 2, timeout_seconds = 20 }}
{TINY}
"""


SERVER_SESSION: list[int] = []  # the session of this module's server (it starts one of its own)


def ranks(model: str | None = None) -> dict[int, tuple[str, int]]:
    """Live rank processes of this module's server: pid -> (model, rank), from their command
    lines. Only its session's: other test processes (pytest-xdist) may run groups of the same
    models at the same time."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, session = stat[0], int(stat[3])
        args = [a.decode(errors="replace") for a in argv if a]
        if RANK_MODULE not in args or state == "Z" or session not in SERVER_SESSION:
            continue
        named = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
        if model is None or named.get("model") == model:
            found[int(entry.name)] = (named.get("model", ""), int(named.get("rank", -1)))
    return found


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vidserve.engine.diffusion import random_pipelines

    root = tmp_path_factory.mktemp("weights")
    for kind in ("wan-t2v", "ltx"):
        random_pipelines.save(kind, root / kind)
    return root


@pytest.fixture(scope="module")
def server(weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("group-server")
    models = root / "models.toml"
    models.write_text(_models(weights))
    proc = ServerProcess(root / "data", env={
        "VIDSERVE_MODELS_FILE": str(models),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    })
    proc.start()
    assert proc.proc is not None
    SERVER_SESSION[:] = [proc.proc.pid]  # the server leads a session of its own
    seen: set[int] = set()
    try:
        # the groups start with the worker: 2 ranks per model served on a group
        wait_for(lambda: len(ranks("tiny-wan-x2")) == 2, 120, "the ranks of tiny-wan-x2")
        seen |= set(ranks())
        yield proc
    finally:
        seen |= set(ranks())
        proc.stop()
    # no rank outlives its worker
    wait_for(lambda: not (seen & set(ranks())), 15, "the ranks to exit with the worker")


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as c:
        yield c


def _make(client: OpenAI, model: str, seed: int, prompt: str = "a red kite") -> Any:
    return client.videos.create_and_poll(
        prompt=prompt, model=model, size="1280x720", seconds="4",
        extra_body={"seed": seed}, poll_interval_ms=100, timeout=240,
    )


def _mp4s(client: OpenAI, *models: str, seed: int) -> list[bytes]:
    """The MP4 of one job per model, all with the same seed (each one completed)."""
    found = []
    for model in models:
        video = _make(client, model, seed=seed)
        assert video.status == "completed", (model, video.error)
        found.append(client.videos.download_content(video.id).read())
    return found


def test_two_ranks_make_the_same_mp4_as_one_device(client: OpenAI) -> None:
    single, group = _mp4s(client, "tiny-wan", "tiny-wan-x2", seed=1234)
    assert len(group) > 1000
    assert group == single
    other = client.videos.download_content(_make(client, "tiny-wan-x2", seed=99).id).read()
    assert other != group  # the seed reaches every rank


def test_progress_is_reported_step_by_step(client: OpenAI) -> None:
    video = client.videos.create(prompt="a slow pan", model="tiny-wan-x2-slow",
                                 size="1280x720", seconds="4")
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        current = client.videos.retrieve(video.id)
        seen.append(current.progress)
        if current.status in ("completed", "failed"):
            break
        time.sleep(0.05)
    assert current.status == "completed", current.error
    middle = sorted({p for p in seen if 0 < p < 90})
    assert len(middle) >= 4, seen
    assert seen == sorted(seen)


def test_cancel_stops_both_ranks(client: OpenAI, server: ServerProcess) -> None:
    before = ranks("tiny-wan-x2-slow")
    assert len(before) == 2
    video = client.videos.create(prompt="a long take", model="tiny-wan-x2-slow",
                                 size="1280x720", seconds="12")
    wait_for(lambda: client.videos.retrieve(video.id).progress >= 10, 120, "progress")
    assert client.videos.delete(video.id).deleted
    at_delete = int(server.row(video.id)["progress"])  # type: ignore[call-overload]
    wait_for(lambda: server.row(video.id)["status"] == "failed", STEP_DELAY * 3 + 3,
             "the cancel (about one step)")
    row = server.row(video.id)
    assert row["error_code"] == "cancelled"
    assert int(row["progress"]) <= at_delete + 10  # type: ignore[call-overload]
    # the same ranks, not blocked in a collective: the next job runs on them
    nxt = _make(client, "tiny-wan-x2-slow", seed=5)
    assert nxt.status == "completed", nxt.error
    assert ranks("tiny-wan-x2-slow") == before
    assert "device group failed" not in server.log_path.read_text(errors="replace")


def test_kill_9_of_rank_1_restarts_the_group_and_reruns_the_job(
    client: OpenAI, server: ServerProcess
) -> None:
    before = ranks("tiny-wan-x2-slow")
    assert sorted(r for _, r in before.values()) == [0, 1]
    rank1 = next(pid for pid, (_, r) in before.items() if r == 1)
    video = client.videos.create(prompt="a fragile take", model="tiny-wan-x2-slow",
                                 size="1280x720", seconds="4", extra_body={"seed": 77})
    wait_for(lambda: client.videos.retrieve(video.id).progress >= 10, 120, "progress")
    os.kill(rank1, signal.SIGKILL)
    deadline = time.monotonic() + 240
    while (current := client.videos.retrieve(video.id)).status not in ("completed", "failed"):
        assert time.monotonic() < deadline, "the job was not re-run"
        time.sleep(0.1)
    assert current.status == "completed", current.error
    row = server.row(video.id)
    assert row["attempt"] == 2 and row["assets_attempt"] == 2
    assert server.asset_attempts(video.id) == ["2"]  # the failed attempt left nothing
    after = ranks("tiny-wan-x2-slow")
    assert len(after) == 2 and not (set(after) & set(before))  # a new group, the old reaped
    assert "device group failed (rank 1 exited with code -9 mid-job)" in (
        server.log_path.read_text(errors="replace"))
    # the re-run is the same clip as a clean run with the same seed on the new group
    again = _make(client, "tiny-wan-x2-slow", seed=77, prompt="a fragile take")
    assert (client.videos.download_content(again.id).read()
            == client.videos.download_content(video.id).read())
    ready = httpx.get(server.base_url.removesuffix("/v1") + "/readyz").json()
    groups = {g["model"]: g for w in ready["checks"]["worker"]["workers"]
              for g in w.get("groups", [])}
    assert groups["tiny-wan-x2-slow"]["state"] == "ready"
    assert groups["tiny-wan-x2-slow"]["restarts"] == 1
    status = subprocess.run(
        [sys.executable, "-m", "vidserve", "status", "--no-server"], capture_output=True,
        text=True, timeout=60, check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("VIDSERVE_")}
        | {"VIDSERVE_DATA_DIR": str(server.data_dir)},
    ).stdout
    assert "group tiny-wan-x2-slow: READY, 2 ranks, 1 restarts" in status
    assert "group tiny-wan-ring2: UNAVAILABLE, 2 ranks, 0 restarts: rank " in status


def test_a_hung_rank_is_torn_down_after_the_collective_timeout(
    client: OpenAI, server: ServerProcess
) -> None:
    before = ranks("tiny-wan-x2-slow")
    rank1 = next(pid for pid, (_, r) in before.items() if r == 1)
    video = client.videos.create(prompt="a frozen take", model="tiny-wan-x2-slow",
                                 size="1280x720", seconds="4")
    wait_for(lambda: client.videos.retrieve(video.id).progress >= 10, 120, "progress")
    os.kill(rank1, signal.SIGSTOP)  # hangs: alive, but in no collective any more
    stopped_at = time.monotonic()
    wait_for(lambda: rank1 not in ranks(), 60, "the hung rank to be killed")
    assert time.monotonic() - stopped_at >= 7  # not before the timeout (8 s)
    wait_for(lambda: client.videos.retrieve(video.id).status == "completed", 240,
             "the job to be re-run")
    assert server.row(video.id)["attempt"] == 2
    assert not (set(ranks("tiny-wan-x2-slow")) & set(before))


def test_ring_on_cpu_is_unavailable_with_the_reason(client: OpenAI) -> None:
    video = _make(client, "tiny-wan-ring2", seed=1)
    assert video.status == "failed"
    assert video.error is not None and video.error.code == "model_unavailable"
    assert "ring attention needs an attention backend that returns the log-sum-exp" in (
        video.error.message)
    assert not ranks("tiny-wan-ring2")  # the ranks that could not join are gone


def test_ltx_on_two_ranks_makes_the_same_mp4_as_one_device(client: OpenAI) -> None:
    # diffusers' LTX processor repeats the text mask per head, which Ulysses cannot split;
    # the ranks run vidserve's processor with one mask for all heads (ulysses_masks), the
    # single device runs diffusers' own: the same clip, byte for byte
    single, group = _mp4s(client, "tiny-ltx", "tiny-ltx-x2", seed=1234)
    assert len(group) > 1000
    assert group == single


def test_drain_stops_both_ranks_and_hands_the_job_back(
    client: OpenAI, server: ServerProcess
) -> None:
    # last in this module: it stops the server (SIGTERM drains the worker: 2 s grace here)
    group = set(ranks())
    assert len(ranks("tiny-wan-x2-slow")) == 2
    failures = server.log_path.read_text(errors="replace").count("device group failed")
    video = client.videos.create(prompt="a take cut short", model="tiny-wan-x2-slow",
                                 size="1280x720", seconds="12")
    wait_for(lambda: client.videos.retrieve(video.id).progress >= 10, 120, "progress")
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(60)
    row = server.row(video.id)
    assert row["status"] == "queued" and row["attempt"] == 1  # handed back, not failed
    wait_for(lambda: not (group & set(ranks())), 15, "every rank to exit")
    # the ranks agreed to stop: none died or hung on the way out
    assert server.log_path.read_text(errors="replace").count("device group failed") == failures
