"""SSRF-safe outbound requests to URLs a client gave us (image URLs, webhook endpoints).

The rules, in order, for every hop:

1. Scheme ``https`` (``http`` only where the caller allows it); no userinfo; a host is required.
2. An optional allowlist of host names.
3. Resolve the host **once**; refuse if *any* address is not public (:func:`is_public`:
   ``ipaddress``'s ``is_global`` plus the explicit :data:`DENIED_NETWORKS`, IPv6 only in
   global unicast 2000::/3, and IPv6 forms that embed an IPv4 address judged by it too:
   IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4).
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
# IPv6 global unicast is 2000::/3 (RFC 4291 2.4); everything else is not for us to reach.
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")

# What ``is_global`` (Python's copy of the IANA special-purpose registries) misses or may miss in
# some Python version: deprecated and recently assigned ranges, written out so that the rule does
# not depend on the interpreter. Each entry names where it comes from.
DENIED_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network" (RFC 791)
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # private (RFC 1918)
        "100.64.0.0/10",  # CGNAT shared space (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, incl. the cloud metadata address
        "192.0.0.0/24",  # IETF protocol assignments (RFC 6890)
        "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",  # documentation (RFC 5737)
        "192.88.99.0/24",  # 6to4 relay anycast, deprecated (RFC 7526)
        "198.18.0.0/15",  # benchmarking (RFC 2544)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast
        "::/8",  # unspecified, loopback, IPv4-compatible (deprecated) and mapped forms
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "100::/64",  # discard-only (RFC 6666)
        "2001::/23",  # IETF protocol assignments, incl. Teredo 2001::/32 (RFC 2928, 4380)
        "2001:db8::/32",  # documentation (RFC 3849)
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # SRv6 SIDs (RFC 9602)
        "fc00::/7",  # unique local (RFC 4193)
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local, deprecated (RFC 3879)
        "ff00::/8",  # multicast
    )
)


class FetchRefused(Exception):
    """The URL is not allowed, or fetching it failed; the message is safe for the client."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form reaches: IPv4-mapped, NAT64 or 6to4."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses (and no private address inside).

    The definition is ``ipaddress``'s ``is_global`` (the IANA special-purpose registries) *and*
    not in :data:`DENIED_NETWORKS`; IPv6 must also be global unicast (2000::/3). An IPv6 form
    that embeds an IPv4 address is judged by that address as well.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            if not is_public(embedded):
                return False
            if address.ipv4_mapped is not None or address in _NAT64:
                return True  # a translation of a public IPv4 address, which was judged
        if address not in _GLOBAL_UNICAST_V6:
            return False
    if any(address in network for network in DENIED_NETWORKS if network.version == address.version):
        return False
    return bool(address.is_global)


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


def _parse(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchRefused("the URL is not valid") from exc


async def _checked_addresses(url: httpx.URL, policy: FetchPolicy) -> tuple[str, list[IPAddress]]:
    host, port = _check_url(url, policy)
    addresses = await resolve(host, port)
    if any(not policy.allows(a, port) for a in addresses):
        raise FetchRefused(f"the host '{host[:100]}' resolves to a non-public address")
    return host, addresses


async def vet(url: str, policy: FetchPolicy) -> None:
    """Rules 1-3 for ``url`` without sending anything (to refuse an endpoint when it is added)."""
    await _checked_addresses(_parse(url), policy)


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
    current = _parse(url)
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, transport=transport, timeout=None
    ) as client:
        for _hop in range(policy.max_redirects + 1):
            host, addresses = await _checked_addresses(current, policy)
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
