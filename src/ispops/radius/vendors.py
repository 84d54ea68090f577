"""The NAS vendors ispops knows, and which reply attributes reach which NAS: the one Python mirror.

Everything in Python that depends on the vendor list derives from ``VENDORS``:

- ``nas.type``'s values (``models.radius.NasType``, so the ``ck_nas__type`` CHECK list, the API's enum and
  the OpenAPI document);
- the attribute-name prefixes that decide which radreply rows a NAS receives (``VENDOR_PREFIXES``,
  ``for_nas``): at auth time FreeRADIUS applies the same rule through the ``ispops_radius_reply`` SQL
  function, and when building a CoA Python applies it here;
- the reply attributes the database renders from a plan (``rendered``: ``provisioning.MANAGED_REPLY``,
  compared with ``ispops_radius_managed``);
- the vendor sections of the pyrad dictionaries the CoA sender and ``ispops radius test`` encode and decode
  with (``dictionary_text``).

The SQL side (``radius/sql/authorize.sql``, ``radius/sql/render.sql``) is compared with this table by
``tests/radius/test_config.py``, ``tests/radius/test_provisioning.py`` and ``tests/db/test_rules.py``; the
numbers and types by ``tests/radius/test_vendors.py``, against FreeRADIUS's own dictionaries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar


@dataclass(frozen=True)
class Attribute:
    """A vendor-specific attribute, as the vendor's FreeRADIUS dictionary defines it."""

    name: str
    number: int
    type: str
    # Rendered into radreply by ``ispops_radius_rows`` (replaced whenever the plan changes): only the rows
    # whose value starts with one of ``managed_values`` when that is given (Cisco-AVPair carries many things).
    rendered: bool = False
    managed_values: tuple[str, ...] = ()
    flags: str = ""  # the dictionary's options, e.g. ``has_tag``


@dataclass(frozen=True)
class Vendor:
    nas_type: str  # the nas.type value
    name: str  # the vendor's name in the RADIUS dictionaries
    number: int  # its IANA private enterprise number
    prefix: str  # the prefix of its attributes' names
    attributes: tuple[Attribute, ...]


# In the order of the ck_nas__type CHECK list. "other" NASes get the generic WISPr attributes. The
# attributes beyond the rendered ones are those a staff-made radreply row may carry into a CoA.
VENDORS: tuple[Vendor, ...] = (
    Vendor(
        "other",
        "WISPr",
        14122,
        "WISPr-",
        (
            Attribute("WISPr-Redirection-URL", 4, "string"),
            Attribute("WISPr-Bandwidth-Min-Up", 5, "integer"),
            Attribute("WISPr-Bandwidth-Min-Down", 6, "integer"),
            Attribute("WISPr-Bandwidth-Max-Up", 7, "integer", rendered=True),
            Attribute("WISPr-Bandwidth-Max-Down", 8, "integer", rendered=True),
            Attribute("WISPr-Session-Terminate-Time", 9, "string"),
        ),
    ),
    Vendor(
        "cisco",
        "Cisco",
        9,
        "Cisco-",
        (
            Attribute(
                "Cisco-AVPair",
                1,
                "string",
                rendered=True,
                managed_values=("ip:sub-qos-policy-in=", "ip:sub-qos-policy-out="),
            ),
        ),
    ),
    Vendor(
        "mikrotik",
        "Mikrotik",
        14988,
        "Mikrotik-",
        (
            Attribute("Mikrotik-Recv-Limit", 1, "integer"),
            Attribute("Mikrotik-Xmit-Limit", 2, "integer"),
            Attribute("Mikrotik-Group", 3, "string"),
            Attribute("Mikrotik-Rate-Limit", 8, "string", rendered=True),
            Attribute("Mikrotik-Recv-Limit-Gigawords", 14, "integer"),
            Attribute("Mikrotik-Xmit-Limit-Gigawords", 15, "integer"),
            Attribute("Mikrotik-Total-Limit", 17, "integer"),
            Attribute("Mikrotik-Total-Limit-Gigawords", 18, "integer"),
            Attribute("Mikrotik-Address-List", 19, "string", rendered=True),
        ),
    ),
    Vendor(
        "juniper",
        "ERX",
        4874,
        "ERX-",
        (
            Attribute("ERX-Virtual-Router-Name", 1, "string"),
            Attribute("ERX-Address-Pool-Name", 2, "string"),
            Attribute("ERX-Primary-Dns", 4, "ipaddr"),
            Attribute("ERX-Secondary-Dns", 5, "ipaddr"),
            Attribute("ERX-Ingress-Policy-Name", 10, "string"),
            Attribute("ERX-Egress-Policy-Name", 11, "string"),
            Attribute("ERX-Qos-Profile-Name", 26, "string", rendered=True),
            Attribute("ERX-Service-Activate", 65, "string", flags="has_tag"),
            Attribute("ERX-Service-Deactivate", 66, "string"),
        ),
    ),
)

# nas.type -> the prefix of that vendor's attributes.
VENDOR_PREFIXES: dict[str, str] = {vendor.nas_type: vendor.prefix for vendor in VENDORS}
# Every vendor attribute by name.
ATTRIBUTES: dict[str, Attribute] = {a.name: a for vendor in VENDORS for a in vendor.attributes}

T = TypeVar("T")


def applies_to(attribute: str, nas_type: str) -> bool:
    """True when ``attribute`` should be sent to a NAS of ``nas_type``."""
    own = VENDOR_PREFIXES.get(nas_type, VENDOR_PREFIXES["other"])
    if attribute.startswith(own):
        return True
    return not any(attribute.startswith(prefix) for prefix in VENDOR_PREFIXES.values())


def for_nas(rows: Iterable[tuple[str, T]], nas_type: str) -> list[tuple[str, T]]:
    """The (attribute, value) pairs of ``rows`` that a NAS of ``nas_type`` receives, in order."""
    return [(attribute, value) for attribute, value in rows if applies_to(attribute, nas_type)]


def rendered(attribute: str, value: str) -> bool | None:
    """Whether a radreply row of this vendor attribute is the renderer's (None: not a vendor attribute)."""
    known = ATTRIBUTES.get(attribute)
    if known is None:
        return None
    if known.managed_values:
        return value.startswith(known.managed_values)
    return known.rendered


def dictionary_text() -> str:
    """The vendor sections of a pyrad (FreeRADIUS-format) dictionary: every vendor and its attributes."""
    sections = []
    for vendor in sorted(VENDORS, key=lambda v: v.number):
        lines = [f"VENDOR\t{vendor.name}\t{vendor.number}", f"BEGIN-VENDOR\t{vendor.name}"]
        lines += [f"ATTRIBUTE\t{a.name}\t{a.number}\t{a.type}\t{a.flags}".rstrip() for a in vendor.attributes]
        sections.append("\n".join([*lines, f"END-VENDOR\t{vendor.name}"]))
    return "\n\n".join(sections) + "\n"
