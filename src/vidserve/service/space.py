"""DELETE works on a full disk: when the row's write fails for lack of space, free first.

SQLite needs room for its journal even to mark a row deleted; a full disk would otherwise make
the one operation that frees space fail. :func:`write_or_free` runs the write; if it fails with
a full disk or bucket (:func:`vidserve.errors.storage_full`), it removes the object's files
(which the delete would remove anyway) and tries the write once more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from vidserve.errors import storage_full

T = TypeVar("T")


async def write_or_free(
    write: Callable[[], Awaitable[T]], free: Callable[[], Awaitable[object]]
) -> T:
    try:
        return await write()
    except Exception as exc:
        if storage_full(exc) is None:
            raise
    await free()
    return await write()
