"""Characters: create from a clip, retrieve, the errors; project scoped (in-process; the
character in a generated video is checked on a real server in tests/surface)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.surface.clips import encoded_clip, mp4_clip

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


@pytest.mark.backends("sqlite", "postgres")  # isolation is in the store's queries
def test_characters_are_scoped_to_the_project(
    alpha_and_beta: tuple[OpenAI, OpenAI],
) -> None:
    alpha, beta = alpha_and_beta
    mine = alpha.videos.create_character(name="Mine", video=("m.mp4", mp4_clip(96, 96, 1.0)))
    assert alpha.videos.get_character(mine.id).name == "Mine"
    with pytest.raises(openai.NotFoundError):
        beta.videos.get_character(mine.id)
    with pytest.raises(openai.BadRequestError) as caught:
        beta.videos.create(prompt="x", extra_body={"characters": [{"id": mine.id}]})
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "characters"
