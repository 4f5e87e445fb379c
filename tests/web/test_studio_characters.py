"""The studio offers characters, and says how edits and extensions are done, as the chosen
model can (``GET /vidserve/models``: ``characters`` and ``details.*_by``).

A character made on the create form (a name and a short clip) is sent with the video as
``characters[][id]``; a model that cannot take characters gets neither the controls nor the
field. The capability cases a stock server does not have are made by editing the server's
real listing on its way to the page (Playwright's ``route``), as tests/web/ does elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.surface.clips import mp4_clip
from tests.web.conftest import API_KEY


def _listing(page: Any, change: Callable[[dict[str, dict[str, Any]]], None]) -> None:
    def handle(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        change({m["id"]: m for m in body["data"]})
        route.fulfill(response=response, json=body)

    page.route("**/vidserve/models", handle)


def _connect(page: Any) -> None:
    page.goto("/")
    page.wait_for_url(re.compile(r"#/key$"))
    page.fill("#key-input", API_KEY)
    page.click("#key-form button[type=submit]")
    page.wait_for_url(re.compile(r"#/$"))


def test_characters_are_offered_where_the_model_takes_them(page: Any) -> None:
    def change(models: dict[str, dict[str, Any]]) -> None:
        models["sora-2-pro"]["characters"] = False
        models["sora-2"]["details"]["characters_by"] = "composited from its clip"

    _listing(page, change)
    _connect(page)
    page.goto("/#/new")
    page.wait_for_selector("#model option[value='sora-2']", state="attached")

    page.select_option("#model", "sora-2-pro")
    assert page.locator("#character-add").is_disabled()
    assert page.locator("#character-clip").is_disabled()
    assert "cannot take characters" in (page.locator("#character-note").text_content() or "")

    page.select_option("#model", "sora-2")
    assert "composited from its clip" in (page.locator("#character-note").text_content() or "")
    page.fill("#character-name", "Captain Square")
    page.set_input_files("#character-clip", files=[{
        "name": "captain.mp4", "mimeType": "video/mp4", "buffer": mp4_clip(160, 120, 1.5),
    }])
    with page.expect_response(lambda r: r.url.endswith("/v1/videos/characters")) as made:
        page.click("#character-add")
    character = made.value.json()
    assert made.value.status == 200 and character["id"].startswith("char_")
    page.wait_for_selector(f"#character-list li[data-id='{character['id']}']")

    page.fill("#prompt", "Captain Square on a beach")
    page.select_option("#seconds", "4")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/videos")) as sent:
        page.click("#create-submit")
    body = sent.value.post_data_buffer or b""
    assert b'name="characters[][id]"' in body and character["id"].encode() in body
    page.wait_for_url(re.compile(r"#/v/video_[0-9a-f]{48}$"))

    # on a model without characters the chosen ones are not sent
    page.goto("/#/new")
    page.wait_for_selector("#model option[value='sora-2-pro']", state="attached")
    page.select_option("#model", "sora-2-pro")
    page.fill("#prompt", "no cast here")
    page.select_option("#seconds", "4")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/videos")) as sent:
        page.click("#create-submit")
    assert b"characters" not in (sent.value.post_data_buffer or b"")
    page.wait_for_url(re.compile(r"#/v/video_[0-9a-f]{48}$"))


def test_edit_and_extend_say_how_the_model_does_them(page: Any) -> None:
    def change(models: dict[str, dict[str, Any]]) -> None:
        for m in models.values():
            m["details"]["edit_by"] = "the source as the control video"
            m["details"]["extend_by"] = "the source's last 9 frames kept"

    _listing(page, change)
    _connect(page)
    page.goto("/#/new")
    page.wait_for_selector("#model option[value='sora-2']", state="attached")
    page.fill("#prompt", "a red kite")
    page.select_option("#seconds", "4")
    page.click("#create-submit")
    page.wait_for_url(re.compile(r"#/v/video_[0-9a-f]{48}$"))
    page.wait_for_selector(".video-page[data-tools='ready']", timeout=60_000)
    assert "the source as the control video" in (page.locator("#edit-note").text_content() or "")
    assert "last 9 frames kept" in (page.locator("#extend-note").text_content() or "")
