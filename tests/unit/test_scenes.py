"""The procedural scene grammar: each scene word puts its element where the rules say.

The rules are those of :mod:`vidserve.engine.procedural.landscape` (and the words those of
:mod:`vidserve.engine.procedural.grammar`). Frames are checked for what a viewer would see: the
sky's colour above the horizon, the ground's below it, a subject's body in its colour word's
exact colour inside the box the layout gives it, the number of separate silhouettes, their
order in the picture and their motion over time. ``static`` keeps the camera still where a
test compares positions; ``magenta`` and ``cyan`` are colours nothing else in a scene uses.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from vidserve.domain import GenerationRequest
from vidserve.engine.procedural import ProceduralBackend
from vidserve.engine.procedural.grammar import (
    CAMERAS,
    GROUNDS,
    MOTIONS,
    TIMES,
    WEATHERS,
    describe,
)
from vidserve.engine.procedural.landscape import GROUND_COLOURS, WATER, make_layout
from vidserve.engine.procedural.look import _COLOURS as COLOURS
from vidserve.engine.procedural.scene import Scene
from vidserve.engine.procedural.subjects import ALIASES, SUBJECTS

W, H = 320, 180
MAGENTA = COLOURS["magenta"]
CYAN = COLOURS["cyan"]


def request(prompt: str, seed: int = 3, *, seconds: int = 2, fps: int = 6,
            reference: np.ndarray | None = None,
            continue_from: np.ndarray | None = None) -> GenerationRequest:
    return GenerationRequest(model="procedural", prompt=prompt, width=W, height=H,
                             seconds=seconds, seed=seed, fps=fps, reference_image=reference,
                             continue_from=continue_from)


def frames(prompt: str, seed: int = 3, caption: str = "none", **kw: object) -> list[np.ndarray]:
    backend = ProceduralBackend(caption=caption)
    clip = backend.generate(request(prompt, seed, **kw), lambda d, t: None, lambda: False)  # type: ignore[arg-type]
    return list(clip.frames)


def first(prompt: str, seed: int = 3) -> np.ndarray:
    return frames(prompt, seed, seconds=1, fps=1)[0]


def mask(frame: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    result: np.ndarray = np.all(frame == np.array(colour, dtype=np.uint8), axis=2)
    return result


def centroid(m: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(m)
    assert len(xs), "the colour is not in the frame"
    return float(xs.mean()), float(ys.mean())


def components(m: np.ndarray, min_size: int = 6) -> int:
    """Separate 8-connected blobs of at least ``min_size`` pixels."""
    seen = np.zeros_like(m, dtype=bool)
    count = 0
    for y, x in zip(*np.nonzero(m), strict=True):
        if seen[y, x]:
            continue
        size, todo = 0, deque([(y, x)])
        seen[y, x] = True
        while todo:
            cy, cx = todo.popleft()
            size += 1
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = cy + dy, cx + dx
                    if 0 <= ny < m.shape[0] and 0 <= nx < m.shape[1] and m[ny, nx] \
                            and not seen[ny, nx]:
                        seen[ny, nx] = True
                        todo.append((ny, nx))
        count += size >= min_size
    return count


def mode_colour(region: np.ndarray) -> tuple[int, int, int]:
    values, counts = np.unique(region.reshape(-1, 3), axis=0, return_counts=True)
    r, g, b = values[int(counts.argmax())]
    return int(r), int(g), int(b)


def horizon(prompt: str, seed: int = 3) -> int:
    return round(make_layout(describe(prompt), seed, W, H).horizon)


# --------------------------------------------------------------------------- the words


def test_the_vocabulary_covers_what_the_docs_promise() -> None:
    assert len(SUBJECTS) >= 60
    for kind in ("kite", "balloon", "bird", "boat", "car", "train", "plane", "fish", "whale",
                 "dog", "cat", "horse", "person", "robot", "tree", "house", "skyscraper",
                 "lighthouse", "bridge", "flower", "butterfly", "dragon", "rocket"):
        assert kind in SUBJECTS
    assert all(kind in SUBJECTS for kind in ALIASES.values())
    assert set(TIMES) == {"dawn", "noon", "sunset", "night"}
    assert set(WEATHERS) == {"clear", "cloudy", "rain", "snow", "fog", "storm"}
    assert len(GROUNDS) == 11 and {"zoom in", "pan", "aerial"} <= set(CAMERAS)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a red kite over a green hill at sunset",
         {"time_of_day": "sunset", "ground": "hill", "ground_colour": COLOURS["green"]}),
        ("ocean waves, fast rain", {"ground": "ocean", "weather": "rain"}),
        ("a lighthouse in the fog", {"weather": "fog", "kinds": ("lighthouse",)}),
        ("a thunderstorm over the city street", {"weather": "storm", "ground": "city street"}),
        ("snowy mountains at dawn", {"weather": "snow", "ground": "mountains",
                                     "time_of_day": "dawn"}),
        ("a cloudy day in the desert", {"weather": "cloudy", "ground": "desert"}),
        ("a boat on the lake at night", {"ground": "lake", "time_of_day": "night",
                                         "celestial": ("moon", "stars")}),
        ("a river through the forest, aerial", {"ground": "river", "camera": "aerial"}),
        ("a cat in a room, zoom in", {"ground": "room", "camera": "zoom in"}),
        ("a beach, slow pan", {"ground": "beach", "camera": "pan"}),
        ("a field of flowers, zoom out", {"ground": "field", "camera": "zoom out"}),
        ("two whales", {"ground": "ocean"}),  # water subjects, no ground named: the ocean
        ("a fish", {"ground": "ocean"}),
        ("a campfire underwater, bubbles", {"ground": "ocean"}),
        ("a dog", {"ground": "field", "celestial": ("sun",), "time_of_day": "noon"}),
    ],
)
def test_scene_words(prompt: str, expected: dict[str, object]) -> None:
    desc = describe(prompt)
    assert desc.is_scene
    for key, value in expected.items():
        got = desc.kinds() if key == "kinds" else getattr(desc, key)
        assert got == value, (prompt, key, got)


@pytest.mark.parametrize(
    ("prompt", "kind", "count", "colour", "motion"),
    [
        ("three birds flying", "bird", 3, None, "fly"),
        ("a dozen goldfish", "fish", 12, None, "swim"),
        ("5 red cars", "car", 5, COLOURS["red"], "run"),
        ("birds", "bird", 3, None, "fly"),
        ("a pair of yellow butterflies", "butterfly", 2, COLOURS["yellow"], "drift"),
        ("a parked blue truck", "truck", 1, COLOURS["blue"], "still"),
        ("a horse galloping", "horse", 1, None, "run"),
        ("a leaf... a purple balloon falling", "balloon", 1, COLOURS["purple"], "fall"),
        ("a spinning windmill", "windmill", 1, None, "spin"),
        ("a hot air balloon rising", "balloon", 1, None, "rise"),
        ("a jumping frog", "frog", 1, None, "bounce"),
        ("seagulls", "bird", 3, None, "fly"),
    ],
)
def test_counts_colours_and_verbs(prompt: str, kind: str, count: int,
                                  colour: tuple[int, int, int] | None, motion: str) -> None:
    subject = describe(prompt).subjects[0]
    assert (subject.kind, subject.count, subject.colour, subject.motion) == (
        kind, count, colour, motion)
    assert motion in MOTIONS


def test_a_verb_belongs_to_its_own_noun_phrase() -> None:
    desc = describe("a dog sitting and a flying kite")
    assert [(s.kind, s.motion) for s in desc.subjects] == [("dog", "still"), ("kite", "fly")]
    desc = describe("a cat and a red balloon rising")
    assert [(s.kind, s.motion) for s in desc.subjects] == [("cat", "still"), ("balloon", "rise")]


def test_relations_link_two_subjects() -> None:
    for word, relation in (("over", "over"), ("under", "under"), ("beside", "beside"),
                           ("next to", "beside"), ("in front of", "in front of"),
                           ("behind", "behind")):
        desc = describe(f"a dog {word} a house")
        assert desc.kinds() == ("dog", "house")
        assert (desc.subjects[0].relation, desc.subjects[0].anchor) == (relation, 1), word


def test_unknown_words_keep_the_abstract_shapes() -> None:
    desc = describe("xyzzy plugh, deep navy blue")
    assert not desc.is_scene and desc.subjects == ()
    scene = Scene(request("xyzzy plugh, deep navy blue"))
    assert scene.landscape is None
    assert Scene(request("a kite")).landscape is not None


# --------------------------------------------------------------------------- the sky


def test_the_sky_follows_the_time_of_day() -> None:
    sky: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for time in TIMES:
        prompt = f"an empty field at {time}, static"
        frame = first(prompt).astype(int)
        hy = horizon(prompt)
        top, low = frame[2:12, 40:120], frame[hy - 8 : hy - 3]
        sky[time] = (top.mean(axis=(0, 1)), low.mean(axis=(0, 1)))
    night_top, night_low = sky["night"]
    assert night_top.sum() < 120 and night_low.sum() < 240  # dark all the way down
    noon_top, _ = sky["noon"]
    assert noon_top[2] > noon_top[0] + 100  # blue
    sunset_top, sunset_low = sky["sunset"]
    assert sunset_low[0] > sunset_low[2] + 80  # orange at the horizon
    assert sunset_top.sum() < sunset_low.sum() - 150  # darker, purple above
    assert sunset_top[2] > sunset_top[1]
    dawn_top, dawn_low = sky["dawn"]
    assert dawn_low[0] > dawn_low[2] and dawn_low.sum() > dawn_top.sum() + 150
    assert all(sky["noon"][0].sum() > sky[t][0].sum() for t in ("night", "sunset"))


def test_weather_changes_the_sky_and_what_falls() -> None:
    clear = first("a field, static").astype(int)
    spread = {name: first(f"a field, {name}, static").astype(int)[5:50].std(axis=2).mean()
              for name in ("cloudy", "rain", "storm", "fog", "snow")}
    clear_spread = clear[5:50].std(axis=2).mean()  # how coloured (not grey) the sky is
    assert all(value < clear_spread * 0.75 for value in spread.values()), (spread, clear_spread)
    rain = frames("a field in the rain, static", seconds=1, fps=2)
    snow = frames("a field in the snow, static", seconds=1, fps=2)
    assert mask(rain[0], (200, 215, 240)).sum() > 150  # rain streaks
    assert mask(snow[0], (250, 250, 255)).sum() > 100  # snowflakes
    assert mask(first("a field, static"), (200, 215, 240)).sum() == 0
    # fog veils the ground: less contrast below the horizon
    hy = horizon("a field, static")
    foggy = first("a field, foggy, static").astype(int)
    assert foggy[hy + 5 :].std() < clear[hy + 5 :].std()
    assert foggy[hy + 5 :].mean() > clear[hy + 5 :].mean() + 30
    # a storm flashes: one frame much brighter than the clip's usual
    storm = frames("a storm over the field, static", seconds=4, fps=10)
    light = [f.astype(int).mean() for f in storm]
    assert max(light) > float(np.median(light)) + 40


def test_celestial_bodies() -> None:
    sun = (255, 240, 170)
    assert mask(first("a field at noon, static"), sun).sum() > 40  # (a cloud may pass)
    assert mask(first("a cloudy field at noon, static"), sun).sum() == 0  # hidden
    night = first("a field at night, static")
    assert mask(night, (240, 240, 225)).sum() > 30  # the moon
    stars = np.all(night[: horizon("a field at night, static") - 5] > 165, axis=2)
    assert stars.sum() > 20


# --------------------------------------------------------------------------- the ground


@pytest.mark.parametrize("ground", GROUNDS)
def test_the_ground_lies_below_the_horizon(ground: str) -> None:
    prompt = f"a {ground} at noon, static"
    assert describe(prompt).ground == ground
    frame = first(prompt)
    hy = horizon(prompt)
    bottom = frame[H - H // 6 :]
    expected = {"ocean": WATER, "beach": (235, 210, 150)}.get(ground, GROUND_COLOURS[ground])
    assert mode_colour(bottom) == expected, ground
    if ground != "room":  # above the horizon: sky, never the ground's colour
        assert not mask(frame[: max(0, hy - H // 3)], GROUND_COLOURS[ground]).any(), ground
        top = frame[:8].astype(int).mean(axis=(0, 1))
        assert top[2] > top[0] + 60, ground  # a noon sky
    if ground in ("ocean", "lake", "beach", "river"):
        assert mask(frame[hy:], WATER).sum() > 0.04 * W * (H - hy), ground


def test_a_colour_word_colours_the_ground() -> None:
    frame = first("a purple field, static")
    assert mode_colour(frame[H - H // 6 :]) == COLOURS["purple"]


def test_mountains_rise_above_the_horizon() -> None:
    prompt = "snowless mountains at noon, static"
    frame = first(prompt)
    rock = mask(frame[: horizon(prompt)], (110, 115, 135))
    assert rock.sum() > 0.05 * W * horizon(prompt)


# --------------------------------------------------------------------------- subjects


@pytest.mark.parametrize("kind", sorted(SUBJECTS))
def test_each_subject_is_drawn_in_its_colour_where_the_layout_puts_it(kind: str) -> None:
    prompt = f"a magenta {kind}, static"
    desc = describe(prompt)
    assert desc.kinds() == (kind,)
    layout = make_layout(desc, 3, W, H)
    frame = first(prompt)
    body = mask(frame, MAGENTA)
    assert body.sum() >= 8, kind
    x0, y0, x1, y1 = layout.placed[0].box()
    ys, xs = np.nonzero(body)
    slack = 0.05 * W
    assert xs.min() >= x0 - slack and xs.max() <= x1 + slack, (kind, xs.min(), xs.max(), x0, x1)
    assert ys.min() >= y0 - slack - 0.2 * (y1 - y0) and ys.max() <= y1 + slack, kind
    zone = SUBJECTS[kind].zone
    _, cy = centroid(body)
    hy = layout.horizon
    if zone == "sky":
        assert cy < hy, kind
    else:  # standing on the ground (or the horizon) or in the water
        assert layout.placed[0].base_y >= hy, kind
        if zone != "landmark":  # (a tree's or a palm's body is its crown, high above)
            assert ys.max() > hy - 0.1 * H, kind


def test_counts_are_separate_silhouettes() -> None:
    for prompt, n in (("three magenta birds, static", 3), ("four magenta cars, static", 4),
                      ("a magenta balloon, static", 1), ("five magenta fish, static", 5)):
        assert components(mask(first(prompt), MAGENTA)) == n, prompt


def test_relations_place_subjects_by_the_rules() -> None:
    over = first("a magenta bird over a cyan house, static")
    bird, house = mask(over, MAGENTA), mask(over, CYAN)
    assert np.nonzero(bird)[0].max() < np.nonzero(house)[0].min()  # wholly above
    hx0, hx1 = np.nonzero(house)[1].min(), np.nonzero(house)[1].max()
    assert hx0 <= centroid(bird)[0] <= hx1

    beside = first("a magenta dog beside a cyan car, static")
    dog, car = mask(beside, MAGENTA), mask(beside, CYAN)
    dx, cx = np.nonzero(dog)[1], np.nonzero(car)[1]
    assert dx.min() > cx.max() or dx.max() < cx.min()  # side by side, not overlapping
    assert abs(int(np.nonzero(dog)[0].max()) - int(np.nonzero(car)[0].max())) < 0.05 * H

    under = first("a magenta fish under a cyan boat, static")
    assert np.nonzero(mask(under, MAGENTA))[0].min() > np.nonzero(mask(under, CYAN))[0].max()

    front = make_layout(describe("a magenta dog in front of a cyan house, static"), 3, W, H)
    dog_p, house_p = (next(p for p in front.placed if p.kind == k) for k in ("dog", "house"))
    assert dog_p.base_y > house_p.base_y  # lower in the picture: nearer
    assert front.placed.index(dog_p) > front.placed.index(house_p)  # drawn over it

    behind = make_layout(describe("a magenta tree behind a cyan house, static"), 3, W, H)
    order = [p.kind for p in behind.placed]
    assert order.index("tree") < order.index("house")  # drawn first: the house hides it


def test_verbs_drive_the_motion() -> None:
    def track(prompt: str) -> list[tuple[float, float]]:
        return [centroid(mask(f, MAGENTA)) for f in frames(prompt, seconds=2, fps=2)]

    driving = track("a magenta car driving, static")
    assert abs(driving[-1][0] - driving[0][0]) > 0.08 * W
    parked = track("a magenta car parked, static")
    assert parked[0] == parked[-1]
    rising = track("a magenta balloon rising, static")
    assert rising[-1][1] < rising[0][1] - 0.05 * H
    falling = track("a magenta parachute falling, static")
    assert falling[-1][1] > falling[0][1] + 0.05 * H
    spin = frames("a magenta kite spinning, static", seconds=2, fps=2)
    a, b = mask(spin[0], MAGENTA), mask(spin[-1], MAGENTA)
    assert not np.array_equal(a, b)  # turned ...
    assert np.hypot(*np.subtract(centroid(a), centroid(b))) < 0.05 * W  # ... in place
    fast = track("a fast magenta car driving, static")
    slow = track("a slow magenta car driving, static")
    assert abs(fast[1][0] - fast[0][0]) > 2 * abs(slow[1][0] - slow[0][0])


def test_camera_words() -> None:
    zoom = frames("a magenta house, zoom in", seconds=2, fps=2)
    assert mask(zoom[-1], MAGENTA).sum() > 1.2 * mask(zoom[0], MAGENTA).sum()
    out = frames("a magenta house, zoom out", seconds=2, fps=2)
    assert mask(out[-1], MAGENTA).sum() < 0.85 * mask(out[0], MAGENTA).sum()
    pan = frames("a magenta house, slow pan", seconds=2, fps=2)
    assert abs(centroid(mask(pan[-1], MAGENTA))[0] - centroid(mask(pan[0], MAGENTA))[0]) \
        > 0.1 * W
    still = frames("a magenta house, static", seconds=2, fps=2)
    assert centroid(mask(still[0], MAGENTA)) == centroid(mask(still[-1], MAGENTA))
    aerial = "a field, aerial"
    assert horizon(aerial) < 0.3 * H < horizon("a field")
    frame = first(aerial)
    assert mode_colour(frame[round(0.35 * H) : round(0.45 * H)]) == GROUND_COLOURS["field"]


# --------------------------------------------------------------------------- seed and remix


def test_deterministic_in_prompt_and_seed() -> None:
    a = frames("three birds over a lighthouse at sunset, rain", seed=9)
    b = frames("three birds over a lighthouse at sunset, rain", seed=9)
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a, b, strict=True))
    other = first("three birds over a lighthouse at sunset, rain", seed=10)
    assert not np.array_equal(a[0], other)


def test_remix_keeps_the_layout_and_changes_what_the_prompt_changes() -> None:
    red = first("a magenta kite over a hill, static", seed=5)
    blue = first("a cyan kite over a hill, static", seed=5)
    assert np.array_equal(mask(red, MAGENTA), mask(blue, CYAN))  # the same kite, recoloured
    kite = centroid(mask(red, MAGENTA))
    balloon = centroid(mask(first("a magenta balloon over a hill, static", seed=5), MAGENTA))
    assert abs(kite[0] - balloon[0]) < 0.08 * W  # a new subject in the same place
    night = first("a magenta kite over a hill at night, static", seed=5)
    assert abs(centroid(mask(night, MAGENTA))[0] - kite[0]) < 1  # the night changes the sky
    assert night[:10].mean() < red[:10].mean() - 60
    elsewhere = make_layout(describe("a magenta kite over a hill"), 6, W, H)
    here = make_layout(describe("a magenta kite over a hill"), 5, W, H)
    assert elsewhere.placed[0].x != here.placed[0].x or elsewhere.horizon != here.horizon


# --------------------------------------------------------------------------- reference, caption


def test_an_input_reference_stays_the_first_frame() -> None:
    rng = np.random.default_rng(1)
    reference = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    clip = frames("a magenta kite over a hill", reference=reference, seconds=2, fps=6)
    assert np.array_equal(clip[0], reference)
    assert np.abs(clip[-1].astype(int) - reference.astype(int)).mean() > 3  # animated over it


def test_the_caption_is_a_setting_and_gone_before_the_last_frame() -> None:
    prompt = "a red kite over a green hill at sunset, with a long tail and three birds far away"
    label = frames(prompt, caption="label", seconds=4, fps=4)
    full = frames(prompt, caption="prompt", seconds=4, fps=4)
    none = frames(prompt, caption="none", seconds=4, fps=4)

    def band(a: np.ndarray, b: np.ndarray) -> int:
        rows = np.nonzero(np.any(a != b, axis=(1, 2)))[0]
        assert len(rows) and rows.min() > H // 2  # only at the bottom
        return int(H - rows.min())

    assert band(label[0], none[0]) < band(full[0], none[0])  # a one-line label is smaller
    for clip in (label, full):
        assert np.array_equal(clip[-1], none[-1])  # nothing of it on the last frame
    with pytest.raises(ValueError, match="caption"):
        ProceduralBackend(caption="subtitles")


def test_an_extension_shows_no_ghost_of_the_old_caption() -> None:
    source = frames("a red kite over a green hill", caption="label", seconds=4, fps=6)
    last = source[-1]
    # the new clip starts from the old one's last frame: with or without its own caption,
    # after its label has gone it is the same picture, so the old caption never shows
    for kw in ({"continue_from": last}, {"reference": last}):
        labelled = frames("the kite flies away", caption="label", seconds=4, fps=6, **kw)
        bare = frames("the kite flies away", caption="none", seconds=4, fps=6, **kw)
        assert np.array_equal(labelled[-1], bare[-1])
        plain = frames("a red kite over a green hill", caption="none", seconds=4, fps=6)
        assert np.array_equal(last, plain[-1])  # the source's last frame had no caption


def test_the_parsed_scene_is_exposed_for_the_soundtrack() -> None:
    scene = Scene(request("two dogs running on a beach in the rain"))
    assert scene.description.weather == "rain" and scene.description.ground == "beach"
    assert scene.description.subjects[0].kind == "dog"


@pytest.mark.parametrize(("width", "height"), [(1, 1), (2, 2), (3, 200), (64, 36)])
def test_any_scene_renders_at_any_size(width: int, height: int) -> None:
    prompt = ("a storm at night over twelve skyscrapers beside a moonlit lake, a helicopter "
              "above two sheep, seven ducks under a bridge, zoom out, 999 fish")
    req = GenerationRequest(model="procedural", prompt=prompt, width=width, height=height,
                            seconds=1, seed=1, fps=3)
    clip = ProceduralBackend().generate(req, lambda d, t: None, lambda: False)
    assert [f.shape for f in clip.frames] == [(height, width, 3)] * 3
