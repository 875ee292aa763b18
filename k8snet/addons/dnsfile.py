"""Zone files (``--zone-file``, the emulated Internet's DNS): :class:`FileZone`.

Pure: no sockets, no wire format.  The format is described in
``k8snet.addons.dnszone``; :func:`default_ext_zone` writes the lab's one.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

from k8snet.addons.dnsrecords import (
    NXDOMAIN,
    REFUSED,
    Record,
    _address_type,
    _describe,
    _ip,
    _items,
    _Records,
    _soa,
    normalize,
    under,
)

FILE_TTL = 300
FILE_TYPES = ("A", "AAAA", "CNAME", "PTR", "TXT")
OUTSIDE = {"refused": REFUSED, "nxdomain": NXDOMAIN}   # zone file key ``outside``


class FileZone(_Records):
    """Zones from a zone file, answered authoritatively, never forwarded.

    ``outside_rcode``: the answer to a name under none of the zones, from the
    file's ``outside`` key: ``refused`` (the default: an authoritative
    server's answer for a zone it does not serve) or ``nxdomain`` (a
    recursive resolver's answer for a name that does not exist, which is
    what the emulated Internet's resolver says: its zones are all there is).
    """

    forwards = False
    upstream: tuple[str, int] | None = None

    def __init__(self, data: Any = None) -> None:
        super().__init__()
        if data is None:
            data = {"zones": []}
        if not isinstance(data, Mapping):
            raise ValueError("zone file: expected a mapping with 'zones' or 'origin'")
        outside = data.get("outside", "refused")
        if outside not in OUTSIDE:
            raise ValueError(f"zone file: outside: Unsupported value: {outside!r}: "
                             f"supported values: {', '.join(map(repr, OUTSIDE))}")
        self.outside_rcode = OUTSIDE[outside]
        zones = data.get("zones") if "zones" in data else [data]
        if not isinstance(zones, list):
            raise ValueError("zone file: 'zones' must be a list")
        self.origins: list[str] = []
        self._soas: dict[str, Record] = {}
        serial = zlib.crc32(json.dumps(data, sort_keys=True, default=str).encode())
        for i, zone in enumerate(zones):
            try:
                self._add_zone(zone, serial)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise ValueError(f"zones[{i}]: {_describe(exc)}") from None
        # The longest origin wins when zones nest (a delegated child).
        self.origins.sort(key=len, reverse=True)
        self._freeze(self.origins)

    @classmethod
    def from_file(cls, path: str) -> FileZone:
        """Load a zone file; ValueError (or OSError) says why not."""
        import yaml  # only the zone-file mode needs PyYAML

        with open(path, encoding="utf-8") as f:
            try:
                return cls(yaml.safe_load(f))
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise ValueError(f"not valid YAML: {exc}") from None

    def apex(self, name: str) -> str | None:
        return next((origin for origin in self.origins if under(name, origin)), None)

    def _soa_for(self, name: str) -> list[Record]:
        origin = self.apex(name)
        return [self._soas[origin]] if origin is not None else []

    def _chase_target(self, name: str) -> str | None:
        return None  # authoritative only: the client's resolver follows it

    def _add_zone(self, zone: Mapping[str, Any], serial: int) -> None:
        origin = normalize(str(zone["origin"]))
        if not origin:
            raise ValueError("origin must not be empty")
        if origin in self._soas:
            raise ValueError(f"zone {origin} listed twice")
        ttl = int(zone.get("ttl", FILE_TTL))
        self.origins.append(origin)
        self._soas[origin] = _soa(origin, serial, ttl)
        self._add(self._soas[origin])
        for j, entry in enumerate(_items(zone, "records")):
            try:
                self._add(self._file_record(origin, ttl, entry))
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise ValueError(f"{origin} records[{j}]: {_describe(exc)}") from None
        for name, records in self.records.items():
            if under(name, origin) and len(records) > 1 and any(
                    r.type == "CNAME" for r in records):
                raise ValueError(f"{name}: a CNAME cannot have other records")

    @staticmethod
    def _file_record(origin: str, default_ttl: int, entry: Mapping[str, Any]) -> Record:
        raw = str(entry["name"])
        kind = str(entry["type"]).upper()
        if kind not in FILE_TYPES:
            raise ValueError(f"type {kind!r} not supported (use {', '.join(FILE_TYPES)})")
        if raw in ("@", ""):
            name = origin
        elif raw.endswith(".") or under(raw.lower(), origin):
            name = normalize(raw)
        else:
            name = f"{normalize(raw)}.{origin}"
        if not under(name, origin):
            raise ValueError(f"{raw!r} is not in {origin}")
        value = entry["value"]
        if kind in ("A", "AAAA"):
            ip = _ip(value, raw)
            if _address_type(ip) != kind:
                raise ValueError(f"{value!r} is not an {kind} address")
            text = str(ip)
        elif kind in ("CNAME", "PTR"):
            text = normalize(str(value))
            if not text:
                raise ValueError(f"{kind} needs a target name")
        else:
            text = str(value)
            if len(text.encode()) > 255:
                raise ValueError("TXT value longer than 255 bytes")
        return Record(name, kind, int(entry.get("ttl", default_ttl)), text)


def default_ext_zone(ext_ip: str) -> str:
    """The emulated Internet's zone file: example.com, www. and db. -> ext_ip.

    For an IPv4 address it also serves the reverse /24 so that a PTR
    lookup of ext (forwarded by the cluster DNS) has an answer.
    """
    ip = _ip(ext_ip, "ext_ip")
    kind = _address_type(ip)
    lines = [
        "# Zone file for python -m k8snet.addons.dns --zone-file (see k8snet/addons/dnszone.py).",
        "# These zones are the whole emulated Internet: any other name does not exist.",
        "outside: nxdomain",
        "zones:",
        "  - origin: example.com",
        "    records:",
    ]
    lines += [f'      - {{name: "{name}", type: {kind}, value: "{ip}"}}'
              for name in ("@", "www", "db")]
    if ip.version == 4:
        reverse = ip.reverse_pointer.split(".", 1)
        lines += [
            f"  - origin: {reverse[1]}",
            "    records:",
            f'      - {{name: "{reverse[0]}", type: PTR, value: example.com}}',
        ]
    return "\n".join(lines) + "\n"
