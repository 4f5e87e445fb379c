"""Two projects on one server: nothing of one is visible to the other (on both backends:
the isolation is in the store's queries)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.inprocess import InProcessServer, settings_for
from tests.scaleout.infra import Backend

pytestmark = pytest.mark.backends("sqlite", "postgres")

ALPHA = {"Authorization": "Bearer sk-alpha-0123456789"}
BETA = {"Authorization": "Bearer sk-beta-9876543210"}


@pytest.fixture(scope="module")
def two_projects(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    settings = settings_for(
        backend, tmp_path_factory.mktemp("tenancy"),
        api_keys="sk-alpha-0123456789=alpha,sk-beta-9876543210=beta",
    )
    with InProcessServer(settings) as server:
        yield server


@pytest.fixture(scope="module")
def http(two_projects: InProcessServer) -> httpx.Client:
    return two_projects.http()  # no key of its own: each request names its project's


def _completed(server: InProcessServer, http: httpx.Client, prompt: str) -> str:
    vid = http.post("/videos", headers=ALPHA, json={"prompt": prompt}).json()["id"]
    server.finish(vid)  # as the worker would: claimed, assets uploaded, completed
    assert http.get(f"/videos/{vid}", headers=ALPHA).json()["status"] == "completed"
    return str(vid)


def test_no_cross_project_access(two_projects: InProcessServer, http: httpx.Client) -> None:
    mine = _completed(two_projects, http, "alpha's secret")
    missing = "video_" + "0" * 48

    def same_as_missing(method: str, path: str, **kw: object) -> None:
        theirs = http.request(method, path.format(id=mine), headers=BETA, **kw)
        absent = http.request(method, path.format(id=missing), headers=BETA, **kw)
        assert theirs.status_code == absent.status_code == 404, (path, theirs.text)
        t, a = theirs.json()["error"], absent.json()["error"]
        assert t["message"].replace(mine, missing) == a["message"]
        assert (t["type"], t["param"], t["code"]) == (a["type"], a["param"], a["code"])

    same_as_missing("GET", "/videos/{id}")
    for variant in ("video", "thumbnail", "spritesheet"):
        same_as_missing("GET", "/videos/{id}/content?variant=" + variant)
    same_as_missing("POST", "/videos/{id}/remix", json={"prompt": "steal"})
    same_as_missing("DELETE", "/videos/{id}")

    listing = http.get("/videos?limit=100", headers=BETA).json()
    assert mine not in [v["id"] for v in listing["data"]]
    bad_cursor = http.get(f"/videos?after={mine}", headers=BETA)
    assert bad_cursor.status_code == 400  # another project's id is not a cursor either

    # alpha still owns it, untouched
    assert http.get(f"/videos/{mine}", headers=ALPHA).json()["status"] == "completed"
    assert http.get(f"/videos/{mine}/content", headers=ALPHA).status_code == 200
    assert mine in [v["id"] for v in http.get("/videos", headers=ALPHA).json()["data"]]


def test_idempotency_keys_are_per_project(http: httpx.Client) -> None:
    key = {"Idempotency-Key": "shared-key-1"}
    a = http.post("/videos", headers=ALPHA | key, json={"prompt": "p"}).json()["id"]
    b = http.post("/videos", headers=BETA | key, json={"prompt": "p"}).json()["id"]
    assert a != b
    again = http.post("/videos", headers=ALPHA | key, json={"prompt": "p"}).json()["id"]
    assert again == a


def test_wrong_and_missing_keys(http: httpx.Client) -> None:
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer sk-alpha-0123456788"}):
        r = http.get("/videos", headers=headers)
        assert r.status_code == 401, headers
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}
