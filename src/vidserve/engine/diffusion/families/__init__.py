"""One module per model family behind one small protocol (pure Python: no torch here).

A family says which diffusers pipeline classes serve each kind of input (text, image, a video
clip), how the keyword arguments of one pipeline call are built, the model's native grid and
strides (read from the saved ``config.json`` of its components, so a configuration that cannot
run is found at start), and whether it makes sound. The engine never compares class names to
decide behaviour: it asks the family of the configured ``pipeline``.

================  =============================================================  =========
family            pipelines (text / image / video)                                audio
================  =============================================================  =========
``wan``           WanPipeline / WanImageToVideoPipeline / WanVideoToVideoPipeline  no
``ltx``           LTXPipeline / LTXImageToVideoPipeline / LTXConditionPipeline     no
``ltx2``          LTX2Pipeline / LTX2ImageToVideoPipeline / LTX2ConditionPipeline  yes
``hunyuan15``     HunyuanVideo15Pipeline / HunyuanVideo15ImageToVideoPipeline / -  no
``vace``         WanVACEPipeline for all three (video + mask + reference images)   no
``generic``       any other pipeline taking ``prompt``, ``num_frames``, ...        no
================  =============================================================  =========
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from PIL import Image

Role = Literal["text", "image", "video"]
# how a family's video pipeline takes a clip: "sdedit" re-noises the whole clip to ``strength``
# and runs only that share of the steps (Wan video-to-video); "condition" runs every step with
# the clip as a conditioning item (LTX condition pipelines); "mask" runs every step with the
# clip as a control video and a mask saying which frames are known (Wan VACE)
Conditioning = Literal["sdedit", "condition", "mask"]
Configs = dict[str, dict[str, Any]]  # component name -> its config.json (plus the pipeline's)


@dataclass(frozen=True, slots=True)
class FamilyDefaults:
    native_sizes: tuple[tuple[int, int], ...]
    native_fps: int
    max_frames: int
    overlap_frames: int
    steps: int
    guidance: float
    vae_dtype: str | None  # None: the model's dtype


@dataclass(frozen=True, slots=True)
class Roles:
    """The pipeline class serving each input; None: the model cannot take that input."""

    text: str | None
    image: str | None
    video: str | None


@dataclass(frozen=True, slots=True)
class Geometry:
    """Strides of a loaded or saved model, and how large a latent grid it can address."""

    temporal: int  # VAE temporal stride: window lengths are k * temporal + 1
    spatial: int  # native sizes must be multiples of this (VAE stride x patch)
    max_positions: int | None = None  # rope table length per axis (None: computed on the fly)
    patch: tuple[int, int, int] = (1, 1, 1)  # (t, h, w) patch of the transformer
    vae_spatial: int = 8

    def problem(self, sizes: tuple[tuple[int, int], ...], frames: int) -> str | None:
        """Why this model cannot run ``sizes`` with windows of ``frames`` frames, or None."""
        for w, h in sizes:
            if w % self.spatial or h % self.spatial:
                return f"native size {w}x{h} is not a multiple of {self.spatial}"
        if self.max_positions is None:
            return None
        pt, ph, pw = self.patch
        latent_frames = (frames - 1) // self.temporal + 1
        for w, h in sizes:
            axes = (latent_frames // pt, h // self.vae_spatial // ph, w // self.vae_spatial // pw)
            if max(axes) > self.max_positions:
                return (
                    f"its rope table has {self.max_positions} positions per axis, but native "
                    f"size {w}x{h} with {frames}-frame windows needs {max(axes)} "
                    "(lower native_sizes or max_frames)"
                )
        return None


@dataclass(frozen=True, slots=True)
class Call:
    """One pipeline call of a job: everything a family needs to build its arguments."""

    role: Role
    pipeline: str  # the class serving the role (a family may build its arguments per class)
    prompt: str
    negative_prompt: str | None
    width: int
    height: int
    num_frames: int
    steps: int
    guidance: float
    fps: int
    generator: Any
    max_sequence_length: int | None
    image: Image.Image | None = None  # the first frame (image role)
    video: list[Image.Image] | None = None  # the clip conditioning the window (video role)
    strength: float = 1.0  # how far the video role may move away from ``video``
    # the first ``known`` frames of ``video`` are given frames the window continues (an
    # extension or a later window); 0: ``video`` is a source clip the whole window follows
    known: int = 0
    references: list[Image.Image] = field(default_factory=list)  # characters (reference images)
    extra: dict[str, Any] = field(default_factory=dict)  # the model's ``call_args``


class Family(Protocol):
    """What the engine needs to know about one model family."""

    name: str
    defaults: FamilyDefaults
    audio: bool  # its pipelines return sound beside the frames
    video_conditioning: Conditioning
    references: bool  # its pipelines take reference images (characters, ``Call.references``)

    def serves(self, pipeline: str) -> bool: ...

    def roles(self, pipeline: str) -> Roles: ...

    def image_only(self, pipeline: str) -> bool: ...

    def arguments(self, call: Call) -> dict[str, Any]: ...

    def geometry(self, configs: Configs) -> Geometry: ...

    def check(self, configs: Configs, roles: Roles) -> str | None:
        """Why these saved weights cannot serve ``roles``, or None."""
        ...

    def prepare(self, pipe: Any, call: Call) -> None:
        """Set what a call cannot pass as an argument on the job's own pipeline view."""
        ...

    def sound(self, pipe: Any, output: Any) -> tuple[Any, int] | None:
        """The call's sound as ``(float32 array (channels, samples), sample_rate)``."""
        ...


def common_arguments(call: Call) -> dict[str, Any]:
    """The arguments every diffusers video pipeline takes (``output_type="pt"``)."""
    kwargs: dict[str, Any] = {
        "prompt": call.prompt,
        "height": call.height,
        "width": call.width,
        "num_inference_steps": call.steps,
        "generator": call.generator,
        "output_type": "pt",
    }
    if call.negative_prompt is not None:
        kwargs["negative_prompt"] = call.negative_prompt
    if call.max_sequence_length is not None:
        kwargs["max_sequence_length"] = call.max_sequence_length
    return kwargs


def patch_of(config: dict[str, Any]) -> tuple[int, int, int]:
    patch = config.get("patch_size", 1)
    if isinstance(patch, (list, tuple)):
        values = [int(p) for p in patch] or [1]
        while len(values) < 3:
            values.insert(0, 1)
        return values[0], values[1], values[2]
    t = int(config.get("patch_size_t", 1) or 1)
    return t, int(patch or 1), int(patch or 1)


class GenericFamily:
    """Any other diffusers video pipeline with the usual text-to-video arguments."""

    name = "generic"
    defaults = FamilyDefaults((), 16, 49, 9, 50, 5.0, None)
    audio = False
    video_conditioning: Conditioning = "sdedit"
    references = False

    def serves(self, pipeline: str) -> bool:
        return True

    def roles(self, pipeline: str) -> Roles:
        return Roles(pipeline, None, None)

    def image_only(self, pipeline: str) -> bool:
        return False

    def arguments(self, call: Call) -> dict[str, Any]:
        kwargs = common_arguments(call)
        kwargs["num_frames"] = call.num_frames
        kwargs["guidance_scale"] = call.guidance
        return kwargs | call.extra

    def geometry(self, configs: Configs) -> Geometry:
        vae = configs.get("vae", {})
        spatial = int(vae.get("scale_factor_spatial") or vae.get("spatial_compression_ratio") or 8)
        temporal = int(
            vae.get("scale_factor_temporal") or vae.get("temporal_compression_ratio") or 4
        )
        patch = patch_of(configs.get("transformer", {}))
        return Geometry(temporal, spatial * patch[2], None, patch, spatial)

    def check(self, configs: Configs, roles: Roles) -> str | None:
        return None

    def prepare(self, pipe: Any, call: Call) -> None:
        return None

    def sound(self, pipe: Any, output: Any) -> tuple[Any, int] | None:
        return None


def all_families() -> tuple[Family, ...]:
    from vidserve.engine.diffusion.families.hunyuan15 import HUNYUAN15
    from vidserve.engine.diffusion.families.ltx import LTX
    from vidserve.engine.diffusion.families.ltx2 import LTX2
    from vidserve.engine.diffusion.families.vace import VACE
    from vidserve.engine.diffusion.families.wan import WAN

    return (WAN, VACE, LTX2, LTX, HUNYUAN15)


GENERIC = GenericFamily()


def family_for(pipeline: str) -> Family:
    """The family serving the pipeline class ``pipeline`` (generic when none claims it)."""
    for family in all_families():
        if family.serves(pipeline):
            return family
    return GENERIC
