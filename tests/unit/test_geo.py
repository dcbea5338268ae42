"""The offline geo lookups: IP → country from the bundled RIR data or a MaxMind-format file,
anonymous-IP lists, the client's address behind trusted proxies, and countries' languages."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveyrouter.geo import (
    AnonymousIpDetector,
    CidrSet,
    CountryLocator,
    GeoDataError,
    bundled_country_of_ip,
    load_country_languages,
    parse_country_languages,
    resolve_client_ip,
)

# --- a minimal MaxMind DB writer, so tests need no licensed database --------------------------
# The format: a binary search tree over the address bits, 16 zero bytes, a data section, and a
# metadata map after "\xab\xcd\xefMaxMind.com" (MaxMind DB File Format Specification 2.0).


class _U16(int):
    pass


class _U64(int):
    pass


def _control(kind: int, size: int) -> bytes:
    if size < 29:
        head, extra = size, b""
    elif size < 285:
        head, extra = 29, bytes([size - 29])
    else:
        head, extra = 30, (size - 285).to_bytes(2, "big")
    if kind <= 7:
        return bytes([(kind << 5) | head]) + extra
    return bytes([head, kind - 7]) + extra


def _encode(value: Any) -> bytes:
    if isinstance(value, bool):
        return _control(14, int(value))
    if isinstance(value, str):
        data = value.encode()
        return _control(2, len(data)) + data
    if isinstance(value, int):
        kind = 5 if isinstance(value, _U16) else 9 if isinstance(value, _U64) else 6
        data = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return _control(kind, len(data)) + data
    if isinstance(value, dict):
        return _control(7, len(value)) + b"".join(_encode(k) + _encode(v) for k, v in value.items())
    if isinstance(value, list):
        return _control(11, len(value)) + b"".join(_encode(item) for item in value)
    raise TypeError(value)


def write_mmdb(path: Path, records: dict[str, dict[str, Any]], database_type: str) -> Path:
    """An IPv6 MaxMind DB (IPv4 under ::/96) mapping each network to its record."""
    nodes: list[list[Any]] = [[None, None]]
    data = b""
    for cidr, record in records.items():
        network = ipaddress.ip_network(cidr)
        # ::a.b.c.d has the IPv4 address's value, so one 128-bit walk serves both versions.
        bits = int(network.network_address)
        length = network.prefixlen + (96 if network.version == 4 else 0)
        node = 0
        for depth in range(length):
            bit = (bits >> (127 - depth)) & 1
            if depth == length - 1:
                nodes[node][bit] = ("data", len(data))
            else:
                child = nodes[node][bit]
                if child is None:
                    nodes.append([None, None])
                    child = nodes[node][bit] = ("node", len(nodes) - 1)
                node = child[1]
        data += _encode(record)
    count = len(nodes)

    def value(entry: Any) -> int:
        if entry is None:
            return count
        offset = int(entry[1])
        return offset if entry[0] == "node" else count + 16 + offset

    tree = b"".join(struct.pack(">II", value(left), value(right)) for left, right in nodes)
    metadata = {
        "binary_format_major_version": _U16(2),
        "binary_format_minor_version": _U16(0),
        "build_epoch": _U64(1_700_000_000),
        "database_type": database_type,
        "description": {"en": "surveyrouter test database"},
        "ip_version": _U16(6),
        "languages": ["en"],
        "node_count": count,
        "record_size": _U16(32),
    }
    path.write_bytes(tree + bytes(16) + data + b"\xab\xcd\xefMaxMind.com" + _encode(metadata))
    return path


@pytest.fixture
def country_db(tmp_path: Path) -> Path:
    return write_mmdb(
        tmp_path / "GeoLite2-Country.mmdb",
        {
            # A network the RIRs gave to the US but geolocated to Germany.
            "8.8.4.0/24": {"country": {"iso_code": "DE"}, "registered_country": {"iso_code": "US"}},
            "2001:db8::/32": {"registered_country": {"iso_code": "FR"}},
            "198.51.100.0/24": {"country_code": "NL"},  # IPinfo's shape
        },
        "GeoLite2-Country",
    )


# --- country of an IP -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("8.8.8.8", "US"),  # Google Public DNS
        ("193.99.144.80", "DE"),  # heise.de
        ("2001:4860:4860::8888", "US"),  # Google Public DNS over IPv6
        ("2a02:2e0:3fe:1001:302::", "DE"),  # heise.de over IPv6
        ("::ffff:193.99.144.80", "DE"),  # an IPv4 peer seen through a dual-stack socket
        (" 8.8.8.8 ", "US"),
    ],
)
def test_well_known_public_addresses_resolve_offline(ip: str, country: str) -> None:
    assert bundled_country_of_ip(ip) == country
    assert CountryLocator().country_of(ip) == country


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "100.64.0.1",  # carrier-grade NAT
        "169.254.1.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "203.0.113.7",  # documentation range
        "not an address",
        "",
    ],
)
def test_private_reserved_and_malformed_addresses_have_no_country(ip: str) -> None:
    assert bundled_country_of_ip(ip) is None
    assert CountryLocator().country_of(ip) is None


def test_a_configured_maxmind_database_takes_precedence(country_db: Path) -> None:
    with CountryLocator(country_db) as locator:
        assert locator.country_of("8.8.4.4") == "DE"
        assert locator.country_of("2001:db8::1") == "FR"  # registered country when no other
        assert locator.country_of("198.51.100.20") == "NL"
        # What the file does not know, the bundled data still answers.
        assert locator.country_of("193.99.144.80") == "DE"
        assert locator.country_of("8.8.8.8") == "US"
        assert locator.country_of("10.0.0.1") is None


def test_a_missing_configured_database_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "GeoLite2-Country.mmdb"
    with pytest.raises(GeoDataError, match=r"GeoLite2-Country\.mmdb: no such file"):
        CountryLocator(missing)
    with pytest.raises(GeoDataError, match=r"anonymous-IP database .*no such file"):
        AnonymousIpDetector(maxmind_db=missing)


def test_a_file_that_is_no_maxmind_database_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "country.mmdb"
    bogus.write_text("8.8.8.8 US\n")
    with pytest.raises(GeoDataError, match="not a MaxMind DB file"):
        CountryLocator(bogus)


# --- CIDR lists and anonymous IPs -----------------------------------------------------------


def test_cidr_list_files_allow_comments_blank_lines_and_bare_addresses(tmp_path: Path) -> None:
    listing = tmp_path / "vpn.txt"
    listing.write_text(
        "# X4B-style VPN ranges\n"
        "\n"
        "185.220.100.0/22   # Tor exits\n"
        "   45.83.64.1\n"
        "2a0d:5600::/29\n"
        "10.0.0.5/8\n"  # host bits set: read as its network
        "::ffff:192.0.2.0/120\n",  # IPv4-mapped: read as 192.0.2.0/24
        encoding="utf-8",
    )
    cidrs = CidrSet.from_files([listing])
    assert "185.220.101.33" in cidrs
    assert "45.83.64.1" in cidrs
    assert "45.83.64.2" not in cidrs
    assert "2a0d:5600:1::1" in cidrs
    assert "10.200.0.1" in cidrs
    assert "::ffff:185.220.100.1" in cidrs
    assert "192.0.2.200" in cidrs
    assert "8.8.8.8" not in cidrs
    assert "junk" not in cidrs
    assert len(cidrs) == 5


def test_a_bad_line_in_a_cidr_list_names_file_and_line(tmp_path: Path) -> None:
    listing = tmp_path / "vpn.txt"
    listing.write_text("# header\n1.2.3.0/24\n1.2.3.0/33\n", encoding="utf-8")
    with pytest.raises(GeoDataError, match=r"vpn\.txt, line 3: '1\.2\.3\.0/33'"):
        CidrSet.from_files([listing])


def test_a_missing_cidr_list_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GeoDataError, match=r"CIDR list .*absent\.txt: cannot be read"):
        AnonymousIpDetector([tmp_path / "absent.txt"])


def test_bad_cidr_strings_are_named() -> None:
    with pytest.raises(GeoDataError, match="trusted proxies: 'localhost'"):
        CidrSet.from_strings(["127.0.0.1", "localhost"], source="trusted proxies")


_NETWORKS = st.lists(
    st.builds(
        lambda address, length: ipaddress.ip_network(f"{address}/{length}", strict=False),
        st.ip_addresses(v=4),
        st.integers(min_value=8, max_value=32),
    )
    | st.builds(
        lambda address, length: ipaddress.ip_network(f"{address}/{length}", strict=False),
        st.ip_addresses(v=6),
        st.integers(min_value=16, max_value=128),
    ),
    max_size=20,
)


@given(networks=_NETWORKS, probes=st.lists(st.ip_addresses(), max_size=20))
def test_cidr_set_membership_matches_the_plain_reference(
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    probes: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> None:
    cidrs = CidrSet(networks)
    # Probe the edges of every network too, where merging goes wrong.
    edges = [n.network_address for n in networks] + [n.broadcast_address for n in networks]
    for probe in [*probes, *edges]:
        address = probe
        if isinstance(probe, ipaddress.IPv6Address) and probe.ipv4_mapped is not None:
            address = probe.ipv4_mapped
        expected = any(address in network for network in networks)
        assert (str(probe) in cidrs) is expected


def test_anonymous_ips_come_from_cidr_lists_and_the_maxmind_database(tmp_path: Path) -> None:
    vpn = tmp_path / "vpn.txt"
    vpn.write_text("185.220.100.0/22\n", encoding="utf-8")
    tor = tmp_path / "tor.txt"
    tor.write_text("# Tor\n2a0b:f4c0::/40\n", encoding="utf-8")
    database = write_mmdb(
        tmp_path / "GeoIP2-Anonymous-IP.mmdb",
        {
            "81.2.69.0/24": {"is_anonymous": True, "is_anonymous_vpn": True},
            "81.2.70.0/24": {"is_anonymous": True, "is_hosting_provider": True},
            "81.2.71.0/24": {"is_tor_exit_node": True},
            "81.2.72.0/24": {"is_anonymous": False},
        },
        "GeoIP2-Anonymous-IP",
    )
    with AnonymousIpDetector([vpn, tor], maxmind_db=database) as detector:
        assert detector.is_anonymous("185.220.101.1")
        assert detector.is_anonymous("2a0b:f4c0:1::1")
        assert detector.is_anonymous("81.2.69.160")
        assert detector.is_anonymous("81.2.70.1")
        assert detector.is_anonymous("81.2.71.1")
        assert not detector.is_anonymous("81.2.72.1")
        assert not detector.is_anonymous("193.99.144.80")
        assert not detector.is_anonymous("junk")


def test_with_nothing_configured_no_ip_is_anonymous() -> None:
    assert not AnonymousIpDetector().is_anonymous("185.220.101.1")


# --- the client's address behind proxies ----------------------------------------------------

PROXIES = CidrSet.from_strings(["10.0.0.0/8", "127.0.0.1", "::1", "2001:db8:ffff::/48"])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        # An untrusted peer's header is the client's own word: ignored.
        ("198.51.100.7", "8.8.8.8", "198.51.100.7"),
        ("198.51.100.7", None, "198.51.100.7"),
        # Behind one trusted proxy: the address it appended.
        ("10.0.0.2", "193.99.144.80", "193.99.144.80"),
        # A client spoofing its own header cannot move the right-most untrusted hop.
        ("10.0.0.2", "8.8.8.8, 193.99.144.80", "193.99.144.80"),
        # Through a chain of trusted proxies.
        ("10.0.0.2", "1.1.1.1, 193.99.144.80, 10.0.0.9, 10.0.0.3", "193.99.144.80"),
        # Every hop trusted: the farthest one known.
        ("127.0.0.1", "10.0.0.9, 10.0.0.3", "10.0.0.9"),
        # A trusted peer with no header is the client itself (a health check, say).
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "", "127.0.0.1"),
        # Garbage left of the trusted hops stops the walk at the nearest trusted one.
        ("10.0.0.2", "unknown, 10.0.0.9", "10.0.0.9"),
        ("10.0.0.2", "<script>", "10.0.0.2"),
        # Garbage the client put before its real hop changes nothing.
        ("10.0.0.2", "garbage, 193.99.144.80", "193.99.144.80"),
        # Ports and brackets, as some load balancers write hops.
        ("10.0.0.2", "193.99.144.80:51234", "193.99.144.80"),
        ("::1", "[2a02:2e0:3fe:1001:302::]:443", "2a02:2e0:3fe:1001:302::"),
        ("::1", "2a02:2e0:3fe:1001:302::", "2a02:2e0:3fe:1001:302::"),
        ("2001:db8:ffff::5", "193.99.144.80", "193.99.144.80"),
        # A dual-stack socket shows IPv4 peers IPv4-mapped; the trust check sees through it.
        ("::ffff:10.0.0.2", "193.99.144.80", "193.99.144.80"),
        ("::ffff:198.51.100.7", "8.8.8.8", "198.51.100.7"),
        (None, "8.8.8.8", None),
        ("not-an-ip", "8.8.8.8", None),
    ],
)
def test_forwarded_for_is_trusted_only_from_trusted_proxies(
    peer: str | None, forwarded_for: str | None, client: str | None
) -> None:
    assert resolve_client_ip(peer, forwarded_for, PROXIES) == client


def test_several_forwarded_for_lines_are_one_list_in_order() -> None:
    lines = ["6.6.6.6, 193.99.144.80", "10.0.0.9"]
    assert resolve_client_ip("10.0.0.2", lines, PROXIES) == "193.99.144.80"


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert resolve_client_ip("127.0.0.1", "8.8.8.8", CidrSet(())) == "127.0.0.1"


# --- countries' main languages --------------------------------------------------------------


def test_every_country_has_a_main_language() -> None:
    languages = load_country_languages()
    assert len(languages) == 250  # the 249 ISO 3166-1 countries and Kosovo (XK)
    assert {languages[c] for c in ("DE", "AT", "LI")} == {"de"}
    assert (languages["US"], languages["GB"], languages["FR"], languages["BR"]) == (
        "en",
        "en",
        "fr",
        "pt",
    )
    assert (languages["CH"], languages["BE"], languages["CA"], languages["IN"]) == (
        "de",
        "nl",
        "en",
        "en",
    )
    assert languages["NO"] == "no"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("not json", "not valid JSON"),
        ('{"languages": {}}', "non-empty"),
        ('{"languages": {"de": "de"}}', "'de' is not an ISO 3166-1"),
        ('{"languages": {"DE": "deu"}}', "DE: 'deu' is not an ISO 639-1"),
    ],
)
def test_a_broken_country_languages_file_is_refused(raw: str, problem: str) -> None:
    with pytest.raises(GeoDataError, match=problem):
        parse_country_languages(raw)
