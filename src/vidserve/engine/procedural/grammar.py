"""The scene grammar: a prompt read as a scene description (:func:`describe`).

Plain word rules, no language model. Words are lower-cased and matched whole (two-word names
such as ``city street``, ``hot air balloon`` or ``in front of`` first); a simple plural ``s``
/ ``es`` / ``ies`` is folded onto the singular. What is recognised:

- **time of day**: ``dawn`` (sunrise, morning), ``noon`` (day, midday, afternoon; the default),
  ``sunset`` (dusk, evening, twilight), ``night`` (midnight, moonlit).
- **weather**: ``clear`` (the default), ``cloudy``, ``rain``, ``snow``, ``fog``, ``storm``.
- **ground**: ``hill``, ``mountains``, ``desert``, ``field``, ``beach``, ``ocean``, ``lake``,
  ``river``, ``city street``, ``forest``, ``room`` (the first one named). A colour word just
  before it colours it ("a green hill"). None named: water subjects put the scene on the
  ocean, anything else on a field.
- **celestial bodies**: ``sun``, ``moon``, ``stars``; a clear noon shows the sun, a clear night
  the moon and stars, dawn and sunset a low sun, unless the weather hides them.
- **subjects**: the nouns of :data:`vidserve.engine.procedural.subjects.SUBJECTS` (more than
  60: kite, balloon, bird, boat, car, train, plane, fish, whale, dog, cat, horse, person,
  robot, tree, house, skyscraper, lighthouse, bridge, flower, butterfly, dragon, rocket ...)
  with their aliases. The words of a noun phrase before the noun give its **count** (a
  number word or digits, ``a``/``an``/``one``, ``a pair``/``couple`` 2, ``a few``/``several``
  3, ``many``/``a flock of`` 5; a bare plural 3; at most 12), its **colour** (the last colour
  word) and its **size** (``big``, ``huge``, ``small``, ``tiny`` ...).
- **verbs** drive a subject's motion: ``flying``, ``running`` (walking, driving, racing,
  galloping ...), ``drifting`` (floating), ``falling``, ``rising``, ``spinning``, ``swimming``,
  ``sailing``, ``bouncing`` (jumping, dancing), ``still`` (standing, sitting, parked). A verb
  applies to the subject it follows, or, inside a new noun phrase ("a flying kite"), to the
  next one; a subject without one moves as its kind usually does (birds fly, boats sail,
  houses stay).
- **relations** between a subject and what follows: ``over`` (above), ``under`` (below),
  ``beside`` (next to, near), ``in front of``, ``behind``.
- **camera**: ``pan`` (slow pan, tracking), ``zoom in`` (push in), ``zoom out`` (pull back),
  ``aerial`` (drone, bird's eye), ``static``; otherwise a gentle sway.
- **speed**: ``fast`` / ``slow`` words, read by :mod:`.look` as before.

A prompt that names none of these is not a scene: it keeps the abstract shapes of
:mod:`.structure` (``SceneDescription.is_scene`` is False). The description is a pure function
of the prompt; the seed only places things (:mod:`.layout`). It is what the soundtrack reads
too, so that sound and picture follow the same words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vidserve.engine.procedural.common import RGB
from vidserve.engine.procedural.look import _COLOURS as COLOURS
from vidserve.engine.procedural.subjects import ALIASES, SUBJECTS

TIMES = ("dawn", "noon", "sunset", "night")
WEATHERS = ("clear", "cloudy", "rain", "snow", "fog", "storm")
GROUNDS = (
    "hill",
    "mountains",
    "desert",
    "field",
    "beach",
    "ocean",
    "lake",
    "river",
    "city street",
    "forest",
    "room",
)
MOTIONS = ("fly", "run", "drift", "fall", "rise", "spin", "swim", "sail", "bounce", "still")
RELATIONS = ("over", "under", "beside", "in front of", "behind")
CAMERAS = ("sway", "pan", "zoom in", "zoom out", "aerial", "static")
MAX_COUNT = 12


def _words(groups: dict[str, str]) -> dict[str, str]:
    """``{"meaning": "word, two words, ..."}`` -> ``{"word": "meaning", ...}``."""
    return {w.strip(): k for k, words in groups.items() for w in words.split(",") if w.strip()}


TIME_WORDS = _words(
    {
        "dawn": "dawn, sunrise, daybreak, morning, early morning",
        "noon": "noon, midday, daytime, afternoon, day, daylight, sunny day",
        "sunset": "sunset, dusk, evening, twilight, golden hour, sundown",
        "night": "night, midnight, nighttime, moonlit, moonlight, starry night, starry",
    }
)
WEATHER_WORDS = _words(
    {
        "clear": "clear, sunny, cloudless, clear sky",
        "cloudy": "cloudy, clouds, cloud, overcast, grey sky, gray sky",
        "rain": "rain, rainy, raining, drizzle, downpour, shower, showers, monsoon",
        "snow": "snow, snowy, snowing, snowfall, blizzard, snowflakes, snowflake, winter",
        "fog": "fog, foggy, mist, misty, haze, hazy",
        "storm": "storm, stormy, thunder, thunderstorm, lightning",
    }
)
GROUND_WORDS = _words(
    {
        "hill": "hill, hills, hillside, valley",
        "mountains": "mountain, mountains, peaks, alps, summit, mountain range",
        "desert": "desert, dunes, dune, sand dunes, sahara",
        "field": "field, fields, meadow, meadows, grass, grassland, prairie, farm, park, garden",
        "beach": "beach, shore, seashore, coast, seaside",
        "ocean": "ocean, sea, waves, open sea, bay, underwater, under the sea, seabed",
        "lake": "lake, pond, lagoon",
        "river": "river, stream, creek",
        "city street": "city street, street, city, road, town, downtown, avenue, village",
        "forest": "forest, woods, jungle, woodland",
        "room": "room, indoors, kitchen, bedroom, living room, office, studio, house interior",
    }
)
CELESTIAL_WORDS = _words(
    {
        "sun": "sun, sunshine, sunlight",
        "moon": "moon, full moon, crescent moon, moonlight, moonlit",
        "stars": "stars, star, starry, starry night, milky way",
    }
)
VERB_WORDS = _words(
    {
        "fly": "fly, flies, flying, soar, soars, soaring, glide, glides, gliding, flap, flapping,"
        " flutter, fluttering",
        "run": "run, runs, running, walk, walks, walking, drive, drives, driving, race, races,"
        " racing, gallop, galloping, ride, riding, rolling, speeding, chasing, trotting, roll",
        "drift": "drift, drifts, drifting, float, floats, floating, hover, hovering, wander,"
        " wandering, sway, swaying",
        "fall": "fall, falls, falling, drop, dropping, descend, descending, tumbling",
        "rise": "rise, rises, rising, ascend, ascending, launch, launching, lift, lifting, climb,"
        " climbing, taking off",
        "spin": "spin, spins, spinning, rotate, rotating, twirl, twirling, whirl, whirling",
        "swim": "swim, swims, swimming, dive, diving",
        "sail": "sail, sails, sailing, cruise, cruising",
        "bounce": "bounce, bounces, bouncing, jump, jumps, jumping, hop, hopping, dance, dancing,"
        " leaping, playing",
        "still": "still, standing, stands, sitting, sits, sleeping, sleeps, parked, resting,"
        " waiting, perched",
    }
)
RELATION_WORDS = _words(
    {
        "over": "over, above, across the sky over, high above, on top of, atop",
        "under": "under, below, beneath, underneath",
        "beside": "beside, next to, near, by, alongside, with",
        "in front of": "in front of, before",
        "behind": "behind, in back of",
    }
)
CAMERA_WORDS = _words(
    {
        "pan": "pan, panning, slow pan, tracking shot, tracking, dolly",
        "zoom in": "zoom in, zooming in, zoom, zooming, push in, close up, closeup",
        "zoom out": "zoom out, zooming out, pull back, pulling back",
        "aerial": "aerial, aerial view, drone, drone shot, bird's eye, birds eye, overhead,"
        " top down",
        "static": "static, static shot, locked off, tripod",
    }
)
NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "single": 1,
    "lone": 1,
    "two": 2,
    "pair": 2,
    "couple": 2,
    "both": 2,
    "three": 3,
    "few": 3,
    "several": 3,
    "some": 3,
    "four": 4,
    "five": 5,
    "many": 5,
    "flock": 5,
    "school": 5,
    "herd": 5,
    "pack": 5,
    "group": 4,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "dozen": 12,
    "lots": 6,
    "hundreds": 12,
    "dozens": 12,
    "thousands": 12,
}
SIZE_WORDS = {
    "tiny": 0.55,
    "little": 0.7,
    "small": 0.7,
    "baby": 0.65,
    "big": 1.35,
    "large": 1.35,
    "huge": 1.7,
    "giant": 1.9,
    "enormous": 1.9,
    "tall": 1.3,
    "massive": 1.8,
}
_CLAUSE_BREAKS = {"and", "while", "as", "then", "but", "where", "who", "which", "that"}
_TOKEN = re.compile(r"[\w']+|[.,;:!?]")


@dataclass(frozen=True, slots=True)
class SubjectSpec:
    """One noun phrase: ``count`` of ``kind`` (a key of ``SUBJECTS``), its colour (None: the
    kind's own), motion (one of :data:`MOTIONS`), size factor and relation to another."""

    kind: str
    count: int
    colour: RGB | None
    motion: str
    size: float
    relation: str | None = None  # one of RELATIONS, to ``anchor``
    anchor: int | None = None  # index of another subject; None with a relation: the ground
    verb_given: bool = False


@dataclass(frozen=True, slots=True)
class SceneDescription:
    """What the prompt names; :func:`describe` makes it. Read by the picture and the sound."""

    time_of_day: str  # one of TIMES
    weather: str  # one of WEATHERS
    ground: str  # one of GROUNDS
    ground_colour: RGB | None
    sky_colour: RGB | None
    celestial: tuple[str, ...]  # of "sun", "moon", "stars"
    subjects: tuple[SubjectSpec, ...]
    camera: str  # one of CAMERAS
    named: tuple[str, ...]  # the scene words found, in order (for docs, tests and sound)

    @property
    def is_scene(self) -> bool:
        """False when the prompt names nothing of a scene: the abstract shapes are drawn."""
        return bool(self.named)

    def kinds(self) -> tuple[str, ...]:
        return tuple(s.kind for s in self.subjects)


def _singular(word: str) -> str:
    for candidate in (
        word,
        word[:-1] if word.endswith("s") else "",
        word[:-2] if word.endswith("es") else "",
        word[:-3] + "y" if word.endswith("ies") else "",
    ):
        if candidate and (candidate in SUBJECTS or candidate in ALIASES):
            return candidate
    return word


def _match(tokens: list[str], i: int, table: dict[str, str]) -> tuple[str, int] | None:
    """The longest phrase of ``table`` starting at ``tokens[i]``: (meaning, words used)."""
    for n in (3, 2, 1):
        phrase = " ".join(tokens[i : i + n])
        if len(tokens[i : i + n]) == n and phrase in table:
            return table[phrase], n
    return None


def _subject_at(tokens: list[str], i: int) -> tuple[str, int] | None:
    for n in (3, 2, 1):
        if i + n > len(tokens):
            continue
        words = tokens[i : i + n]
        phrase = " ".join(words[:-1] + [_singular(words[-1])])
        kind = phrase if phrase in SUBJECTS else ALIASES.get(phrase)
        if kind is not None:
            return kind, n
    return None


def _plural(word: str) -> bool:
    return word.endswith("s") and _singular(word) != word


@dataclass(slots=True)
class _Phrase:
    kind: str
    count: int
    colour: RGB | None
    size: float
    motion: str | None = None
    relation: str | None = None
    anchor: int | None = None


def describe(prompt: str) -> SceneDescription:
    """Read ``prompt`` as a scene (see the module docstring for the rules)."""
    tokens = [t.lower() for t in _TOKEN.findall(prompt[:2000])]
    time_of_day = weather = ground = camera = None
    ground_colour: RGB | None = None
    sky_colour: RGB | None = None
    celestial: list[str] = []
    named: list[str] = []
    phrases: list[_Phrase] = []
    count: int | None = None
    colour: RGB | None = None
    size = 1.0
    verb_pending: str | None = None
    relation: str | None = None
    relation_from: int | None = None
    current: int | None = None  # the subject the following verbs describe

    def relate(anchor: int | None) -> None:
        """Close a pending "A <relation> ..." with what was just named (None: the ground)."""
        nonlocal relation
        if relation is not None and relation_from is not None:
            phrases[relation_from].relation = relation
            phrases[relation_from].anchor = anchor
        relation = None

    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in ".;:!?," or tok in _CLAUSE_BREAKS:
            count, colour, size = None, None, 1.0
            if tok != ",":
                relation = None
            i += 1
            continue
        found = _match(tokens, i, RELATION_WORDS)
        if found is not None and current is not None:
            relation, relation_from = found[0], current
            i += found[1]
            continue
        found = _match(tokens, i, CAMERA_WORDS)
        if found is not None:
            camera = camera or found[0]
            named.append(found[0])
            i += found[1]
            continue
        subject = _subject_at(tokens, i)
        if subject is not None:
            kind, used = subject
            n = count if count is not None else (3 if _plural(tokens[i + used - 1]) else 1)
            phrases.append(_Phrase(kind, max(1, min(MAX_COUNT, n)), colour, size, verb_pending))
            relate(len(phrases) - 1)
            current = len(phrases) - 1
            named.append(kind)
            count, colour, size, verb_pending = None, None, 1.0, None
            i += used
            continue
        found = _match(tokens, i, GROUND_WORDS)
        if found is not None:
            if ground is None:
                ground, ground_colour = found[0], colour
            named.append(found[0])
            relate(None)
            count, colour, size = None, None, 1.0
            i += found[1]
            continue
        if tok in ("sky", "skies"):
            sky_colour = colour or sky_colour
            named.append("sky")
            colour = None
            i += 1
            continue
        when = _match(tokens, i, TIME_WORDS)
        body = _match(tokens, i, CELESTIAL_WORDS)
        if when is not None or body is not None:
            if when is not None:
                time_of_day = time_of_day or when[0]
                named.append(when[0])
            if body is not None:
                if body[0] not in celestial:
                    celestial.append(body[0])
                named.append(body[0])
            i += max(when[1] if when else 0, body[1] if body else 0)
            continue
        found = _match(tokens, i, WEATHER_WORDS)
        if found is not None:
            if weather in (None, "clear"):
                weather = found[0]
            named.append(found[0])
            i += found[1]
            continue
        found = _match(tokens, i, VERB_WORDS)
        if found is not None:
            # "birds flying": the last subject; "... and a flying kite": a new noun phrase
            # has begun (an article, count, colour or size word), so the next subject
            in_phrase = count is not None or colour is not None or size != 1.0
            if current is not None and phrases[current].motion is None and not in_phrase:
                phrases[current].motion = found[0]
            else:
                verb_pending = found[0]
            i += found[1]
            continue
        if tok in COLOURS:
            colour = COLOURS[tok]
        elif tok in NUMBER_WORDS:
            if count is None or tok not in ("a", "an"):  # "a few", "a dozen": the second
                count = NUMBER_WORDS[tok]
        elif tok.isdigit():
            count = int(tok[:3])
        elif tok in SIZE_WORDS:
            size = SIZE_WORDS[tok]
        i += 1

    has_water = any(SUBJECTS[p.kind].zone in ("water", "underwater") for p in phrases)
    ground = ground or ("ocean" if has_water else "field")
    time_of_day = time_of_day or "noon"
    weather = weather or "clear"
    if weather == "clear" and ground != "room":
        implied = {
            "noon": ("sun",),
            "dawn": ("sun",),
            "sunset": ("sun",),
            "night": ("moon", "stars"),
        }[time_of_day]
        celestial.extend(b for b in implied if b not in celestial)
    subjects = tuple(
        SubjectSpec(
            kind=p.kind,
            count=p.count,
            colour=p.colour,
            motion=p.motion or SUBJECTS[p.kind].motion,
            size=p.size,
            relation=p.relation,
            anchor=p.anchor,
            verb_given=p.motion is not None,
        )
        for p in phrases
    )
    return SceneDescription(
        time_of_day=time_of_day,
        weather=weather,
        ground=ground,
        ground_colour=ground_colour,
        sky_colour=sky_colour,
        celestial=tuple(celestial),
        subjects=subjects,
        camera=camera or "sway",
        named=tuple(named),
    )
