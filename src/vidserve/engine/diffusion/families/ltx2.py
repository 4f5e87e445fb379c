"""LTX-2: video with sound. ``LTX2Pipeline`` (text), ``LTX2ImageToVideoPipeline`` (image),
``LTX2ConditionPipeline`` (a clip as ``LTX2VideoCondition``: remix, edit, continuation).

Every call returns ``frames`` and ``audio`` (``(1, channels, samples)`` at the vocoder's
``output_sampling_rate``); the engine stitches the windows' sound with a crossfade at each
join and trims or pads it to the requested seconds. LTX-0.9 classes do not run on LTX-2
weights (``rope_interpolation_scale``), so LTX-2 is its own family.
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
from vidserve.engine.diffusion.families.ltx import ConditionRoles, vae_strides

TEXT = "LTX2Pipeline"
IMAGE = "LTX2ImageToVideoPipeline"
CONDITION = "LTX2ConditionPipeline"


class LTX2Family(ConditionRoles):
    text, image, condition = TEXT, IMAGE, CONDITION
    name = "ltx2"
    # LTX-2: 768x512 at 24 fps, 121 frames (5 s) per window
    defaults = FamilyDefaults(((768, 512), (512, 768)), 24, 121, 9, 40, 4.0, None)
    audio = True
    video_conditioning: Conditioning = "condition"
    references = False

    def arguments(self, call: Call) -> dict[str, Any]:
        kwargs = common_arguments(call)
        kwargs["num_frames"] = call.num_frames
        kwargs["guidance_scale"] = call.guidance
        kwargs["frame_rate"] = float(call.fps)
        if call.pipeline == CONDITION and (call.video or call.image) is not None:
            from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition

            frames: Any = call.video if call.video is not None else call.image
            strength = call.strength if call.video is not None else 1.0
            kwargs["conditions"] = [LTX2VideoCondition(frames=frames, index=0, strength=strength)]
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
        audio = getattr(output, "audio", None)
        if audio is None:
            return None
        samples = audio[0].float().cpu().numpy() if hasattr(audio, "cpu") else audio[0]
        return samples, int(pipe.vocoder.config.output_sampling_rate)


LTX2 = LTX2Family()
