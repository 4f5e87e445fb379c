"""The whole Sora surface on open models: characters, edits and extensions through a tiny
random Wan VACE (``WanVACEPipeline``) and a tiny LTX-2 condition pipeline
(``LTX2ConditionPipeline``, with sound), served through a models file by a real server and
driven with the official Python SDK.

What each pipeline was called with is recorded by a wrapper the worker loads from the models
file (:func:`record_calls`: one JSON line per pipeline call), so the tests assert that the
characters' reference images, the source clip and the extension's context frames reach it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai import OpenAI

from tests.servers import ServerProcess
from tests.surface.clips import (
    FADE_SLOPE,
    audio_track,
    decode,
    duration,
    extension_seam_jump,
    mad,
    mp4_clip,
    png,
)
from tests.surface.conftest import completed

pytest.importorskip("diffusers")
pytestmark = [
    pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning"),
    pytest.mark.backends("sqlite"),
]

FPS = 24
ALPHA, BETA = "sk-alpha-vace-0123456789", "sk-beta-vace-9876543210"
# native 24 fps: every file frame is a model frame, so neighbouring changes are the model's
TINY = """
native_sizes = ["64x32", "32x64"]
native_fps = 24
max_frames = 33
overlap_frames = 9
max_sequence_length = 16
cpu_threads = 1
wrap = "tests.surface.test_open_model_surface:record_calls"
"""
MODELS = """
[models.tiny-vace]
backend = "diffusers"
pipeline = "WanVACEPipeline"
weights = "{weights}/wan-vace"
steps = 2
{tiny}wrap_options = {{ path = "{calls}/tiny-vace.jsonl" }}

[models.tiny-ltx2]
backend = "diffusers"
pipeline = "LTX2ConditionPipeline"
weights = "{weights}/ltx2-condition"
steps = 2
guidance = 1.0
{tiny}wrap_options = {{ path = "{calls}/tiny-ltx2.jsonl" }}

[models.tiny-ltx2.call_args]  # one transformer pass per step
stg_scale = 0.0
audio_stg_scale = 0.0
modality_scale = 1.0
audio_modality_scale = 1.0
audio_guidance_scale = 1.0

[aliases]
"sora-2-pro" = "tiny-vace"
"""


def _image(value: Any) -> dict[str, Any]:
    array = np.asarray(value.convert("RGB"), dtype=np.float32)
    return {"size": list(value.size), "mean": [float(c) for c in array.mean(axis=(0, 1))]}


def _summary(call: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "role": call.role, "pipeline": call.pipeline, "num_frames": kwargs.get("num_frames"),
        "prompt": kwargs.get("prompt"),
    }
    if "reference_images" in kwargs:
        out["reference_images"] = [_image(im) for im in kwargs["reference_images"]]
    if "video" in kwargs:
        out["video"] = [_image(im) for im in kwargs["video"]]
        out["mask"] = [float(np.asarray(m).mean()) / 255 for m in kwargs["mask"]]
    if "conditions" in kwargs:
        out["conditions"] = [
            {"frames": [_image(im) for im in c.frames], "index": c.index, "strength": c.strength}
            for c in kwargs["conditions"]
        ]
    return out


def record_calls(backend: Any, spec: Any) -> Any:
    """``wrap``: append what each pipeline call of this model is given to
    ``wrap_options.path`` (in the worker's process: the family's ``arguments`` is wrapped)."""
    path = Path(spec.options["wrap_options"]["path"])
    family = backend.options.model_family
    build = family.arguments

    def arguments(call: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = build(call)
        with path.open("a") as fh:
            fh.write(json.dumps(_summary(call, kwargs)) + "\n")
        return kwargs

    family.arguments = arguments
    return backend


@pytest.fixture(scope="module")
def calls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("calls")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, calls_dir: Path) -> Iterator[ServerProcess]:
    from vidserve.engine.diffusion import random_pipelines

    root = tmp_path_factory.mktemp("open-models")
    for kind in ("wan-vace", "ltx2-condition"):
        random_pipelines.save(kind, root / kind)
    models = root / "models.toml"
    models.write_text(MODELS.format(weights=root, tiny=TINY, calls=calls_dir))
    proc = ServerProcess(root / "data", env={
        "VIDSERVE_MODELS_FILE": str(models),
        "VIDSERVE_API_KEYS": f"{ALPHA}=alpha,{BETA}=beta",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.base_url, api_key=ALPHA, max_retries=0) as c:
        yield c


class Calls:
    """The pipeline calls one model's worker made, read back from its JSON lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = 0

    def since_last(self) -> list[dict[str, Any]]:
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        new, self.seen = lines[self.seen:], len(lines)
        return [json.loads(line) for line in new]


def _by_id(video_id: str, **extra: Any) -> dict[str, Any]:
    return {"video": openai.omit, "extra_body": {"video": {"id": video_id}, **extra}}


def _source(client: OpenAI, model: str, calls: Calls) -> tuple[Any, bytes]:
    video = completed(client, client.videos.create(
        prompt="a cat playing piano in a sunny room", model=model, size="1280x720", seconds="4",
    ).id)
    calls.since_last()
    return video, client.videos.download_content(video.id).read()


def _check_seam(frames: list[np.ndarray], seam: int) -> None:
    """The seam check of the procedural engine's extension (tests/surface/test_edits.py),
    held to the median: the change between the last source frame and the first new one is no
    larger than the median change between neighbouring frames of the new segment, nor than
    the largest change between neighbouring frames elsewhere in the file."""
    diffs = [mad(frames[i], frames[i + 1]) for i in range(len(frames) - 1)]
    elsewhere = diffs[: seam - 1] + diffs[seam + 2:]
    segment = diffs[seam + 1:]
    assert diffs[seam] <= max(elsewhere), (diffs[seam], max(elsewhere))
    assert diffs[seam] <= float(np.median(segment)), (
        diffs[seam - 2: seam + 3], float(np.median(segment)))


def test_character_reaches_vace_as_a_reference_image(client: OpenAI, calls_dir: Path) -> None:
    calls = Calls(calls_dir / "tiny-vace.jsonl")
    calls.since_last()
    character = client.videos.create_character(
        name="Captain Square", video=("captain.mp4", mp4_clip(240, 320, 2.0, seed=3), "video/mp4")
    )
    video = client.videos.create(
        prompt="Captain Square in a forest", model="tiny-vace", size="1280x720", seconds="4",
        extra_body={"characters": [{"id": character.id}]},
    )
    done = completed(client, video.id)
    frames = decode(client.videos.download_content(done.id).read())
    assert len(frames) == 4 * FPS and frames[0].shape == (720, 1280, 3)
    made = calls.since_last()
    assert made and all(c["pipeline"] == "WanVACEPipeline" for c in made)
    for call in made:  # every window gets the character, so it stays in the clip
        (reference,) = call["reference_images"]
        width, height = reference["size"]
        assert width <= 64 and height <= 32
        # the still is cropped to the subject (the yellow square of the clip), not the
        # whole 240x320 frame (whose aspect it would keep)
        assert abs(width / height - 240 / 320) > 0.1
        red, green, blue = reference["mean"]
        assert red > blue + 40 and green > blue + 20, reference
    # the same create without the character is called without reference images
    plain = completed(client, client.videos.create(
        prompt="Captain Square in a forest", model="tiny-vace", size="1280x720", seconds="4",
    ).id)
    assert plain.status == "completed"
    assert all("reference_images" not in c for c in calls.since_last())


def test_vace_edit_conditions_on_the_source_clip(client: OpenAI, calls_dir: Path) -> None:
    calls = Calls(calls_dir / "tiny-vace.jsonl")
    source, source_mp4 = _source(client, "tiny-vace", calls)
    edit = client.videos.edit(prompt="the same room, golden light", **_by_id(source.id))
    assert (edit.model, edit.size, edit.seconds) == ("tiny-vace", "1280x720", "4")
    edited = decode(client.videos.download_content(completed(client, edit.id).id).read())
    original = decode(source_mp4)
    assert len(edited) == len(original) == 4 * FPS
    assert edited[0].shape == (720, 1280, 3)
    made = calls.since_last()
    assert made and {c["role"] for c in made} == {"video"}
    for call in made:  # the source's frames as the control video, every frame generated
        assert len(call["video"]) == call["num_frames"]
        assert all(m == 1.0 for m in call["mask"])
        assert call["prompt"] == "the same room, golden light"
    # the first control frame is the source's first frame (at the native 64x32)
    first = np.asarray(original[0], dtype=np.float32).mean(axis=(0, 1))
    assert np.abs(np.array(made[0]["video"][0]["mean"]) - first).max() < 12.0


@pytest.mark.parametrize("model", ["tiny-vace", "tiny-ltx2"])
def test_extension_continues_several_frames_without_a_seam(
    client: OpenAI, calls_dir: Path, model: str
) -> None:
    calls = Calls(calls_dir / f"{model}.jsonl")
    source, source_mp4 = _source(client, model, calls)
    extend = client.videos.extend(prompt="the cat keeps playing", seconds="8", **_by_id(source.id))
    assert extend.seconds == "12"
    data = client.videos.download_content(completed(client, extend.id).id).read()
    frames = decode(data)
    assert len(frames) == 12 * FPS and abs(duration(data) - 12.0) < 0.05
    original = decode(source_mp4)
    # the source's frames, kept: only a second encoding's loss (up to ~4.4 on tiny LTX-2's
    # noise-like frames at the tests' ultrafast preset); regenerated frames differ by >= 9
    assert max(mad(a, b) for a, b in zip(original, frames[: 4 * FPS], strict=True)) < 6.0
    _check_seam(frames, 4 * FPS - 1)

    first = calls.since_last()[0]  # the new segment's first window: the source's last frames
    if model == "tiny-vace":
        known = [m for m in first["mask"] if m == 0.0]
        assert len(known) == 9 and first["mask"][:9] == [0.0] * 9  # known, then generated
        assert all(m == 1.0 for m in first["mask"][9:])
        context = first["video"][:9]
    else:
        (condition,) = first["conditions"]
        assert (condition["index"], condition["strength"]) == (0, 1.0)
        context = condition["frames"]
        assert len(context) == 9
    # the context ends with the source's last frame
    last = np.asarray(original[-1], dtype=np.float32).mean(axis=(0, 1))
    assert np.abs(np.array(context[-1]["mean"]) - last).max() < 12.0

    if model == "tiny-ltx2":  # the sound: the source's, then the model's, no click
        codec, rate, _, seconds, samples = audio_track(data)
        assert (codec, rate) == ("aac", 48000) and abs(seconds - 12.0) < 0.05
        source_sound = audio_track(source_mp4)[4]
        seam = 4 * 48000
        n = seam - 2400
        assert float(np.corrcoef(source_sound[0, :n], samples[0, :n])[0, 1]) > 0.95
        at_seam, around = extension_seam_jump(samples, seam)  # fade ends there
        assert at_seam <= around + FADE_SLOPE, (at_seam, around)
        assert float(np.sqrt(np.mean(samples[:, seam + 48000:] ** 2))) > 1e-3  # not silence


def test_ltx2_edit_keeps_the_source_sound(client: OpenAI, calls_dir: Path) -> None:
    calls = Calls(calls_dir / "tiny-ltx2.jsonl")
    source, source_mp4 = _source(client, "tiny-ltx2", calls)
    edit = client.videos.edit(prompt="the same room at night", **_by_id(source.id))
    data = client.videos.download_content(completed(client, edit.id).id).read()
    assert len(decode(data)) == 4 * FPS
    made = calls.since_last()
    assert made and all(c["pipeline"] == "LTX2ConditionPipeline" for c in made)
    assert all(len(c["conditions"][0]["frames"]) == c["num_frames"] for c in made)
    sound, original = audio_track(data)[4], audio_track(source_mp4)[4]
    n = min(sound.shape[1], original.shape[1])
    assert float(np.corrcoef(sound[0, :n], original[0, :n])[0, 1]) > 0.95


def test_another_projects_ids_are_unknown_on_every_new_path(
    server: ServerProcess, client: OpenAI
) -> None:
    character = client.videos.create_character(
        name="Alpha's", video=("a.mp4", mp4_clip(160, 120, 1.5, seed=5), "video/mp4")
    )
    source = completed(client, client.videos.create(
        prompt="alpha's clip", model="tiny-vace", size="1280x720", seconds="4").id)
    uploaded = client.files.create(file=("ref.png", png(64, 32), "image/png"), purpose="vision")
    missing = {"character": "char_" + "0" * 32, "video": "video_" + "0" * 48,
               "file": "file-" + "0" * 24}
    theirs = {"character": character.id, "video": source.id, "file": uploaded.id}
    with httpx.Client(base_url=server.base_url, timeout=60,
                      headers={"Authorization": f"Bearer {BETA}"}) as beta:

        def same_as_missing(kind: str, path: str, body: Any) -> None:
            replies = []
            for ident in (theirs[kind], missing[kind]):
                text = json.dumps(body).replace("{id}", ident)
                replies.append(beta.post(path, content=text,
                                         headers={"Content-Type": "application/json"}))
            a, b = replies
            assert a.status_code == b.status_code and a.status_code in (400, 404), a.text
            ea, eb = a.json()["error"], b.json()["error"]
            assert ea["message"].replace(theirs[kind], missing[kind]) == eb["message"]
            assert (ea["type"], ea["param"], ea["code"]) == (eb["type"], eb["param"], eb["code"])

        same_as_missing("character", "/videos", {
            "prompt": "x", "model": "tiny-vace", "characters": [{"id": "{id}"}]})
        same_as_missing("video", "/videos/edits", {"prompt": "x", "video": {"id": "{id}"}})
        same_as_missing("video", "/videos/extensions", {
            "prompt": "x", "seconds": "4", "video": {"id": "{id}"}})
        same_as_missing("file", "/videos", {
            "prompt": "x", "model": "tiny-vace", "input_reference": {"file_id": "{id}"}})


def test_1080p_edit_and_extension_on_a_pro_model(client: OpenAI) -> None:
    """``sora-2-pro`` served by VACE: a 1792x1024 source is edited and extended at its size."""
    source = completed(client, client.videos.create(
        prompt="a red kite over a hill", model="sora-2-pro", size="1792x1024", seconds="4").id)
    edit = client.videos.edit(prompt="the kite, golden", **_by_id(source.id))
    extend = client.videos.extend(prompt="the kite flies on", seconds="4", **_by_id(source.id))
    assert (edit.model, edit.size, extend.size, extend.seconds) == (
        "sora-2-pro", "1792x1024", "1792x1024", "8")
    edited = decode(client.videos.download_content(completed(client, edit.id).id).read())
    extended = client.videos.download_content(completed(client, extend.id).id).read()
    assert len(edited) == 4 * FPS and edited[0].shape == (1024, 1792, 3)
    frames = decode(extended)
    assert len(frames) == 8 * FPS and frames[0].shape == (1024, 1792, 3)
    _check_seam(frames, 4 * FPS - 1)
