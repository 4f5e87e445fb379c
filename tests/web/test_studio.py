"""The web studio in a real browser against a real server.

One flow, as a person would go through it: connect with a key (a wrong one first), create a
video from the form with an image reference, watch the progress reach 100 %, play it (the
<video> element reports the clip's length and seeks with Range requests), remix it, edit and
extend it (as the model's capabilities say; no endpoint is probed), look at the gallery (hover
scrubs the spritesheet), delete the remix. Then the error messages. Every test fails on any
console error it did not provoke on purpose. Each page is saved under
artifacts/screenshots/studio/.
"""

from __future__ import annotations

import io
import re
import time
from typing import Any

import httpx
from PIL import Image

from tests.servers import ServerProcess
from tests.web.conftest import API_KEY, screenshot

VIDEO_URL = re.compile(r"#/v/(video_[0-9a-f]{48})$")


def _connect(page: Any, key: str = API_KEY) -> None:
    page.goto("/")
    page.wait_for_url(re.compile(r"#/key$"))
    page.fill("#key-input", key)
    page.click("#key-form button[type=submit]")


def _png(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), (30, 90, 200))
    for x in range(0, width, 40):  # a few stripes, so the first frame is recognisable
        image.paste((240, 200, 40), (x, 0, x + 12, height))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
    )


def _watch_progress(page: Any, name: str) -> list[int]:
    """Read the live percentage until the player appears; screenshot it on the way."""
    seen: list[int] = []
    shot = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if page.locator("#player").is_visible():
            break
        text = page.locator("#live-percent").text_content() or ""
        if page.locator("#live").is_visible() and text.strip().endswith("%"):
            value = int(text.strip().rstrip("%").strip())
            if not seen or seen[-1] != value:
                seen.append(value)
            if not shot and 0 < value < 100:
                screenshot(page, name)
                shot = True
        time.sleep(0.05)
    seen.append(int((page.locator("#live-percent").text_content() or "0").strip(" %")))
    return seen


def _wait_for_duration(page: Any) -> float:
    page.wait_for_function(
        "() => { const v = document.querySelector('#player');"
        " return v && !v.hidden && v.readyState >= 1 && isFinite(v.duration); }"
    )
    return float(page.evaluate("document.querySelector('#player').duration"))


def test_create_watch_play_remix_delete(page: Any, studio_server: ServerProcess) -> None:
    ranged: list[int] = []
    page.on(
        "response",
        lambda r: ranged.append(r.status) if "/vidserve/content/" in r.url else None,
    )

    # a wrong key is refused with the server's own message
    page.console_errors.expect(401, "/v1/videos?limit=1")
    _connect(page, "sk-not-a-real-key-000")
    page.wait_for_selector("#banner:not([hidden])")
    assert "401" in page.locator("#banner-title").text_content()
    assert "Incorrect API key" in page.locator("#banner-message").text_content()
    screenshot(page, "01-key-refused")

    page.fill("#key-input", API_KEY)
    page.click("#key-form button[type=submit]")
    page.wait_for_url(re.compile(r"#/$"))
    page.wait_for_selector("#gallery-empty:not([hidden])")
    screenshot(page, "02-gallery-empty")

    # create from the form, with an image reference of the right size
    page.click("text=New video")
    page.wait_for_url(re.compile(r"#/new$"))
    page.wait_for_selector("#model option[value='sora-2']", state="attached")
    page.fill("#prompt", "a red kite over a green hill at sunset, slow drift")
    page.select_option("#model", "sora-2")
    page.select_option("#size", "1280x720")
    page.select_option("#seconds", "4")
    page.set_input_files(
        "#reference",
        files=[{"name": "first.png", "mimeType": "image/png", "buffer": _png(1280, 720)}],
    )
    page.wait_for_selector("#reference-preview:not([hidden])")
    screenshot(page, "03-create-form")
    page.click("#create-submit")
    page.wait_for_url(VIDEO_URL)
    match = VIDEO_URL.search(page.url)
    assert match is not None
    video_id = match.group(1)

    # live progress up to 100 %
    seen = _watch_progress(page, "04-progress")
    assert seen[-1] == 100, seen
    assert any(0 < p < 100 for p in seen), f"no intermediate progress shown: {seen}"
    assert seen == sorted(seen), f"progress went backwards: {seen}"

    # play: the element knows the length and seeks (Range requests on the signed URL)
    duration = _wait_for_duration(page)
    assert abs(duration - 4.0) < 0.25, duration
    page.evaluate(
        "() => new Promise((done) => { const v = document.querySelector('#player');"
        " v.addEventListener('seeked', done, { once: true }); v.currentTime = 3; })"
    )
    assert abs(float(page.evaluate("document.querySelector('#player').currentTime")) - 3) < 0.2
    assert 206 in ranged, f"the player made no Range request: {ranged}"
    page.wait_for_timeout(300)
    screenshot(page, "05-video")

    # edit and extend are offered as the model's capabilities say, learnt from
    # /vidserve/models: the page never sends an empty POST to find out
    page.wait_for_selector(".video-page[data-tools='ready']")
    assert "not available" not in (page.locator("#edit-note").text_content() or "")
    assert "not available" not in (page.locator("#extend-note").text_content() or "")
    assert not [r for r in page.requests_made if "/videos/edits" in r[1]
                or "/videos/extensions" in r[1]], page.requests_made
    # the extension lengths are the API's, 4 to 20 s, all open for a 4 s video
    options = page.locator("#extend-seconds option")
    assert options.all_text_contents() == ["4", "8", "12", "16", "20"]
    assert page.locator("#extend-seconds option:disabled").count() == 0

    # remix from the video's page
    page.fill("#remix-prompt", "the same hill at night, under a full moon")
    page.click("#remix-submit")
    page.wait_for_url(lambda url: VIDEO_URL.search(url) is not None and video_id not in url)
    remix_match = VIDEO_URL.search(page.url)
    assert remix_match is not None
    remix_id = remix_match.group(1)
    assert _watch_progress(page, "06-remix-progress")[-1] == 100
    assert page.locator("#remixed-from").get_attribute("href") == f"#/v/{video_id}"
    assert abs(_wait_for_duration(page) - 4.0) < 0.25
    screenshot(page, "07-remix")
    made = [video_id, remix_id]

    # back to the source through the remix's link; edit it, then extend it by 4 s
    page.click("#remixed-from")
    page.wait_for_url(re.compile(video_id))
    page.wait_for_selector(".video-page[data-status='completed']")
    for endpoint, form, length, name in (
        ("edits", "#edit", 4.0, "07b-edit"),
        ("extensions", "#extend", 8.0, "07c-extend"),
    ):
        page.wait_for_selector(f"{form}-submit:not([disabled])")
        page.fill(f"{form}-prompt", f"{endpoint}: the kite turns into a paper plane")
        if form == "#extend":
            page.select_option("#extend-seconds", "4")
        page.click(f"{form}-submit")
        page.wait_for_url(
            lambda url: VIDEO_URL.search(url) is not None and not any(m in url for m in made)
        )
        new_match = VIDEO_URL.search(page.url)
        assert new_match is not None
        made.append(new_match.group(1))
        assert _watch_progress(page, f"{name}-progress")[-1] == 100
        assert abs(_wait_for_duration(page) - length) < 0.25, (endpoint, length)
        screenshot(page, name)
        page.goto(f"/#/v/{video_id}")
        page.wait_for_selector(".video-page[data-status='completed']")

    # the gallery: both videos with thumbnails; hovering scrubs the spritesheet
    page.click(".nav >> text=Gallery")
    page.wait_for_url(re.compile(r"#/$"))
    cards = page.locator(".card")
    cards.first.wait_for()
    assert cards.count() == len(made)
    page.wait_for_function(
        "(n) => [...document.querySelectorAll('.thumb-img')]"
        ".filter((img) => img.complete && img.naturalWidth > 0).length === n",
        arg=len(made),
    )
    thumb = page.locator(f".card[data-id='{video_id}'] .thumb")
    box = thumb.bounding_box()
    assert box is not None
    middle = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 5, middle)  # enter: the spritesheet is fetched
    scrub = page.locator(f".card[data-id='{video_id}'] .scrub")
    scrub.wait_for(state="visible")
    page.mouse.move(box["x"] + 2, middle)
    assert scrub.get_attribute("data-frame") == "0"
    for fraction in (0.3, 0.62, 0.99):
        page.mouse.move(box["x"] + box["width"] * fraction, middle)
        frame = int(scrub.get_attribute("data-frame") or "-1")
        assert frame == int(fraction * 25), (fraction, frame)
        column, row = frame % 5, frame // 5  # the 5 x 5 grid of 25 frames
        position = scrub.evaluate("el => el.style.backgroundPosition")
        assert position == f"{column * 25}% {row * 25}%", (frame, position)
        if fraction == 0.62:
            screenshot(page, "08-gallery-scrub")

    # delete the remix from its page
    page.mouse.move(0, 0)
    page.click(f".card[data-id='{remix_id}'] .card-link")
    page.wait_for_url(re.compile(remix_id))
    page.wait_for_selector(".video-page[data-status='completed']")
    page.click("#delete")
    page.wait_for_selector("#confirm-delete:not([hidden])")
    screenshot(page, "09-delete-confirm")
    page.click("#confirm-yes")
    page.wait_for_url(re.compile(r"#/$"))
    page.wait_for_selector(f".card[data-id='{video_id}']")
    assert page.locator(f".card[data-id='{remix_id}']").count() == 0
    screenshot(page, "10-gallery-after-delete")
    with _api(studio_server) as api:
        assert api.get(f"/videos/{remix_id}").status_code == 404
        assert api.get(f"/videos/{video_id}").json()["status"] == "completed"


def test_api_errors_are_shown_as_the_server_says(page: Any, studio_server: ServerProcess) -> None:
    # the errors this test provokes, and only those, may reach the console
    page.console_errors.expect(400, "/v1/videos")
    page.console_errors.expect(404, "/v1/videos/video_" + "0" * 48)
    _connect(page)
    page.wait_for_url(re.compile(r"#/$"))

    # a reference image of the wrong size: the server's 400, with its param and code
    page.goto("/#/new")
    page.wait_for_selector("#model option[value='sora-2']", state="attached")
    page.fill("#prompt", "a lighthouse in the fog")
    page.select_option("#model", "sora-2")
    page.select_option("#size", "720x1280")
    page.set_input_files(
        "#reference",
        files=[{"name": "small.png", "mimeType": "image/png", "buffer": _png(64, 64)}],
    )
    page.click("#create-submit")
    page.wait_for_selector("#banner:not([hidden])")
    assert "400" in page.locator("#banner-title").text_content()
    assert (
        "Inpaint image must match the requested width and height"
        in page.locator("#banner-message").text_content()
    )
    detail = page.locator("#banner-detail").text_content() or ""
    assert "param input_reference" in detail and "request req_" in detail
    assert page.url.endswith("#/new")  # nothing was created
    screenshot(page, "11-error-reference-size")

    # an empty prompt is caught before sending
    page.fill("#prompt", "   ")
    page.click("#create-submit")
    page.wait_for_function(
        "() => document.querySelector('#banner-title').textContent.includes('Missing prompt')"
    )

    # a video that does not exist
    page.goto("/#/v/video_" + "0" * 48)
    page.wait_for_function(
        "() => document.querySelector('#banner-title').textContent.includes('404')"
    )
    assert "not found" in (page.locator("#banner-message").text_content() or "")
    assert page.locator("#delete").is_hidden() and page.locator("text=Back to the gallery").count()
    screenshot(page, "12-error-not-found")


def test_studio_page_is_locked_down(studio_server: ServerProcess) -> None:
    resp = httpx.get(f"http://127.0.0.1:{studio_server.port}/")
    assert resp.status_code == 200 and "vidserve studio" in resp.text
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert resp.headers["referrer-policy"] == "no-referrer"
    for asset in ("app.js", "style.css"):
        assert httpx.get(f"http://127.0.0.1:{studio_server.port}/studio/{asset}").status_code == 200
