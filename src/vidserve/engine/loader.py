"""Instantiate the backend of a served model (worker side only).

Heavy loading (weights) is the backend's own business, on its first job, so a broken model
fails that job clearly instead of the worker. Apart from the registry so that the registry
(read by the API process) never imports an engine.
"""

from __future__ import annotations

from vidserve.engine.base import VideoBackend
from vidserve.engine.registry import ModelSpec, is_plugin
from vidserve.errors import ConfigurationError


def load_backend(spec: ModelSpec, *, caption: str = "label") -> VideoBackend:
    if spec.backend == "procedural":
        from vidserve.engine.procedural import ProceduralBackend

        return ProceduralBackend(sizes=spec.capabilities.sizes, caption=caption)
    if spec.backend == "diffusers":
        # light: torch is imported on the first job, in the generation thread
        from vidserve.engine.diffusion.backend import DiffusersBackend

        return DiffusersBackend.from_spec(spec)
    if is_plugin(spec.backend):  # a class of the operator's own: "package.module:Class"
        import importlib

        module, _, attr = spec.backend.partition(":")
        backend = getattr(importlib.import_module(module), attr).from_spec(spec)
        if not isinstance(backend, VideoBackend):
            raise ConfigurationError(f"backend {spec.backend!r} is not a VideoBackend")
        return backend
    raise ConfigurationError(f"unknown backend {spec.backend!r}")
