"""The studio follows the server: dev mode, each model's capabilities, and the player's sound.

- A server in dev mode (no key configured) opens straight on the gallery, and the studio's
  requests carry a key that any dev-mode server takes.
- The create form offers the chosen model's sizes and seconds, takes an image reference only
  where the model does, and asks for one where the model needs it.
- A video's page offers edit and extend as the model says (from ``/vidserve/models``, with no
  empty POST to find out), extension lengths of 4 to 20 s less those that would make the video
  longer than the server allows, and a sound toggle whose mute and volume this browser keeps.

The capability cases a stock server does not have (a model without image reference, one that
needs an image, one that cannot edit) are made by editing the server's real listing on its
way to the page (Playwright's ``route``): the page under test is the real one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.servers import ServerProcess
from tests.web.conftest import API_KEY, check_page, open_page, screenshot


def _wait_completed(http: httpx.Client, video: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while video["status"] != "completed":
        assert video["status"] != "failed" and time.monotonic() < deadline, video
        time.sleep(0.2)
        video = http.get(f"/v1/videos/{video['id']}").json()
    return video


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("studio-dev")).start()  # no key: dev mode
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def dev_page(browser: Any, dev_server: ServerProcess) -> Iterator[Any]:
    context, tab = open_page(browser, dev_server.port)
    try:
        yield tab
        check_page(tab)
    finally:
        context.close()


@pytest.fixture(scope="module")
def api(studio_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"http://127.0.0.1:{studio_server.port}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    ) as http:
        yield http


def _listing(page: Any, change: Callable[[dict[str, dict[str, Any]]], None]) -> None:
    """Serve the page the server's own /vidserve/models, with ``change`` applied to it."""

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


def test_dev_mode_goes_straight_to_the_gallery(dev_page: Any) -> None:
    page = dev_page
    page.add_init_script(
        "window.__hashes = [];"
        "addEventListener('hashchange', () => window.__hashes.push(location.hash));"
    )
    page.goto("/")
    page.wait_for_selector("#gallery-empty:not([hidden])")
    assert page.url.endswith("/") or page.url.endswith("#/")
    assert "#/key" not in page.evaluate("window.__hashes")
    assert page.locator("#key-form").count() == 0  # the key page was never shown
    assert page.locator("#key-button").text_content() == "Dev mode"
    screenshot(page, "20-dev-mode-gallery")

    # the studio works without a typed key: create, watch, play
    page.click("text=New video")
    page.wait_for_selector("#model option[value='sora-2']", state="attached")
    page.fill("#prompt", "a yellow balloon over a lake")
    page.select_option("#seconds", "4")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/videos")) as sent:
        page.click("#create-submit")
    assert sent.value.headers["authorization"] == "Bearer dev"
    page.wait_for_url(re.compile(r"#/v/video_[0-9a-f]{48}$"))
    page.wait_for_selector("#player:not([hidden])", timeout=60_000)

    # the key page is still there for whoever wants to set a key, and says none is needed
    page.click("#key-button")
    page.wait_for_selector("#key-dev:not([hidden])")
    assert page.locator("#key-input").input_value() == ""


def test_create_form_follows_the_models_capabilities(page: Any, api: httpx.Client) -> None:
    served = {m["id"]: m for m in api.get("/vidserve/models").json()["data"]}

    def change(models: dict[str, dict[str, Any]]) -> None:
        models["procedural"]["image_reference"] = False
        models["sora-2-pro"]["text_to_video"] = False  # an image-to-video model

    _listing(page, change)
    _connect(page)
    page.goto("/#/new")
    page.wait_for_selector("#model option[value='sora-2']", state="attached")

    for model in ("sora-2", "sora-2-pro"):
        page.select_option("#model", model)
        sizes = page.locator("#size option").evaluate_all("os => os.map((o) => o.value)")
        assert sizes == served[model]["sizes"], (model, sizes)
        seconds = page.locator("#seconds option").evaluate_all("os => os.map((o) => o.value)")
        assert seconds == served[model]["seconds"], (model, seconds)
    assert "1792x1024" in served["sora-2-pro"]["sizes"]
    assert "1792x1024" not in served["sora-2"]["sizes"]

    # sora-2-pro (here) needs an image: the form says so and sends nothing without one
    assert page.locator("#reference").evaluate("el => el.required")
    assert "needs an image reference" in (page.locator("#model-note").text_content() or "")
    assert "Required by this model" in (page.locator("#reference-note").text_content() or "")
    page.fill("#prompt", "a boat on the ocean at dawn")
    posts_before = [r for r in page.requests_made if r[0] == "POST"]
    page.click("#create-submit")
    page.wait_for_function(
        "() => document.querySelector('#banner-title').textContent"
        ".includes('Missing image reference')"
    )
    assert [r for r in page.requests_made if r[0] == "POST"] == posts_before

    # procedural (here) takes no image: the file input is off and says why
    page.select_option("#model", "procedural")
    assert page.locator("#reference").is_disabled()
    assert "does not take an image reference" in (
        page.locator("#reference-note").text_content() or ""
    )
    note = page.locator("#model-note").text_content() or ""
    assert "not a neural model" in note, note
    assert ("makes sound" in note) is served["procedural"]["audio"], note
    screenshot(page, "21-create-follows-model")


def test_video_page_follows_the_model_and_remembers_the_sound(
    page: Any, api: httpx.Client
) -> None:
    first = api.post("/v1/videos", json={"prompt": "sound: a train crossing a bridge"}).json()
    second = api.post("/v1/videos", json={"prompt": "sound: a whale in the ocean"}).json()
    first, second = _wait_completed(api, first), _wait_completed(api, second)
    audio = {m["id"]: m for m in api.get("/vidserve/models").json()["data"]}[first["model"]][
        "audio"
    ]

    def change(models: dict[str, dict[str, Any]]) -> None:
        models[first["model"]]["edit"] = False
        models[first["model"]]["max_extended_seconds"] = 16  # 4 s + at most 12 s

    _listing(page, change)
    _connect(page)
    page.goto(f"/#/v/{first['id']}")
    page.wait_for_selector(".video-page[data-tools='ready']")
    page.wait_for_selector("#player:not([hidden])")

    # edit is off for this model: the form says so; extend offers only what still fits
    assert page.locator("#edit-submit").is_disabled()
    note = page.locator("#edit-note").text_content()
    assert note == f"Editing is not available for {first['model']}.", note
    offered = page.locator("#extend-seconds option").evaluate_all(
        "os => os.map((o) => [o.value, o.disabled])"
    )
    assert offered == [["4", False], ["8", False], ["12", False], ["16", True], ["20", True]]
    assert not page.locator("#extend-submit").is_disabled()
    assert "not a neural model" in (page.locator("#engine-note").text_content() or "")

    # the sound toggle mutes; the volume and the mute are kept for the next video
    toggle = page.locator("#sound-toggle")
    toggle.wait_for(state="visible")
    assert toggle.get_attribute("data-muted") == "false"
    assert (page.locator("#sound-note").text_content() == "") is audio
    if audio:  # the clip's own sound track plays (a click on the player: a user gesture)
        page.click("#player")
        page.wait_for_function(
            "() => document.querySelector('#player').webkitAudioDecodedByteCount > 0"
        )
        page.evaluate("document.querySelector('#player').pause()")
    toggle.click()
    assert page.evaluate("document.querySelector('#player').muted") is True
    assert toggle.get_attribute("data-muted") == "true" and "off" in (toggle.text_content() or "")
    page.evaluate("document.querySelector('#player').volume = 0.35")
    page.wait_for_function("() => localStorage.getItem('vidserve.volume') === '0.35'")
    assert page.evaluate("localStorage.getItem('vidserve.muted')") == "true"
    screenshot(page, "22-video-sound-off")

    page.goto(f"/#/v/{second['id']}")
    page.wait_for_selector("#player:not([hidden])")
    player = page.evaluate("(() => { const p = document.querySelector('#player');"
                           " return [p.muted, p.volume]; })()")
    assert player[0] is True and abs(player[1] - 0.35) < 1e-6, player
    page.locator("#sound-toggle").click()
    assert page.evaluate("document.querySelector('#player').muted") is False
    assert page.evaluate("localStorage.getItem('vidserve.muted')") == "false"
    assert "on" in (page.locator("#sound-toggle").text_content() or "")
    page.reload()
    page.wait_for_selector("#player:not([hidden])")
    assert page.evaluate("document.querySelector('#player').muted") is False
    assert abs(page.evaluate("document.querySelector('#player').volume") - 0.35) < 1e-6
    for video in (first, second):
        api.delete(f"/v1/videos/{video['id']}")
