"""The procedural backend: checks a request, picks how its frames are made (rendered, or an
edit of a source clip) and hands them over in steps through one loop."""

from __future__ import annotations

from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PIL import Image

from vidserve import contract
from vidserve.domain import Capabilities, Clip, GenerationRequest, StepCallback, StopCheck
from vidserve.engine.base import GenerationCancelled, GenerationFailed
from vidserve.engine.procedural.edit import grade, grade_lut
from vidserve.engine.procedural.scene import CAPTIONS, Scene
from vidserve.engine.procedural.sound import sound_for

if TYPE_CHECKING:
    from vidserve.domain import Frame

FRAMES_PER_STEP = 12
DEFAULT_SIZES = contract.SIZES


class _Frames(Protocol):
    """Makes frames ``start .. stop - 1`` of a clip, in order, one step at a time."""

    def frames(self, start: int, stop: int) -> list[Frame]: ...

    def close(self) -> None: ...


class _Rendered:
    """A generated clip (text, image reference, extension): every frame drawn by the scene."""

    def __init__(self, request: GenerationRequest, caption: str) -> None:
        self.scene = Scene(request, caption)
        # an extension starts one frame after the source's last (which is the reference)
        self.offset = 1 if request.continue_from is not None else 0

    def frames(self, start: int, stop: int) -> list[Frame]:
        return [self.scene.render(i + self.offset) for i in range(start, stop)]

    def close(self) -> None:
        pass


class _Edited:
    """An edit: the source's frames, decoded in order, graded and decorated."""

    def __init__(self, request: GenerationRequest, caption: str) -> None:
        from vidserve.media.probe import iter_frames

        assert request.source_video is not None
        blank = np.zeros((request.height, request.width, 3), dtype=np.uint8)
        self.scene = Scene(replace(request, reference_image=blank, continue_from=None), caption)
        self.lut = grade_lut(self.scene.look)
        self.source = iter_frames(
            request.source_video, width=request.width, height=request.height,
            fps=request.fps, count=request.num_frames,
        )

    def frames(self, start: int, stop: int) -> list[Frame]:
        from vidserve.media.errors import MediaError

        try:
            return [
                self.scene.decorate(Image.fromarray(grade(next(self.source), self.lut), "RGB"), i)
                for i in range(start, stop)
            ]
        except MediaError as exc:
            raise GenerationFailed("source_unavailable", exc.message) from None

    def close(self) -> None:
        self.source.close()


class ProceduralBackend:
    """Deterministic CPU motion-graphics renderer; see :mod:`vidserve.engine.procedural`."""

    name = "procedural"

    def __init__(self, sizes: tuple[str, ...] = DEFAULT_SIZES, caption: str = "label") -> None:
        if caption not in CAPTIONS:
            raise ValueError(f"caption must be one of {', '.join(CAPTIONS)}")
        self.sizes = tuple(sizes)
        self.caption = caption

    def capabilities(self) -> Capabilities:
        return Capabilities(
            sizes=self.sizes,
            image_reference=True,
            remix=True,
            edit=True,
            extend=True,
            characters=True,
            audio=True,
            extra={"engine": "procedural", "kind": "motion graphics (not a neural model)"},
        )

    def generate(
        self, request: GenerationRequest, on_step: StepCallback, should_stop: StopCheck
    ) -> Clip:
        if request.width <= 0 or request.height <= 0 or request.fps <= 0:
            raise GenerationFailed(
                "invalid_request", f"cannot render {request.width}x{request.height}"
            )
        ref = request.reference_image
        if ref is not None and (
            getattr(ref, "ndim", 0) != 3 or ref.shape[2] != 3 or ref.dtype != np.uint8
        ):
            raise GenerationFailed(
                "invalid_reference", "the reference image must be an H x W x 3 uint8 array"
            )
        kind = _Edited if request.source_video is not None else _Rendered

        def make(request: GenerationRequest) -> _Frames:
            return kind(request, self.caption)

        return Clip(self._steps(request, make, on_step, should_stop), sound_for(request))

    def _steps(
        self,
        request: GenerationRequest,
        make: Callable[[GenerationRequest], _Frames],
        on_step: StepCallback,
        should_stop: StopCheck,
    ) -> Generator[Frame, None, None]:
        """The one per-step loop: check for a stop, hand over a step.

        One step is rendered ahead on a helper thread while the consumer (the encoder) works on
        the current one: Pillow, PyAV and x264 release the GIL, so on a multi-core CPU rendering
        mostly hides behind encoding. The steps are made in order on that one thread; the
        callbacks stay on the consumer's thread and ``on_step`` reports only the steps handed
        over. The source of the frames is made at the first step (nothing happens before the
        first frame is asked for) and closed when the generator ends, however it ends.
        """
        num = request.num_frames
        total = -(-num // FRAMES_PER_STEP)
        if total == 0:
            return
        source: _Frames | None = None

        def render_step(step: int) -> list[Frame]:
            assert source is not None
            first = step * FRAMES_PER_STEP
            return source.frames(first, min(num, first + FRAMES_PER_STEP))

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="procedural-render")
        ahead: Future[list[Frame]] | None = None
        try:
            for step in range(total):
                if should_stop():
                    raise GenerationCancelled(f"stopped before step {step + 1} of {total}")
                if source is None:
                    source = make(request)
                chunk = ahead.result() if ahead is not None else render_step(step)
                ahead = pool.submit(render_step, step + 1) if step + 1 < total else None
                on_step(step + 1, total)
                yield from chunk
        finally:
            if ahead is not None:
                ahead.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            if source is not None:
                source.close()
