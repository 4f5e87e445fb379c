"""The wire, byte for byte: raw httpx into the app in-process, every JSON body checked against
OpenAI's spec (tests/contract/openai-videos-openapi.yaml). What needs a worker or streams
content is in tests/contract/test_wire.py."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.inprocess import InProcessServer
from tests.contract.helpers import (
    assert_error,
    assert_request_id,
    assert_video,
    create,
    data_url,
    png_bytes,
    request_ids,
)
from tests.contract.spec import response_schema_name, validate


def _content_url(video: dict[str, Any], variant: str | None = None) -> str:
    url = f"/videos/{video['id']}/content"
    return url if variant is None else f"{url}?variant={variant}"


def test_spec_names_the_schemas_used_here() -> None:
    assert response_schema_name("/videos", "post") == "VideoResource"
    assert response_schema_name("/videos", "get") == "VideoListResource"
    assert response_schema_name("/videos/{video_id}", "get") == "VideoResource"
    assert response_schema_name("/videos/{video_id}", "delete") == "DeletedVideoResource"
    assert response_schema_name("/videos/{video_id}/remix", "post") == "VideoResource"


def test_create_multipart_defaults(api: httpx.Client, cleanup: list[str]) -> None:
    video = create(api, files={"prompt": (None, "a lighthouse at dusk")})
    cleanup.append(video["id"])
    assert video["model"] == "sora-2"
    assert video["size"] == "720x1280"
    assert video["seconds"] == "4"
    assert video["prompt"] == "a lighthouse at dusk"
    assert video["status"] == "queued"
    assert video["progress"] == 0
    assert video["completed_at"] is None
    assert video["expires_at"] is None
    assert video["remixed_from_video_id"] is None
    assert video["error"] is None


def test_create_json(api: httpx.Client, cleanup: list[str]) -> None:
    video = create(
        api,
        json={"prompt": "waves", "model": "sora-2", "seconds": "8", "size": "1280x720"},
    )
    cleanup.append(video["id"])
    assert (video["model"], video["seconds"], video["size"]) == ("sora-2", "8", "1280x720")
    assert video["prompt"] == "waves"


def test_create_multipart_all_fields(api: httpx.Client, cleanup: list[str]) -> None:
    video = create(
        api,
        files={
            "prompt": (None, "rain"),
            "model": (None, "sora-2-pro"),
            "seconds": (None, "12"),
            "size": (None, "1792x1024"),
        },
    )
    cleanup.append(video["id"])
    assert (video["model"], video["seconds"], video["size"]) == ("sora-2-pro", "12", "1792x1024")


def test_create_json_content_type_with_charset(api: httpx.Client, cleanup: list[str]) -> None:
    response = api.post(
        "/videos",
        content=json.dumps({"prompt": "charset"}).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    cleanup.append(assert_video(response.json())["id"])


def test_create_with_bracket_data_url_in_multipart(api: httpx.Client, cleanup: list[str]) -> None:
    video = create(
        api,
        files={
            "prompt": (None, "node style"),
            "size": (None, "720x1280"),
            "input_reference[image_url]": (None, data_url(png_bytes(720, 1280))),
        },
    )
    cleanup.append(video["id"])
    assert video["size"] == "720x1280"


def test_create_with_json_data_url(api: httpx.Client, cleanup: list[str]) -> None:
    video = create(
        api,
        json={
            "prompt": "json reference",
            "size": "1280x720",
            "input_reference": {"image_url": data_url(png_bytes(1280, 720))},
        },
    )
    cleanup.append(video["id"])
    assert video["size"] == "1280x720"


def test_retrieve_completed_has_no_poll_after(
    api: httpx.Client, completed_video: dict[str, Any]
) -> None:
    response = api.get(f"/videos/{completed_video['id']}")
    assert response.status_code == 200
    assert_request_id(response)
    assert "openai-poll-after-ms" not in response.headers
    body = assert_video(response.json())
    assert body == completed_video


def test_queued_video_has_poll_after_and_no_content(api: httpx.Client, cleanup: list[str]) -> None:
    # 12 s of video cannot render between these requests.
    video = create(api, files={"prompt": (None, "long one"), "seconds": (None, "12")})
    cleanup.append(video["id"])
    response = api.get(f"/videos/{video['id']}")
    assert response.status_code == 200
    body = assert_video(response.json())
    assert body["status"] in ("queued", "in_progress"), body
    assert response.headers["openai-poll-after-ms"].isdigit()
    content = api.get(f"/videos/{video['id']}/content")
    error = assert_error(content, 404)
    assert error["message"].startswith("Video is not ready yet"), error
    for variant in ("thumbnail", "spritesheet"):
        error = assert_error(api.get(f"/videos/{video['id']}/content?variant={variant}"), 404)
        assert error["message"].startswith("Video is not ready yet"), error


def test_list_shape(api: httpx.Client, completed_video: dict[str, Any]) -> None:
    response = api.get("/videos")
    assert response.status_code == 200
    assert_request_id(response)
    page = validate(response.json(), "VideoListResource")
    assert page["object"] == "list"
    assert set(page) == {"object", "data", "first_id", "last_id", "has_more"}
    assert 1 <= len(page["data"]) <= 20  # default limit
    for video in page["data"]:
        assert_video(video)
    assert page["first_id"] == page["data"][0]["id"]
    assert page["last_id"] == page["data"][-1]["id"]


def _page(api: httpx.Client, **params: Any) -> dict[str, Any]:
    response = api.get("/videos", params=params)
    assert response.status_code == 200, response.text
    assert_request_id(response)
    page = validate(response.json(), "VideoListResource")
    for video in page["data"]:
        assert_video(video)
    if page["data"]:
        assert page["first_id"] == page["data"][0]["id"]
        assert page["last_id"] == page["data"][-1]["id"]
    else:
        assert page["first_id"] is None and page["last_id"] is None
    result: dict[str, Any] = page
    return result


@pytest.mark.backends("sqlite", "postgres")  # stored: the store may differ
def test_list_pagination(api: httpx.Client, cleanup: list[str]) -> None:
    sentinel = create(api, json={"prompt": "sentinel"})["id"]
    mine = [create(api, json={"prompt": f"page item {i}"})["id"] for i in range(5)]
    cleanup.extend([sentinel, *mine])

    # asc, 2 at a time, starting after the sentinel: exactly mine, in creation order
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    after = sentinel
    while True:
        page = _page(api, limit=2, order="asc", after=after)
        pages.append(page)
        seen += [v["id"] for v in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
        assert len(pages) < 10
    assert seen == mine
    assert [len(p["data"]) for p in pages] == [2, 2, 1]
    assert [p["has_more"] for p in pages] == [True, True, False]

    # desc from the top: the newest first, i.e. mine reversed, then the sentinel
    top = _page(api, limit=5, order="desc")
    assert [v["id"] for v in top["data"]] == list(reversed(mine))
    assert top["has_more"] is True  # the sentinel is older
    top6 = _page(api, limit=6, order="desc")
    assert [v["id"] for v in top6["data"]] == [*reversed(mine), sentinel]

    # desc after the newest, 2 at a time
    page = _page(api, limit=2, order="desc", after=mine[-1])
    assert [v["id"] for v in page["data"]] == [mine[3], mine[2]]
    assert page["has_more"] is True
    page = _page(api, limit=2, order="desc", after=page["last_id"])
    assert [v["id"] for v in page["data"]] == [mine[1], mine[0]]

    # default order is desc
    default = _page(api, limit=3)
    assert [v["id"] for v in default["data"]] == [mine[4], mine[3], mine[2]]

    # asc and desc agree on the same set
    asc_all = _page(api, limit=100, order="asc", after=sentinel)
    assert [v["id"] for v in asc_all["data"]] == mine
    assert asc_all["has_more"] is False

    # an empty page: after the newest in asc order
    empty = _page(api, order="asc", after=mine[-1])
    assert empty == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    zero = _page(api, limit=0)
    assert zero["data"] == [] and zero["first_id"] is None and zero["last_id"] is None


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": "101"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"order": ""}, "order"),
    ],
)
def test_list_rejects_bad_query(api: httpx.Client, query: dict[str, str], param: str) -> None:
    assert_error(api.get("/videos", params=query), 400, param=param)


def test_list_limit_bounds_are_inclusive(api: httpx.Client) -> None:
    assert len(_page(api, limit=100)["data"]) <= 100
    assert _page(api, limit=1)["data"].__len__() <= 1


@pytest.mark.backends("sqlite", "postgres")  # stored: the store may differ
def test_delete(api: httpx.Client) -> None:
    video = create(api, json={"prompt": "to delete"})
    response = api.delete(f"/videos/{video['id']}")
    assert response.status_code == 200, response.text
    assert_request_id(response)
    body = validate(response.json(), "DeletedVideoResource")
    assert body == {"id": video["id"], "object": "video.deleted", "deleted": True}

    assert_error(api.get(f"/videos/{video['id']}"), 404, param="video_id")
    assert_error(api.delete(f"/videos/{video['id']}"), 404, param="video_id")
    assert_error(api.get(f"/videos/{video['id']}/content"), 404)
    listed = _page(api, limit=100)
    assert video["id"] not in [v["id"] for v in listed["data"]]


UNKNOWN = "video_" + "0" * 48


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/videos", {"json": {"seconds": "4"}}, 400),
        ("POST", "/videos", {"json": {"prompt": "x", "seconds": 8}}, 400),
        ("GET", "/videos", {"params": {"limit": "101"}}, 400),
        ("GET", f"/videos/{UNKNOWN}", {}, 404),
        ("DELETE", f"/videos/{UNKNOWN}", {}, 404),
        ("GET", f"/videos/{UNKNOWN}/content", {}, 404),
        ("POST", f"/videos/{UNKNOWN}/remix", {"json": {"prompt": "x"}}, 404),
        ("GET", "/no-such-route", {}, 404),
        ("GET", "/videos/a/b/c/d", {}, 404),
        ("PUT", "/videos", {}, 405),
        ("GET", "/videos/x/remix", {}, 405),
    ],
    ids=[
        "create-missing-prompt",
        "create-int-seconds",
        "list-bad-limit",
        "retrieve-unknown",
        "delete-unknown",
        "content-unknown",
        "remix-unknown",
        "unknown-route",
        "unknown-deep-route",
        "put-405",
        "get-remix-405",
    ],
)
def test_error_envelope_and_request_id(
    api: httpx.Client, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    assert_error(api.request(method, path, **kwargs), status, type_=None)


def test_unauthenticated_error_envelope(server: InProcessServer) -> None:
    response = server.http().get("/videos")
    assert_error(response, 401)


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/videos", {}),
        ("POST", "/videos", {"json": {"prompt": "x", "seconds": 8}}),
        ("GET", f"/videos/{UNKNOWN}", {}),
        ("GET", "/no-such-route", {}),
        ("POST", "/videos", {"json": {"prompt": "x", "input_reference": {"file_id": "f"}}}),
    ],
    ids=["list-200", "create-400", "retrieve-404", "unknown-route-404", "file-id-400"],
)
def test_x_request_id_is_sent_exactly_once(
    api: httpx.Client, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = api.request(method, path, **kwargs)
    assert response.status_code < 500, response.text
    assert len(request_ids(response)) == 1, response.headers.raw


def test_client_x_request_id_is_echoed(api: httpx.Client) -> None:
    response = api.get(
        "/videos", params={"limit": 1}, headers={"x-request-id": "req-from-client-1"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-from-client-1"
    unsafe = api.get("/videos", params={"limit": 1}, headers={"x-request-id": "a b\tc"})
    assert unsafe.headers["x-request-id"] not in ("a b\tc", "")


def test_content_bad_variant(api: httpx.Client, completed_video: dict[str, Any]) -> None:
    assert_error(api.get(_content_url(completed_video, "poster")), 400, param="variant")


@pytest.mark.parametrize("encoding", ["json", "multipart"])
def test_remix(
    api: httpx.Client, completed_video: dict[str, Any], cleanup: list[str], encoding: str
) -> None:
    url = f"/videos/{completed_video['id']}/remix"
    if encoding == "json":
        response = api.post(url, json={"prompt": "now in blue"})
    else:
        response = api.post(url, files={"prompt": (None, "now in blue")})
    assert response.status_code == 200, response.text
    assert_request_id(response)
    remix = assert_video(response.json())
    cleanup.append(remix["id"])
    assert remix["id"] != completed_video["id"]
    assert remix["remixed_from_video_id"] == completed_video["id"]
    assert remix["prompt"] == "now in blue"
    for key in ("model", "size", "seconds"):
        assert remix[key] == completed_video[key], key
