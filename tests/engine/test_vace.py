"""The pieces of characters, edits and extensions on open models that need no pipeline: the
reference still of a character's clip, the VACE control video and mask of each kind of call,
and the join of an extension (pure numpy / Pillow; the pipelines themselves run in
tests/surface/test_open_model_surface.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from tests.surface.clips import mad
from vidserve.engine.diffusion.families import Call, family_for
from vidserve.engine.diffusion.plan import carry_over
from vidserve.media.stills import reference_still, score


def _scene(side: int, x: int, *, blur: float = 0.0) -> np.ndarray:
    """A textured square of ``side`` pixels at ``x`` on a grey, mildly textured background."""
    rng = np.random.default_rng(side * 1000 + x)
    frame = np.full((120, 160, 3), 90, np.uint8) + rng.integers(0, 6, (120, 160, 3), np.uint8)
    patch = np.zeros((side, side, 3), np.uint8)
    patch[..., 0] = 230
    patch[::4, :, 1] = 200  # stripes: detail that blur removes
    y = (120 - side) // 2
    frame[y: y + side, x: x + side] = patch
    if blur:
        frame = np.asarray(Image.fromarray(frame).filter(ImageFilter.GaussianBlur(blur)))
    return frame


def test_the_still_is_the_frame_where_the_subject_is_large_and_sharp() -> None:
    small = _scene(20, 10)
    blurred = _scene(60, 50, blur=3.0)
    best = _scene(60, 90)
    assert score(best).value > score(blurred).value
    still = reference_still([small, blurred, best, _scene(24, 120)])
    # the large, sharp one, cropped to its square (plus a margin), not the whole frame
    assert 60 <= still.shape[0] <= 80 and 60 <= still.shape[1] <= 80
    assert still[..., 0].mean() > 180 and float(np.abs(np.diff(still[..., 1], axis=0)).mean()) > 20


def test_a_subject_that_keeps_still_is_found_against_the_border() -> None:
    frame = _scene(50, 40)
    still = reference_still([frame] * 3)  # the clip's median is the frame itself
    assert still.shape[0] < 80 and still.shape[1] < 80
    assert still[..., 0].mean() > 160


def _call(**kw: object) -> Call:
    base: dict[str, object] = dict(
        role="text", pipeline="WanVACEPipeline", prompt="p", negative_prompt=None, width=64,
        height=32, num_frames=17, steps=2, guidance=5.0, fps=16, generator=None,
        max_sequence_length=16)
    return Call(**(base | kw))  # type: ignore[arg-type]


def _marks(kwargs: dict[str, object]) -> list[int]:
    masks = kwargs["mask"]
    assert isinstance(masks, list)
    return [int(np.asarray(m).mean()) for m in masks]


def test_vace_control_video_and_mask_per_kind_of_call() -> None:
    family = family_for("WanVACEPipeline")
    assert family.name == "vace" and family.references
    red, blue = Image.new("RGB", (64, 32), (255, 0, 0)), Image.new("RGB", (64, 32), (0, 0, 255))
    face = Image.new("RGB", (20, 30), (0, 255, 0))

    text = family.arguments(_call(references=[face]))
    assert "video" not in text and text["reference_images"] == [face]

    image = family.arguments(_call(role="image", image=red))
    assert _marks(image) == [0] + [255] * 16  # the image kept, the rest generated
    assert image["video"][0] is red  # type: ignore[index]

    tail = [red] * 4 + [blue] * 5
    extension = family.arguments(_call(role="video", video=tail, known=9))
    assert _marks(extension) == [0] * 9 + [255] * 8
    assert extension["video"][:9] == tail  # type: ignore[index]
    grey = np.asarray(extension["video"][9])  # type: ignore[index]
    assert (grey == 128).all()

    source = [red, blue] * 8 + [red]
    edit = family.arguments(_call(role="video", video=source, known=0))
    assert _marks(edit) == [255] * 17 and edit["video"] == source


def _noise(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (16, 16, 3), np.uint8)


def test_carry_over_joins_without_a_jump() -> None:
    given = np.full((16, 16, 3), 200, np.uint8)
    # the model rendered ``given`` darker (frame 2) and moves on from there
    frames = [np.full((16, 16, 3), v, np.uint8) for v in (150, 150, 150, 155, 160, 165, 170, 175)]
    out = carry_over(frames, given, at=3, span=4, ease=1)
    assert out[:3] == frames[:3]  # the context frames are not touched (they are dropped)
    assert mad(given, out[3]) <= 5.0  # the join moves as the model moves (+5), no -50 offset
    assert np.array_equal(out[-1], frames[-1])  # after ``span`` frames, the model's own
    steps = [mad(out[i], out[i + 1]) for i in range(3, 7)]
    assert max(steps) <= 20.0  # the offset fades out over the span

    # a model that jumps from its given frames to its new ones is eased at the join: the join
    # moves little more than the model moves afterwards (2 per frame), then catches up
    flat = np.full((16, 16, 3), 100, np.uint8)
    jumpy = [flat] * 3 + [np.full((16, 16, 3), 160 + 2 * i, np.uint8) for i in range(6)]
    eased = carry_over(jumpy, flat, at=3, span=6, ease=2)
    assert mad(flat, eased[3]) <= 0.15 * mad(flat, jumpy[3])
    assert np.array_equal(eased[5], jumpy[5])  # after ``ease`` frames, unchanged (no offset)

    # a model that moves evenly (noise every frame) gets a one-frame ease-in: the join moves
    # about half as far as its frames do
    noisy = [_noise(s) for s in range(8)]
    eased_noise = carry_over(noisy, noisy[2], at=3, span=5, ease=2)
    moves = [mad(noisy[i], noisy[i + 1]) for i in range(3, 7)]
    assert mad(noisy[2], eased_noise[3]) <= 0.6 * float(np.median(moves))
    assert np.array_equal(eased_noise[5], noisy[5])  # caught up after ``ease`` frames

    # a model that reproduces its context exactly and moves smoothly is left nearly alone
    smooth = [np.full((16, 16, 3), 100 + 2 * i, np.uint8) for i in range(8)]
    kept = carry_over(smooth, smooth[3], at=4, span=4, ease=1)
    assert max(mad(a, b) for a, b in zip(kept, smooth, strict=True)) <= 1.0
    assert all(np.array_equal(a, b) for a, b in zip(kept[5:], smooth[5:], strict=True))


MODELS = """
[models.vace]
backend = "diffusers"
pipeline = "WanVACEPipeline"
weights = "./no-vace"

[models.ltx2]
backend = "diffusers"
pipeline = "LTX2ConditionPipeline"
weights = "./no-ltx2"

[models.wan]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "./no-wan"

[aliases]
"sora-2-pro" = "vace"
"""


def test_vidserve_models_says_what_each_model_can_do_and_how(tmp_path: Path) -> None:
    (tmp_path / "models.toml").write_text(MODELS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSERVE_")}
    result = subprocess.run(
        [sys.executable, "-m", "vidserve", "models"], capture_output=True, text=True, timeout=120,
        env=env | {"VIDSERVE_DATA_DIR": str(tmp_path / "data"),
                   "VIDSERVE_MODELS_FILE": str(tmp_path / "models.toml")},
    )
    assert result.returncode == 0, result.stderr
    lines = {line.split("\t")[0].split(" ")[0]: line for line in result.stdout.splitlines()}
    facts = {name: dict(f.split("=", 1) for f in line.split("\t")[1:] if "=" in f)
             for name, line in lines.items()}
    vace, ltx2, wan = facts["vace"], facts["ltx2"], facts["wan"]
    assert (vace["characters"], vace["edit"], vace["extend"]) == ("yes", "yes", "yes")
    assert "reference images" in vace["characters_by"]
    assert "control video" in vace["edit_by"]
    assert "last 9 native frames (masked known)" in vace["extend_by"]
    assert (ltx2["characters"], ltx2["audio"]) == ("no", "yes") and "characters_by" not in ltx2
    assert "the source's sound kept" in ltx2["edit_by"]
    assert "(conditioning frames)" in ltx2["extend_by"] and "sound continued" in ltx2["extend_by"]
    assert wan["characters"] == "no" and "SDEdit" in wan["edit_by"]
    pro = facts["sora-2-pro"]
    assert "1792x1024" in pro["sizes"] and pro["characters"] == "yes"
