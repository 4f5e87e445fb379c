"""A procedural model's ``wrap = "module:function"`` (the operator's wrapper of the backend,
imported in the worker only), and the test-suite's own one: the procedural engine slowed
down, for tests that catch jobs mid-run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.backends import SlowBackend, slow_models
from vidserve.domain import GenerationRequest
from vidserve.engine.loader import load_backend
from vidserve.engine.procedural import ProceduralBackend
from vidserve.engine.registry import ModelRegistry
from vidserve.errors import ConfigurationError


def not_a_backend(backend: object, spec: object) -> object:
    return object()


def _request() -> GenerationRequest:
    return GenerationRequest(model="procedural", prompt="a red kite", width=64, height=48,
                             seconds=2, seed=1, fps=12)  # 2 steps


def test_a_wrapped_model_lists_as_the_default_one() -> None:
    registry = ModelRegistry.from_file(Path(slow_models(0.15)["VIDSERVE_MODELS_FILE"]))
    default = ModelRegistry.default()
    assert registry.names() == default.names()
    for name in default.names():
        served, expected = registry.get(name), default.get(name)
        assert served is not None and expected is not None
        assert served.capabilities == expected.capabilities, name
        assert served.spec.backend == "procedural"


def test_the_worker_wraps_the_backend_and_each_step_is_held_back() -> None:
    registry = ModelRegistry.from_file(Path(slow_models(0.15)["VIDSERVE_MODELS_FILE"]))
    served = registry.get("sora-2")
    assert served is not None
    backend = load_backend(served.spec)
    assert isinstance(backend, SlowBackend) and backend.step_delay == 0.15
    assert isinstance(backend.inner, ProceduralBackend) and backend.name == "procedural"
    steps: list[int] = []
    start = time.perf_counter()
    frames = list(backend.generate(_request(), lambda d, t: steps.append(d), lambda: False).frames)
    assert time.perf_counter() - start >= 0.3
    assert steps == [1, 2] and len(frames) == 24


def test_bad_wraps_are_configuration_errors(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text('[models.m]\nbackend = "procedural"\nwrap = "no such thing"\n')
    with pytest.raises(ConfigurationError, match="module:function"):
        ModelRegistry.from_file(path)
    path.write_text(
        '[models.m]\nbackend = "procedural"\nwrap = "tests.unit.test_plugins:not_a_backend"\n'
    )
    served = ModelRegistry.from_file(path).get("m")
    assert served is not None
    with pytest.raises(ConfigurationError, match="did not return a VideoBackend"):
        load_backend(served.spec)


def test_a_diffusers_model_takes_a_wrap_with_its_own_options(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(
        '[models.m]\nbackend = "diffusers"\npipeline = "WanPipeline"\nweights = "./w"\n'
        'wrap = "tests.backends:slow_reported_steps"\nwrap_options = { step_delay = 0.2 }\n'
    )
    served = ModelRegistry.from_file(path).get("m")
    assert served is not None and served.spec.diffusers is not None  # the engine's keys parsed
    backend = load_backend(served.spec)
    assert isinstance(backend, SlowBackend) and backend.after_step
    assert backend.step_delay == 0.2
    assert type(backend.inner).__name__ == "DiffusersBackend"  # weights load on the first job


def test_wrap_options_need_a_wrap_and_the_engine_keeps_no_delay_of_its_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "models.toml"
    path.write_text('[models.m]\nbackend = "procedural"\nwrap_options = { step_delay = 1 }\n')
    with pytest.raises(ConfigurationError, match="wrap_options must be a table, beside wrap"):
        ModelRegistry.from_file(path)
    path.write_text(
        '[models.m]\nbackend = "diffusers"\npipeline = "WanPipeline"\nweights = "./w"\n'
        "step_delay = 0.5\n"
    )
    with pytest.raises(ConfigurationError, match="step_delay"):
        ModelRegistry.from_file(path)
