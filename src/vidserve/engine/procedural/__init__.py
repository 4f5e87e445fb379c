"""The built-in ``procedural`` engine: a deterministic motion-graphics renderer.

This is **not** a neural video model and makes no claim to understand the prompt. It renders
an animated 2-D scene (a gradient "world" seen through a moving camera, parallax shapes with
shadows and highlights, particle effects, a caption of the prompt) with Pillow and numpy on
the CPU, fast enough that encoding, not rendering, dominates a job. It serves the embedded
default deployment, demos and the API tests.

Contract (see :class:`vidserve.engine.base.VideoBackend`):

- ``generate`` returns a lazy generator of exactly ``request.num_frames`` frames, each a
  C-contiguous ``height x width x 3`` uint8 array.
- Frames are rendered in steps of :data:`FRAMES_PER_STEP` frames
  (``total = ceil(num_frames / FRAMES_PER_STEP)``). Before each step ``should_stop()`` is
  called and :class:`GenerationCancelled` raised if it returns True; then the backend renders
  the step, calls ``on_step(done, total)`` and yields the step's frames.
- Output is a pure function of ``(prompt, seed, width, height, seconds, fps,
  reference_image)``: the same inputs give byte-identical frames (stable hashes from
  :mod:`hashlib` seed numpy Generators; Python's ``hash()`` is never used).
- The **seed** sets the structure: number, sizes, styles, start positions and paths of the
  shapes, the background's layout and the camera path. The **prompt** sets the look: colour
  words and scene words (``red``, ``gold``, ``sunset``, ``ocean``, ``night`` ...) pick the
  palette, motion words (``fast``, ``slow``, ``spin``, ``fly``, ``wave``, ``bounce``,
  ``zoom``, ``rise`` ...) the motion and its speed, effect words (``rain``, ``snow``,
  ``stars``, ``fire``, ``bubbles``) add particles, shape words (``circles``, ``squares``,
  ``triangles`` ...) override the shape styles, and every other word still shifts hue and
  tempo through a hash. The prompt is drawn as a wrapped caption on a translucent band at the
  bottom. A remix (same seed, new prompt) therefore keeps the composition - frame 0 has the
  same shapes at the same places - and changes colours, motion and caption.
- ``reference_image`` (``height x width x 3`` uint8), when given, is frame 0 exactly; the
  clip then slowly zooms into it while the prompt-driven shapes and caption fade in over it.
- ``continue_from`` (an extension: the source's last frame) is treated as that reference,
  one frame *later*: the first frame is the one that follows it, so the seam differs from
  its neighbours no more than any two neighbouring frames do. The caption band is opaque
  here so that the source's own caption does not show through the new one.
- ``source_video`` (an edit) is decoded frame by frame and transformed, keeping its size,
  length and motion: a colour grade towards the prompt's palette (the luminance mapped
  through a gradient of its colours, blended with the source), the prompt's particle effects
  and its caption on top. Deterministic in ``(prompt, seed, source)``.
- ``characters`` are composited into the scene (after the shapes, before the caption): each
  character's clip loops inside a soft oval, gently swaying, one in the middle or two at
  the thirds.

Layout of the package: :mod:`.look` (what the prompt decides), :mod:`.structure` (what the
seed decides), :mod:`.scene` (composing a frame) with :mod:`.shapes`, :mod:`.particles`,
:mod:`.cast` and :mod:`.caption`, :mod:`.edit` (an edit's grade) and :mod:`.backend` (the
engine and its one per-step loop).
"""

from __future__ import annotations

from vidserve.engine.procedural.backend import DEFAULT_SIZES, FRAMES_PER_STEP, ProceduralBackend
from vidserve.engine.procedural.look import Look, analyse_prompt
from vidserve.engine.procedural.structure import Structure, make_structure

__all__ = [
    "DEFAULT_SIZES",
    "FRAMES_PER_STEP",
    "Look",
    "ProceduralBackend",
    "Structure",
    "analyse_prompt",
    "make_structure",
]
