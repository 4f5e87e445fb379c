"""The one exception tree of vidserve.

Every error a client can see is a :class:`VidserveError`; each knows its HTTP status and the
OpenAI envelope fields (``type``, ``param``, ``code``). The API maps them to
``{"error": {"message", "type", "param", "code"}}`` in exactly one place (``api/errors.py``).
Anything else that escapes is a bug and becomes a 500 that never shows its own text.

    VidserveError
    ├── InvalidRequest            400 invalid_request_error
    │   ├── InvalidType           400 code=invalid_type
    │   ├── InvalidValue          400 code=invalid_value
    │   ├── UnknownParameter      400 code=unknown_parameter
    │   └── MissingParameter      400 code=missing_required_parameter
    ├── AuthenticationFailed      401
    ├── PermissionDenied          403
    ├── NotFound                  404
    ├── Conflict                  409
    ├── PayloadTooLarge           413
    ├── RateLimited               429 (carries retry_after seconds)
    └── ServerError               500 / 503
        └── ServiceUnavailable    503
            └── StorageFull       503 code=storage_full (carries retry_after seconds)

:func:`storage_full` recognises a full disk, quota or bucket anywhere in an exception's chain
(``OSError`` ENOSPC/EDQUOT/EFBIG, SQLite's "database or disk is full", obstore's wrapped OS
errors, S3's quota and insufficient-storage answers): the one definition the API (a 503 that
names the cause, never a 500 or a client error) and the worker (an infrastructure failure:
the job goes back to the queue) both use.
"""

from __future__ import annotations

import errno


class VidserveError(Exception):
    status_code: int = 500
    error_type: str = "server_error"
    default_code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code


class InvalidRequest(VidserveError):
    status_code = 400
    error_type = "invalid_request_error"


class InvalidType(InvalidRequest):
    default_code = "invalid_type"


class InvalidValue(InvalidRequest):
    default_code = "invalid_value"


class UnknownParameter(InvalidRequest):
    default_code = "unknown_parameter"


class MissingParameter(InvalidRequest):
    default_code = "missing_required_parameter"


class AuthenticationFailed(VidserveError):
    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDenied(VidserveError):
    status_code = 403
    error_type = "invalid_request_error"


class NotFound(VidserveError):
    status_code = 404
    error_type = "invalid_request_error"


class Conflict(VidserveError):
    status_code = 409
    error_type = "invalid_request_error"


class PayloadTooLarge(VidserveError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "payload_too_large"


class RateLimited(VidserveError):
    status_code = 429
    error_type = "rate_limit_exceeded"
    default_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after


class ServerError(VidserveError):
    status_code = 500
    error_type = "server_error"


class ServiceUnavailable(ServerError):
    status_code = 503


class StorageFull(ServiceUnavailable):
    default_code = "storage_full"

    def __init__(self, message: str, *, retry_after: float = 30.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# How the same condition reads once a library has wrapped it in text (SQLite, obstore, S3).
_FULL_TEXTS: tuple[tuple[str, str], ...] = (
    ("database or disk is full", "disk"),
    ("no space left on device", "disk"),
    ("os error 28", "disk"),  # ENOSPC through Rust's std::io::Error (obstore LocalStore)
    ("os error 122", "disk"),  # EDQUOT
    ("disk quota exceeded", "disk"),
    ("file too large", "disk"),
    ("quotaexceeded", "bucket"),
    ("insufficientstorage", "bucket"),
    ("insufficient storage", "bucket"),
)


def storage_full(exc: BaseException) -> StorageFull | None:
    """The :class:`StorageFull` error ``exc`` amounts to, or None when it is something else."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StorageFull):
            return current
        cause = None
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            cause = "disk"
        else:
            text = str(current).lower()
            cause = next((where for needle, where in _FULL_TEXTS if needle in text), None)
        if cause is not None:
            what = "disk" if cause == "disk" else "storage bucket (quota or capacity)"
            return StorageFull(
                f"The server's {what} is full, so the request could not be stored; retry "
                "later. Deleting videos and files frees space (DELETE always works)."
            )
        current = current.__cause__ or current.__context__
    return None


class ConfigurationError(Exception):
    """Invalid settings or model registry: raised at start, never shown to API clients."""
