"""Backends of the operator's own (``backend = "module:Class"`` in the models file), and the
test-suite's own one: the procedural engine slowed down, for tests that catch jobs mid-run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.backends import SlowProcedural, slow_models
from vidserve.domain import GenerationRequest
from vidserve.engine.loader import load_backend
from vidserve.engine.registry import ModelRegistry
from vidserve.errors import ConfigurationError


class NotABackend:
    @classmethod
    def from_spec(cls, spec: object) -> NotABackend:
        return cls()


def _request() -> GenerationRequest:
    return GenerationRequest(model="procedural", prompt="a red kite", width=64, height=48,
                             seconds=2, seed=1, fps=12)  # 2 steps


def test_a_plugin_serves_the_default_names_with_the_default_capabilities() -> None:
    registry = ModelRegistry.from_file(Path(slow_models(0.15)["VIDSERVE_MODELS_FILE"]))
    default = ModelRegistry.default()
    assert registry.names() == default.names()
    for name in default.names():
        served, expected = registry.get(name), default.get(name)
        assert served is not None and expected is not None
        assert served.capabilities == expected.capabilities, name
    spec = registry.get("sora-2")
    assert spec is not None and spec.spec.options == {"step_delay": 0.15}


def test_the_worker_loads_the_plugin_and_each_step_is_held_back() -> None:
    registry = ModelRegistry.from_file(Path(slow_models(0.15)["VIDSERVE_MODELS_FILE"]))
    served = registry.get("sora-2")
    assert served is not None
    backend = load_backend(served.spec)
    assert isinstance(backend, SlowProcedural) and backend.step_delay == 0.15
    steps: list[int] = []
    start = time.perf_counter()
    frames = list(backend.generate(_request(), lambda d, t: steps.append(d), lambda: False).frames)
    assert time.perf_counter() - start >= 0.3
    assert steps == [1, 2] and len(frames) == 24


def test_unknown_and_wrong_backends_are_configuration_errors(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text('[models.m]\nbackend = "no such thing"\n')
    with pytest.raises(ConfigurationError, match="module:Class"):
        ModelRegistry.from_file(path)
    path.write_text('[models.m]\nbackend = "tests.unit.test_plugins:NotABackend"\n')
    served = ModelRegistry.from_file(path).get("m")
    assert served is not None
    with pytest.raises(ConfigurationError, match="is not a VideoBackend"):
        load_backend(served.spec)
