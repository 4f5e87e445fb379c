"""Wan 2.1 / 2.2: text-to-video, image-to-video, video-to-video.

- Wan 2.1 T2V (``WanPipeline``) and I2V (``WanImageToVideoPipeline``, CLIP image encoder).
- Wan 2.2 TI2V-5B: ``WanPipeline`` with ``expand_timesteps = true`` (a 48-channel VAE with a
  spatial stride of 16); its image-to-video is ``WanImageToVideoPipeline`` on the same weights
  (the first frame's latent replaces the noise, no image encoder).
- Wan 2.2 A14B: two experts, ``transformer`` (high noise) and ``transformer_2`` (low noise),
  switched at ``boundary_ratio``. diffusers' ``WanVideoToVideoPipeline`` has no
  ``transformer_2``: the engine gives it both experts behind one switch
  (:mod:`vidserve.engine.diffusion.experts`), so remix, edit and every continuation window
  run both.

Remix, edit and continuation are video-to-video (SDEdit): the clip is re-noised to
``strength`` and only ``int(steps * strength)`` steps run.
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

TEXT = "WanPipeline"
IMAGE = "WanImageToVideoPipeline"
VIDEO = "WanVideoToVideoPipeline"


class WanFamily:
    name = "wan"
    # Wan 2.1 T2V-1.3B: 480p, 16 fps, 81 frames (5 s); diffusers keeps the VAE in float32
    defaults = FamilyDefaults(((832, 480), (480, 832)), 16, 81, 9, 50, 5.0, "float32")
    audio = False
    video_conditioning: Conditioning = "sdedit"
    references = False

    def serves(self, pipeline: str) -> bool:
        return pipeline in (TEXT, IMAGE, VIDEO)

    def image_only(self, pipeline: str) -> bool:
        return pipeline == IMAGE

    def roles(self, pipeline: str) -> Roles:
        if pipeline == IMAGE:  # I2V weights: every call needs an image
            return Roles(None, IMAGE, None)
        # T2V weights: no image-to-video unless image_pipeline (with image_weights, or Wan 2.2
        # TI2V whose one checkpoint does both) says so
        return Roles(TEXT, None, VIDEO)

    def arguments(self, call: Call) -> dict[str, Any]:
        kwargs = common_arguments(call)
        kwargs["guidance_scale"] = call.guidance
        if call.role == "video":
            assert call.video is not None
            kwargs["video"] = call.video
            kwargs["strength"] = call.strength
        else:
            kwargs["num_frames"] = call.num_frames
            if call.role == "image":
                kwargs["image"] = call.image
        return kwargs | call.extra

    def geometry(self, configs: Configs) -> Geometry:
        vae = configs.get("vae", {})
        downsample = vae.get("temperal_downsample") or [False, True, True]  # (sic)
        spatial = int(vae.get("scale_factor_spatial") or 2 ** len(downsample))
        temporal = int(vae.get("scale_factor_temporal") or 2 ** sum(bool(d) for d in downsample))
        transformer = configs.get("transformer", {})
        patch = patch_of(transformer) if transformer else (1, 2, 2)
        rope = transformer.get("rope_max_seq_len")
        return Geometry(temporal, spatial * patch[2], int(rope) if rope else None, patch, spatial)

    def check(self, configs: Configs, roles: Roles) -> str | None:
        transformer, index = configs.get("transformer"), configs.get("", {})
        if roles.image != IMAGE or transformer is None or index.get("_class_name") == IMAGE:
            return None
        if transformer.get("in_channels") == 16 and not index.get("expand_timesteps"):
            return (
                "a text-to-video checkpoint (16 input channels): WanImageToVideoPipeline needs "
                "image-to-video weights; set image_weights (e.g. "
                "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers) or remove image_pipeline"
            )
        return None

    def prepare(self, pipe: Any, call: Call) -> None:
        # diffusers' WanVideoToVideoPipeline derives its strides from the VAE's downsampling
        # list (8x spatially); Wan 2.2's patched VAE says its own (16x): use the VAE's
        vae = getattr(pipe, "vae", None)
        config = getattr(vae, "config", None)
        if config is not None and config.get("scale_factor_spatial"):
            pipe.vae_scale_factor_spatial = int(config["scale_factor_spatial"])
            pipe.vae_scale_factor_temporal = int(config["scale_factor_temporal"])

    def sound(self, pipe: Any, output: Any) -> tuple[Any, int] | None:
        return None


WAN = WanFamily()
