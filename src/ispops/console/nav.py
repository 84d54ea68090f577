"""The console's menu: every page module's ``NAV`` items, shown to a user only when its role may use them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    """One menu entry. Shown when the user's role may ``verb`` the ``resource`` (``ispops.api.permissions``);
    ``resource=""`` means every signed-in user. Entries are grouped by ``section``, in registration order."""

    title: str
    href: str
    resource: str
    verb: str = "read"
    section: str = "Network"


# Filled once by ``ispops.console.app.mount`` from every page module's NAV, in PAGES order.
REGISTRY: list[NavItem] = []


def register(items: Iterable[NavItem]) -> None:
    for item in items:
        if item not in REGISTRY:
            REGISTRY.append(item)


def visible(can: Callable[[str, str], bool]) -> list[tuple[str, list[NavItem]]]:
    """The menu for a user: [(section, items)], sections in order of first appearance, empty ones left out."""
    sections: dict[str, list[NavItem]] = {}
    for item in REGISTRY:
        if not item.resource or can(item.resource, item.verb):
            sections.setdefault(item.section, []).append(item)
    return list(sections.items())
