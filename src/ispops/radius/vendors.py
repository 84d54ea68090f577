"""Which reply attributes reach which NAS.

radreply holds every vendor's rendering of a subscriber's plan; at auth time (FreeRADIUS, the
``ispops_radius_reply`` SQL function) and when building a CoA (Python, here) only the attributes of the
NAS's own vendor are sent, plus the vendor-neutral ones (Framed-IP-Address, Session-Timeout, ...).
The rule is by attribute-name prefix; the SQL function mirrors ``VENDOR_PREFIXES`` (a test keeps them equal).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

# nas.type -> the prefix of that vendor's attributes. "other" NASes get the generic WISPr attributes.
VENDOR_PREFIXES: dict[str, str] = {
    "mikrotik": "Mikrotik-",
    "cisco": "Cisco-",
    "juniper": "ERX-",
    "other": "WISPr-",
}

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
