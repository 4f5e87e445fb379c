"""Characters: create from a clip, retrieve, put into a generated video; project scoped."""

from __future__ import annotations

import re
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai import OpenAI

from tests.servers import ServerProcess
from tests.surface.clips import decode, encoded_clip, mad, mp4_clip
from tests.surface.conftest import ALPHA_KEY, BETA_KEY, completed

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
CHAR_ID = re.compile(r"^char_[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def character(client: OpenAI) -> Any:
    return client.videos.create_character(
        name="Captain Square", video=("captain.mp4", mp4_clip(240, 320, 2.0, seed=3), "video/mp4")
    )


def test_create_and_get_character(client: OpenAI, character: Any) -> None:
    assert CHAR_ID.match(character.id)
    assert character.name == "Captain Square"
    assert isinstance(character.created_at, int) and character.created_at > 1_600_000_000
    again = client.videos.get_character(character.id)
    assert again.model_dump() == character.model_dump()
    assert set(again.model_dump()) == {"id", "name", "created_at"}


def test_character_from_webm(client: OpenAI) -> None:
    clip = encoded_clip(160, 160, 1.5, fmt="webm", codec="libvpx-vp9")
    made = client.videos.create_character(name="Vee", video=("vee.webm", clip, "video/webm"))
    assert CHAR_ID.match(made.id or "")


@pytest.mark.backends("sqlite")
def test_character_appears_in_the_video(client: OpenAI, character: Any) -> None:
    """Same prompt and seed with and without the character: only the middle changes."""
    common: dict[str, Any] = {"prompt": "Captain Square in a forest", "size": "720x1280"}
    plain = client.videos.create(**common, extra_body={"seed": 11})
    cast = client.videos.create(
        **common, extra_body={"seed": 11, "characters": [{"id": character.id}]}
    )
    a = decode(client.videos.download_content(completed(client, plain.id).id).read())
    b = decode(client.videos.download_content(completed(client, cast.id).id).read())
    assert len(a) == len(b) == 4 * 24
    frame_a, frame_b = a[48], b[48]
    h, w = frame_a.shape[:2]
    middle = (slice(int(h * 0.4), int(h * 0.6)), slice(int(w * 0.35), int(w * 0.65)))
    corner = (slice(0, int(h * 0.1)), slice(0, int(w * 0.1)))
    assert mad(frame_a[middle], frame_b[middle]) > 20.0
    assert mad(frame_a[corner], frame_b[corner]) < 2.0
    # the character's own clip (a yellow square on a gradient) shows in the middle
    yellow = (frame_b[..., 0] > 200) & (frame_b[..., 1] > 190) & (frame_b[..., 2] < 120)
    assert yellow[middle].mean() > 0.01
    assert not np.array_equal(b[10], b[60])


def test_characters_in_multipart_brackets(api: httpx.Client, character: Any) -> None:
    response = api.post(
        "/videos",
        files={"prompt": (None, "two of them"), "characters[][id]": (None, character.id)},
    )
    assert response.status_code == 200, response.text
    api.delete(f"/videos/{response.json()['id']}")


@pytest.mark.parametrize(
    ("characters", "param", "message"),
    [
        ([{"id": "char_" + "0" * 32}], "characters",
         f"Invalid 'characters[0].id': no character with id 'char_{'0' * 32}'."),
        ([{"id": "a"}, {"id": "b"}, {"id": "c"}], "characters",
         "Invalid 'characters': array too long. Expected an array with maximum length 2, but "
         "got an array with length 3 instead."),
        ([{"name": "x"}], "characters[0].name", "Unknown parameter: 'characters[0].name'."),
        ("char_1", "characters",
         "Invalid type for 'characters': expected an array of objects, but got a string instead."),
    ],
    ids=["unknown", "three", "unknown-field", "not-a-list"],
)
def test_create_with_bad_characters(
    api: httpx.Client, characters: object, param: str, message: str
) -> None:
    response = api.post("/videos", json={"prompt": "x", "characters": characters})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["message"]) == (param, message)


@pytest.mark.parametrize(
    ("files", "param", "fragment"),
    [
        ({"name": (None, "x" * 81)}, "name", "string too long"),
        ({"name": (None, "")}, "name", "string too short"),
        ({"video": ("a.mp4", b"")}, "name", "Missing required parameter: 'name'."),
        ({"name": (None, "x")}, "video", "Missing required parameter: 'video'."),
        ({"name": (None, "x"), "video": ("a.gif", b"GIF89a....")}, "video", "GIF"),
        ({"name": (None, "x"), "video": ("a.mp4", b"\0\0\0\x18ftypmp42" + b"\0" * 40)},
         "video", "could not be read"),
    ],
    ids=["long-name", "empty-name", "no-name", "no-video", "gif", "corrupt"],
)
def test_create_character_errors(
    api: httpx.Client, files: dict[str, Any], param: str, fragment: str
) -> None:
    response = api.post("/videos/characters", files=files)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param, error
    assert fragment in error["message"], error


def test_character_clip_too_long(api: httpx.Client) -> None:
    clip = mp4_clip(64, 64, 11.0, fps=8)
    response = api.post(
        "/videos/characters", files={"name": (None, "x"), "video": ("long.mp4", clip)}
    )
    assert response.status_code == 400, response.text
    assert "more than the limit of 10 seconds" in response.json()["error"]["message"]


def test_unknown_character_is_404(client: OpenAI) -> None:
    for unknown in ("char_" + "f" * 32, "nope"):
        with pytest.raises(openai.NotFoundError) as caught:
            client.videos.get_character(unknown)
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["param"] == "character_id"


@pytest.mark.backends("sqlite")
def test_characters_are_scoped_to_the_project(two_projects: ServerProcess) -> None:
    base = two_projects.base_url
    with OpenAI(base_url=base, api_key=ALPHA_KEY, max_retries=0) as alpha, OpenAI(
        base_url=base, api_key=BETA_KEY, max_retries=0
    ) as beta:
        mine = alpha.videos.create_character(name="Mine", video=("m.mp4", mp4_clip(96, 96, 1.0)))
        assert alpha.videos.get_character(mine.id).name == "Mine"
        with pytest.raises(openai.NotFoundError):
            beta.videos.get_character(mine.id)
        with pytest.raises(openai.BadRequestError) as caught:
            beta.videos.create(prompt="x", extra_body={"characters": [{"id": mine.id}]})
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["param"] == "characters"
