"""The vendor table (``radius.vendors.VENDORS``) is the one Python list of NAS vendors and their attributes.

Its numbers and types must be FreeRADIUS's (the server decodes what our CoA sender and probes encode), and
everything else that depends on the vendor list is derived from it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from pyrad import packet
from pyrad.dictionary import Dictionary

from ispops.models.radius import NasType
from ispops.radius import coa_dictionary, probe, provisioning, vendors

FREERADIUS_DICTIONARIES = Path("/usr/share/freeradius")


def _freeradius_vendor(name: str) -> tuple[int, dict[str, tuple[int, str, str]]]:
    """The vendor's number and its attributes (name -> number, type, options) from FreeRADIUS's dictionaries."""
    for path in sorted(FREERADIUS_DICTIONARIES.glob("dictionary.*")):
        content = path.read_text(errors="replace")
        found = re.search(rf"^VENDOR\s+{re.escape(name)}\s+(\d+)", content, re.MULTILINE)
        if found:
            attributes = {}
            for line in content.splitlines():
                fields = line.split()
                if len(fields) >= 4 and fields[0] == "ATTRIBUTE":
                    attributes[fields[1]] = (int(fields[2]), fields[3], " ".join(fields[4:]))
            return int(found.group(1)), attributes
    raise AssertionError(f"FreeRADIUS has no dictionary for vendor {name}")


def test_numbers_and_types_are_freeradius_own() -> None:
    assert FREERADIUS_DICTIONARIES.is_dir(), "the freeradius package must be installed"
    for vendor in vendors.VENDORS:
        number, attributes = _freeradius_vendor(vendor.name)
        assert vendor.number == number, vendor.name
        for attribute in vendor.attributes:
            assert attribute.name.startswith(vendor.prefix), attribute.name
            assert attributes[attribute.name] == (attribute.number, attribute.type, attribute.flags), attribute.name


def test_the_nas_types_are_the_vendors() -> None:
    assert [t.value for t in NasType] == [v.nas_type for v in vendors.VENDORS]
    assert list(vendors.VENDOR_PREFIXES) == [v.nas_type for v in vendors.VENDORS]


def test_managed_reply_holds_every_rendered_vendor_attribute() -> None:
    for vendor in vendors.VENDORS:
        for attribute in vendor.attributes:
            if attribute.managed_values:
                assert attribute.name not in provisioning.MANAGED_REPLY
                assert provisioning.is_managed("radreply", attribute.name, attribute.managed_values[0] + "x")
                assert not provisioning.is_managed("radreply", attribute.name, "other=x")
            else:
                assert (attribute.name in provisioning.MANAGED_REPLY) == attribute.rendered, attribute.name
                assert provisioning.is_managed("radreply", attribute.name) == attribute.rendered, attribute.name
    assert provisioning.is_managed("radreply", "Session-Timeout")
    assert not provisioning.is_managed("radreply", "Reply-Message")


def test_every_dictionary_encodes_every_vendor_attribute() -> None:
    """The CoA sender's and the probe's dictionaries both carry every vendor's attributes, from the table."""
    alone = Dictionary(io.StringIO(vendors.dictionary_text()))
    for dictionary in (alone, coa_dictionary.dictionary(), probe.dictionary()):
        for vendor in vendors.VENDORS:
            for attribute in vendor.attributes:
                known = dictionary.attributes[attribute.name]
                assert (known.vendor, known.code, known.type) == (vendor.name, attribute.number, attribute.type)
    # The probe's own attributes are still there, and a vendor attribute round-trips through a packet.
    assert probe.dictionary().attributes["MS-CHAP2-Response"].vendor == "Microsoft"
    sent = packet.AuthPacket(code=packet.AccessRequest, secret=b"s", dict=probe.dictionary())
    sent["Mikrotik-Rate-Limit"] = "10M/20M"
    decoded = packet.AuthPacket(packet=sent.RequestPacket(), secret=b"s", dict=probe.dictionary())
    assert decoded["Mikrotik-Rate-Limit"] == ["10M/20M"]
