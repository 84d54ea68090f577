"""Domains own their routes: the generic layer imports no domain, and the app wires domains from one list
without depending on their order (issue 14, item 4)."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import ispops.api
from ispops import app as app_module
from ispops.api import domains
from ispops.app import DOMAINS, RESOURCES, create_app
from ispops.auth.principal import Principal
from ispops.auth.tokens import issue_access_token
from ispops.config import Settings

GENERIC = Path(ispops.api.__file__).parent
# Every domain package. The generic layer (ispops.api) imports none of them ...
DOMAIN_PACKAGES = (
    "subscribers",
    "radius",
    "ipam",
    "devices",
    "vpn",
    "tenancy",
    "ftth",
    "wireless",
    "lifecycle",
    "automation",
    "events",
    "billing",
    "auth",
    "audit",
)
# ... except what every route stands on: who is calling (the principal and the dependencies that give it,
# with the tenant scope) and the audit trail that every change writes.
SHARED = frozenset({"ispops.auth.deps", "ispops.auth.principal", "ispops.audit.service"})
SECRET = "layers-" + "x" * 40


def imported_names(tree: ast.AST) -> Iterator[str]:
    """Every dotted name an import statement brings in (``from a.b import c``: ``a.b.c``), anywhere in the
    module, ``TYPE_CHECKING`` blocks and functions included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, "ispops imports absolutely"
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def domain_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "ispops" and parts[1] in DOMAIN_PACKAGES else None


def shared(name: str) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:n]) in SHARED for n in range(1, len(parts) + 1))


def test_the_generic_layer_imports_no_domain() -> None:
    files = sorted(GENERIC.glob("*.py"))
    assert {f.name for f in files} >= {"crud.py", "schemas.py", "references.py", "problems.py", "strict.py"}
    found = [
        f"{path.name}: {name}"
        for path in files
        for name in imported_names(ast.parse(path.read_text(), str(path)))
        if domain_of(name) is not None and not shared(name)
    ]
    assert found == []


def test_the_check_sees_a_domain_import() -> None:
    """The test above would notice: a generic module that imported a domain fails it."""
    tree = ast.parse(
        "from ispops.radius import provisioning\nimport ispops.ipam.service\nfrom ispops import vpn\n"
        "from ispops.auth import service\nfrom ispops.audit.api import RESOURCES\n"
        "from ispops.auth.deps import Scope\nfrom ispops.errors import NotFound\n"
    )
    flagged = [name for name in imported_names(tree) if domain_of(name) is not None and not shared(name)]
    assert flagged == [
        "ispops.radius.provisioning",
        "ispops.ipam.service",
        "ispops.vpn",
        "ispops.auth.service",
        "ispops.audit.api.RESOURCES",
    ]


def test_the_app_lists_every_domain_once_and_names_none_of_them_in_code() -> None:
    assert len(set(DOMAINS)) == len(DOMAINS)
    assert {getattr(d, "__name__", None) for d in DOMAINS} == {f"ispops.{name}.api" for name in DOMAIN_PACKAGES}
    for domain in DOMAINS:
        assert callable(domain.register)
        assert all(spec.model.__module__.startswith("ispops.models") for spec in domain.RESOURCES)
    # No "if name == ..." wiring: the app module mentions no resource by name.
    source = Path(app_module.__file__).read_text()
    assert not [spec.name for spec in RESOURCES if f'"{spec.name}"' in source or f"'{spec.name}'" in source]


def test_a_resource_name_is_declared_once() -> None:
    class Twice:
        RESOURCES = [RESOURCES[0]]

        @staticmethod
        def register(router: Any) -> None:
            pass

    with pytest.raises(ValueError, match=RESOURCES[0].name):
        domains.resources([Twice(), Twice()])


def _flat(routes: Iterable[Any]) -> Iterator[tuple[frozenset[str], str]]:
    """(methods, path) of every route, in the order the router tries them (included routers expanded)."""
    for route in routes:
        inner = getattr(route, "effective_candidates", None)
        if inner is not None:
            yield from _flat(inner())
        elif getattr(route, "methods", None) and getattr(route, "path", None):
            yield frozenset(route.methods), route.path


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/")


def _is_param(segment: str) -> bool:
    return segment.startswith("{")


def _overlap(a: str, b: str) -> bool:
    """Some request path matches both templates."""
    x, y = _segments(a), _segments(b)
    return len(x) == len(y) and all(p == q or _is_param(p) or _is_param(q) for p, q in zip(x, y, strict=True))


def _more_specific(a: str, b: str) -> bool:
    """At the first segment where they differ, ``a`` has a fixed word where ``b`` has a parameter."""
    for p, q in zip(_segments(a), _segments(b), strict=True):
        if p != q:
            return not _is_param(p) and _is_param(q)
    return False


def _orders(order: list[tuple[frozenset[str], str]]) -> list[tuple[str, str]]:
    """Pairs (earlier, later) of same-method routes that a request could match both of."""
    return [
        (a, b) for i, (ma, a) in enumerate(order) for mb, b in order[i + 1 :] if ma & mb and a != b and _overlap(a, b)
    ]


def test_fixed_paths_come_before_parameters_whatever_the_domain_order() -> None:
    for domains_in in (DOMAINS, tuple(reversed(DOMAINS))):
        order = list(_flat(domains.router(domains_in).routes))
        pairs = _orders(order)
        assert ("/api/v1/devices/near", "/api/v1/devices/{key}") in pairs  # the case that needs it
        wrong = [(a, b) for a, b in pairs if _more_specific(b, a)]
        assert wrong == []


def test_devices_near_is_not_taken_for_an_id() -> None:
    """Through the app: GET /api/v1/devices/near reaches the map lookup (which wants lat and lng), not the
    generic read of one device (which would refuse "near" as a key)."""
    app = create_app(Settings(jwt_secret=SECRET))
    app.state.db = None  # never reached: the query is refused first
    app.state.jwt_secret = SECRET
    principal = Principal(kind="user", id="u-1", tenant_id="isp-a", roles=frozenset({"tenant_admin"}))
    headers = {"Authorization": "Bearer " + issue_access_token(principal, secret=SECRET, ttl_seconds=60)}
    response = TestClient(app).get("/api/v1/devices/near", headers=headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["lat", "lng"]  # not "key: not a valid UUID"
