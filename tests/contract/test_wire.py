"""The wire, byte for byte: raw httpx against a real server, every JSON body checked against
OpenAI's spec (tests/contract/openai-videos-openapi.yaml)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.contract.helpers import (
    Observed,
    assert_error,
    assert_request_id,
    assert_video,
    create,
    data_url,
    png_bytes,
    poll_until_terminal,
    request_ids,
)
from tests.contract.spec import response_schema_name, validate
from tests.servers import ServerProcess

# -- create -------------------------------------------------------------------------------


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


def test_create_with_png_upload_of_exact_size(api: httpx.Client) -> None:
    video = create(
        api,
        files={
            "prompt": (None, "from a red frame"),
            "size": (None, "1280x720"),
            "input_reference": ("ref.png", png_bytes(1280, 720), "image/png"),
        },
    )
    assert video["size"] == "1280x720"
    # A job with a reference image must render like any other.
    final = poll_until_terminal(api, video["id"]).final
    assert final["status"] == "completed", final


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


# -- retrieve -----------------------------------------------------------------------------


def test_retrieve_until_completed(completed: Observed) -> None:
    statuses = [body["status"] for _, _, body in completed.responses]
    assert statuses[-1] == "completed"
    progress = [body["progress"] for _, _, body in completed.responses]
    assert progress == sorted(progress), progress
    for _, headers, body in completed.responses:
        if body["status"] in ("queued", "in_progress"):
            value = headers.get("openai-poll-after-ms")
            assert value is not None and value.isdigit(), dict(headers)
        else:
            assert "openai-poll-after-ms" not in headers, dict(headers)
    final = completed.final
    assert final["expires_at"] is None or final["expires_at"] > final["completed_at"]
    assert (final["model"], final["size"], final["seconds"]) == ("sora-2", "1280x720", "4")


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


# -- list ---------------------------------------------------------------------------------


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


# -- delete -------------------------------------------------------------------------------


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


# -- errors and request ids ---------------------------------------------------------------

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


def test_unauthenticated_error_envelope(server: ServerProcess) -> None:
    response = httpx.get(f"{server.base_url}/videos")
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


# -- content ------------------------------------------------------------------------------

VARIANTS = [("video", "video/mp4"), ("thumbnail", "image/webp"), ("spritesheet", "image/jpeg")]
MAGIC = {
    "video/mp4": lambda b: b[4:8] == b"ftyp",
    "image/webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
    "image/jpeg": lambda b: b[:3] == b"\xff\xd8\xff",
}


def _content_url(video: dict[str, Any], variant: str | None = None) -> str:
    url = f"/videos/{video['id']}/content"
    return url if variant is None else f"{url}?variant={variant}"


@pytest.mark.parametrize(("variant", "media_type"), VARIANTS)
def test_content_variants(
    api: httpx.Client, completed_video: dict[str, Any], variant: str, media_type: str
) -> None:
    response = api.get(
        _content_url(completed_video, variant), headers={"Accept": "application/binary"}
    )
    assert response.status_code == 200, response.text[:300]
    assert_request_id(response)
    assert response.headers["content-type"].split(";")[0] == media_type
    assert int(response.headers["content-length"]) == len(response.content) > 100
    assert MAGIC[media_type](response.content), response.content[:16]
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2, etag


def test_content_default_variant_is_video(
    api: httpx.Client, completed_video: dict[str, Any]
) -> None:
    default = api.get(_content_url(completed_video))
    explicit = api.get(_content_url(completed_video, "video"))
    assert default.status_code == explicit.status_code == 200
    assert default.headers["content-type"] == "video/mp4"
    assert default.content == explicit.content
    assert default.headers["etag"] == explicit.headers["etag"]


@pytest.mark.parametrize(
    "accept", ["application/binary", "application/json", "*/*", "video/mp4", "text/html"]
)
def test_content_never_406(api: httpx.Client, completed_video: dict[str, Any], accept: str) -> None:
    response = api.get(_content_url(completed_video), headers={"Accept": accept})
    assert response.status_code == 200, (accept, response.status_code)


def test_content_bad_variant(api: httpx.Client, completed_video: dict[str, Any]) -> None:
    assert_error(api.get(_content_url(completed_video, "poster")), 400, param="variant")


def test_content_etags_differ_by_variant(
    api: httpx.Client, completed_video: dict[str, Any]
) -> None:
    tags = {api.get(_content_url(completed_video, v)).headers["etag"] for v, _ in VARIANTS}
    assert len(tags) == 3


@pytest.mark.parametrize("variant", ["video", "thumbnail"])
def test_content_if_none_match(
    api: httpx.Client, completed_video: dict[str, Any], variant: str
) -> None:
    url = _content_url(completed_video, variant)
    etag = api.get(url).headers["etag"]
    cached = api.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag
    assert_request_id(cached)
    listed = api.get(url, headers={"If-None-Match": f'"nope", {etag}'})
    assert listed.status_code == 304
    other = api.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content


@pytest.fixture(scope="module")
def full_mp4(api: httpx.Client, completed_video: dict[str, Any]) -> bytes:
    response = api.get(_content_url(completed_video))
    assert response.status_code == 200
    return response.content


def test_content_range_first_100(
    api: httpx.Client, completed_video: dict[str, Any], full_mp4: bytes
) -> None:
    response = api.get(_content_url(completed_video), headers={"Range": "bytes=0-99"})
    assert response.status_code == 206
    assert_request_id(response)
    assert response.headers["content-range"] == f"bytes 0-99/{len(full_mp4)}"
    assert response.headers["content-length"] == "100"
    assert len(response.content) == 100
    assert response.content == full_mp4[:100]
    assert response.headers["content-type"] == "video/mp4"


def test_content_range_suffix(
    api: httpx.Client, completed_video: dict[str, Any], full_mp4: bytes
) -> None:
    size = len(full_mp4)
    response = api.get(_content_url(completed_video), headers={"Range": "bytes=-100"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {size - 100}-{size - 1}/{size}"
    assert response.content == full_mp4[-100:]


def test_content_range_open(
    api: httpx.Client, completed_video: dict[str, Any], full_mp4: bytes
) -> None:
    size = len(full_mp4)
    response = api.get(_content_url(completed_video), headers={"Range": "bytes=100-"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 100-{size - 1}/{size}"
    assert int(response.headers["content-length"]) == size - 100
    assert response.content == full_mp4[100:]


def test_content_range_past_end_is_clamped(
    api: httpx.Client, completed_video: dict[str, Any], full_mp4: bytes
) -> None:
    size = len(full_mp4)
    response = api.get(
        _content_url(completed_video), headers={"Range": f"bytes={size - 10}-{size + 1000}"}
    )
    assert response.status_code == 206
    assert response.content == full_mp4[-10:]


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{bigger}", "bytes=-0"])
def test_content_range_unsatisfiable(
    api: httpx.Client, completed_video: dict[str, Any], full_mp4: bytes, header: str
) -> None:
    size = len(full_mp4)
    value = header.format(size=size, bigger=size + 100)
    response = api.get(_content_url(completed_video), headers={"Range": value})
    assert response.status_code == 416, (value, response.status_code)
    assert response.headers["content-range"] == f"bytes */{size}"
    assert_request_id(response)


def test_content_range_malformed_serves_everything(
    api: httpx.Client, completed_video: dict[str, Any], full_mp4: bytes
) -> None:
    for value in ("bytes=abc", "items=0-1", "bytes=0-1,5-9"):
        response = api.get(_content_url(completed_video), headers={"Range": value})
        assert response.status_code == 200, value
        assert response.content == full_mp4


# -- remix --------------------------------------------------------------------------------


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
