"""The built-in ``procedural`` engine: a deterministic motion-graphics renderer.

This is **not** a neural video model and makes no claim to understand the prompt. It reads
the prompt with plain word rules (:mod:`.grammar`) and, when the prompt names a scene, draws
it (:mod:`.landscape`): the sky for the time of day and weather, the ground, the sun, moon and
stars, and the named subjects as vector silhouettes (:mod:`.subjects`) placed, coloured and
moved as the words say. Any other prompt gets an animated abstract scene (a gradient "world"
seen through a moving camera, parallax shapes with shadows and highlights, particle effects).
Pillow and numpy on the CPU, fast enough that encoding, not rendering, dominates a job. It
serves the embedded default deployment, demos and the API tests.

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
- In a scene, the **prompt** says what is there and how it moves, the **seed** where things
  are (horizon height, each subject's slot, facing, depth; clouds; camera sway): a remix
  keeps the layout. For abstract prompts:
  the **seed** sets the structure: number, sizes, styles, start positions and paths of the
  shapes, the background's layout and the camera path. The **prompt** sets the look: colour
  words and scene words (``red``, ``gold``, ``sunset``, ``ocean``, ``night`` ...) pick the
  palette, motion words (``fast``, ``slow``, ``spin``, ``fly``, ``wave``, ``bounce``,
  ``zoom``, ``rise`` ...) the motion and its speed, effect words (``rain``, ``snow``,
  ``stars``, ``fire``, ``bubbles``) add particles, shape words (``circles``, ``squares``,
  ``triangles`` ...) override the shape styles, and every other word still shifts hue and
  tempo through a hash. A remix (same seed, new prompt) therefore keeps the composition -
  frame 0 has the same shapes at the same places - and changes colours, motion and caption.
- The caption (``caption`` setting: a one-line ``label`` of the prompt, the wrapped
  ``prompt``, or ``none``) shows over the first seconds only and never on the last frame
  (see :mod:`.scene`), so a clip continued from another shows no ghost of its caption.
- ``reference_image`` (``height x width x 3`` uint8), when given, is frame 0 exactly; the
  clip then slowly zooms into it while the prompt-driven shapes and caption fade in over it.
- ``continue_from`` (an extension: the source's last frame) is treated as that reference,
  one frame *later*: the first frame is the one that follows it, so the seam differs from
  its neighbours no more than any two neighbouring frames do.
- ``source_video`` (an edit) is decoded frame by frame and transformed, keeping its size,
  length and motion: a colour grade towards the prompt's palette (the luminance mapped
  through a gradient of its colours, blended with the source), the prompt's particle effects
  and its caption on top. Deterministic in ``(prompt, seed, source)``.
- ``characters`` are composited into the scene (after the shapes, before the caption): each
  character's clip loops inside a soft oval, gently swaying, one in the middle or two at
  the thirds.
- The clip's **sound** (``Clip.audio``, see :mod:`.sound`) is a soundtrack synthesised with
  numpy from the prompt, as literal as the pictures: an ambient bed in a key and timbre that
  follow the palette, and sound events for the scene and motion words it knows. It is a pure
  function of ``(prompt, seed, seconds)``. An edit keeps the source's sound and mixes the
  prompt's events in (or leaves it as it is where the prompt names none).

Layout of the package: :mod:`.grammar` (the prompt read as a scene), :mod:`.subjects` (the
silhouettes), :mod:`.landscape` (where things go and drawing a scene), :mod:`.look` (what the
prompt decides for abstract scenes), :mod:`.structure` (what the seed decides for them),
:mod:`.scene` (composing a frame) with :mod:`.shapes`, :mod:`.particles`, :mod:`.cast` and
:mod:`.caption`, :mod:`.edit` (an edit's grade), :mod:`.sound` (the soundtrack) and
:mod:`.backend` (the engine and its one per-step loop).
"""

from __future__ import annotations

from vidserve.engine.procedural.backend import DEFAULT_SIZES, FRAMES_PER_STEP, ProceduralBackend
from vidserve.engine.procedural.grammar import SceneDescription, SubjectSpec, describe
from vidserve.engine.procedural.look import Look, analyse_prompt
from vidserve.engine.procedural.structure import Structure, make_structure

__all__ = [
    "DEFAULT_SIZES",
    "FRAMES_PER_STEP",
    "Look",
    "ProceduralBackend",
    "SceneDescription",
    "Structure",
    "SubjectSpec",
    "analyse_prompt",
    "describe",
    "make_structure",
]
