"""OpenAI's Files API, and the errors of ``input_reference: {"file_id": ...}`` on create
(in-process; a video rendered from a file id is checked in tests/surface/test_files.py)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.surface.clips import png

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
FILE_ID = re.compile(r"^file-[0-9A-Za-z]{24}$")


@pytest.mark.backends("sqlite", "postgres")  # stored: the store may differ
def test_file_lifecycle(client: OpenAI) -> None:
    data = png(64, 48)
    made = client.files.create(file=("ref.png", data, "image/png"), purpose="vision")
    assert FILE_ID.match(made.id)
    assert (made.object, made.bytes, made.filename, made.purpose) == (
        "file", len(data), "ref.png", "vision"
    )
    assert made.status == "processed" and made.expires_at is None
    assert client.files.retrieve(made.id).model_dump() == made.model_dump()
    assert client.files.content(made.id).read() == data
    listed = [f.id for f in client.files.list(purpose="vision")]
    assert made.id in listed
    assert made.id not in [f.id for f in client.files.list(purpose="batch")]
    deleted = client.files.delete(made.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (made.id, True, "file")
    with pytest.raises(openai.NotFoundError) as caught:
        client.files.retrieve(made.id)
    assert caught.value.body == {
        "message": f"No such File object: {made.id}", "type": "invalid_request_error",
        "param": "id", "code": None,
    }
    with pytest.raises(openai.NotFoundError):
        client.files.content(made.id)


@pytest.mark.backends("sqlite", "postgres")  # stored: the store may differ
def test_list_pages_with_after(client: OpenAI) -> None:
    made = [
        client.files.create(file=(f"f{i}.txt", f"{i}".encode()), purpose="evals").id
        for i in range(5)
    ]
    page = client.files.list(purpose="evals", limit=2, order="asc")
    assert page.has_more and len(page.data) == 2
    seen = [f.id for f in page]  # the SDK follows has_more with after=<last id>
    assert [i for i in seen if i in made] == made  # oldest first, every one, once
    newest = client.files.list(purpose="evals", limit=1).data[0].id
    assert newest == made[-1]


def test_expires_after_and_content_headers(api: httpx.Client) -> None:
    response = api.post(
        "/files",
        files={
            "file": ("../../etc/passwd.html", b"<script>x</script>", "text/html"),
            "purpose": (None, "user_data"),
            "expires_after[anchor]": (None, "created_at"),
            "expires_after[seconds]": (None, "3600"),
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_at"] == body["created_at"] + 3600
    assert body["filename"] == "passwd.html"  # the last path component only
    content = api.get(f"/files/{body['id']}/content")
    assert content.headers["content-type"] == "application/octet-stream"
    assert content.headers["x-content-type-options"] == "nosniff"
    assert content.headers["content-disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    ("files", "param", "code"),
    [
        ({"purpose": (None, "vision")}, "file", "missing_required_parameter"),
        ({"file": ("a.png", b"x")}, "purpose", "missing_required_parameter"),
        ({"file": ("a.png", b"x"), "purpose": (None, "videos")}, "purpose", "invalid_value"),
        ({"file": ("a.png", b""), "purpose": (None, "vision")}, "file", "invalid_file"),
        ({"file": ("a.png", b"x"), "purpose": (None, "vision"),
          "expires_after[anchor]": (None, "now"), "expires_after[seconds]": (None, "3600")},
         "expires_after.anchor", "invalid_value"),
        ({"file": ("a.png", b"x"), "purpose": (None, "vision"),
          "expires_after[anchor]": (None, "created_at"), "expires_after[seconds]": (None, "60")},
         "expires_after.seconds", "integer_out_of_range"),
    ],
    ids=["no-file", "no-purpose", "bad-purpose", "empty", "bad-anchor", "short-expiry"],
)
def test_create_file_errors(
    api: httpx.Client, files: dict[str, Any], param: str, code: str
) -> None:
    response = api.post("/files", files=files)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code), error


def test_unknown_file_ids_are_404(api: httpx.Client) -> None:
    for path in ("/files/file-abc", "/files/file-abc/content", "/files/%00"):
        assert api.get(path).status_code == 404
    assert api.delete("/files/file-" + "a" * 24).status_code == 404
    assert api.get("/files", params={"limit": "0"}).status_code == 400
    assert api.get("/files", params={"after": "file-" + "b" * 24}).status_code == 400
    assert api.get("/files", params={"purpose": "videos"}).status_code == 400
    unknown = api.get("/files", params={"": "false", "foo": "1"})  # as for /videos
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_parameter"


def test_input_reference_file_errors(client: OpenAI, api: httpx.Client) -> None:
    text = client.files.create(file=("notes.txt", b"not an image"), purpose="user_data")
    for file_id, fragment in ((text.id, "not a PNG, JPEG or WebP"), ("file-x", "no file")):
        response = api.post(
            "/videos", json={"prompt": "x", "input_reference": {"file_id": file_id}}
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == "input_reference"
        assert fragment in error["message"], error


@pytest.mark.backends("sqlite", "postgres")  # isolation is in the store's queries
def test_files_are_scoped_to_the_project(
    alpha_and_beta: tuple[OpenAI, OpenAI],
) -> None:
    alpha, beta = alpha_and_beta
    mine = alpha.files.create(file=("a.png", png(8, 8)), purpose="vision")
    assert alpha.files.retrieve(mine.id).id == mine.id
    with pytest.raises(openai.NotFoundError):
        beta.files.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        beta.files.content(mine.id)
    with pytest.raises(openai.NotFoundError):
        beta.files.delete(mine.id)
    assert mine.id not in [f.id for f in beta.files.list()]
    with pytest.raises(openai.BadRequestError):
        beta.videos.create(
            prompt="x", extra_body={"input_reference": {"file_id": mine.id}}
        )
    assert alpha.files.retrieve(mine.id).id == mine.id  # untouched
    # nor can beta edit or extend alpha's video: 404, as for an unknown id
    video = alpha.videos.create(prompt="alpha's own", size="1280x720")
    try:
        for call in (beta.videos.edit, beta.videos.extend):
            kwargs: dict[str, Any] = {"seconds": "4"} if call == beta.videos.extend else {}
            with pytest.raises(openai.NotFoundError):
                call(prompt="x", video=openai.omit, extra_body={"video": {"id": video.id}},
                     **kwargs)
    finally:
        alpha.videos.delete(video.id)
