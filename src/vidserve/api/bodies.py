"""Request bodies: JSON or multipart (or urlencoded), with Node-style bracket keys unfolded.

The official SDKs send create/edit/extend as multipart even without a file, remix as JSON, and
Node encodes nested objects as ``input_reference[image_url]`` or ``characters[][id]``. All of
them come out of :func:`read_body` as the same nested ``dict``; file parts become
:class:`FilePart`. Multipart parsing is python-multipart's (through Starlette), with caps.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message, Receive

from vidserve.errors import InvalidRequest, PayloadTooLarge, storage_full

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
MAX_PARTS = 64
MAX_FIELD_BYTES = 21 * 1024 * 1024  # a data: URL may be 20,971,520 characters


@dataclass(frozen=True, slots=True)
class FilePart:
    filename: str | None
    content_type: str | None
    data: bytes


def _split_key(key: str) -> list[str] | None:
    """``a[b][]`` -> ``["a", "b", ""]``; None when the key is malformed."""
    head, bracket, _ = key.partition("[")
    if not head:
        return None
    if not bracket:
        return [head]
    rest = key[len(head):]
    parts = _BRACKETS.findall(rest)
    if "".join(f"[{p}]" for p in parts) != rest:
        return None
    return [head, *parts]


def _assign(target: dict[str, Any], path: list[str], value: Any) -> None:
    node: Any = target
    for i, part in enumerate(path):
        last = i == len(path) - 1
        nxt = None if last else path[i + 1]
        if isinstance(node, list):
            if part == "" or part.isdigit():
                # `characters[][id]`: a new element unless the last one still lacks this key
                if last:
                    node.append(value)
                    return
                if node and isinstance(node[-1], dict) and nxt not in node[-1] and part == "":
                    node = node[-1]
                elif part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    node.append({} if nxt not in ("",) else [])
                    node = node[-1]
                continue
            raise InvalidRequest(
                f"Invalid parameter name: '{'['.join(path)[:80]}'.", code="invalid_value"
            )
        if not isinstance(node, dict):
            raise InvalidRequest(
                f"Conflicting values for parameter '{path[0]}'.",
                param=path[0],
                code="invalid_value",
            )
        if last:
            if part in node:
                raise InvalidRequest(
                    f"Parameter '{path[0]}' was given more than once.",
                    param=path[0],
                    code="invalid_value",
                )
            node[part] = value
            return
        if part not in node:
            node[part] = [] if nxt == "" or (nxt is not None and nxt.isdigit()) else {}
        node = node[part]


async def read_body(request: Request) -> dict[str, Any]:
    """The request's parameters as a nested dict; raises a 400 the client can act on."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise InvalidRequest(
                "We could not parse the JSON body of your request. The API expects a JSON "
                "object (or multipart/form-data), but what was sent was not valid JSON.",
                code="invalid_json",
            ) from None
        try:  # lone surrogates ("\ud800") parse but cannot be stored or echoed
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest(
                "The JSON body contains invalid Unicode (an unpaired surrogate).",
                code="invalid_json",
            ) from None
        if not isinstance(data, dict):
            raise InvalidRequest(
                "The request body must be a JSON object.", code="invalid_json"
            )
        return data
    if media_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        closing = _CloseDelimiterWatch(content_type) if media_type != _FORM else None
        if closing is not None:
            request = Request(request.scope, closing.wrap(request.receive))
        try:
            form = await request.form(
                max_files=MAX_PARTS, max_fields=MAX_PARTS, max_part_size=MAX_FIELD_BYTES
            )
        except PayloadTooLarge:
            raise
        except Exception as exc:  # python-multipart / Starlette parse errors
            full = storage_full(exc)  # spooling a part to disk failed: not the client's fault
            if full is not None:
                raise full from exc
            raise InvalidRequest(
                f"The multipart body could not be parsed: {_reason(exc)}",
                code="invalid_multipart",
            ) from None
        if closing is not None and not closing.seen:
            await form.close()
            raise InvalidRequest(
                "The multipart body ended before its closing boundary: it was cut short "
                "(a dropped connection or a wrong Content-Length?). Send the whole body again.",
                code="truncated_multipart",
            )
        fields: dict[str, Any] = {}
        try:
            for key, value in form.multi_items():
                path = _split_key(key)
                if path is None:
                    raise InvalidRequest(
                        f"Invalid parameter name: '{key[:80]}'.", code="invalid_value"
                    )
                item: object = value
                if isinstance(value, UploadFile):
                    item = FilePart(value.filename, value.content_type, await value.read())
                _assign(fields, path, item)
        finally:
            await form.close()
        return fields
    if not content_type and not await request.body():
        return {}
    raise InvalidRequest(
        f"Invalid Content-Type header ({content_type[:100] or 'none'}); expected "
        "application/json or multipart/form-data.",
        code="invalid_content_type",
    )


_FORM = "application/x-www-form-urlencoded"


class _CloseDelimiterWatch:
    """Watches a multipart body go by for its close delimiter (``--BOUNDARY--``, RFC 2046).

    python-multipart's parser accepts a body that simply stops (its ``finalize`` checks
    nothing), so a cut-short upload would read as a form with parts missing."""

    def __init__(self, content_type: str) -> None:
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary", b"")
        self.delimiter = b"--" + boundary + b"--" if boundary else b""
        self.seen = not self.delimiter  # no boundary: the parser refuses the body itself
        self._tail = b""

    def wrap(self, receive: Receive) -> Receive:
        async def watching() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not self.seen:
                window = self._tail + message.get("body", b"")
                self.seen = self.delimiter in window
                self._tail = window[-len(self.delimiter):]
            return message

        return watching


def _reason(exc: Exception) -> str:
    text = str(getattr(exc, "detail", "") or exc) or type(exc).__name__
    return text[:200]
