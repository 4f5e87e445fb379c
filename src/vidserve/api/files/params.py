"""Parameters of the Files API -> service commands."""

from __future__ import annotations

from typing import Any

from vidserve import contract
from vidserve.api.files.wire import CreateFileBody
from vidserve.api.validation import parse_list_query, validate
from vidserve.service.files import NewFile


def parse_file_create(body: dict[str, Any]) -> NewFile:
    wire = validate(CreateFileBody, body)
    return NewFile(
        filename=wire.file.filename or "upload",
        data=wire.file.data,
        purpose=wire.purpose,
        expires_after_seconds=wire.expires_after.seconds if wire.expires_after else None,
    )


def parse_file_list_query(
    limit: str | None, order: str | None, after: str | None, purpose: str | None
) -> tuple[int, contract.Order, str | None, str | None]:
    n, direction, cursor = parse_list_query(limit, order, after, contract.FILE_LIST_LIMIT)
    if purpose is not None and purpose not in contract.PURPOSES:
        raise contract.unsupported_value(purpose, contract.PURPOSES, "purpose")
    return n, direction, cursor, purpose or None
