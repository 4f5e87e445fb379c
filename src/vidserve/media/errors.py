"""``MediaError``: a client's image or video that cannot be used, and why.

Media knows nothing of HTTP or of API parameter names. ``subject`` says what was being read
(``"image"``: a reference image or its data URL; ``"video"``: an uploaded or stored clip) and
``code`` why it failed (``invalid_image``, ``invalid_video``, ``file_too_large``,
``invalid_value`` for a malformed data URL). The API turns it into OpenAI's 400 envelope in one
place (``vidserve.api.errors``); the worker and the engines turn it into a failed job.
"""

from __future__ import annotations

from typing import Literal

MediaSubject = Literal["image", "video"]


class MediaError(ValueError):
    def __init__(self, message: str, *, subject: MediaSubject, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.subject: MediaSubject = subject
        self.code = code
