"""The VideoBackend protocol every engine implements.

``generate`` returns a :class:`~vidserve.domain.Clip`: the frames (``height x width x 3`` uint8
arrays, in order) and the sound where the model makes it. The frames may be a list (a diffusion
pipeline decodes all frames at once) or a lazy iterator (the procedural renderer renders while
the encoder consumes, keeping memory bounded). Either way it
calls ``on_step(done, total)`` after every step it actually runs and checks ``should_stop()``
before each step, raising :class:`GenerationCancelled` when told to stop.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from vidserve.domain import Capabilities, Clip, GenerationRequest, StepCallback, StopCheck


class GenerationCancelled(Exception):
    """Raised by an engine when ``should_stop()`` said so; the worker discards the attempt."""


class GenerationFailed(Exception):
    """An engine failure the client may see: ``code`` and ``message`` go into ``video.error``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@runtime_checkable
class VideoBackend(Protocol):
    name: str

    def capabilities(self) -> Capabilities: ...

    def generate(
        self, request: GenerationRequest, on_step: StepCallback, should_stop: StopCheck
    ) -> Clip: ...


@runtime_checkable
class Preloadable(Protocol):
    """A backend that can load its weights before its first job (the worker warms it up)."""

    def load(self) -> None: ...
