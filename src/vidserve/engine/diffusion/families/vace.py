"""Wan VACE (Wan2.1-VACE-1.3B / 14B, Wan 2.2 Fun VACE): one ``WanVACEPipeline`` for every input.

VACE takes a *control video* with a *mask* (black: a frame given as it is, white: a frame to
generate) and optional *reference images*, beside the prompt:

- text: no video; a create's characters are its reference images (one per character: the
  frame of the character's clip where it is largest and sharpest, chosen by the worker).
- image (``input_reference``): the image as frame 0, masked known; the rest generated.
- continuation (an extension, and every later window of a long clip): the last frames of the
  clip so far (``Call.known`` of them) masked known, the new frames masked to generate; the
  stitcher cross-fades the known frames, so the new window starts from several frames of
  context, not one.
- edit / remix: the source's frames as the control video, every frame masked to generate: the
  result follows the source's layout and motion frame for frame, with the prompt's change
  (``call_args.conditioning_scale`` says how strictly).

Every step runs (``video_conditioning = "mask"``). The geometry and the VAE strides are Wan's.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from vidserve.engine.diffusion.families import Call, Conditioning, Configs, Roles, common_arguments
from vidserve.engine.diffusion.families.wan import WanFamily

PIPELINE = "WanVACEPipeline"
GENERATE, KEEP = 255, 0  # mask values: white frames are generated, black ones kept
UNKNOWN = (128, 128, 128)  # what a frame to generate shows in the control video (VACE's zero)


def control(call: Call) -> tuple[list[Image.Image], list[Image.Image]] | None:
    """The control video and mask of one call (None: nothing given, a plain text call)."""
    n, size = call.num_frames, (call.width, call.height)
    if call.role == "image" and call.image is not None:
        given, known = [call.image], 1
    elif call.video:
        given, known = list(call.video), min(call.known, n)
    else:
        return None
    if known:
        frames = given[:known] + [Image.new("RGB", size, UNKNOWN)] * (n - known)
        marks = [KEEP] * known + [GENERATE] * (n - known)
    else:  # the source clip: every frame regenerated following it
        frames = (given + [given[-1]] * n)[:n]
        marks = [GENERATE] * n
    masks = {v: Image.new("L", size, v) for v in set(marks)}
    return frames, [masks[v] for v in marks]


class WanVACEFamily(WanFamily):
    name = "vace"
    video_conditioning: Conditioning = "mask"
    references = True

    def serves(self, pipeline: str) -> bool:
        return pipeline == PIPELINE

    def image_only(self, pipeline: str) -> bool:
        return False

    def roles(self, pipeline: str) -> Roles:
        return Roles(PIPELINE, PIPELINE, PIPELINE)

    def arguments(self, call: Call) -> dict[str, Any]:
        kwargs = common_arguments(call)
        kwargs["guidance_scale"] = call.guidance
        kwargs["num_frames"] = call.num_frames
        given = control(call)
        if given is not None:
            kwargs["video"], kwargs["mask"] = given
        if call.references:
            kwargs["reference_images"] = list(call.references)
        return kwargs | call.extra

    def check(self, configs: Configs, roles: Roles) -> str | None:
        transformer = configs.get("transformer")
        if transformer is not None and not transformer.get("vace_layers"):
            return (
                "not a VACE checkpoint (its transformer has no vace_layers): WanVACEPipeline "
                "needs VACE weights, e.g. Wan-AI/Wan2.1-VACE-1.3B-diffusers"
            )
        return None


VACE = WanVACEFamily()
