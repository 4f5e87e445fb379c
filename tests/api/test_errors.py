"""Error texts of the live service (API-NOTES.md) and a table of malformed inputs that must
be answered with a 4xx in OpenAI's envelope, never a 5xx (in-process: no worker needed)."""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.inprocess import InProcessServer
from tests.contract.helpers import (
    assert_error,
    assert_video,
    create,
    data_url,
    png_bytes,
)

# -- the exact texts ----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["json"])
def test_seconds_integer_is_invalid_type(api: httpx.Client, encoding: str) -> None:
    response = api.post("/videos", json={"prompt": "x", "seconds": 8})
    assert_error(
        response,
        400,
        param="seconds",
        code="invalid_type",
        message="Invalid type for 'seconds': expected one of '4', '8', or '12', but got an "
        "integer instead.",
    )


@pytest.mark.parametrize("encoding", ["json", "multipart"])
def test_seconds_ten_is_invalid_value(api: httpx.Client, encoding: str) -> None:
    if encoding == "json":
        response = api.post("/videos", json={"prompt": "x", "seconds": "10"})
    else:
        response = api.post("/videos", files={"prompt": (None, "x"), "seconds": (None, "10")})
    assert_error(
        response,
        400,
        param="seconds",
        code="invalid_value",
        message="Invalid value: '10'. Supported values are: '4', '8', and '12'.",
    )


@pytest.mark.parametrize("encoding", ["json", "multipart"])
def test_unknown_parameter(api: httpx.Client, encoding: str) -> None:
    if encoding == "json":
        response = api.post("/videos", json={"prompt": "x", "duration": 8})
    else:
        response = api.post("/videos", files={"prompt": (None, "x"), "duration": (None, "8")})
    assert_error(
        response,
        400,
        param="duration",
        code="unknown_parameter",
        message="Unknown parameter: 'duration'.",
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"model": "sora-2"}},
        {"json": {}},
        {"files": {"model": (None, "sora-2")}},
        {"content": b"", "headers": {"Content-Type": "application/json"}},
    ],
    ids=["json", "empty-json-object", "multipart", "empty-body"],
)
def test_missing_prompt(api: httpx.Client, kwargs: dict[str, Any]) -> None:
    assert_error(
        api.post("/videos", **kwargs),
        400,
        param="prompt",
        code="missing_required_parameter",
        message="Missing required parameter: 'prompt'.",
    )


def test_prompt_too_long(api: httpx.Client) -> None:
    error = assert_error(api.post("/videos", json={"prompt": "x" * 32001}), 400, param="prompt")
    assert "32000" in error["message"], error


@pytest.mark.backends("sqlite", "postgres")  # stored: the store may differ
def test_prompt_of_max_length_is_accepted(api: httpx.Client, cleanup: list[str]) -> None:
    video = create(api, json={"prompt": "y" * 32000})
    cleanup.append(video["id"])
    assert video["prompt"] == "y" * 32000


def test_empty_prompt(api: httpx.Client) -> None:
    assert_error(api.post("/videos", json={"prompt": ""}), 400, param="prompt")


@pytest.mark.parametrize("size", ["1792x1024", "1024x1792"])
def test_pro_sizes_need_the_pro_model(api: httpx.Client, cleanup: list[str], size: str) -> None:
    error = assert_error(
        api.post("/videos", json={"prompt": "x", "model": "sora-2", "size": size}),
        400,
        param="size",
        code="invalid_value",
    )
    assert size in error["message"], error
    video = create(api, json={"prompt": "x", "model": "sora-2-pro", "size": size})
    cleanup.append(video["id"])
    assert (video["model"], video["size"]) == ("sora-2-pro", size)


def test_unknown_size(api: httpx.Client) -> None:
    assert_error(
        api.post("/videos", json={"prompt": "x", "size": "640x480"}),
        400,
        param="size",
        code="invalid_value",
    )


def test_unknown_model(api: httpx.Client) -> None:
    error = assert_error(
        api.post("/videos", json={"prompt": "x", "model": "dall-e-9"}), 400, param="model"
    )
    assert "dall-e-9" in error["message"]


@pytest.mark.parametrize("how", ["upload", "multipart-data-url", "json-data-url"])
def test_reference_image_of_wrong_size(api: httpx.Client, how: str) -> None:
    wrong = png_bytes(640, 480)
    if how == "upload":
        response = api.post(
            "/videos",
            files={
                "prompt": (None, "x"),
                "size": (None, "1280x720"),
                "input_reference": ("ref.png", wrong, "image/png"),
            },
        )
    elif how == "multipart-data-url":
        response = api.post(
            "/videos",
            files={
                "prompt": (None, "x"),
                "size": (None, "1280x720"),
                "input_reference[image_url]": (None, data_url(wrong)),
            },
        )
    else:
        response = api.post(
            "/videos",
            json={
                "prompt": "x",
                "size": "1280x720",
                "input_reference": {"image_url": data_url(wrong)},
            },
        )
    assert_error(
        response,
        400,
        param="input_reference",
        message="Inpaint image must match the requested width and height",
    )


def test_reference_image_transposed_size(api: httpx.Client) -> None:
    # 720x1280 (the default size) versus a 1280x720 image: wrong orientation is wrong size.
    response = api.post(
        "/videos",
        files={
            "prompt": (None, "x"),
            "input_reference": ("r.png", png_bytes(1280, 720), "image/png"),
        },
    )
    assert_error(response, 400, message="Inpaint image must match the requested width and height")


@pytest.mark.parametrize(
    "reference",
    [
        {"image_url": "https://example.com/cat.png"},
        {"file_id": "file-abc123"},
    ],
    ids=["https-url", "file-id"],
)
@pytest.mark.parametrize("encoding", ["json", "multipart"])
def test_unsupported_reference_kinds_are_clear_400(
    api: httpx.Client, reference: dict[str, str], encoding: str
) -> None:
    if encoding == "json":
        response = api.post("/videos", json={"prompt": "x", "input_reference": reference})
    else:
        ((key, value),) = reference.items()
        response = api.post(
            "/videos", files={"prompt": (None, "x"), f"input_reference[{key}]": (None, value)}
        )
    error = assert_error(response, 400, param="input_reference")
    assert "input_reference" in error["message"], error


def test_reference_with_both_url_and_file_id(api: httpx.Client) -> None:
    reference = {"image_url": data_url(png_bytes(720, 1280)), "file_id": "file-1"}
    error = assert_error(
        api.post("/videos", json={"prompt": "x", "input_reference": reference}),
        400,
        param="input_reference",
    )
    assert "exactly one" in error["message"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}],
    ids=["no-header", "basic", "bearer-without-key"],
)
def test_401_without_a_bearer_key(server: InProcessServer, headers: dict[str, str]) -> None:
    anonymous = server.http(headers=headers)
    for method, path in (("GET", "/videos"), ("POST", "/videos"), ("GET", "/videos/x")):
        response = anonymous.request(method, path)
        error = assert_error(response, 401)
        assert "API key" in error["message"], error


# -- never a 5xx --------------------------------------------------------------------------

PNG_720x1280 = png_bytes(720, 1280)
JSON = {"Content-Type": "application/json"}


def _multipart(**fields: Any) -> dict[str, Any]:
    files = {"prompt": (None, "x")}
    files.update(fields)
    return {"files": files}


MALFORMED_CREATE: list[tuple[str, dict[str, Any]]] = [
    ("invalid-json", {"content": b'{"prompt": "x",', "headers": JSON}),
    ("json-garbage-bytes", {"content": b"\xff\xfe\x00{", "headers": JSON}),
    ("json-array", {"content": b'[{"prompt": "x"}]', "headers": JSON}),
    ("json-string", {"content": b'"prompt"', "headers": JSON}),
    ("json-number", {"content": b"42", "headers": JSON}),
    ("json-null", {"content": b"null", "headers": JSON}),
    ("json-deep-nesting", {"content": b"[" * 50_000 + b"]" * 50_000, "headers": JSON}),
    ("json-nan", {"content": b'{"prompt": NaN}', "headers": JSON}),
    (
        "json-duplicate-keys",
        {"content": b'{"prompt": "x", "seconds": 4, "seconds": 8}', "headers": JSON},
    ),
    ("text-plain", {"content": b"prompt=x", "headers": {"Content-Type": "text/plain"}}),
    ("xml", {"content": b"<prompt>x</prompt>", "headers": {"Content-Type": "application/xml"}}),
    (
        "octet-stream",
        {"content": PNG_720x1280, "headers": {"Content-Type": "application/octet-stream"}},
    ),
    ("no-content-type-with-body", {"content": b'{"prompt": "x"}', "headers": {"Content-Type": ""}}),
    (
        "multipart-no-boundary",
        {"content": b"x", "headers": {"Content-Type": "multipart/form-data"}},
    ),
    (
        "multipart-truncated",
        {
            "content": b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhel',
            "headers": {"Content-Type": "multipart/form-data; boundary=b"},
        },
    ),
    ("nested-garbage", {"json": {"prompt": {"a": [1, {"b": [None, {"c": "d"}]}]}}}),
    ("prompt-null", {"json": {"prompt": None}}),
    ("prompt-list", {"json": {"prompt": ["x"]}}),
    ("prompt-bool", {"json": {"prompt": True}}),
    ("prompt-number", {"json": {"prompt": 1.5}}),
    ("model-null", {"json": {"prompt": "x", "model": None}}),
    ("model-object", {"json": {"prompt": "x", "model": {"id": "sora-2"}}}),
    ("size-null", {"json": {"prompt": "x", "size": None}}),
    ("size-int", {"json": {"prompt": "x", "size": 1280}}),
    ("seconds-null", {"json": {"prompt": "x", "seconds": None}}),
    ("seconds-bool", {"json": {"prompt": "x", "seconds": True}}),
    ("seconds-float", {"json": {"prompt": "x", "seconds": 4.0}}),
    ("seconds-huge-int", {"json": {"prompt": "x", "seconds": 10**400}}),
    ("seconds-inf", {"content": b'{"prompt": "x", "seconds": 1e999}', "headers": JSON}),
    ("seconds-huge-string", {"json": {"prompt": "x", "seconds": "9" * 5000}}),
    ("seconds-negative-string", {"json": {"prompt": "x", "seconds": "-4"}}),
    ("seed-huge", {"json": {"prompt": "x", "seed": 10**30}}),
    ("seed-negative", {"json": {"prompt": "x", "seed": -1}}),
    ("seed-inf", {"content": b'{"prompt": "x", "seed": -1e999}', "headers": JSON}),
    ("seed-string", {"json": {"prompt": "x", "seed": "abc"}}),
    ("unknown-unicode-key", {"json": {"prompt": "x", "\u263a\U0001f600": 1}}),
    ("unknown-huge-key", {"json": {"prompt": "x", "k" * 10_000: 1}}),
    ("model-unicode", {"json": {"prompt": "x", "model": "\U0001f600" * 200}}),
    ("size-unicode", {"json": {"prompt": "x", "size": "\u0661\u0662\u0668\u0660x720"}}),
    ("size-nul", {"json": {"prompt": "x", "size": "1280x720\x00"}}),
    ("ref-null-in-object", {"json": {"prompt": "x", "input_reference": {"image_url": None}}}),
    ("ref-empty-object", {"json": {"prompt": "x", "input_reference": {}}}),
    ("ref-string", {"json": {"prompt": "x", "input_reference": "data:image/png;base64,AAAA"}}),
    ("ref-number", {"json": {"prompt": "x", "input_reference": 7}}),
    ("ref-list", {"json": {"prompt": "x", "input_reference": [{"image_url": "x"}]}}),
    ("ref-url-number", {"json": {"prompt": "x", "input_reference": {"image_url": 5}}}),
    ("ref-url-object", {"json": {"prompt": "x", "input_reference": {"image_url": {"url": "x"}}}}),
    ("ref-unknown-key", {"json": {"prompt": "x", "input_reference": {"url": "https://x"}}}),
    ("ref-ftp-url", {"json": {"prompt": "x", "input_reference": {"image_url": "ftp://x/y.png"}}}),
    ("ref-empty-url", {"json": {"prompt": "x", "input_reference": {"image_url": ""}}}),
    ("ref-data-empty", {"json": {"prompt": "x", "input_reference": {"image_url": "data:"}}}),
    (
        "ref-data-bad-base64",
        {"json": {"prompt": "x", "input_reference": {"image_url": "data:image/png;base64,!!!*"}}},
    ),
    (
        "ref-data-text-plain",
        {
            "json": {
                "prompt": "x",
                "input_reference": {"image_url": "data:text/plain;base64,aGVsbG8="},
            }
        },
    ),
    (
        "ref-data-not-base64",
        {"json": {"prompt": "x", "input_reference": {"image_url": "data:image/png,rawbytes"}}},
    ),
    (
        "ref-data-image-media-type-but-text",
        {
            "json": {
                "prompt": "x",
                "input_reference": {
                    "image_url": "data:image/png;base64," + base64.b64encode(b"hello").decode()
                },
            }
        },
    ),
    (
        "ref-data-truncated-png",
        {
            "json": {
                "prompt": "x",
                "input_reference": {"image_url": data_url(PNG_720x1280[: len(PNG_720x1280) // 2])},
            }
        },
    ),
    ("bracket-open", _multipart(**{"a[": (None, "x")})),
    ("bracket-no-head", _multipart(**{"[x]": (None, "x")})),
    ("bracket-close-only", _multipart(**{"a]": (None, "x")})),
    ("bracket-nested-ref", _multipart(**{"input_reference[image_url][x]": (None, "x")})),
    ("bracket-array-ref", _multipart(**{"input_reference[]": (None, "x")})),
    ("bracket-array-prompt", {"files": {"prompt[]": (None, "x")}}),
    ("bracket-object-prompt", {"files": {"prompt[a]": (None, "x")}}),
    ("bracket-deep", _multipart(**{"a" + "[b]" * 200: (None, "x")})),
    ("bracket-index", _multipart(**{"input_reference[0]": (None, "x")})),
    (
        "bracket-conflict",
        {
            "files": [
                ("prompt", (None, "x")),
                ("input_reference", ("r.png", PNG_720x1280, "image/png")),
                ("input_reference[image_url]", (None, "data:,x")),
            ]
        },
    ),
    (
        "bracket-then-plain",
        {
            "files": [
                ("prompt", (None, "x")),
                ("input_reference[image_url]", (None, "data:,x")),
                ("input_reference", (None, "plain")),
            ]
        },
    ),
    ("prompt-twice", {"files": [("prompt", (None, "x")), ("prompt", (None, "y"))]}),
    ("prompt-as-file", {"files": {"prompt": ("p.txt", b"a prompt", "text/plain")}}),
    ("ref-text-file", _multipart(input_reference=("notes.txt", b"hello world", "text/plain"))),
    ("ref-empty-file", _multipart(input_reference=("empty.png", b"", "image/png"))),
    (
        "ref-truncated-png",
        _multipart(
            input_reference=("half.png", PNG_720x1280[: len(PNG_720x1280) // 2], "image/png")
        ),
    ),
    ("ref-png-header-only", _multipart(input_reference=("h.png", PNG_720x1280[:16], "image/png"))),
    (
        "ref-mp4-bytes",
        _multipart(input_reference=("v.mp4", b"\x00\x00\x00\x18ftypmp42" * 10, "video/mp4")),
    ),
    (
        "ref-gzip",
        _multipart(input_reference=("x.png", b"\x1f\x8b\x08\x00" + b"\x00" * 100, "image/png")),
    ),
    (
        "ref-svg",
        _multipart(
            input_reference=("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
        ),
    ),
    (
        "ref-bracket-bad-base64",
        _multipart(**{"input_reference[image_url]": (None, "data:image/png;base64,%%%")}),
    ),
    (
        "ref-bracket-text-plain",
        _multipart(**{"input_reference[image_url]": (None, "data:text/plain;base64,aGk=")}),
    ),
    ("multipart-seconds-int-like", _multipart(seconds=(None, "8.0"))),
    ("multipart-unknown-file", _multipart(video=("v.mp4", b"\x00" * 10, "video/mp4"))),
]


@pytest.mark.parametrize(("name", "kwargs"), MALFORMED_CREATE, ids=[n for n, _ in MALFORMED_CREATE])
def test_malformed_create_is_a_400(api: httpx.Client, name: str, kwargs: dict[str, Any]) -> None:
    response = api.post("/videos", **kwargs)
    assert response.status_code < 500, (name, response.status_code, response.text[:300])
    assert_error(response, 400)


@pytest.mark.backends("sqlite", "postgres")  # stored: the store may differ
@pytest.mark.parametrize(
    "prompt",
    [
        "\u263a \U0001f600 caf\u00e9 \u4e2d\u6587 \u0627\u0644\u0639\u0631\u0628\u064a\u0629",
        "nul\x00byte",
        "\ufeffbom",
        "a\r\nb",
    ],
    ids=["unicode", "nul", "bom", "crlf"],
)
@pytest.mark.parametrize("encoding", ["json", "multipart"])
def test_unicode_prompts_round_trip(
    api: httpx.Client, cleanup: list[str], prompt: str, encoding: str
) -> None:
    if encoding == "json":
        response = api.post("/videos", json={"prompt": prompt})
    else:
        response = api.post("/videos", files={"prompt": (None, prompt.encode())})
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        video = assert_video(response.json())
        cleanup.append(video["id"])
        if encoding == "json" or "\r" not in prompt:
            assert video["prompt"] == prompt
        retrieved = api.get(f"/videos/{video['id']}").json()
        assert retrieved["prompt"] == video["prompt"]
    else:
        assert_error(response, 400, param="prompt")


LONE_SURROGATES = [
    ("prompt", b'{"prompt": "\\ud800 lone"}'),
    ("unknown-key", b'{"prompt": "x", "\\ud800": 1}'),
    ("size", b'{"prompt": "x", "size": "\\ud800"}'),
    ("seconds", b'{"prompt": "x", "seconds": "\\udfff"}'),
    ("model", b'{"prompt": "x", "model": "\\udfff"}'),
    ("ref-key", b'{"prompt": "x", "input_reference": {"\\ud800": "x"}}'),
    ("ref-url", b'{"prompt": "x", "input_reference": {"image_url": "data:\\ud800"}}'),
]


@pytest.mark.parametrize(("name", "body"), LONE_SURROGATES, ids=[n for n, _ in LONE_SURROGATES])
def test_json_lone_surrogate_is_a_400(api: httpx.Client, name: str, body: bytes) -> None:
    """``"\\ud800"`` is valid JSON syntax but not valid Unicode: a 400, never a 500."""
    response = api.post("/videos", content=body, headers=JSON)
    assert response.status_code < 500, (name, response.text[:300])
    assert_error(response, 400)


BAD_IDS = [
    ("dotdot-passwd", urllib.parse.quote("../etc/passwd", safe="")),
    (
        "dotdot-encoded-twice",
        urllib.parse.quote(urllib.parse.quote("../../etc/passwd", safe=""), safe=""),
    ),
    ("dotdot", "%2e%2e"),
    ("10kB", "video_" + "a" * 10_000),
    ("unicode", urllib.parse.quote("video_\u263a\U0001f600\u00e9")),
    ("non-hex", "video_" + "z" * 48),
    ("upper-hex", "video_" + "A" * 48),
    ("short", "video_123"),
    ("long", "video_" + "0" * 49),
    ("nul", "video_%00"),
    ("spaces", "video_%20%20"),
    ("sql", urllib.parse.quote("video_' OR '1'='1", safe="")),
    ("percent", "%25"),
    ("backslash", urllib.parse.quote("..\\..\\windows", safe="")),
    ("unknown-valid-shape", "video_" + "0" * 48),
]


@pytest.mark.parametrize(("name", "video_id"), BAD_IDS, ids=[n for n, _ in BAD_IDS])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("DELETE", ""), ("GET", "/content"), ("POST", "/remix")],
    ids=["retrieve", "delete", "content", "remix"],
)
def test_bad_ids_are_404(
    api: httpx.Client, name: str, video_id: str, method: str, suffix: str
) -> None:
    url = f"/videos/{video_id}{suffix}"
    kwargs: dict[str, Any] = {"json": {"prompt": "x"}} if method == "POST" else {}
    response = api.request(method, url, **kwargs)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert_error(response, 404)


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "x", "seconds": "8"},
        {"prompt": "x", "model": "sora-2-pro"},
        {"prompt": "x", "input_reference": {"file_id": "f"}},
        {"prompt": "x", "\u263a": 1},
    ],
)
def test_remix_unknown_fields(
    api: httpx.Client, completed_video: dict[str, Any], body: dict[str, Any]
) -> None:
    response = api.post(f"/videos/{completed_video['id']}/remix", json=body)
    unknown = next(k for k in body if k != "prompt")
    assert_error(
        response,
        400,
        param=unknown,
        code="unknown_parameter",
        message=f"Unknown parameter: '{unknown}'.",
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {}},
        {"json": {"prompt": None}},
        {"json": {"prompt": ""}},
        {"content": b"[]", "headers": JSON},
        {"content": b"{", "headers": JSON},
        {"content": b"x", "headers": {"Content-Type": "text/plain"}},
        {"files": {"prompt[]": (None, "x")}},
    ],
    ids=["empty", "null", "empty-string", "array", "bad-json", "text", "bracket"],
)
def test_remix_malformed(
    api: httpx.Client, completed_video: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    response = api.post(f"/videos/{completed_video['id']}/remix", **kwargs)
    assert_error(response, 400)


def test_remix_of_unfinished_video_is_400(api: httpx.Client, cleanup: list[str]) -> None:
    video = create(api, json={"prompt": "long", "seconds": "12"})
    cleanup.append(video["id"])
    error = assert_error(
        api.post(f"/videos/{video['id']}/remix", json={"prompt": "y"}), 400, param="video_id"
    )
    assert video["id"] in error["message"]


@pytest.mark.backends("sqlite", "postgres")  # stored: the store may differ
@pytest.mark.parametrize(
    "query",
    [
        {"limit": "1e3"},
        {"limit": "9" * 400},
        {"limit": ""},
        {"order": "\U0001f600"},
        {"after": "video_" + "0" * 48},
        {"after": "x" * 5000},
        {"after": "../etc"},
        {"variant": "x", "limit": "nan"},
    ],
)
def test_list_malformed_query(api: httpx.Client, query: dict[str, str]) -> None:
    response = api.get("/videos", params=query)
    assert response.status_code < 500, response.text
    assert_error(response, 400)


@pytest.mark.parametrize("variant", ["", "VIDEO", "\U0001f600", "video\x00", "x" * 5000])
def test_content_bad_variant_values(
    api: httpx.Client, completed_video: dict[str, Any], variant: str
) -> None:
    response = api.get(f"/videos/{completed_video['id']}/content", params={"variant": variant})
    assert_error(response, 400, param="variant")


def test_huge_json_body_is_not_a_5xx(api: httpx.Client) -> None:
    body = json.dumps({"prompt": "x", "junk": "z" * (3 * 1024 * 1024)}).encode()
    response = api.post("/videos", content=body, headers=JSON)
    assert response.status_code < 500
    assert_error(response, 400, code="unknown_parameter")


@pytest.mark.backends("sqlite", "postgres")  # stored: the store may differ
def test_idempotency_key_reused_with_other_parameters(
    api: httpx.Client, cleanup: list[str]
) -> None:
    key = {"Idempotency-Key": f"contract-reuse-{uuid.uuid4()}"}
    first = api.post("/videos", json={"prompt": "one"}, headers=key)
    assert first.status_code == 200
    cleanup.append(first.json()["id"])
    again = api.post("/videos", json={"prompt": "one"}, headers=key)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = api.post("/videos", json={"prompt": "two"}, headers=key)
    assert_error(other, 400, code="idempotency_key_reused")
    too_long = api.post("/videos", json={"prompt": "one"}, headers={"Idempotency-Key": "k" * 256})
    assert_error(too_long, 400, param="Idempotency-Key")


MAX_IMAGE_URL = 20_971_520  # characters, per the spec's ImageRefParam.image_url.maxLength


@pytest.mark.parametrize("encoding", ["json", "multipart"])
def test_image_url_longer_than_the_spec_allows(api: httpx.Client, encoding: str) -> None:
    prefix = "data:image/png;base64,"
    url = prefix + "A" * (MAX_IMAGE_URL + 1 - len(prefix))
    if encoding == "json":
        response = api.post("/videos", json={"prompt": "x", "input_reference": {"image_url": url}})
    else:
        response = api.post(
            "/videos", files={"prompt": (None, "x"), "input_reference[image_url]": (None, url)}
        )
    error = assert_error(response, 400, param="input_reference", code="string_above_max_length")
    assert str(MAX_IMAGE_URL) in error["message"]


def test_body_larger_than_the_server_accepts_is_413(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:  # streamed: no Content-Length to refuse up front
        yield b'{"prompt": "x", "junk": "'
        for _ in range(65):
            yield b"a" * (1024 * 1024)
        yield b'"}'

    response = api.post("/videos", content=chunks(), headers=JSON)
    assert_error(response, 413, code="request_too_large")
    declared = api.post("/videos", content=b"{" + b" " * (65 * 1024 * 1024) + b"}", headers=JSON)
    assert_error(declared, 413, code="request_too_large")

