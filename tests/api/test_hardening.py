"""Hostile headers, query strings and bodies: each class gets a 4xx (or is ignored), never a
500, and nothing of what was sent comes back (issue 15's API-level items)."""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.inprocess import InProcessServer
from tests.safety.helpers import png
from vidserve.api.validation import LIMIT_PATTERNS, parse_list_query
from vidserve.errors import VidserveError

HUGE = "9" * 5000  # past int()'s 4300-digit limit


@pytest.fixture(scope="module")
def uploaded_file(api: httpx.Client) -> dict[str, Any]:
    r = api.post("/files", data={"purpose": "vision"},
                 files={"file": ("a.bin", b"0123456789" * 100, "application/octet-stream")})
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.mark.parametrize("header", [
    f"bytes=0-{HUGE}", f"bytes=-{HUGE}", f"bytes={HUGE}-", f"bytes={HUGE}-{HUGE}",
    f"bytes=0{HUGE}-1", "bytes=\u0663-5", "bytes=1_0-20", "bytes=+1-5", "bytes=" + "-" * 5000,
])
def test_range_of_any_length(
    api: httpx.Client, completed_video: dict[str, Any], uploaded_file: dict[str, Any],
    header: str,
) -> None:
    for path in (f"/videos/{completed_video['id']}/content",
                 f"/files/{uploaded_file['id']}/content"):
        r = api.get(path, headers={"Range": header.encode("utf-8")})
        assert r.status_code in (200, 206, 416), (path, header[:30], r.status_code)


def test_405_lists_every_method_of_the_path(api: httpx.Client) -> None:
    r = api.request("OPTIONS", "/videos")
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) >= {"GET", "POST"}
    assert r.json()["error"]["code"] == "method_not_allowed"
    r = api.put("/files/file-abc")
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) >= {"GET", "DELETE"}


def test_trailing_slash_redirect_is_relative(api: httpx.Client) -> None:
    r = api.get("/videos/?limit=2", headers={"Host": "evil.example"})
    assert r.status_code == 307
    assert r.headers["location"] == "/v1/videos?limit=2"  # relative: no Host in it
    for path in ("//evil.example/", "/nowhere/"):
        r = api.get("http://testserver" + path, headers={"Host": "evil.example"})
        assert r.status_code == 404 and "location" not in r.headers


@pytest.mark.parametrize("query", [
    "limit=1&limit=2", "order=asc&order=desc", "after=a&after=b",
])
def test_duplicate_query_parameters_are_refused(api: httpx.Client, query: str) -> None:
    for path in ("/videos", "/files"):
        r = api.get(f"{path}?{query}")
        assert r.status_code == 400, (path, query, r.text)
        assert r.json()["error"]["code"] == "duplicate_parameter"


def test_files_refuse_unknown_query_parameters_like_videos(api: httpx.Client) -> None:
    for path in ("/videos", "/files"):
        r = api.get(f"{path}?colour=red")
        assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_parameter"
        assert r.json()["error"]["param"] == "colour"


@pytest.mark.parametrize("limit", ["1_0", "+5", " 5", "5 ", "-1", "\u0665", "0x10", "1e1",
                                   HUGE, "0" * 5000 + "5", ""])
def test_limit_is_plain_digits_only(api: httpx.Client, limit: str) -> None:
    for path in ("/videos", "/files"):
        r = api.get(path, params={"limit": limit})
        if limit == "0" * 5000 + "5":
            assert r.status_code == 200, r.text  # five, with leading zeros
            continue
        assert r.status_code == 400, (path, limit[:20], r.text)
        assert r.json()["error"]["param"] == "limit"
        assert len(r.text) < 1000  # the value is not echoed back at length


def test_upper_case_data_url(api: httpx.Client) -> None:
    encoded = base64.b64encode(png(1280, 720)).decode()
    reference = {"image_url": f"DATA:IMAGE/PNG;BASE64,{encoded}"}
    r = api.post("/videos", json={"prompt": "x", "size": "1280x720", "input_reference": reference})
    assert r.status_code == 200, r.text
    api.delete(f"/videos/{r.json()['id']}")
    plain = {"image_url": "DATA:TEXT/PLAIN;BASE64,eA=="}
    r = api.post("/videos", json={"prompt": "x", "input_reference": plain})
    assert r.status_code == 400
    assert "Unsupported media type 'text/plain'" in r.json()["error"]["message"]


def test_truncated_multipart_body(api: httpx.Client) -> None:
    whole = (b"--XYZ\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhello\r\n"
             b"--XYZ\r\nContent-Disposition: form-data; name=\"seconds\"\r\n\r\n4\r\n--XYZ--\r\n")
    for cut in (len(whole) - 9, 60, 30):
        r = api.post("/videos", content=whole[:cut],
                     headers={"Content-Type": "multipart/form-data; boundary=XYZ"})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "truncated_multipart", (cut, r.text)
    ok = api.post("/videos", content=whole,
                  headers={"Content-Type": "multipart/form-data; boundary=XYZ"})
    assert ok.status_code == 200, ok.text
    api.delete(f"/videos/{ok.json()['id']}")


def test_401_echoes_nothing_of_what_was_sent(make_server: Any) -> None:
    """The 401's text is the same whatever was sent: nothing of it can come back."""
    server: InProcessServer = make_server(api_keys="sk-real-key-0123456789=alpha")
    messages = set()
    for sent in ("sk-SECRETPART-abcdefWXYZ", "<script>alert(1)</script>", "x" * 5000,
                 "sk-real-key-012345678", "\u00e9\u00e8"):
        r = server.http().get("/videos", headers={"Authorization": f"Bearer {sent}".encode(
            "latin-1")})
        assert r.status_code == 401
        messages.add(r.json()["error"]["message"])
        assert "WXYZ" not in r.text and "SECRET" not in r.text and "script" not in r.text
    assert len(messages) == 1, messages


# -- the property: every header and query value the server reads, on every endpoint --------

READ_HEADERS = ("authorization", "range", "if-range", "if-none-match", "idempotency-key",
                "x-request-id", "openai-organization", "openai-project", "accept", "origin",
                "user-agent", "x-forwarded-for", "cookie")
QUERY_NAMES = ("limit", "order", "after", "variant", "purpose")

latin1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
values = st.one_of(
    st.text(latin1, max_size=300),
    st.text(st.sampled_from("0123456789-=,bytes *W/\""), max_size=6000),
    st.from_regex(r"\Abytes=[0-9]{0,5000}-[0-9]{0,5000}\Z"),
    st.just("9" * 6000),
)
query_values = st.one_of(st.text(max_size=300), st.text(st.sampled_from("0123456789+_-"),
                                                        max_size=6000))


UNDOCUMENTED = [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
                ("GET", "/vidserve/server"), ("GET", "/vidserve/models"),
                ("GET", "/vidserve/videos/{video_id}/content_url"),
                ("GET", "/vidserve/content/{token}")]


def _endpoints(server: InProcessServer, ids: dict[str, str]) -> list[tuple[str, str]]:
    """Every operation of the server's own OpenAPI document, and the undocumented ones."""
    operations = [(method.upper(), path) for path, item in server.app.openapi()["paths"].items()
                  for method in item if method in ("get", "post", "delete")]
    return [(method, re.sub(r"{(\w+)}", lambda m: ids.get(m[1], "x_unknown"), path))
            for method, path in operations + UNDOCUMENTED]


def test_any_header_or_query_value_on_any_endpoint_is_a_4xx_or_ignored(
    server: InProcessServer, api: httpx.Client, completed_video: dict[str, Any],
    uploaded_file: dict[str, Any],
) -> None:
    token = api.get(f"/../vidserve/videos/{completed_video['id']}/content_url").json()
    ids = {"video_id": completed_video["id"], "file_id": uploaded_file["id"],
           "character_id": "char_unknown", "token": str(token.get("url", "x")).rsplit("/", 1)[-1]}
    endpoints = _endpoints(server, ids)
    assert len(endpoints) >= 15, endpoints
    raw = server.http()  # no default Authorization: the property sets it (or not)

    @settings(max_examples=300, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(endpoint=st.sampled_from(endpoints),
           headers=st.dictionaries(st.sampled_from(READ_HEADERS), values, max_size=4),
           query=st.lists(st.tuples(st.sampled_from(QUERY_NAMES) | st.text(max_size=20),
                                    query_values), max_size=3),
           keyed=st.booleans())
    def check(endpoint: tuple[str, str], headers: dict[str, str],
              query: list[tuple[str, str]], keyed: bool) -> None:
        method, path = endpoint
        if keyed and "authorization" not in headers:
            headers = {**headers, "authorization": "Bearer sk-property"}
        if method == "DELETE":
            path = path.replace(ids["video_id"], "video_" + "0" * 48).replace(
                ids["file_id"], "file-000000000000000000000000")
        body = {"json": {"prompt": "property"}} if method == "POST" else {}
        sent = {name: value.encode("latin-1") for name, value in headers.items()}
        r = raw.request(method, "http://testserver" + path, headers=sent, params=query, **body)
        if path == "/readyz" and r.status_code == 503:  # no worker in-process: its answer
            assert r.json()["status"] == "not_ready"
            return
        assert r.status_code < 500, (method, path, headers, query, r.status_code, r.text[:300])
        created = r.json().get("id") if r.status_code == 200 and method == "POST" else None
        if isinstance(created, str) and created.startswith("video_"):
            raw.delete(f"http://testserver/v1/videos/{created}",
                       headers={"authorization": "Bearer sk-property"})

    check()


@pytest.mark.parametrize("bounds", list(LIMIT_PATTERNS))
def test_documented_limit_pattern_is_exactly_what_the_server_takes(
    bounds: tuple[int, int, int],
) -> None:
    """The OpenAPI document's ``limit`` pattern and parse_list_query agree on every value."""
    pattern = re.compile(LIMIT_PATTERNS[bounds])
    for text in [str(n) for n in range(0, 10_050)] + ["007", "0" * 300 + "5", "+5", "1_0", ""]:
        try:
            parse_list_query(text, None, None, bounds)
            taken = True
        except VidserveError:
            taken = False
        assert taken == bool(pattern.match(text)), (bounds, text[:20])
