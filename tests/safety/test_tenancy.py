"""Two projects on one server: nothing of one is visible to the other."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import ServerProcess

ALPHA = {"Authorization": "Bearer sk-alpha-0123456789"}
BETA = {"Authorization": "Bearer sk-beta-9876543210"}


@pytest.fixture(scope="module")
def two_projects(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("tenancy"),
        env={"VIDSERVE_API_KEYS": "sk-alpha-0123456789=alpha,sk-beta-9876543210=beta"},
    ).start()
    yield server
    server.stop()


def _completed(base: str, headers: dict[str, str], prompt: str) -> str:
    vid = httpx.post(f"{base}/videos", headers=headers, json={"prompt": prompt}).json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(f"{base}/videos/{vid}", headers=headers).json()["status"] == "completed":
            return str(vid)
        time.sleep(0.1)
    raise AssertionError("not completed")


def test_no_cross_project_access(two_projects: ServerProcess) -> None:
    base = two_projects.base_url
    mine = _completed(base, ALPHA, "alpha's secret")
    missing = "video_" + "0" * 48

    def same_as_missing(method: str, path: str, **kw: object) -> None:
        theirs = httpx.request(method, f"{base}{path.format(id=mine)}", headers=BETA, **kw)
        absent = httpx.request(method, f"{base}{path.format(id=missing)}", headers=BETA, **kw)
        assert theirs.status_code == absent.status_code == 404, (path, theirs.text)
        t, a = theirs.json()["error"], absent.json()["error"]
        assert t["message"].replace(mine, missing) == a["message"]
        assert (t["type"], t["param"], t["code"]) == (a["type"], a["param"], a["code"])

    same_as_missing("GET", "/videos/{id}")
    for variant in ("video", "thumbnail", "spritesheet"):
        same_as_missing("GET", "/videos/{id}/content?variant=" + variant)
    same_as_missing("POST", "/videos/{id}/remix", json={"prompt": "steal"})
    same_as_missing("DELETE", "/videos/{id}")

    listing = httpx.get(f"{base}/videos?limit=100", headers=BETA).json()
    assert mine not in [v["id"] for v in listing["data"]]
    bad_cursor = httpx.get(f"{base}/videos?after={mine}", headers=BETA)
    assert bad_cursor.status_code == 400  # another project's id is not a cursor either

    # alpha still owns it, untouched
    assert httpx.get(f"{base}/videos/{mine}", headers=ALPHA).json()["status"] == "completed"
    assert httpx.get(f"{base}/videos/{mine}/content", headers=ALPHA).status_code == 200
    assert mine in [v["id"] for v in httpx.get(f"{base}/videos", headers=ALPHA).json()["data"]]


def test_idempotency_keys_are_per_project(two_projects: ServerProcess) -> None:
    base = two_projects.base_url
    key = {"Idempotency-Key": "shared-key-1"}
    a = httpx.post(f"{base}/videos", headers=ALPHA | key, json={"prompt": "p"}).json()["id"]
    b = httpx.post(f"{base}/videos", headers=BETA | key, json={"prompt": "p"}).json()["id"]
    assert a != b
    again = httpx.post(f"{base}/videos", headers=ALPHA | key, json={"prompt": "p"}).json()["id"]
    assert again == a


def test_wrong_and_missing_keys(two_projects: ServerProcess) -> None:
    base = two_projects.base_url
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer sk-alpha-0123456788"}):
        r = httpx.get(f"{base}/videos", headers=headers)
        assert r.status_code == 401, headers
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}
