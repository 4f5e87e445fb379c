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
    └── ServerError               500
"""

from __future__ import annotations


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


class ConfigurationError(Exception):
    """Invalid settings or model registry: raised at start, never shown to API clients."""
