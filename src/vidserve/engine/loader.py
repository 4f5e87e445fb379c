"""Instantiate the backend of a served model (worker side only).

Heavy loading (weights) is the backend's own business, on its first job, so a broken model
fails that job clearly instead of the worker. Apart from the registry so that the registry
(read by the API process) never imports an engine.
"""

from __future__ import annotations

from vidserve.engine.base import VideoBackend
from vidserve.engine.registry import ModelSpec
from vidserve.errors import ConfigurationError


def load_backend(spec: ModelSpec, *, caption: str = "label") -> VideoBackend:
    return wrapped(_engine(spec, caption), spec)


def wrapped(backend: VideoBackend, spec: ModelSpec) -> VideoBackend:
    """``backend`` in the operator's ``wrap`` of the model, if it has one."""
    wrap = spec.options.get("wrap")
    if wrap is None:
        return backend
    # "module:function": the operator's wrapper of the backend (the registry checked the form)
    import importlib

    module, _, attr = str(wrap).partition(":")
    wrapped = getattr(importlib.import_module(module), attr)(backend, spec)
    if not isinstance(wrapped, VideoBackend):
        raise ConfigurationError(f"wrap {wrap!r} did not return a VideoBackend")
    return wrapped


def _engine(spec: ModelSpec, caption: str) -> VideoBackend:
    if spec.backend == "procedural":
        from vidserve.engine.procedural import ProceduralBackend

        return ProceduralBackend(sizes=spec.capabilities.sizes, caption=caption)
    if spec.backend == "diffusers":
        # light: torch is imported on the first job, in the generation thread
        from vidserve.engine.diffusion.backend import DiffusersBackend

        return DiffusersBackend.from_spec(spec)
    raise ConfigurationError(f"unknown backend {spec.backend!r}")
