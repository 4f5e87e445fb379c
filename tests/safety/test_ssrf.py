"""input_reference.image_url never becomes a way into the operator's network."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.safety.helpers import Recorder, png
from tests.servers import ServerProcess
from vidserve.net.fetch import FetchPolicy, FetchRefused, fetch, is_public, vet

AUTH = {"Authorization": "Bearer test"}


@pytest.fixture(scope="module")
def image_host() -> Iterator[Recorder]:
    with Recorder(lambda req: (200, {"content-type": "image/png"}, png(720, 1280))) as rec:
        yield rec


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # http allowed, so that every refusal below is about the address, not the scheme
    server = ServerProcess(
        tmp_path_factory.mktemp("ssrf"), env={"VIDSERVE_IMAGE_URL_ALLOW_HTTP": "true"}
    ).start()
    yield server
    server.stop()


def _targets(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/a.png",
        f"http://localhost:{port}/a.png",  # a name that resolves to loopback
        f"http://127.1:{port}/a.png",
        f"http://2130706433:{port}/a.png",  # decimal 127.0.0.1
        f"http://0x7f000001:{port}/a.png",  # hex
        f"http://0177.0.0.1:{port}/a.png",  # octal
        f"http://[::1]:{port}/a.png",
        f"http://[::ffff:127.0.0.1]:{port}/a.png",  # IPv4-mapped IPv6
        f"http://[::ffff:7f00:1]:{port}/a.png",
        f"http://0.0.0.0:{port}/a.png",
        "http://10.0.0.1/a.png",
        "http://172.16.5.4/a.png",
        "http://192.168.1.1/a.png",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://100.64.0.1/a.png",  # CGNAT
        "http://[fd00::1]/a.png",  # ULA
        "http://[fe80::1]/a.png",
        "http://224.0.0.1/a.png",
        f"http://user:pw@127.0.0.1:{port}/a.png",
        "file:///etc/passwd",
        "gopher://127.0.0.1:25/",
        "ftp://127.0.0.1/a.png",
    ]


def test_private_targets_are_refused_and_never_contacted(
    http_server: ServerProcess, image_host: Recorder, http: httpx.Client
) -> None:
    before = len(image_host.seen)
    for url in _targets(image_host.port):
        r = http.post(
            f"{http_server.base_url}/videos",
            headers=AUTH,
            json={"prompt": "x", "input_reference": {"image_url": url}},
            timeout=30,
        )
        assert r.status_code == 400, (url, r.status_code, r.text)
        error = r.json()["error"]
        assert error["param"] == "input_reference", url
        assert error["type"] == "invalid_request_error"
    assert len(image_host.seen) == before  # the local server received no request at all


def test_https_only_by_default(
    server: ServerProcess, image_host: Recorder, http: httpx.Client
) -> None:
    r = http.post(
        f"{server.base_url}/videos",
        headers=AUTH,
        json={"prompt": "x", "input_reference": {"image_url": "http://example.com/a.png"}},
    )
    assert r.status_code == 400
    assert "only https" in r.json()["error"]["message"]


# One address from each special-purpose range (IANA registries, deprecated ranges included).
NON_PUBLIC = [
    "127.0.0.1", "10.1.1.1", "172.31.255.255", "192.168.0.1", "169.254.169.254", "100.100.0.1",
    "0.0.0.0", "0.1.2.3", "255.255.255.255", "224.1.1.1", "240.0.0.1", "192.0.0.8",
    "192.0.2.1", "198.51.100.1", "203.0.113.1", "198.18.0.1", "198.19.255.255",
    "192.88.99.1", "192.88.99.255",  # 6to4 relay anycast (deprecated)
    "::1", "::", "::ffff:10.0.0.1", "::10.0.0.1", "::8.8.8.8",  # IPv4-compatible (deprecated)
    "64:ff9b::a00:1", "64:ff9b:1::1", "2002:c0a8:101::1", "2002:7f00:1::1", "100::1",
    "2001::1", "2001:1::1", "2001:db8::1", "3fff::1", "3fff:fff:ffff::1", "5f00::1",
    "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "feff::1", "ff02::1",
    "4000::1", "8000::1", "e000::1",  # outside global unicast 2000::/3
]
PUBLIC = [
    "8.8.8.8", "1.1.1.1", "192.88.100.1", "198.20.0.1", "2606:4700:4700::1111",
    "2a00:1450:4001::1", "2c0f:fb50::1",
    "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",  # embed a public IPv4
]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_webhook_and_image_policies_refuse_such_hosts(address: str) -> None:
    """The check used at ``webhooks create`` and before any fetch refuses every such literal."""
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(FetchRefused, match="non-public"):
        asyncio.run(vet(f"https://{host}/hook", FetchPolicy()))


def test_redirect_to_a_private_address_is_refused() -> None:
    """Each redirect hop is checked again; the refused hop gets no request."""
    with Recorder(lambda req: (200, {}, b"secret")) as internal, Recorder(
        lambda req: (302, {"location": f"http://127.0.0.1:{internal.port}/secret"}, b"")
    ) as public:
        # Treat `public` as if it were on the internet; everything else stays private.
        policy = FetchPolicy(
            allow_http=True,
            address_allowed=lambda addr, port: port == public.port,
        )
        with pytest.raises(FetchRefused, match="non-public"):
            asyncio.run(fetch(f"http://127.0.0.1:{public.port}/img.png", policy))
        assert len(public.seen) == 1 and internal.seen == []


def test_body_and_time_caps() -> None:
    with Recorder(lambda req: (200, {}, b"x" * 5000)) as big:
        policy = FetchPolicy(allow_http=True, allow_private=True, max_bytes=1000)
        with pytest.raises(FetchRefused, match="larger than 1000"):
            asyncio.run(fetch(f"http://127.0.0.1:{big.port}/", policy))

    def slow(req: object) -> tuple[int, dict[str, str], bytes]:
        time.sleep(2)
        return 200, {}, b""

    with Recorder(slow) as sleepy:
        policy = FetchPolicy(allow_http=True, allow_private=True, timeout_seconds=0.5)
        started = time.monotonic()
        with pytest.raises(FetchRefused, match="timed out"):
            asyncio.run(fetch(f"http://127.0.0.1:{sleepy.port}/", policy))
        assert time.monotonic() - started < 1.9


def test_allowed_image_url_is_fetched_and_used(
    tmp_path: Path, image_host: Recorder, http: httpx.Client
) -> None:
    server = ServerProcess(
        tmp_path / "s",
        env={
            "VIDSERVE_IMAGE_URL_ALLOW_HTTP": "true",
            "VIDSERVE_FETCH_ALLOW_PRIVATE_URLS": "true",  # the image host is on loopback here
            "VIDSERVE_IMAGE_URL_ALLOWED_HOSTS": "localhost",
        },
    ).start()
    try:
        url = f"http://localhost:{image_host.port}/ref.png"
        r = http.post(f"{server.base_url}/videos", headers=AUTH,
                      json={"prompt": "animate it", "input_reference": {"image_url": url}})
        assert r.status_code == 200, r.text
        assert image_host.seen[-1].path == "/ref.png"
        assert image_host.seen[-1].headers["Host"] == f"localhost:{image_host.port}"
        # a host outside the allowlist is refused before any lookup
        other = http.post(
            f"{server.base_url}/videos", headers=AUTH,
            json={"prompt": "x",
                  "input_reference": {"image_url": f"http://127.0.0.1:{image_host.port}/r.png"}},
        )
        assert other.status_code == 400 and "allowlist" in other.json()["error"]["message"]
    finally:
        server.stop()
