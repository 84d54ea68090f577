"""A tenant can never claim another tenant's NAS (issue 13, item 1; migration 0024, ``ispops.radius.nas``).

The attack from the issue, on real FreeRADIUS: tenant "alpha" tries to hold spellings and networks that
cover "bravo"'s NAS at 127.0.0.2 before FreeRADIUS loads its clients. Every attempt is refused (422 naming
``nasname`` through the API, a check violation in SQL as the application role), so bravo's NAS is answered
with bravo's tenant, a packet from 127.0.0.2 signed with alpha's secret gets no answer, and neither does an
unknown source.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pyrad import packet
from sqlalchemy import text

from ispops.app import create_app
from ispops.auth.principal import Principal
from ispops.auth.tokens import issue_access_token
from ispops.config import APP_ROLE, OWNER_ROLE, Settings
from ispops.db import migrate
from ispops.db.server import Server, libpq_dsn
from ispops.db.session import Database
from ispops.radius.nas import address_problem
from tests.api.conftest import SECRET as JWT_SECRET
from tests.factories import make_tenant
from tests.radius.freeradius import FreeRadius, Nas

ALPHA_SECRET = "alpha-chosen-secret"
BRAVO_SECRET = "bravo-real-secret"
# What alpha tried in the issue, and what the refusal tells it to write instead.
ATTACK = {
    "127.0.0.2/32": "without a prefix length: write 127.0.0.2",
    "127.0.0.0/24": "not a network (127.0.0.0/24)",
    "0.0.0.0/0": "not a network (0.0.0.0/0)",
    "localhost": "not a host name",
    "127.000.000.002": "no leading zeros",
    "::ffff:127.0.0.2": "use the IPv4 form 127.0.0.2",
    "127.0.0.2 ": "without spaces around it: write 127.0.0.2",
}
# Other spellings refused, also without rewriting them.
OTHERS = {
    "2001:DB8::1": "written in its canonical form: write 2001:db8::1",
    "2001:0db8::1": "written in its canonical form: write 2001:db8::1",
    "0.0.0.0": "not the unspecified address",  # noqa: S104 (an address refused, not a bind)
    "::": "not the unspecified address",
    "::127.0.0.2": "deprecated IPv4-compatible address; use the IPv4 form 127.0.0.2",
    "fe80::1%eth0": "without a zone index: write fe80::1",
    "127.0.0.2/24": "not a network (127.0.0.2/24)",
    "127.2": "must be one host address",
}
EXAMPLE = "nas.nasname: must be one host address such as 192.0.2.1 or 2001:db8::1"

Conn = psycopg.Connection[tuple[Any, ...]]


def headers(tenant: str) -> dict[str, str]:
    principal = Principal(kind="user", id="u-nas", tenant_id=tenant, roles=frozenset({"tenant_admin"}))
    return {"Authorization": f"Bearer {issue_access_token(principal, secret=JWT_SECRET, ttl_seconds=3600)}"}


def nas_body(address: str, shortname: str, secret: str = ALPHA_SECRET) -> dict[str, Any]:
    return {"nasname": address, "shortname": shortname, "type": "mikrotik", "secret": secret, "require_ma": "no"}


def insert_as_app(server: Server, tenant: str, address: str) -> psycopg.Error | None:
    """An INSERT as the application role, rolled back: the error it raised, if any."""
    with psycopg.connect(libpq_dsn(server.url_for(APP_ROLE))) as conn:
        conn.execute("select set_config('app.current_tenant_id', %s, true)", (tenant,))
        try:
            conn.execute(
                "insert into nas (tenant_id, nasname, shortname, secret) values (%s, %s, 'sql-try', %s)",
                (tenant, address, ALPHA_SECRET),
            )
        except psycopg.Error as exc:
            return exc
        finally:
            conn.rollback()
    return None


@pytest.fixture(scope="module")
def api(radius_server: Server, api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings, server=radius_server), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def attempts(api: TestClient, radius_db: Database, radius_server: Server) -> dict[str, Any]:
    """Bravo's real NAS, then alpha's attempts on it (API and SQL), all before FreeRADIUS loads clients."""
    for tenant in ("alpha", "bravo"):
        make_tenant(radius_db, tenant)
        with radius_db.tenant(tenant) as s:
            s.execute(
                text(
                    "insert into radcheck (tenant_id, username, attribute, op, value) "
                    "values (:t, 'alice', 'Cleartext-Password', ':=', :pw)"
                ),
                {"t": tenant, "pw": f"{tenant}-pw"},
            )
    made = api.post(
        "/api/v1/nas",
        json={**nas_body("127.0.0.2", "bras-b", BRAVO_SECRET), "server": "ispops"},
        headers=headers("bravo"),
    )
    assert made.status_code == 201, made.text
    own = api.post("/api/v1/nas", json=nas_body("127.0.0.3", "bras-a"), headers=headers("alpha"))
    assert own.status_code == 201, own.text
    out: dict[str, Any] = {"alpha_nas": own.json()["id"], "bravo_nas": made.json()["id"]}
    for n, address in enumerate(ATTACK):
        out[f"api {address}"] = api.post("/api/v1/nas", json=nas_body(address, f"grab{n}"), headers=headers("alpha"))
        out[f"sql {address}"] = insert_as_app(radius_server, "alpha", address)
    return out


@pytest.fixture(scope="module")
def started(attempts: dict[str, Any], radiusd: FreeRadius) -> FreeRadius:
    radiusd.start()
    return radiusd


@pytest.fixture
def tenants() -> list[str]:
    return ["alpha", "bravo"]


@pytest.mark.parametrize("address", list(ATTACK))
def test_the_api_refuses_each_claim_with_a_422_naming_nasname(attempts: dict[str, Any], address: str) -> None:
    response = attempts[f"api {address}"]
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == "nasname"
    assert body["detail"].startswith(EXAMPLE) and ATTACK[address] in body["detail"], body["detail"]


@pytest.mark.parametrize("address", list(ATTACK))
def test_the_database_refuses_each_claim_from_the_app_role(attempts: dict[str, Any], address: str) -> None:
    error = attempts[f"sql {address}"]
    assert isinstance(error, psycopg.errors.CheckViolation), error
    assert error.diag.constraint_name == "ck_nas__nasname"


@pytest.mark.parametrize("address", list(OTHERS))
def test_other_spellings_are_refused_not_rewritten(api: TestClient, address: str) -> None:
    response = api.post("/api/v1/nas", json=nas_body(address, "other"), headers=headers("alpha"))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "nasname"
    assert response.json()["detail"].startswith(EXAMPLE) and OTHERS[address] in response.json()["detail"]


@pytest.mark.parametrize("address", ["", "   "])
def test_a_blank_address_is_refused_naming_nasname(api: TestClient, address: str) -> None:
    response = api.post("/api/v1/nas", json=nas_body(address, "blank"), headers=headers("alpha"))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "nasname"


def test_bravos_nas_is_answered_with_bravos_tenant(started: FreeRadius) -> None:
    nas = Nas(started, "127.0.0.2", BRAVO_SECRET)
    accept = nas.pap("alice", "bravo-pw")
    assert accept is not None and accept.code == packet.AccessAccept, started.log_text()[-3000:]
    reject = nas.pap("alice", "alpha-pw")  # alpha's alice does not log in through bravo's NAS
    assert reject is not None and reject.code == packet.AccessReject
    # Alpha's own NAS is served as alpha's.
    own = Nas(started, "127.0.0.3", ALPHA_SECRET)
    assert own.pap("alice", "alpha-pw").code == packet.AccessAccept  # type: ignore[union-attr]


def test_a_packet_from_bravos_address_with_alphas_secret_gets_no_answer(started: FreeRadius) -> None:
    forged = Nas(started, "127.0.0.2", ALPHA_SECRET)
    forged.client.timeout = 1
    assert forged.pap("alice", "alpha-pw") is None


@pytest.mark.parametrize("secret", [ALPHA_SECRET, BRAVO_SECRET])
def test_an_unknown_source_gets_no_answer(started: FreeRadius, secret: str) -> None:
    stranger = Nas(started, "127.0.0.9", secret)
    stranger.client.timeout = 1
    assert stranger.pap("alice", "alpha-pw") is None


def test_an_address_another_tenant_holds_is_a_409_that_names_no_one(api: TestClient, attempts: dict[str, Any]) -> None:
    """The holder's tenant, NAS name or id never appear; the platform operator resolves disputes."""
    created = api.post("/api/v1/nas", json=nas_body("127.0.0.3", "mine-too", BRAVO_SECRET), headers=headers("bravo"))
    changed = api.patch(f"/api/v1/nas/{attempts['bravo_nas']}", json={"nasname": "127.0.0.3"}, headers=headers("bravo"))
    for response in (created, changed):
        assert response.status_code == 409, response.text
        assert response.json()["field"] == "nasname"
        shown = response.text.lower()
        assert "alpha" not in shown and "bras-a" not in shown and f":{attempts['alpha_nas']}" not in shown


def test_a_soft_deleted_nas_frees_its_address(api: TestClient) -> None:
    made = api.post("/api/v1/nas", json=nas_body("127.0.0.60", "leaving"), headers=headers("alpha"))
    assert made.status_code == 201, made.text
    taken = api.post("/api/v1/nas", json=nas_body("127.0.0.60", "arriving", BRAVO_SECRET), headers=headers("bravo"))
    assert taken.status_code == 409
    assert api.delete(f"/api/v1/nas/{made.json()['id']}", headers=headers("alpha")).status_code == 204
    freed = api.post("/api/v1/nas", json=nas_body("127.0.0.60", "arriving", BRAVO_SECRET), headers=headers("bravo"))
    assert freed.status_code == 201, freed.text
    again = api.post("/api/v1/nas", json=nas_body("127.0.0.60", "back"), headers=headers("alpha"))
    assert again.status_code == 409


def test_another_tenant_cannot_see_or_change_a_nas(api: TestClient, attempts: dict[str, Any]) -> None:
    path = f"/api/v1/nas/{attempts['bravo_nas']}"
    assert api.get(path, headers=headers("alpha")).status_code == 404
    assert api.patch(path, json={"description": "mine"}, headers=headers("alpha")).status_code == 404
    assert api.delete(path, headers=headers("alpha")).status_code == 404
    assert api.get(path, headers=headers("bravo")).json()["nasname"] == "127.0.0.2"


def test_the_server_column_cannot_redirect_packets(
    api: TestClient, attempts: dict[str, Any], owner: Conn, radius: Conn, started: FreeRadius
) -> None:
    # The API refuses another virtual server (ispops-spool answered such a NAS without the tenant policy).
    path = f"/api/v1/nas/{attempts['bravo_nas']}"
    refused = api.patch(path, json={"server": "ispops-spool"}, headers=headers("bravo"))
    assert refused.status_code == 422 and refused.json()["field"] == "server", refused.text
    # The database refuses it even from the owner, past the API.
    owner.execute("select set_config('app.current_tenant_id', 'bravo', false)")
    with pytest.raises(psycopg.errors.CheckViolation) as err:
        owner.execute("update nas set server = 'ispops-spool' where nasname = '127.0.0.2'")
    assert err.value.diag.constraint_name == "ck_nas__server"
    # 'ispops' is accepted, and the client list never passes the column on: the client is global and
    # FreeRADIUS gives its packets to the listener's virtual server (ours); bravo's NAS was loaded so.
    rows = radius.execute(
        "select nasname, server from ispops_radius_clients() "
        "where nasname in ('127.0.0.2', '127.0.0.3') order by nasname"
    ).fetchall()
    assert rows == [("127.0.0.2", None), ("127.0.0.3", None)]
    assert Nas(started, "127.0.0.2", BRAVO_SECRET).pap("alice", "bravo-pw").code == packet.AccessAccept  # type: ignore[union-attr]


def _ipv6_patterns() -> list[str]:
    """Every pattern of zero and non-zero groups: where the compressed forms of Python and PostgreSQL could
    differ (the longest run of zeros, ties, a single zero group, embedded IPv4)."""
    out = []
    for bits in range(256):
        value = 0
        for i in range(8):
            value = (value << 16) | (0 if bits >> i & 1 else 0x1A + i)
        out.append(str(ipaddress.IPv6Address(value)))
    return out


def test_the_api_rule_is_the_database_rule(radius: Conn) -> None:
    candidates = [
        *ATTACK,
        *OTHERS,
        *_ipv6_patterns(),
        "127.0.0.2",
        "192.0.2.1",
        "::1",
        "2001:db8::1",
        "255.255.255.255",
        "::ffff:0:0",
        "::1:0:0:0",
        "1::",
        "::2",
        "127.0.0.2/32 ",
        "1.2.3.4.5",
        "1.2.3.256",
        "::ffff:7f00:2",
        "2001:db8::1/128",
        "10.0.0.1\n",
        "\t10.0.0.1",
        "abc",
        "1e2::",
        "010.0.0.1",
        "10.0.0.01",
    ]
    for candidate in candidates:
        in_sql = radius.execute("select ispops_is_host_address(%s)", (candidate,)).fetchone()
        assert in_sql == (address_problem(candidate) is None,), candidate


def test_the_upgrade_canonicalises_what_is_obvious_and_names_what_is_not(empty_server: Server) -> None:
    migrate.upgrade(empty_server, "0023")
    with psycopg.connect(libpq_dsn(empty_server.admin_url), autocommit=True) as conn:
        conn.execute(f"set role {OWNER_ROLE}")
        conn.execute("insert into tenants (id, name, slug) values ('t1', 't1', 't1'), ('t2', 't2', 't2')")

        def add(tenant: str, address: str, short: str, *, server: str | None = None, deleted: bool = False) -> int:
            conn.execute("select set_config('app.current_tenant_id', %s, false)", (tenant,))
            row = conn.execute(
                "insert into nas (tenant_id, nasname, shortname, secret, server, deleted_at) "
                "values (%s, %s, %s, 'a-secret-value', %s, case when %s then now() end) returning id",
                (tenant, address, short, server, deleted),
            ).fetchone()
            assert row is not None
            return int(row[0])

        fixable = {
            add("t1", "127.0.0.2/32", "a"): "127.0.0.2",
            add("t1", " 10.0.0.1 ", "b"): "10.0.0.1",
            add("t2", "2001:DB8:0:0::1", "c", server="elsewhere"): "2001:db8::1",
            add("t2", "10.0.0.1", "d", deleted=True): "10.0.0.1",
            add("t2", "192.0.2.7", "e", server="ispops"): "192.0.2.7",
        }
        network = add("t1", "0.0.0.0/0", "f")
        name = add("t2", "localhost", "g")
        padded = add("t2", "127.000.000.003", "h")
        collide = [add("t1", "192.0.2.9", "i"), add("t2", "192.0.2.9/32", "j")]
        history = add("t1", "10.9.0.0/16", "k", deleted=True)  # soft-deleted: kept as it is

        with pytest.raises(migrate.MigrationFailed) as err:
            migrate.upgrade(empty_server, "0024")
        message = err.value.message
        assert "migration 0024" in message and "fix them by hand" in message
        for nas_id in (network, name, padded, *collide):
            assert f"id {nas_id} (tenant" in message
        assert "a-secret-value" not in message
        assert all(f"id {nas_id} " not in message for nas_id in fixable)

        for tenant, nas_id in (("t1", network), ("t2", name), ("t2", padded), ("t2", collide[1])):
            conn.execute("select set_config('app.current_tenant_id', %s, false)", (tenant,))
            conn.execute("update nas set deleted_at = now() where id = %s", (nas_id,))
        migrate.upgrade(empty_server, "0024")

        def stored() -> dict[int, tuple[str, str | None]]:
            out = {}
            for tenant in ("t1", "t2"):
                conn.execute("select set_config('app.current_tenant_id', %s, false)", (tenant,))
                out.update({int(r[0]): (str(r[1]), r[2]) for r in conn.execute("select id, nasname, server from nas")})
            return out

        after = stored()
        assert {nas_id: after[nas_id][0] for nas_id in fixable} == fixable
        assert after[history][0] == "10.9.0.0/16"
        assert {after[nas_id][1] for nas_id in fixable} == {None, "ispops"}  # "elsewhere" cleared

        clients = "select pg_get_functiondef('ispops_radius_clients()'::regprocedure)"
        assert "n.server" not in str(conn.execute(clients).fetchone())
        migrate.downgrade(empty_server, "0023")
        assert "n.secret, n.server" in str(conn.execute(clients).fetchone())
        assert conn.execute("select to_regprocedure('ispops_is_host_address(text)')").fetchone() == (None,)
        check = conn.execute("select pg_get_constraintdef(oid) from pg_constraint where conname = 'ck_nas__nasname'")
        assert check.fetchone() == ("CHECK (((length(nasname) >= 1) AND (length(nasname) <= 128)))",)


@pytest.mark.parametrize("secret", ["ends-in-a-backslash\\", "quote-\\'-escaped", "tab\tin-it", "line\nbreak"])
def test_a_secret_the_client_file_cannot_carry_is_refused(api: TestClient, radius_server: Server, secret: str) -> None:
    response = api.post("/api/v1/nas", json=nas_body("127.0.0.70", "bad-secret", secret), headers=headers("alpha"))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "secret"
    # The database holds new rows to the same rule, whoever writes them.
    with psycopg.connect(libpq_dsn(radius_server.url_for(APP_ROLE))) as conn:
        conn.execute("select set_config('app.current_tenant_id', 'alpha', true)")
        with pytest.raises(psycopg.errors.CheckViolation) as refused:
            conn.execute(
                "insert into nas (tenant_id, nasname, shortname, secret) values ('alpha', '127.0.0.70', 'sql', %s)",
                (secret,),
            )
        assert refused.value.diag.constraint_name == "ck_nas__secret"
    # Quotes, backslashes elsewhere and other punctuation are fine.
    fine = api.post(
        "/api/v1/nas", json=nas_body("127.0.0.70", "ok-secret", "a'b\\c\"d${x}%{y}#"), headers=headers("alpha")
    )
    assert fine.status_code == 201, fine.text
    assert api.delete(f"/api/v1/nas/{fine.json()['id']}", headers=headers("alpha")).status_code == 204
