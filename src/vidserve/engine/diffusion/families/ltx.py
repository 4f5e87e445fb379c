"""LTX-Video 0.9: ``LTXPipeline`` (text), ``LTXImageToVideoPipeline`` (image) and
``LTXConditionPipeline`` (a clip as a conditioning item: remix, edit, continuation windows).

The condition pipeline runs every step; the clip is an ``LTXVideoCondition`` at frame 0 with
the remix / continuation strength. Its rope is computed on the fly (no table to outgrow); the
VAE's spatial stride is 32.
"""

from __future__ import annotations

from typing import Any

from vidserve.engine.diffusion.families import (
    Call,
    Conditioning,
    Configs,
    FamilyDefaults,
    Geometry,
    Roles,
    common_arguments,
    patch_of,
)

TEXT = "LTXPipeline"
IMAGE = "LTXImageToVideoPipeline"
CONDITION = "LTXConditionPipeline"


def vae_strides(vae: dict[str, Any]) -> tuple[int, int]:
    """(spatial, temporal) compression of an LTX / LTX-2 video VAE config (as the VAE itself
    computes it; 32 and 8 when the config is not at hand)."""
    if not vae:
        return 32, 8
    scaled = sum(bool(s) for s in vae.get("spatio_temporal_scaling") or ())
    spatial = vae.get("spatial_compression_ratio") or int(vae.get("patch_size", 1)) * 2**scaled
    temporal = vae.get("temporal_compression_ratio") or (
        int(vae.get("patch_size_t", 1)) * 2**scaled
    )
    return int(spatial), int(temporal)


class ConditionRoles:
    """Roles of a family whose pipelines are text, image and condition (LTX-0.9, LTX-2): the
    condition pipeline serves clips, and images too when it is the configured one."""

    text: str
    image: str
    condition: str

    def serves(self, pipeline: str) -> bool:
        return pipeline in (self.text, self.image, self.condition)

    def image_only(self, pipeline: str) -> bool:
        return pipeline == self.image

    def roles(self, pipeline: str) -> Roles:
        image = self.condition if pipeline == self.condition else self.image
        return Roles(None if pipeline == self.image else pipeline, image, self.condition)


class LTXFamily(ConditionRoles):
    text, image, condition = TEXT, IMAGE, CONDITION
    name = "ltx"
    # LTX-Video 0.9.x: 704x480, 24 fps; 121 frames (5 s) keep memory modest
    defaults = FamilyDefaults(((704, 480), (480, 704)), 24, 121, 9, 50, 3.0, None)
    audio = False
    video_conditioning: Conditioning = "condition"
    references = False

    def arguments(self, call: Call) -> dict[str, Any]:
        kwargs = common_arguments(call)
        kwargs["num_frames"] = call.num_frames
        kwargs["guidance_scale"] = call.guidance
        kwargs["frame_rate"] = call.fps
        if call.pipeline == CONDITION and (call.video or call.image) is not None:
            from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

            item = (
                LTXVideoCondition(video=call.video, frame_index=0, strength=call.strength)
                if call.video is not None
                else LTXVideoCondition(image=call.image, frame_index=0, strength=1.0)
            )
            kwargs["conditions"] = [item]
        elif call.image is not None:
            kwargs["image"] = call.image
        return kwargs | call.extra

    def geometry(self, configs: Configs) -> Geometry:
        spatial, temporal = vae_strides(configs.get("vae", {}))
        patch = patch_of(configs.get("transformer", {}))
        return Geometry(temporal, spatial * patch[2], None, patch, spatial)

    def check(self, configs: Configs, roles: Roles) -> str | None:
        return None

    def prepare(self, pipe: Any, call: Call) -> None:
        return None

    def sound(self, pipe: Any, output: Any) -> tuple[Any, int] | None:
        return None


LTX = LTXFamily()
