"""Where requests to URLs a publisher chose may go: public addresses, and networks the operator
allows.

``POST /v1/publishers/callbacks/test`` fetches a URL the publisher sends and shows what came
back. Left open, anyone holding an app's server-to-server token could read what this server
reaches and they should not: the metrics port, a cloud metadata service, a database's HTTP
interface. ``guarded_client`` refuses, at connect time, any address that is not globally
routable (loopback, private, link-local, shared, reserved, multicast, unspecified, IPv4 inside
IPv6 included) unless it lies in a network the operator allows. The check happens on the
address the socket then connects to, so a name that resolves differently a moment later
(DNS rebinding) cannot slip past it; TLS still verifies the certificate against the name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class DestinationRefused(ValueError):
    """The URL's host is, or resolves to, an address publishers may not reach."""


def parse_networks(texts: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDRs (``10.0.0.0/8``, ``127.0.0.1``); ``ValueError`` names a bad one."""
    networks = []
    for text in texts:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not an address or a CIDR network") from None
    return tuple(networks)


def refusal(address: Address, allowed: Sequence[Network]) -> str | None:
    """Why ``address`` may not be reached (a phrase such as "a loopback address"), or None."""
    if any(address.version == network.version and address in network for network in allowed):
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal(address.ipv4_mapped, allowed)
    for kind, flag in (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
    ):
        if flag:
            return f"{kind} address"
    if not address.is_global:
        return "a non-public address"
    return None


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves the host itself, refuses what the policy refuses, connects to what it checked."""

    def __init__(self, inner: httpcore.NetworkBackend, allowed: Sequence[Network]) -> None:
        self._inner = inner
        self._allowed = tuple(allowed)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise httpcore.ConnectError(f"{host}: {error}") from error
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))
        for address in addresses:
            why = refusal(address, self._allowed)
            if why is not None:
                # One refused address refuses the host: which one a retry would get is not ours.
                raise DestinationRefused(
                    f"{host} is {address}, {why}: a test callback may only go to a public "
                    "address (the operator can allow networks with "
                    "SURVEYROUTER_CALLBACK_TEST_ALLOWED_NETWORKS)"
                )
        failure: httpcore.ConnectError | httpcore.ConnectTimeout = httpcore.ConnectError(
            f"{host}: no address"
        )
        for address in addresses:  # in the resolver's order, as a plain connect tries them
            try:
                return self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def guarded_client(allowed: Sequence[Network], **options: Any) -> httpx.Client:
    """An ``httpx.Client`` that reaches only public addresses and the ``allowed`` networks.

    It reads no proxy settings from the environment: through a proxy, the proxy's address is
    the only one the check would see.
    """
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx does not take a network backend; its connection pool does (httpcore 1.x, pinned,
    # and tests/unit/test_egress.py fails if the attribute moves).
    pool = transport._pool
    pool._network_backend = GuardedBackend(pool._network_backend, allowed)
    return httpx.Client(transport=transport, trust_env=False, **options)
