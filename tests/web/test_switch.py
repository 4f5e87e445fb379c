"""``VIDSERVE_STUDIO=false`` leaves only the API: no page at ``/``, no studio files."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from vidserve.api.app import create_app
from vidserve.settings import Settings


def _client(tmp_path: Path, studio: bool) -> TestClient:
    app = create_app(Settings(data_dir=tmp_path, studio=studio), embedded_worker=False)
    return TestClient(app)  # no lifespan: these paths need no database


def test_studio_can_be_switched_off(tmp_path: Path) -> None:
    off = _client(tmp_path, studio=False)
    for path in ("/", "/studio/app.js", "/studio/index.html"):
        resp = off.get(path)
        assert resp.status_code == 404, path
        assert resp.json()["error"]["message"] == f"Invalid URL (GET {path})"

    on = _client(tmp_path, studio=True)
    page = on.get("/")
    assert page.status_code == 200 and page.headers["x-frame-options"] == "DENY"
    assert on.get("/studio/app.js").headers["content-type"].startswith("text/javascript")
    assert on.get("/studio/%2e%2e/settings.py").status_code == 404  # no way out of web/
    assert on.get("/studio/%2e%2e/api/studio.py").status_code == 404
