"""A NAS added while FreeRADIUS runs is served without a restart (dynamic clients, migration 0021)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from pyrad import packet
from sqlalchemy import text

from ispops.db.session import Database
from ispops.errors import ValidationFailed
from ispops.radius.config import RaddbOptions, render
from tests.factories import make_tenant
from tests.radius.freeradius import FreeRadius, Nas

SECRET = "dyn-secret-1"


def add_nas(db: Database, tenant: str, address: str, shortname: str, secret: str = SECRET) -> None:
    with db.tenant(tenant) as s:
        s.execute(
            text(
                "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
                "values (:t, :a, :short, 'mikrotik', :secret, 'no')"
            ),
            {"t": tenant, "a": address, "short": shortname, "secret": secret},
        )


@pytest.fixture(scope="module")
def started(radius_db: Database, radiusd: FreeRadius) -> FreeRadius:
    """FreeRADIUS started with one NAS (tenant "east"); the tests add the others afterwards."""
    for tenant in ("east", "west", "gone"):
        make_tenant(radius_db, tenant)
        with radius_db.tenant(tenant) as s:
            s.execute(
                text(
                    "insert into radcheck (tenant_id, username, attribute, op, value) "
                    "values (:t, 'alice', 'Cleartext-Password', ':=', :pw)"
                ),
                {"t": tenant, "pw": f"{tenant}-pw"},
            )
    add_nas(radius_db, "east", "127.0.0.30", "bras-static")
    radiusd.dynamic_clients = "127.0.0.0/8"  # off by default
    radiusd.start()
    return radiusd


@pytest.fixture
def tenants() -> list[str]:
    return ["east", "west", "gone"]


def test_a_nas_added_after_start_is_served_with_its_own_tenant(started: FreeRadius, radius_db: Database) -> None:
    static = Nas(started, "127.0.0.30", SECRET)
    assert static.pap("alice", "east-pw").code == packet.AccessAccept  # type: ignore[union-attr]

    add_nas(radius_db, "west", "127.0.0.31", "bras-new")  # FreeRADIUS is not restarted
    new = Nas(started, "127.0.0.31", SECRET)
    accept = new.pap("alice", "west-pw")
    assert accept is not None and accept.code == packet.AccessAccept, started.log_text()[-3000:]
    # Its tenant is west's: east's alice does not log in through it.
    assert new.pap("alice", "east-pw").code == packet.AccessReject  # type: ignore[union-attr]


def test_an_address_that_is_no_nas_stays_dropped(started: FreeRadius) -> None:
    stranger = Nas(started, "127.0.0.39", SECRET)
    stranger.client.timeout = 1
    assert stranger.pap("alice", "east-pw") is None


def test_a_new_nas_with_the_wrong_secret_gets_no_accept(started: FreeRadius, radius_db: Database) -> None:
    add_nas(radius_db, "east", "127.0.0.32", "bras-secret", secret="the-real-one")
    liar = Nas(started, "127.0.0.32", "not-the-secret")
    liar.client.timeout = 1
    reply = liar.pap("alice", "east-pw")
    assert reply is None or reply.code != packet.AccessAccept
    # The lookup did find the NAS: the same address with the real secret is served.
    honest = Nas(started, "127.0.0.32", "the-real-one")
    assert honest.pap("alice", "east-pw").code == packet.AccessAccept  # type: ignore[union-attr]


def test_a_cancelled_tenants_new_nas_is_not_a_client(started: FreeRadius, radius_db: Database) -> None:
    add_nas(radius_db, "gone", "127.0.0.33", "bras-gone")
    with radius_db.platform() as s:
        s.execute(text("update tenants set status = 'cancelled' where id = 'gone'"))
    late = Nas(started, "127.0.0.33", SECRET)
    late.client.timeout = 1
    assert late.pap("alice", "gone-pw") is None


def test_the_lookup_returns_the_live_nas_of_the_address_only(
    radius: psycopg.Connection[tuple[Any, ...]], radius_db: Database
) -> None:
    add_nas(radius_db, "west", "127.0.0.34", "bras-lookup", secret="lookup-secret-3")

    def lookup(address: str) -> list[tuple[Any, ...]]:
        return radius.execute("SELECT shortname, type, secret FROM ispops_radius_client(%s)", (address,)).fetchall()

    assert lookup("127.0.0.34") == [("west/no/bras-lookup", "mikrotik", "lookup-secret-3")]
    assert lookup("127.0.0.99") == []
    with radius_db.tenant("west") as s:
        s.execute(text("update nas set deleted_at = now() where nasname = '127.0.0.34'"))
    assert lookup("127.0.0.34") == []
    # The cross-tenant read is the function's: the RADIUS role itself, with no tenant set, sees no NAS.
    assert radius.execute("SELECT count(*) FROM nas").fetchone() == (0,)


def test_dynamic_clients_can_be_limited_or_turned_off(tmp_path: Path) -> None:
    on = render(tmp_path / "on", RaddbOptions(conninfo="dbname=x", dynamic_clients="10.20.0.0/16", client_lifetime=60))
    site = (on / "sites-enabled" / "ispops-clients").read_text()
    assert "ipaddr = 10.20.0.0/16" in site and "lifetime = 60" in site
    off = render(tmp_path / "off", RaddbOptions(conninfo="dbname=x", dynamic_clients=None))
    assert "dynamic_clients" not in (off / "sites-enabled" / "ispops-clients").read_text()
    default = render(tmp_path / "default", RaddbOptions(conninfo="dbname=x"))  # off: strangers cost lookups
    assert "dynamic_clients" not in (default / "sites-enabled" / "ispops-clients").read_text()
    for bad, field in (
        (RaddbOptions(conninfo="dbname=x", dynamic_clients="10.0.0.1/32"), "dynamic_clients"),
        (RaddbOptions(conninfo="dbname=x", dynamic_clients="not-a-net"), "dynamic_clients"),
        (RaddbOptions(conninfo="dbname=x", client_lifetime=1), "client_lifetime"),
    ):
        with pytest.raises(ValidationFailed) as err:
            render(tmp_path / "bad", bad)
        assert err.value.field == field
