"""Benchmark: ``GET /v1/videos/{id}`` throughput and p99 latency while a job renders, against a
bare Starlette JSON endpoint on the same machine.

Goal: vidserve reaches >= 0.5x the bare endpoint's requests/s, with p99 < 50 ms, at 200
concurrent keep-alive clients while the embedded worker renders.

What it does (everything on 127.0.0.1, free ports, a temporary data dir, bounded in time):

1. Starts ``python -m vidserve serve`` (embedded worker, dev mode unless ``--auth env``) with
   production defaults, creates one short video and waits for it to complete: that is the
   object every request GETs.
2. Starts a bare Starlette app under uvicorn, configured as ``vidserve serve`` configures it
   (default loop/http implementations, one process, access log off, log level info), serving
   the exact JSON body of that video at ``GET /v1/videos/{video_id}`` (``JSONResponse`` of
   the same dict, so JSON encoding is paid by both).
3. Keeps the worker busy for the whole run (unless ``--no-render``): a background thread
   tops the queue up with 12 s 1792x1024 ``sora-2-pro`` jobs so that a render is always in
   progress - during the baseline rounds as well, so both servers share the machine with the
   same render. It checks that a job is ``in_progress`` at the start and end of every round.
4. Alternates rounds, baseline then vidserve, ``--rounds`` times (the machine is shared and
   noisy: both are measured in the same run under the same conditions), each with
   ``--connections`` keep-alive connections for ``--duration`` seconds, using ``wrk``
   (``apt-get install -y wrk``) or, without it, a raw-asyncio HTTP/1.1 load generator here.
5. Prints per-round figures (with each server process's CPU per request, from /proc: the
   API process's own threads, not the worker's) and the ratio. ``--profile DIR`` then runs
   one extra, unmeasured vidserve round under ``py-spy record --gil`` (``pip install
   py-spy``), writes the API process's collapsed stacks there and prints where its CPU goes.

    python bench/api_throughput.py [--duration 10] [--rounds 2] [--connections 200]
        [--loadgen auto|wrk|python] [--auth dev|env] [--no-render] [--worker-nice N]
        [--profile DIR] [--env VIDSERVE_X=Y ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
API_KEY = "sk-bench-0123456789abcdef"
RENDER_JOB = {
    "prompt": "a red balloon drifting over a calm ocean at sunset, seagulls flying by",
    "model": "sora-2-pro",
    "seconds": "12",
    "size": "1792x1024",
}
TARGET_JOB = {
    "prompt": "a paper boat on a rainy street, slow zoom",
    "model": "sora-2",
    "seconds": "4",
    "size": "720x1280",
}
GOAL_RATIO = 0.5
GOAL_P99_MS = 50.0


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Child:
    """A subprocess in its own process group; ``stop()`` ends the whole group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            argv, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left of the group (the embedded worker, say)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()


def descendants(pid: int) -> list[int]:
    """Child processes of ``pid``, recursively (Linux /proc)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def renice_tree(pids: list[int], nice: int) -> int:
    """Set the nice value of every thread of ``pids`` (threads started later inherit it from
    the thread that starts them, so call this again before each round)."""
    n = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
                n += 1
            except OSError:
                pass
    return n


def wait_healthy(child: Child, port: int, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited early:\n{child.log_tail()}")
        try:
            if httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not start in {timeout:.0f} s:\n{child.log_tail()}")


# --------------------------------------------------------------------------- baseline server


def serve_baseline(port: int, body_file: Path) -> None:
    """The bare Starlette app; run as a child of this script (``--serve-baseline``)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    body = json.loads(body_file.read_text())

    async def retrieve(request: Request) -> JSONResponse:
        return JSONResponse(body)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[Route("/v1/videos/{video_id}", retrieve), Route("/healthz", healthz)]
    )
    # The same options as ``vidserve serve`` (see vidserve.cli.cmd_serve).
    config = uvicorn.Config(
        app, host=HOST, port=port, log_level="info", access_log=False,
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()


# --------------------------------------------------------------------------- render keeper


class RenderKeeper:
    """Keeps at least ``depth`` render jobs queued behind the one in progress."""

    def __init__(self, base_url: str, depth: int = 2, interval: float = 1.0) -> None:
        import httpx

        self.client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        )
        self.depth = depth
        self.interval = interval
        self.created = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="render-keeper", daemon=True)

    def statuses(self) -> list[str]:
        r = self.client.get("/videos", params={"limit": 50})
        r.raise_for_status()
        return [v["status"] for v in r.json()["data"]]

    def top_up(self) -> None:
        queued = self.statuses().count("queued")
        for _ in range(max(0, self.depth - queued)):
            r = self.client.post("/videos", json=RENDER_JOB)
            r.raise_for_status()
            self.created += 1

    def rendering(self, within: float = 3.0) -> bool:
        """Whether some job is in_progress (looked at for up to ``within`` s: between two jobs
        the worker takes up to one poll interval to claim the next)."""
        deadline = time.monotonic() + within
        while True:
            try:
                if "in_progress" in self.statuses():
                    return True
            except Exception as exc:
                self.errors.append(repr(exc))
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.top_up()
            except Exception as exc:
                self.errors.append(repr(exc))
            self._stop.wait(self.interval)

    def start(self) -> None:
        self.top_up()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.client.close()


# --------------------------------------------------------------------------- load generators


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    note: str = ""
    raw: str = field(default="", repr=False)
    cpu_us: float = math.nan  # the server process's CPU (all its threads) per request


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` and its threads, not its children (Linux /proc:
    the embedded worker is a child of the API process and is not counted)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNIT_MS[unit]


def parse_wrk(out: str) -> Result:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = {
        p: _ms(v, u) for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    }
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        errors += int(m.group(1))
    note = ""
    if m := re.search(r"Socket errors:.*", out):
        note = m.group(0)
        errors += sum(int(n) for n in re.findall(r"\d+", m.group(0)))
    return Result(rps, pct["50"], pct["99"], requests, errors, note, out)


def run_wrk(url: str, connections: int, threads: int, duration: float) -> Result:
    argv = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s",
        "--latency", "-H", f"Authorization: Bearer {API_KEY}", url,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return parse_wrk(proc.stdout)


async def _client(
    port: int, request: bytes, start: float, end: float, lat: list[float], errs: list[int]
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    perf = time.perf_counter
    while perf() < end:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            assert reader is not None
            t0 = perf()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            await reader.readexactly(int(m.group(1)) if m else 0)
            t1 = perf()
            if t0 >= start and t1 <= end:  # completed inside the measured window
                lat.append(t1 - t0)
                if status >= 400:
                    errs[0] += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            errs[0] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


def _python_worker(args: tuple[int, str, int, float, float]) -> tuple[list[float], int]:
    port, path, connections, start_at, duration = args
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {API_KEY}\r\nAccept: */*\r\n\r\n"
    ).encode()
    lat: list[float] = []
    errs = [0]

    async def main() -> None:
        # start/end are perf_counter values in this process: turn the shared wall-clock start
        # into one
        offset = time.perf_counter() - time.time()
        start = start_at + offset
        end = start + duration
        await asyncio.gather(
            *(_client(port, request, start, end, lat, errs) for _ in range(connections))
        )

    asyncio.run(main())
    return lat, errs[0]


def run_python(port: int, path: str, connections: int, procs: int, duration: float) -> Result:
    """Closed-loop keep-alive load from ``procs`` processes; counts only requests completed
    inside the window (after a 1 s ramp-up)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    per = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    start_at = time.time() + 1.0
    with ProcessPoolExecutor(procs, mp_context=mp.get_context("spawn")) as pool:
        parts = list(
            pool.map(_python_worker, [(port, path, n, start_at, duration) for n in per if n])
        )
    lat = sorted(x for part, _ in parts for x in part)
    errors = sum(e for _, e in parts)
    if not lat:
        return Result(0.0, math.nan, math.nan, 0, errors, "no request completed")

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, math.ceil(p * len(lat)) - 1)] * 1e3

    return Result(len(lat) / duration, pct(0.50), pct(0.99), len(lat), errors,
                  f"python loadgen, {procs} process(es)")


# --------------------------------------------------------------------------- main


def _stop_on_signals() -> None:
    def handler(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per server (alternated)")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds, each")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--procs", type=int, default=2, help="python loadgen processes")
    parser.add_argument(
        "--auth", choices=("dev", "env"), default="dev",
        help="dev: no key configured (any bearer); env: the bench key in VIDSERVE_API_KEYS",
    )
    parser.add_argument("--no-render", action="store_true", help="no background render")
    parser.add_argument("--worker-nice", type=int, default=None, metavar="N",
                        help="renice the embedded worker to N (an experiment: does a "
                             "lower-priority render help the API's latency?)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="after measuring, py-spy one extra vidserve round into DIR")
    parser.add_argument("--env", action="append", default=[], metavar="VIDSERVE_X=Y",
                        help="extra environment for vidserve (repeatable)")
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument("--serve-baseline", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--body-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve_baseline is not None:
        serve_baseline(args.serve_baseline, args.body_file)
        return 0

    import httpx

    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
    if loadgen == "wrk" and not shutil.which("wrk"):
        parser.error("wrk not found (apt-get install -y wrk), or use --loadgen python")

    _stop_on_signals()
    tmp = Path(tempfile.mkdtemp(prefix="vidserve-bench-"))
    children: list[Child] = []
    keeper: RenderKeeper | None = None
    try:
        # ---- vidserve
        vs_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSERVE_")}
        env["VIDSERVE_DATA_DIR"] = str(tmp / "data")
        if args.auth == "env":
            env["VIDSERVE_API_KEYS"] = f"{API_KEY}=bench"
        for item in args.env:
            key, sep, value = item.partition("=")
            if not sep or not key.startswith("VIDSERVE_"):
                parser.error(f"--env wants VIDSERVE_NAME=VALUE, got {item!r}")
            env[key] = value
        vs = Child(
            "vidserve",
            [sys.executable, "-m", "vidserve", "serve", "--host", HOST, "--port", str(vs_port)],
            env, tmp / "vidserve.log",
        )
        children.append(vs)
        wait_healthy(vs, vs_port)
        api = httpx.Client(
            base_url=f"http://{HOST}:{vs_port}/v1",
            headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30,
        )
        video = api.post("/videos", json=TARGET_JOB).raise_for_status().json()
        deadline = time.monotonic() + 120
        while video["status"] not in ("completed", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"target video did not finish: {video}")
            time.sleep(0.25)
            video = api.get(f"/videos/{video['id']}").raise_for_status().json()
        got = api.get(f"/videos/{video['id']}").raise_for_status()
        body = got.content
        path = f"/v1/videos/{video['id']}"

        # ---- baseline
        body_file = tmp / "body.json"
        body_file.write_bytes(body)
        bl_port = free_port()
        bl = Child(
            "baseline",
            [sys.executable, str(Path(__file__).resolve()), "--serve-baseline", str(bl_port),
             "--body-file", str(body_file)],
            {k: v for k, v in os.environ.items() if not k.startswith("VIDSERVE_")},
            tmp / "baseline.log",
        )
        children.append(bl)
        wait_healthy(bl, bl_port)
        bl_body = httpx.get(f"http://{HOST}:{bl_port}{path}").raise_for_status().content
        if bl_body != body:
            raise RuntimeError(f"baseline body differs:\n{bl_body!r}\n{body!r}")

        # ---- background render
        if not args.no_render:
            keeper = RenderKeeper(f"http://{HOST}:{vs_port}/v1")
            keeper.start()
            if not keeper.rendering(within=30):
                raise RuntimeError("no job went in_progress within 30 s")

        def measure(port: int, seconds: float) -> Result:
            if loadgen == "wrk":
                return run_wrk(f"http://{HOST}:{port}{path}", args.connections, args.threads,
                               seconds)
            return run_python(port, path, args.connections, args.procs, seconds)

        servers = {"baseline": bl_port, "vidserve": vs_port}
        pids = {"baseline": bl.pid, "vidserve": vs.pid}
        render = "off" if args.no_render else f"{RENDER_JOB['seconds']} s {RENDER_JOB['size']}"
        print(f"load: {loadgen}, {args.connections} connections, {args.duration:g} s x "
              f"{args.rounds} rounds each, alternating; {os.cpu_count()} CPUs; auth={args.auth}; "
              f"background render: {render}"
              + ("" if args.worker_nice is None else f" (worker nice {args.worker_nice})"))
        print(f"GET {path}: {len(body)} bytes of JSON from both servers")
        if args.warmup > 0:
            for port in servers.values():
                measure(port, args.warmup)

        results: dict[str, list[Result]] = {"baseline": [], "vidserve": []}
        render_ok = True
        for rnd in range(1, args.rounds + 1):
            for name, port in servers.items():
                if args.worker_nice is not None:
                    renice_tree(descendants(vs.pid), args.worker_nice)
                before = keeper.rendering() if keeper else None
                cpu = cpu_seconds(pids[name])
                res = measure(port, args.duration)
                if res.requests:
                    res.cpu_us = (cpu_seconds(pids[name]) - cpu) / res.requests * 1e6
                after = keeper.rendering() if keeper else None
                results[name].append(res)
                rendering = "" if keeper is None else f"  rendering at start/end: {before}/{after}"
                if keeper is not None and not (before and after):
                    render_ok = False
                errs = f"  errors: {res.errors}" if res.errors else ""
                print(f"round {rnd} {name:8s}: {res.rps:9.1f} req/s  p50 {res.p50_ms:8.2f} ms  "
                      f"p99 {res.p99_ms:8.2f} ms  ({res.requests} requests, "
                      f"{res.cpu_us:.0f} us CPU each){errs}{rendering}")
                if not vs.alive() or not bl.alive():
                    raise RuntimeError("a server died during the run")

        b = results["baseline"]
        v = results["vidserve"]
        b_rps = statistics.mean(r.rps for r in b)
        v_rps = statistics.mean(r.rps for r in v)
        b_p99 = max(r.p99_ms for r in b)
        v_p99 = max(r.p99_ms for r in v)
        pair = [rv.rps / rb.rps for rb, rv in zip(b, v, strict=True) if rb.rps]
        ratio = v_rps / b_rps if b_rps else math.nan
        print()
        for label, rps, p99, rs in (
            ("bare starlette", b_rps, b_p99, b), ("vidserve", v_rps, v_p99, v)
        ):
            cpu = statistics.median(r.cpu_us for r in rs)
            print(f"{label + ':':15s} {rps:9.1f} req/s (mean of rounds)  "
                  f"p99 {p99:.2f} ms (worst round)  server CPU {cpu:.0f} us/request (median)")
        if keeper is not None:
            print(f"render jobs created: {keeper.created}; a job was in progress at the start and "
                  f"end of every round: {render_ok}"
                  + (f"; keeper errors: {keeper.errors[:3]}" if keeper.errors else ""))
        print(f"per-round ratios: {', '.join(f'{x:.3f}' for x in pair)}")
        ok = ratio >= GOAL_RATIO and v_p99 < GOAL_P99_MS
        print(f"vidserve/bare-starlette throughput = {ratio:.2f}x (goal >= {GOAL_RATIO:.2f}x); "
              f"vidserve p99 = {v_p99:.0f} ms (goal < {GOAL_P99_MS:.0f} ms)  "
              f"[{'MET' if ok else 'NOT MET'}]")

        if args.profile is not None:
            profile(args.profile, vs, lambda: measure(vs_port, args.duration), args.duration)
        return 0
    finally:
        if keeper is not None:
            keeper.stop()
        for child in reversed(children):
            child.stop()
        if args.keep_data:
            print(f"data and logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def profile(out_dir: Path, vs: Child, load: Any, duration: float) -> None:
    """One extra vidserve round under ``py-spy record --gil`` (not counted: py-spy takes CPU
    too). Samples are taken only from the thread holding the GIL, so they show where the API
    process spends its CPU. Writes the collapsed stacks (``vidserve-api.collapsed``; feed them
    to flamegraph.pl or speedscope) and prints a breakdown.
    """
    spy = shutil.which("py-spy")
    if spy is None:
        print("--profile: py-spy not found (pip install py-spy)", file=sys.stderr)
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    collapsed = out_dir / "vidserve-api.collapsed"
    record = max(1, int(duration) - 1)
    spy_proc = subprocess.Popen(
        [spy, "record", "--pid", str(vs.pid), "--duration", str(record), "--rate", "250",
         "--gil", "--threads", "--format", "raw", "--output", str(collapsed), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        time.sleep(0.5)
        res = load()
        spy_proc.wait(duration + 30)
    finally:
        if spy_proc.poll() is None:
            os.killpg(spy_proc.pid, signal.SIGKILL)
            spy_proc.wait()
    print(f"\nprofiled round (py-spy attached, not counted): {res.rps:.1f} req/s, "
          f"p99 {res.p99_ms:.2f} ms; stacks: {collapsed}")
    if collapsed.exists() and collapsed.stat().st_size:
        summarise_stacks(collapsed)
    else:
        err = spy_proc.stderr.read().decode(errors="replace")[-2000:] if spy_proc.stderr else ""
        print(f"py-spy wrote nothing: {err}")


# (label, substring of a stack): the first that matches, innermost frame first, wins
_COMPONENTS = (
    ("aiosqlite (thread hand-off)", "aiosqlite/"),
    ("SQLAlchemy (Core + async adaption)", "sqlalchemy/"),
    ("vidserve auth (project_for)", "vidserve/service/auth.py"),
    ("vidserve store/service code", "vidserve/store/"),
    ("vidserve store/service code", "vidserve/service/"),
    ("pydantic / wire model", "pydantic"),
    ("pydantic / wire model", "/wire.py"),
    ("JSON encoding", "json/"),
    ("request id (secrets)", "secrets.py"),
    ("FastAPI dependencies (solve_dependencies)", "fastapi/dependencies/"),
    ("FastAPI telemetry check", "fastapi/telemetry/"),
    ("FastAPI/Starlette routing + middleware", "fastapi/"),
    ("FastAPI/Starlette routing + middleware", "starlette/"),
    ("vidserve middleware / routes", "vidserve/api/"),
    ("uvicorn HTTP protocol (parse, socket writes)", "uvicorn/"),
)


def summarise_stacks(collapsed: Path, top: int = 15) -> None:
    threads: dict[str, int] = {}
    components: dict[str, int] = {}
    self_frames: dict[str, int] = {}
    main_total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not count_s.isdigit():
            continue
        count = int(count_s)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if "MainThread" in frames[0]:
            group = "event loop (MainThread)"
        elif "_connection_worker_thread" in stack:
            group = "aiosqlite connection threads"
        else:
            group = "other threads"
        threads[group] = threads.get(group, 0) + count
        if group != "event loop (MainThread)":
            continue
        main_total += count
        body = frames[1:] or ["?"]
        self_frames[body[-1]] = self_frames.get(body[-1], 0) + count
        label = "event loop / other"
        for frame in reversed(body):
            hit = next((lab for lab, key in _COMPONENTS if key in frame), None)
            if hit is not None:
                label = hit
                break
        components[label] = components.get(label, 0) + count
    total = sum(threads.values())
    print("GIL-holding samples by thread: " + ", ".join(
        f"{name} {n / total:.0%}" for name, n in sorted(threads.items(), key=lambda kv: -kv[1])))
    if not main_total:
        return
    print("event-loop CPU by component (innermost matching frame):")
    for label, n in sorted(components.items(), key=lambda kv: -kv[1]):
        print(f"  {n / main_total:6.1%}  {label}")
    print("event-loop top self frames:")
    for frame, n in sorted(self_frames.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {n / main_total:6.1%}  {frame}")


if __name__ == "__main__":
    sys.exit(main())
