"""Where an IP address is, whether it hides someone, and which address a request came from.

The offline lookups behind ``domain.client_context``:

- the country of an IP: a configured MaxMind-format database (GeoIP2/GeoLite2 Country or
  City, DB-IP, IPinfo) when there is one, else the Regional Internet Registries' allocations
  shipped inside the ``iptocc`` wheel (refreshed with each release; no file, no network);
- anonymous IPs (VPN, proxy, Tor, hosting): CIDR list files and/or a MaxMind Anonymous IP
  database;
- the client's address behind reverse proxies: ``X-Forwarded-For`` read only from trusted ones;
- the packaged table of every country's main language.

A configured file that is missing or unreadable stops start-up with ``GeoDataError`` naming
the file: silently routing everyone to the app's default country would be worse.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Self

import iptocc
import maxminddb
from maxminddb.types import Record

from surveyrouter.domain.client_context import IpAddress, parse_ip
from surveyrouter.packaged_data import parse_strict_json, read_packaged

COUNTRY_LANGUAGES_FILE = "country_languages.json"

# MaxMind Anonymous IP fields (their docs: each present only when true). Hosting counts: VPN
# providers that do not register their subnets under their own name are flagged only so.
_ANONYMOUS_FLAGS = (
    "is_anonymous",
    "is_anonymous_vpn",
    "is_hosting_provider",
    "is_public_proxy",
    "is_residential_proxy",
    "is_tor_exit_node",
)
_COUNTRY_CODE = re.compile(r"[A-Z]{2}")
_LANGUAGE_CODE = re.compile(r"[a-z]{2}")
# An X-Forwarded-For hop: a bare address, or one with a port ("1.2.3.4:5678",
# "[2001:db8::1]:443"), as some load balancers write them.
_BRACKETED_HOP = re.compile(r"\[(?P<address>[^\]]+)\](?::\d+)?")
_IPV4_WITH_PORT = re.compile(r"(?P<address>\d{1,3}(?:\.\d{1,3}){3}):\d+")

StrPath = str | PathLike[str]


class GeoDataError(RuntimeError):
    """A configured geo file is missing, unreadable or not what it should be."""


# --- country of an IP ---------------------------------------------------------------------


def bundled_country_of_ip(ip: str) -> str | None:
    """The country the RIRs allocated ``ip``'s block to (``iptocc``); None for a private,
    reserved or unallocated address, or text that is no address."""
    address = parse_ip(ip)
    return iptocc.country_code(str(address)) if address is not None else None


class CountryLocator:
    """The country of an IP: the MaxMind-format database at ``maxmind_db`` first when one is
    configured, the bundled RIR data for what it does not know."""

    def __init__(self, maxmind_db: StrPath | None = None) -> None:
        self._reader = _open_maxmind(maxmind_db, "IP-to-country") if maxmind_db else None

    def country_of(self, ip: str) -> str | None:
        # Private and reserved addresses are in neither database, so they come back None.
        address = parse_ip(ip)
        if address is None:
            return None
        if self._reader is not None:
            country = _record_country(self._reader.get(address))
            if country is not None:
                return country
        return iptocc.country_code(str(address))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _record_country(record: Record | None) -> str | None:
    """The ISO code in a country record of the shapes in use: MaxMind and DB-IP
    (``country.iso_code``, else ``registered_country.iso_code``), IPinfo (``country_code``
    or a plain ``country``)."""
    if not isinstance(record, dict):
        return None
    candidates: list[object] = []
    for key in ("country", "registered_country"):
        value = record.get(key)
        candidates.append(value.get("iso_code") if isinstance(value, dict) else value)
    candidates.append(record.get("country_code"))
    for candidate in candidates:
        if isinstance(candidate, str) and _COUNTRY_CODE.fullmatch(candidate.upper()):
            return candidate.upper()
    return None


# --- CIDR sets and anonymous IPs ----------------------------------------------------------


class CidrSet:
    """A set of IPv4 and IPv6 networks, merged into sorted ranges: membership is a binary
    search, so lists of 100 000 VPN ranges cost microseconds per lookup."""

    def __init__(self, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        ranges: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for network in networks:
            first, last = int(network.network_address), int(network.broadcast_address)
            ranges[network.version].append((first, last))
        self._ranges = {version: _merged(spans) for version, spans in ranges.items()}
        self._size = len(self._ranges[4][0]) + len(self._ranges[6][0])

    @classmethod
    def from_strings(cls, cidrs: Iterable[str], source: str = "CIDR list") -> CidrSet:
        """Networks or single addresses as text (``10.0.0.0/8``, ``::1``); ``GeoDataError``
        naming ``source`` and the value for one that is neither."""
        networks = []
        for cidr in cidrs:
            network = _parse_network(cidr)
            if network is None:
                raise GeoDataError(f"{source}: {cidr!r} is not an IP network or address")
            networks.append(network)
        return cls(networks)

    @classmethod
    def from_files(cls, paths: Iterable[StrPath]) -> CidrSet:
        """The union of CIDR list files: one network or address a line, ``#`` starts a
        comment, blank lines are skipped. ``GeoDataError`` for a missing file or a bad line,
        naming file and line."""
        return cls(network for path in paths for network in _read_cidr_file(path))

    def __contains__(self, ip: object) -> bool:
        if isinstance(ip, str):
            address = parse_ip(ip)
        elif isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            address = ip
        else:
            return False
        if address is None:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        starts, ends = self._ranges[address.version]
        value = int(address)
        index = bisect.bisect_right(starts, value) - 1
        return index >= 0 and value <= ends[index]

    def __len__(self) -> int:
        """The number of disjoint ranges left after merging."""
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0


def _merged(spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Inclusive integer ranges merged where they overlap or touch: (starts, ends), ascending.

    ``ipaddress.collapse_addresses`` does the same but takes seconds for 100 000 networks."""
    starts: list[int] = []
    ends: list[int] = []
    for first, last in sorted(spans):
        if ends and first <= ends[-1] + 1:
            ends[-1] = max(ends[-1], last)
        else:
            starts.append(first)
            ends.append(last)
    return starts, ends


def _read_cidr_file(path: StrPath) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise GeoDataError(f"CIDR list {path}: cannot be read: {error}") from error
    networks = []
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        network = _parse_network(value)
        if network is None:
            raise GeoDataError(
                f"CIDR list {path}, line {number}: {value!r} is not an IP network or address"
            )
        networks.append(network)
    return networks


def _parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    # Lookups unwrap IPv4-mapped addresses, so a list entry written that way must be too.
    mapped = network.network_address.ipv4_mapped if network.version == 6 else None
    if mapped is not None and network.prefixlen >= 96:
        return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
    return network


class AnonymousIpDetector:
    """Whether an IP belongs to a VPN, proxy, Tor exit or hosting network (client API §3.8
    ``using_vpn``): listed in any of ``cidr_files``, or flagged by the MaxMind Anonymous IP
    database at ``maxmind_db``. With neither configured nothing is anonymous."""

    def __init__(
        self, cidr_files: Iterable[StrPath] = (), maxmind_db: StrPath | None = None
    ) -> None:
        self._cidrs = CidrSet.from_files(cidr_files)
        self._reader = _open_maxmind(maxmind_db, "anonymous-IP") if maxmind_db else None

    def is_anonymous(self, ip: str) -> bool:
        address = parse_ip(ip)
        if address is None:
            return False
        if address in self._cidrs:
            return True
        if self._reader is None:
            return False
        record = self._reader.get(address)
        return isinstance(record, dict) and any(
            record.get(flag) is True for flag in _ANONYMOUS_FLAGS
        )

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _open_maxmind(path: StrPath, purpose: str) -> maxminddb.Reader:
    if not Path(path).exists():
        raise GeoDataError(f"{purpose} database {path}: no such file")
    if not Path(path).is_file():
        raise GeoDataError(f"{purpose} database {path}: not a file")
    try:
        return maxminddb.open_database(path)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
        raise GeoDataError(f"{purpose} database {path}: not a MaxMind DB file: {error}") from error


# --- the client's address behind proxies --------------------------------------------------


def resolve_client_ip(
    peer: str | None, forwarded_for: str | Iterable[str] | None, trusted_proxies: CidrSet
) -> str | None:
    """The address a request came from: the socket ``peer``, unless that is a trusted proxy;
    then the right-most ``X-Forwarded-For`` hop that is not a trusted proxy.

    Hops left of that one were written by the client and prove nothing, so a spoofed header
    cannot move a user. Several header lines count as one list, in order. A malformed hop
    ends the walk at the nearest trusted hop before it; when every hop is trusted the
    left-most is the best known. None when the peer is no address.
    """
    current = parse_ip(peer) if peer else None
    if current is None:
        return None
    if current not in trusted_proxies:
        return str(current)
    lines = [forwarded_for] if isinstance(forwarded_for, str) else list(forwarded_for or ())
    hops = [hop.strip() for line in lines for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _parse_hop(hop)
        if address is None:
            break
        current = address
        if address not in trusted_proxies:
            break
    return str(current)


def _parse_hop(hop: str) -> IpAddress | None:
    match = _BRACKETED_HOP.fullmatch(hop) or _IPV4_WITH_PORT.fullmatch(hop)
    return parse_ip(match.group("address") if match else hop)


# --- countries' main languages ------------------------------------------------------------


@functools.cache
def load_country_languages() -> Mapping[str, str]:
    """Every ISO 3166-1 country (and XK) → its main ISO 639-1 language, from the packaged
    ``data/country_languages.json``; read once per process."""
    raw, source = read_packaged(COUNTRY_LANGUAGES_FILE)
    return parse_country_languages(raw, source)


def parse_country_languages(
    raw: str | bytes, source: str = "<country languages>"
) -> Mapping[str, str]:
    """The ``languages`` object of a country-languages file, checked code by code."""
    document = parse_strict_json(raw, source, GeoDataError)
    languages = document.get("languages") if isinstance(document, dict) else None
    if not isinstance(languages, dict) or not languages:
        raise GeoDataError(f'{source}: needs a non-empty "languages" object')
    for country, language in languages.items():
        if not _COUNTRY_CODE.fullmatch(country):
            raise GeoDataError(f"{source}: {country!r} is not an ISO 3166-1 alpha-2 code")
        if not isinstance(language, str) or not _LANGUAGE_CODE.fullmatch(language):
            raise GeoDataError(f"{source}: {country}: {language!r} is not an ISO 639-1 code")
    return MappingProxyType(dict(languages))
