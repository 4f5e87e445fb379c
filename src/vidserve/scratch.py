"""Scratch folders in TMPDIR (a job's work, an upload being probed), and sweeping stale ones.

Every folder is ``vidserve-{kind}-{pid}-{random}``: the owning process is in the name, so a
process that starts (API and worker both do) removes the folders whose owner is gone (killed
with SIGKILL, the machine lost power) and never touches those of a process still running,
another worker on the same machine included. Older folders without an owner in their name
(``vidserve-job-abc123``) are removed once they are an hour old.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger("vidserve.scratch")

KINDS = ("job", "source", "character", "probe")
_NAME = re.compile(rf"^vidserve-(?:{'|'.join(KINDS)})-(?:(?P<pid>\d+)-)?")
_UNOWNED_MAX_AGE = 3600.0


def make(kind: str) -> Path:
    """A new scratch folder of this process; the caller removes it (``shutil.rmtree``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown scratch kind {kind!r}")
    return Path(tempfile.mkdtemp(prefix=f"vidserve-{kind}-{os.getpid()}-"))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def sweep(root: Path | None = None, *, now: float | None = None) -> int:
    """Remove stale scratch folders under ``root`` (TMPDIR); returns how many went."""
    base = Path(root or tempfile.gettempdir())
    moment = time.time() if now is None else now
    removed = 0
    try:
        entries = list(base.iterdir())
    except OSError:
        return 0
    for entry in entries:
        match = _NAME.match(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir():
            continue
        pid = match["pid"]
        if pid is not None:
            stale = not _alive(int(pid))
        else:
            try:
                stale = moment - entry.stat().st_mtime > _UNOWNED_MAX_AGE
            except OSError:
                continue
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
            removed += not entry.exists()
    if removed:
        log.info("removed %d stale scratch folder(s) from %s", removed, base)
    return removed
