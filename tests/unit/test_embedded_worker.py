"""The server waits for its embedded worker's first heartbeat, and never hangs on one that
does not come (a child that exits, or never reports)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

from vidserve.settings import Settings
from vidserve.store.database import Database, migrate
from vidserve.store.workers import WorkerBeat, WorkerStore
from vidserve.worker import embedded
from vidserve.worker.embedded import WorkerSupervisor


class _Child(WorkerSupervisor):
    """A supervisor whose child runs ``code`` instead of ``vidserve worker``."""

    def __init__(self, settings: Settings, code: str) -> None:
        super().__init__(settings)
        self.code = code

    async def _spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(sys.executable, "-c", self.code)


def _store(tmp_path: Path) -> tuple[Settings, Database]:
    settings = Settings(data_dir=tmp_path)
    migrate(settings.database_url)
    return settings, Database(settings.database_url)


def test_ready_at_the_first_beat_of_its_own_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "STARTUP_TIMEOUT", 1.0)
    settings, db = _store(tmp_path)

    async def main() -> bool:
        store = WorkerStore(db)
        child = _Child(settings, "import time; time.sleep(30)")
        await child.start()
        try:
            # another worker's beat (here: this process) is not the child's
            other = WorkerBeat(id="other", host=socket.gethostname(), pid=os.getpid(),
                               models=("m",), current_job=(), started_at=0.0, last_beat=1.0)
            await store.beat(other)
            assert await child.wait_for_first_beat(store) is False
            assert child.pid is not None
            beat = WorkerBeat(id="child", host=socket.gethostname(), pid=child.pid,
                              models=("m",), current_job=(), started_at=0.0, last_beat=1.0)
            asyncio.get_running_loop().call_later(
                0.3, lambda: asyncio.ensure_future(store.beat(beat))
            )
            return await child.wait_for_first_beat(store)
        finally:
            await child.stop()
            await db.close()

    assert asyncio.run(asyncio.wait_for(main(), 20)) is True


@pytest.mark.parametrize("code", ["raise SystemExit(3)", "import time; time.sleep(30)"])
def test_a_child_that_never_reports_does_not_hold_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    monkeypatch.setattr(embedded, "STARTUP_TIMEOUT", 1.0)
    settings, db = _store(tmp_path)

    async def main() -> bool:
        child = _Child(settings, code)
        await child.start()
        try:
            return await child.wait_for_first_beat(WorkerStore(db))
        finally:
            await child.stop()
            await db.close()

    assert asyncio.run(asyncio.wait_for(main(), 20)) is False
