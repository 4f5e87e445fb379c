"""Transport-free domain types: what a video job is, independent of HTTP and SQL."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Frame = npt.NDArray[np.uint8]
else:
    Frame = object

DEFAULT_FPS = 24


class VideoStatus(enum.StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (VideoStatus.COMPLETED, VideoStatus.FAILED)


class JobKind(enum.StrEnum):
    CREATE = "create"
    REMIX = "remix"
    EDIT = "edit"  # transform a source clip (keeps its size, length and motion)
    EXTEND = "extend"  # source clip + a new segment that continues its last frame


@dataclass(frozen=True, slots=True)
class Size:
    width: int
    height: int

    @classmethod
    def parse(cls, text: str) -> Size:
        w, _, h = text.partition("x")
        return cls(int(w), int(h))

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(slots=True, frozen=True)
class Video:
    """One video job; the row in the videos table *is* the job."""

    id: str
    project: str
    model: str
    status: VideoStatus
    progress: int
    created_at: int
    prompt: str
    size: str
    seconds: int
    seed: int
    kind: JobKind = JobKind.CREATE
    completed_at: int | None = None
    expires_at: int | None = None
    remixed_from_video_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempt: int = 0
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    cancel_requested: bool = False
    deleted_at: int | None = None
    input_reference_key: str | None = None
    assets_attempt: int | None = None
    started_at: float | None = None
    # edits and extensions: the source is a video of ours (source_video_id) or an upload,
    # re-encoded and stored under source_key
    source_video_id: str | None = None
    source_key: str | None = None
    extensions: int = 0  # how many extension steps made this clip (the source's + 1)
    segment_seconds: int | None = None  # extension: the new segment's length
    character_ids: tuple[str, ...] = ()  # create: characters to show in the clip


@dataclass(frozen=True, slots=True)
class Claim:
    """A job a worker holds: the video and the attempt number that fences every later write."""

    video: Video
    attempt: int


@dataclass(frozen=True, slots=True)
class CharacterClip:
    """A character (``POST /v1/videos/characters``) as an engine gets it: its name and the
    frames of its clip (small, ``h x w x 3`` uint8, at the request's fps; the engine loops
    them)."""

    name: str
    frames: tuple[Frame, ...]
    # the frame of the clip where the subject is largest and sharpest, cropped to it
    # (:func:`vidserve.media.stills.reference_still`): what a reference-image model gets
    reference: Frame | None = None


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """Everything an engine needs to render one clip; already validated and resolved."""

    model: str
    prompt: str
    width: int
    height: int
    seconds: int
    seed: int
    fps: int = DEFAULT_FPS
    reference_image: Frame | None = None  # H x W x 3 uint8, already at width x height
    source_prompt: str | None = None  # remix: the prompt of the source video
    source_video: bytes | None = None  # remix: the source's MP4, when the model conditions on it
    steps: int | None = None  # denoising steps; None: the model's default
    guidance: float | None = None  # classifier-free guidance scale; None: the model's default
    # extension: the source's last frame; the clip's first frame must follow it seamlessly
    # (engines that cannot continue a frame get it as reference_image too)
    continue_from: Frame | None = None
    # extension: the source's last frames (oldest first, ending with continue_from) at
    # ``fps``, for engines that continue several frames of context
    continue_frames: tuple[Frame, ...] = ()
    characters: tuple[CharacterClip, ...] = ()  # characters to show in the clip
    # extension / edit: the source clip's sound (None: the source is silent or has no track)
    source_audio: Audio | None = None

    @property
    def num_frames(self) -> int:
        return self.seconds * self.fps


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a served model can do; the service validates requests against it."""

    sizes: tuple[str, ...]
    seconds: tuple[int, ...] = (4, 8, 12)
    fps: int = DEFAULT_FPS
    image_reference: bool = True
    remix: bool = True
    text_to_video: bool = True  # False: the model needs an input_reference on every create
    remix_from_source: bool = False  # remix conditions on the source clip (worker passes it)
    edit: bool = False  # transforms a source clip given as source_video (video-to-video)
    extend: bool = False  # continues a clip from its last frame (continue_from)
    characters: bool = False  # shows characters (CharacterClip) in a generated clip
    audio: bool = False  # the model makes sound (Clip.audio); otherwise the file's track is silent
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Audio:
    """A clip's sound: float32 samples in [-1, 1], shaped ``(channels, samples)``."""

    samples: npt.NDArray[np.float32]
    sample_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def seconds(self) -> float:
        return int(self.samples.shape[1]) / self.sample_rate


@dataclass(slots=True)
class Clip:
    """What an engine returns: the frames (a list, or a lazy iterator the encoder drains) and
    the sound, where the model makes it (``None``: a model without sound)."""

    frames: Iterable[Frame]
    audio: Audio | None = None


StepCallback = Callable[[int, int], None]
"""on_step(done, total): called after each generation step actually run."""

StopCheck = Callable[[], bool]
"""should_stop(): True when the job was cancelled or its lease lost; the engine stops."""

Frames = Iterable["Frame"]
