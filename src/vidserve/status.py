"""``vidserve status``: the queue by model and status, the busy workers, and the server's
readiness, for an operator at a terminal (or ``--json`` for scripts).

The queue and the workers come straight from the database (``VIDSERVE_DATABASE_URL``), so it
works for the embedded SQLite file and for a PostgreSQL shared by many workers alike, with or
without a server running. The server part asks ``GET /readyz`` of the server at ``--base-url``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from vidserve.queue.stats import QueueStats
from vidserve.settings import Settings
from vidserve.store.database import Database
from vidserve.store.workers import WorkerStore, worker_stale_after


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


async def collect(settings: Settings, base_url: str | None) -> dict[str, Any]:
    db = Database(settings.database_url)
    try:
        stats = QueueStats(db)
        now = time.time()
        depth = await stats.depth()
        leases = await stats.leases(now)
        stale_after = worker_stale_after(settings)
        fleet = [
            {**asdict(beat), "alive": beat.alive(now, stale_after)}
            for beat in await WorkerStore(db).all()
        ]
    finally:
        await db.close()
    server: dict[str, Any] | None = None
    if base_url is not None:
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                resp = await http.get(base_url.rstrip("/") + "/readyz")
            server = {"url": base_url, "http_status": resp.status_code, **resp.json()}
        except (httpx.HTTPError, ValueError) as exc:
            error = str(exc) or type(exc).__name__
            server = {"url": base_url, "status": "unreachable", "error": error}
    return {
        "database": make_url(settings.database_url).render_as_string(hide_password=True),
        "queue": [asdict(d) for d in depth],
        "workers": [asdict(lease) for lease in leases],
        "fleet": fleet,
        "stale_after": stale_after,
        "server": server,
        "now": now,
    }


def render(report: dict[str, Any]) -> str:
    now = report["now"]
    lines = [f"queue ({report['database']})"]
    by_model: dict[str, dict[str, Any]] = {}
    for row in report["queue"]:
        entry = by_model.setdefault(row["model"], {"queued": 0, "in_progress": 0, "oldest": None})
        entry[row["status"]] = row["jobs"]
        if row["status"] == "queued" and row["oldest_created_at"] is not None:
            entry["oldest"] = now - row["oldest_created_at"]
    if by_model:
        width = max(5, *(len(m) for m in by_model))
        lines.append(f"  {'MODEL':<{width}}  QUEUED  IN PROGRESS  OLDEST QUEUED")
        for model in sorted(by_model):
            e = by_model[model]
            lines.append(
                f"  {model:<{width}}  {e['queued']:>6}  {e['in_progress']:>11}  {_age(e['oldest'])}"
            )
        total_q = sum(e["queued"] for e in by_model.values())
        total_r = sum(e["in_progress"] for e in by_model.values())
        lines.append(f"  {'total':<{width}}  {total_q:>6}  {total_r:>11}")
    else:
        lines.append("  empty: nothing queued or in progress")
    fleet = report["fleet"]
    alive = [w for w in fleet if w["alive"]]
    lines.append(f"workers alive: {len(alive)}"
                 + (f", silent for over {report['stale_after']:g}s: {len(fleet) - len(alive)}"
                    if len(alive) < len(fleet) else "")
                 + ("  NO LIVE WORKER: nothing will run" if not alive else ""))
    for w in fleet:
        job = ",".join(w["current_job"]) or "idle"
        state = "" if w["alive"] else "  DEAD"
        lines.append(
            f"  {w['id']}  host {w['host']}  models {','.join(w['models'])}  {job}  "
            f"last beat {_age(now - w['last_beat'])} ago{state}"
        )
        for g in w.get("groups", ()):  # models served on a group of devices
            why = f": {g['reason']}" if g["reason"] else ""
            lines.append(f"    group {g['model']}: {g['state'].upper()}, {g['ranks']} ranks, "
                         f"{g['restarts']} restarts{why}")
    workers = report["workers"]
    names = sorted({w["worker"] for w in workers})
    lines.append(f"workers busy: {len(names)}")
    for w in workers:
        running = now - w["started_at"] if w["started_at"] else None
        lines.append(
            f"  {w['worker']}  {w['video_id']}  {w['model']}  {w['progress']:>3}%  "
            f"attempt {w['attempt']}  running {_age(running)}"
        )
    server = report["server"]
    if server is not None:
        if server.get("status") == "unreachable":
            lines.append(f"server {server['url']}: unreachable ({server['error']})")
        else:
            checks = server.get("checks", {})
            parts = []
            for name, check in checks.items():
                if not check.get("ok"):
                    parts.append(f"{name} FAILED: {check.get('error')}")
                elif name == "worker":
                    pid = f" pid {check['pid']}" if "pid" in check else ""
                    parts.append(f"worker {check.get('mode')}{pid}")
                else:
                    parts.append(f"{name} ok {check.get('ms')}ms")
            lines.append(f"server {server['url']}: {server.get('status')} ({', '.join(parts)})")
    return "\n".join(lines)


def run(settings: Settings, base_url: str | None, as_json: bool) -> int:
    from sqlalchemy.exc import DBAPIError

    try:
        report = asyncio.run(collect(settings, base_url))
    except DBAPIError as exc:
        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        print(
            f"vidserve status: cannot read the queue at {shown}: {type(exc.orig).__name__}. "
            "Is this the right VIDSERVE_DATA_DIR / VIDSERVE_DATABASE_URL? (`vidserve migrate` "
            "creates an empty database.)",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(report, indent=2) if as_json else render(report))
    server = report["server"]
    return 0 if server is None or server.get("status") == "ready" else 1
