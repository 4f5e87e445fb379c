"""HunyuanVideo 1.5: ``HunyuanVideo15Pipeline`` (text) and
``HunyuanVideo15ImageToVideoPipeline`` (image; its own I2V weights, ``image_weights``).

Its ``__call__`` takes no ``guidance_scale`` and no ``callback_on_step_end``: guidance is the
``guider`` component (each job gets its own copy with the model's / request's scale, so two
jobs never share its per-step state), and progress and cancel come from the engine's hooks.
It has no video-to-video pipeline: a remix re-generates from the source's seed, and edit is
not offered. The image pipeline picks its resolution from the image and the transformer's
``target_size``; the engine fits its frames to the native grid.
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
    patch_of,
)

TEXT = "HunyuanVideo15Pipeline"
IMAGE = "HunyuanVideo15ImageToVideoPipeline"


class Hunyuan15Family:
    name = "hunyuan15"
    # 480p, 24 fps, 121 frames (5 s)
    defaults = FamilyDefaults(((848, 480), (480, 848)), 24, 121, 9, 50, 6.0, None)
    audio = False
    video_conditioning: Conditioning = "sdedit"
    references = False

    def serves(self, pipeline: str) -> bool:
        return pipeline in (TEXT, IMAGE)

    def image_only(self, pipeline: str) -> bool:
        return pipeline == IMAGE

    def roles(self, pipeline: str) -> Roles:
        if pipeline == IMAGE:
            return Roles(None, IMAGE, None)
        return Roles(TEXT, None, None)

    def arguments(self, call: Call) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "prompt": call.prompt,
            "num_frames": call.num_frames,
            "num_inference_steps": call.steps,
            "generator": call.generator,
            "output_type": "pt",
        }
        if call.negative_prompt is not None:
            kwargs["negative_prompt"] = call.negative_prompt
        if call.role == "image":
            kwargs["image"] = call.image
        else:
            kwargs["height"], kwargs["width"] = call.height, call.width
        return kwargs | call.extra

    def geometry(self, configs: Configs) -> Geometry:
        vae = configs.get("vae", {})
        spatial = int(vae.get("spatial_compression_ratio") or 16)
        temporal = int(vae.get("temporal_compression_ratio") or 4)
        patch = patch_of(configs.get("transformer", {}))
        return Geometry(temporal, spatial * patch[2], None, patch, spatial)

    def check(self, configs: Configs, roles: Roles) -> str | None:
        return None

    def prepare(self, pipe: Any, call: Call) -> None:
        # guidance is the guider's: a copy with this call's scale (its state is per job)
        pipe.guider = pipe.guider.new(guidance_scale=call.guidance)
        if call.max_sequence_length is not None:
            pipe.tokenizer_max_length = call.max_sequence_length

    def sound(self, pipe: Any, output: Any) -> tuple[Any, int] | None:
        return None


HUNYUAN15 = Hunyuan15Family()
