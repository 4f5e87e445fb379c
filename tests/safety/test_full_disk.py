"""A full disk: clear 503s that name the cause, DELETE still works, jobs go back to the queue.

The server runs with its data folder and TMPDIR on a small tmpfs this test mounts itself (root
with CAP_SYS_ADMIN, as in CI here); where mounting is not permitted the test is skipped and
``test_storage_full_is_recognised`` plus the in-process fault tests below still run.
SQLite + local folder only: the PostgreSQL cluster and the S3 server of the other backend live
outside the server's disk (a full bucket is recognised by the same ``storage_full``).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import slow_models
from tests.servers import ServerProcess
from vidserve.errors import StorageFull, storage_full

AUTH = {"Authorization": "Bearer test"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
        capture_output=True, check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')[:200]}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * (64 * 1024))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _assert_full(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "storage_full" and error["type"] == "server_error"
    assert "disk is full" in error["message"]
    assert int(response.headers["retry-after"]) >= 1


def _row(data: Path, video_id: str) -> sqlite3.Row:
    with sqlite3.connect(data / "vidserve.db") as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM videos WHERE id = ?", (video_id,)).fetchone()
    assert row is not None
    return row


def _empty_folders(root: Path) -> list[Path]:
    return [Path(d) for d, subdirs, files in os.walk(root)
            if not subdirs and not files and Path(d) != root]


def _wait_status(data: Path, vid: str, wanted: set[str], timeout: float = 60) -> sqlite3.Row:
    deadline = time.monotonic() + timeout
    while _row(data, vid)["status"] not in wanted and time.monotonic() < deadline:
        time.sleep(0.1)
    return _row(data, vid)


@pytest.mark.backends("sqlite")
def test_full_assets_disk_requeues_jobs_and_answers_503(
    small_disk: Path, tmp_path: Path, backend: object, http: httpx.Client
) -> None:
    """Assets and TMPDIR on the small disk, the database beside it: the job cannot write its
    clip, goes back to the queue, and fails as storage_full only after its attempts."""
    data, tmp, assets = tmp_path / "data", small_disk / "tmp", small_disk / "assets"
    tmp.mkdir()
    server = ServerProcess(
        data,
        env={"TMPDIR": str(tmp), "VIDSERVE_STORAGE_URL": f"file://{assets}",
             **slow_models(0.3), "VIDSERVE_MAX_ATTEMPTS": "2"},
    ).start()
    base = server.base_url
    try:
        kept = http.post(f"{base}/files", headers=AUTH, data={"purpose": "vision"},
                         files={"file": ("a.png", b"\x89PNG" + b"x" * 4000, "image/png")})
        assert kept.status_code == 200, kept.text
        vid = http.post(f"{base}/videos", headers=AUTH, json={"prompt": "full"}).json()["id"]
        assert _wait_status(data, vid, {"in_progress"})["status"] == "in_progress"
        filler = _fill(small_disk)

        _assert_full(http.post(f"{base}/files", headers=AUTH, data={"purpose": "vision"},
                               files={"file": ("b.png", b"y" * 300_000, "image/png")}))
        row = _wait_status(data, vid, {"failed", "completed"})
        assert row["status"] == "failed" and row["error_code"] == "storage_full", dict(row)
        assert row["attempt"] == 2  # handed back once: the disk's fault, not the job's
        assert http.get(f"{base}/videos/{vid}", headers=AUTH).json()["error"]["code"] == (
            "storage_full"
        )
        deleted = http.delete(f"{base}/files/{kept.json()['id']}", headers=AUTH)
        assert deleted.status_code == 200 and deleted.json()["deleted"] is True
        assert http.delete(f"{base}/videos/{vid}", headers=AUTH).status_code == 200
        assert _empty_folders(assets) == []
        assert list(tmp.iterdir()) == []  # no vidserve-job-* folder left behind

        filler.unlink()  # space again: a new job completes
        again = http.post(f"{base}/videos", headers=AUTH, json={"prompt": "after"}).json()
        assert _wait_status(data, again["id"], {"completed", "failed"})["status"] == "completed"
    finally:
        server.stop()


@pytest.mark.backends("sqlite")
def test_full_disk_under_the_database_still_deletes(
    small_disk: Path, backend: object, http: httpx.Client
) -> None:
    """Everything on the small disk: writes answer 503 storage_full; DELETE frees space."""
    data = small_disk / "data"
    server = ServerProcess(data, env={"TMPDIR": str(small_disk)}).start()
    base = server.base_url
    try:
        kept = http.post(f"{base}/files", headers=AUTH, data={"purpose": "vision"},
                         files={"file": ("a.png", b"x" * 200_000, "image/png")})
        assert kept.status_code == 200, kept.text
        _fill(small_disk)
        _assert_full(http.post(f"{base}/files", headers=AUTH, data={"purpose": "vision"},
                               files={"file": ("b.png", b"y" * 300_000, "image/png")}))
        _assert_full(http.post(f"{base}/videos", headers=AUTH, json={"prompt": "more"}))
        deleted = http.delete(f"{base}/files/{kept.json()['id']}", headers=AUTH)
        assert deleted.status_code == 200 and deleted.json()["deleted"] is True
        assert http.get(f"{base}/files/{kept.json()['id']}", headers=AUTH).status_code == 404
    finally:
        server.stop()


def test_storage_full_is_recognised() -> None:
    """The one definition, on the forms a full disk or bucket takes through each library."""
    def chained(outer: Exception, inner: BaseException) -> Exception:
        outer.__cause__ = inner
        return outer

    full = [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        sqlite3.OperationalError("database or disk is full"),
        chained(RuntimeError("put videos/x: generic"),
                Exception("Generic LocalFileSystem error: ... (os error 28)")),
        Exception("S3 error: <Code>QuotaExceeded</Code>"),
        StorageFull("already"),
    ]
    for exc in full:
        assert isinstance(storage_full(exc), StorageFull), exc
    for exc in [OSError(errno.EACCES, "denied"), ValueError("disk"), RuntimeError("full")]:
        assert storage_full(exc) is None, exc
