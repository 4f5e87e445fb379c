"""Test-only backends, loaded into a real server's worker through a models file.

Durability, chaos, drain and cancel tests need jobs that take a while, so that a fault catches
one mid-run. :class:`SlowBackend` is a backend with every step held back ``step_delay``
seconds; :func:`slow_models` writes a models file that serves the default names
(``procedural``, ``sora-2``, ``sora-2-pro`` and their snapshots) with the procedural engine
wrapped in it (``wrap = "tests.backends:slow_steps"``: the listing stays the procedural one),
and returns the environment that points a server at it:

    ServerProcess(tmp, env=slow_models(0.25))

The worker imports ``tests.backends``, so the server must start from the repository's root
(as the test-suite does).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from vidserve import contract
from vidserve.domain import Capabilities, Clip, GenerationRequest, StepCallback, StopCheck
from vidserve.engine.base import VideoBackend
from vidserve.engine.registry import ModelSpec

WRAP = "tests.backends:slow_steps"
# A prompt holding ``hold-while:<path>`` keeps its job at its first step while that file
# exists (at most HOLD_SECONDS): for tests that look at a job in progress from slow processes.
HOLD = "hold-while:"
HOLD_SECONDS = 120.0


class SlowBackend:
    """A backend, each step ``step_delay`` seconds slower.

    By default it sleeps before the engine asks whether to stop (the procedural engine asks
    once per step), so a cancel is still seen within one step. With ``after_step`` it sleeps
    after each step the engine reports instead: for engines that ask many times per step (the
    diffusers engine asks before every transformer block)."""

    def __init__(self, inner: VideoBackend, step_delay: float, *, after_step: bool = False):
        if step_delay < 0:
            raise ValueError("step_delay must be >= 0")
        self.inner = inner
        self.name = inner.name
        self.step_delay = step_delay
        self.after_step = after_step

    def capabilities(self) -> Capabilities:
        return self.inner.capabilities()

    def generate(
        self, request: GenerationRequest, on_step: StepCallback, should_stop: StopCheck
    ) -> Clip:
        if self.after_step:
            def slow_step(done: int, total: int) -> None:
                on_step(done, total)
                time.sleep(self.step_delay)

            return self.inner.generate(request, slow_step, should_stop)

        hold = _hold_file(request.prompt)
        deadline = time.monotonic() + HOLD_SECONDS

        def slow_stop() -> bool:
            time.sleep(self.step_delay)
            while hold is not None and hold.exists() and time.monotonic() < deadline:
                if should_stop():
                    return True
                time.sleep(0.05)
            return should_stop()

        return self.inner.generate(request, on_step, slow_stop)


def _hold_file(prompt: str) -> Path | None:
    words = [w for w in prompt.split() if w.startswith(HOLD)]
    return Path(words[0][len(HOLD):]) if words else None


def slow_steps(backend: VideoBackend, spec: ModelSpec) -> SlowBackend:
    """The models file's ``wrap``: ``wrap_options.step_delay`` (seconds) added to each step."""
    return SlowBackend(backend, _delay(spec))


def slow_reported_steps(backend: VideoBackend, spec: ModelSpec) -> SlowBackend:
    """The same, sleeping after each step the engine reports (for the diffusers engine)."""
    return SlowBackend(backend, _delay(spec), after_step=True)


def _delay(spec: ModelSpec) -> float:
    return float(dict(spec.options.get("wrap_options") or {}).get("step_delay", 0.25))


def slow_models(step_delay: float) -> dict[str, str]:
    """``VIDSERVE_MODELS_FILE`` for a server whose default models run :class:`SlowBackend`."""
    folder = Path(tempfile.gettempdir()) / "vidserve-test-models"
    folder.mkdir(exist_ok=True)
    path = folder / f"slow-{step_delay:g}.toml"
    aliases = "\n".join(
        f'"{name}" = "procedural"' for name in contract.SORA2_NAMES + contract.SORA2_PRO_NAMES
    )
    text = (
        f'[models.procedural]\nbackend = "procedural"\nwrap = "{WRAP}"\n'
        f"wrap_options = {{ step_delay = {step_delay!r} }}\n\n"
        f"[aliases]\n{aliases}\n"
    )
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(f".{time.monotonic_ns()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)  # atomic: servers of parallel tests may be reading it
    return {"VIDSERVE_MODELS_FILE": str(path)}
