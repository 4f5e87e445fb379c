"""SSRF-safe outbound requests to URLs a client gave us (image URLs, webhook endpoints).

The rules, in order, for every hop:

1. Scheme ``https`` (``http`` only where the caller allows it); no userinfo; a host is required.
2. An optional allowlist of host names.
3. Resolve the host **once**; refuse if *any* address is not public: loopback, private
   (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16 incl. the cloud metadata
   address, fe80::/10), CGNAT 100.64/10, multicast, reserved, unspecified, and IPv6 forms that
   embed such an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4).
   Numeric hosts in decimal or octal (``2130706433``, ``0177.0.0.1``) resolve to what they mean
   and are judged by that.
4. Connect to the address that was checked (no second lookup), with the original host in the
   ``Host`` header and TLS SNI/certificate check.
5. Redirects are not followed blindly: each hop (at most ``max_redirects``) goes through 1-4.
6. Caps on time and on bytes read.

Refusals raise :class:`FetchRefused` with a message that is safe to show the client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class FetchRefused(Exception):
    """The URL is not allowed, or fetching it failed; the message is safe for the client."""


def is_public(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses (and no private address inside)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = address.ipv4_mapped
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is None and address in _SIX_TO_FOUR:
            embedded = ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
        if embedded is not None and not is_public(embedded):
            return False
        if address.sixtofour is None and address.teredo is not None:
            return False  # Teredo tunnels reach arbitrary IPv4 hosts
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return False
    return bool(
        address.is_global
        and not (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        )
    )


async def resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused(f"the host '{host[:100]}' could not be resolved") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        addresses.append(ipaddress.ip_address(text))
    if not addresses:
        raise FetchRefused(f"the host '{host[:100]}' has no address")
    return addresses


@dataclass
class FetchPolicy:
    allow_http: bool = False
    allow_private: bool = False
    allowed_hosts: Sequence[str] = ()
    max_redirects: int = 3
    timeout_seconds: float = 10.0
    max_bytes: int = 20 * 1024 * 1024
    # Tests inject an address check to prove a refused hop is never contacted.
    address_allowed: Callable[[IPAddress, int], bool] | None = field(default=None, repr=False)

    def allows(self, address: IPAddress, port: int) -> bool:
        if self.address_allowed is not None:
            return self.address_allowed(address, port)
        return self.allow_private or is_public(address)


@dataclass(frozen=True, slots=True)
class Fetched:
    status_code: int
    content_type: str | None
    body: bytes
    url: str


def _check_url(url: httpx.URL, policy: FetchPolicy) -> tuple[str, int]:
    if url.scheme not in ("https", "http") or (url.scheme == "http" and not policy.allow_http):
        allowed = "https or http" if policy.allow_http else "https"
        raise FetchRefused(f"only {allowed} URLs are allowed")
    if url.userinfo:
        raise FetchRefused("URLs with credentials are not allowed")
    host = url.host
    if not host:
        raise FetchRefused("the URL has no host")
    if policy.allowed_hosts and host.lower() not in {h.lower() for h in policy.allowed_hosts}:
        raise FetchRefused(f"the host '{host[:100]}' is not on this server's allowlist")
    port = url.port or (443 if url.scheme == "https" else 80)
    return host, port


async def fetch(
    url: str,
    policy: FetchPolicy,
    *,
    method: str = "GET",
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Fetched:
    """One request to a client-given URL under ``policy`` (see the module docstring)."""
    deadline = time.monotonic() + policy.timeout_seconds
    try:
        current = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchRefused("the URL is not valid") from exc
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, transport=transport, timeout=None
    ) as client:
        for _hop in range(policy.max_redirects + 1):
            host, port = _check_url(current, policy)
            addresses = await resolve(host, port)
            refused = [a for a in addresses if not policy.allows(a, port)]
            if refused:
                raise FetchRefused(
                    f"the host '{host[:100]}' resolves to a non-public address"
                )
            address = addresses[0]
            target = current.copy_with(host=str(address))  # connect to what was checked
            request_headers = {**(headers or {}), "Host": current.netloc.decode("ascii")}
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchRefused("the request timed out")
            try:
                response = await asyncio.wait_for(
                    _send(client, method, target, request_headers, content, host, policy),
                    timeout=remaining,
                )
            except TimeoutError:
                raise FetchRefused("the request timed out") from None
            except httpx.HTTPError as exc:
                raise FetchRefused(f"the request failed ({type(exc).__name__})") from None
            if response.status_code in (301, 302, 303, 307, 308) and response.location:
                current = current.join(response.location)
                if response.status_code == 303:
                    method, content = "GET", None
                continue
            return Fetched(response.status_code, response.content_type, response.body, str(current))
    raise FetchRefused(f"more than {policy.max_redirects} redirects")


@dataclass(frozen=True, slots=True)
class _Response:
    status_code: int
    content_type: str | None
    location: str | None
    body: bytes


async def _send(
    client: httpx.AsyncClient,
    method: str,
    target: httpx.URL,
    headers: dict[str, str],
    content: bytes | None,
    sni_host: str,
    policy: FetchPolicy,
) -> _Response:
    request = client.build_request(
        method, target, headers=headers, content=content, extensions={"sni_hostname": sni_host}
    )
    response = await client.send(request, stream=True)
    try:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > policy.max_bytes:
            raise FetchRefused(f"the response is larger than {policy.max_bytes} bytes")
        body = bytearray()
        if response.status_code < 300:
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > policy.max_bytes:
                    raise FetchRefused(f"the response is larger than {policy.max_bytes} bytes")
        return _Response(
            response.status_code,
            response.headers.get("content-type"),
            response.headers.get("location"),
            bytes(body),
        )
    finally:
        await response.aclose()
