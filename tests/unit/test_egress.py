"""Where a publisher's URL may go: public addresses, and the networks the operator allows."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from surveyrouter.egress import (
    DestinationRefused,
    GuardedBackend,
    guarded_client,
    parse_networks,
    refusal,
)
from surveyrouter.settings import Settings
from tests.integration.test_server import serving


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata services
        ("fe80::1", "a link-local address"),
        ("fc00::1", "a private address"),
        ("100.64.0.1", "a non-public address"),  # carrier-grade NAT
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4 inside IPv6
        ("::ffff:10.0.0.1", "a private address"),
        ("240.0.0.1", "a private address"),
    ],
)
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    assert refusal(ipaddress.ip_address(address), ()) == why


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888"])
def test_public_addresses_may_be_reached(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), ()) is None


def test_allowed_networks_are_reached_whatever_they_are() -> None:
    allowed = parse_networks(["127.0.0.0/8", "10.1.0.0/16", "fd00::/8"])
    assert refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("10.1.200.3"), allowed) is None
    assert refusal(ipaddress.ip_address("fd12::5"), allowed) is None
    assert refusal(ipaddress.ip_address("10.2.0.1"), allowed) == "a private address"
    assert refusal(ipaddress.ip_address("::1"), allowed) == "a loopback address"


def test_networks_are_addresses_or_cidrs() -> None:
    assert parse_networks(["10.0.0.1", " 192.168.0.0/16 "]) == (
        ipaddress.ip_network("10.0.0.1/32"),
        ipaddress.ip_network("192.168.0.0/16"),
    )
    with pytest.raises(ValueError, match="'intranet' is not an address or a CIDR network"):
        parse_networks(["intranet"])


def test_settings_read_the_allowed_networks_comma_separated() -> None:
    settings = Settings(callback_test_allowed_networks="127.0.0.1, 10.0.0.0/8")  # type: ignore[arg-type]
    assert settings.callback_test_allowed_networks == ["127.0.0.1", "10.0.0.0/8"]
    with pytest.raises(ValueError, match="not an address or a CIDR"):
        Settings(callback_test_allowed_networks="10.0.0.0/33")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def local_url() -> Iterator[str]:
    endpoint = FastAPI()

    @endpoint.get("/cb")
    def answer() -> PlainTextResponse:
        return PlainTextResponse("ok")

    with serving(endpoint) as url:
        yield url


def test_the_guarded_client_refuses_before_connecting(local_url: str) -> None:
    with guarded_client(()) as http, pytest.raises(DestinationRefused, match="a loopback address"):
        http.get(f"{local_url}/cb")


def test_a_name_is_checked_by_what_it_resolves_to(local_url: str) -> None:
    by_name = local_url.replace("127.0.0.1", "localhost")
    with guarded_client(()) as http, pytest.raises(DestinationRefused, match="localhost is"):
        http.get(f"{by_name}/cb")


def test_the_guarded_client_reaches_an_allowed_network(local_url: str) -> None:
    with guarded_client(parse_networks(["127.0.0.1"])) as http:
        response = http.get(f"{local_url}/cb")
    assert response.text == "ok"


def test_a_name_that_does_not_resolve_is_a_connect_error() -> None:
    with guarded_client(()) as http, pytest.raises(httpx.ConnectError):
        http.get("http://no-such-host.invalid/cb")


class _FirstRefuses(httpcore.NetworkBackend):
    """Refuses the first address it is asked for; answers the next with a marker."""

    def __init__(self) -> None:
        self.tried: list[str] = []

    def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.tried.append(host)
        if len(self.tried) == 1:
            raise httpcore.ConnectError("connection refused")
        return f"stream to {host}"


def test_each_address_of_a_name_is_tried_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [(0, 0, 0, "", ("2001:db8:ffff::1", 443)), (0, 0, 0, "", ("8.8.4.4", 443))]
    monkeypatch.setattr("socket.getaddrinfo", lambda *args, **kwargs: answers)
    inner = _FirstRefuses()
    backend = GuardedBackend(inner, parse_networks(["2001:db8::/32"]))

    assert backend.connect_tcp("pub.example", 443) == "stream to 8.8.4.4"
    assert inner.tried == ["2001:db8:ffff::1", "8.8.4.4"]


def test_one_refused_address_refuses_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [(0, 0, 0, "", ("8.8.4.4", 443)), (0, 0, 0, "", ("10.0.0.7", 443))]
    monkeypatch.setattr("socket.getaddrinfo", lambda *args, **kwargs: answers)
    inner = _FirstRefuses()

    refused = re.escape("pub.example is 10.0.0.7, a private address")
    with pytest.raises(DestinationRefused, match=refused):
        GuardedBackend(inner, ()).connect_tcp("pub.example", 443)
    assert inner.tried == []
