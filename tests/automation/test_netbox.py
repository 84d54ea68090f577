"""NetBox sync against a local double of NetBox's REST API (NetBox cannot run here): import and export of
sites, devices, prefixes and IP ranges, the dry-run diff, ids mapped both ways, and never another ISP's
objects in a shared NetBox."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ispops.automation import jobs, netbox
from ispops.config import Settings
from ispops.db.session import Database
from ispops.models.automation import NetboxSync
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import TokenFor
from tests.automation.conftest import add_device
from tests.automation.doubles import NetboxDouble, serving

TOKEN = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def nb() -> NetboxDouble:
    double = NetboxDouble(TOKEN)
    mine = double.add("tenants", name="ISP A", slug="isp-a")
    other = double.add("tenants", name="Other ISP", slug="other-isp")
    maker = {"id": 90, "name": "MikroTik", "slug": "mikrotik"}
    ccr = double.add("device_types", model="CCR2004", slug="ccr2004", manufacturer=maker)
    role = double.add("device_roles", name="router", slug="router")
    north = double.add("sites", name="POP-North", slug="pop-north", tenant=_t(mine))
    hidden = double.add("sites", name="Secret-POP", slug="secret-pop", tenant=_t(other))
    for name, site, tenant in (("nb-core-1", north, mine), ("other-dev", hidden, other)):
        double.add(
            "devices",
            name=name,
            serial=f"SER-{name}",
            site={"id": site["id"], "name": site["name"], "slug": site["slug"]},
            tenant=_t(tenant),
            device_type={**ccr},
            role={"id": role["id"], "slug": "router", "name": "router"},
            status={"value": "active", "label": "Active"},
            primary_ip4={"id": 5, "address": "192.0.2.10/24"} if tenant is mine else None,
        )
    double.add("prefixes", prefix="10.20.0.0/24", description="access", tenant=_t(mine))
    double.add("prefixes", prefix="10.99.0.0/24", description="not ours", tenant=_t(other))
    double.add(
        "ip_ranges", start_address="10.20.0.10/24", end_address="10.20.0.50/24", description="pppoe", tenant=_t(mine)
    )
    double.add("ip_ranges", start_address="10.99.0.10/24", end_address="10.99.0.20/24", tenant=_t(other))
    return double


def _t(tenant: dict[str, Any]) -> dict[str, Any]:
    return {"id": tenant["id"], "slug": tenant["slug"], "name": tenant["name"]}


@pytest.fixture
def nb_url(nb: NetboxDouble) -> Iterator[str]:
    with serving(nb) as url:
        yield url


@pytest.fixture
def source(nb_url: str) -> netbox.PynetboxSource:
    return netbox.PynetboxSource(nb_url, TOKEN, netbox.Scope(tenant="isp-a"))


def new_sync(db: Database, tenant: str, direction: str, *, dry_run: bool) -> uuid.UUID:
    with db.tenant(tenant) as s:
        sync = NetboxSync(tenant_id=tenant, direction=direction, dry_run=dry_run)
        s.add(sync)
        s.flush()
        return sync.id


def sync_row(admin: psycopg.Connection[Any], sync_id: uuid.UUID) -> dict[str, Any]:
    found = admin.execute("select row_to_json(s)::text from netbox_syncs s where id = %s", (sync_id,)).fetchone()
    assert found is not None
    data: dict[str, Any] = json.loads(found[0])
    return data


def local_state(admin: psycopg.Connection[Any]) -> list[Any]:
    return admin.execute(
        "select (select json_agg(d order by name) from (select name, netbox_id, site_name, serial_number, "
        "host(management_ip) ip from devices) d), (select json_agg(p order by name) from (select name, "
        "network_cidr::text, host(start_ip) s, host(end_ip) e from ip_pools) p), "
        "(select json_agg(m order by object_type, local_id) from (select object_type, local_id, netbox_id "
        "from netbox_mappings) m)"
    ).fetchall()


def test_import_shows_its_diff_first_then_creates_and_maps_only_this_isps_objects(
    tenants: list[str], queue_db: Database, source: netbox.PynetboxSource, admin: psycopg.Connection[Any]
) -> None:
    before = local_state(admin)
    dry = new_sync(queue_db, "isp-a", "import", dry_run=True)
    assert netbox.run_sync(queue_db, "isp-a", dry, source=source) == {"started": True, "status": "success"}
    result = sync_row(admin, dry)
    assert result["status"] == "success", result["error"]
    diff = result["diff"]
    assert [(c["action"], c["name"]) for c in diff["device"]] == [("create", "nb-core-1")]
    assert [(c["action"], c["name"]) for c in diff["site"]] == [("create", "POP-North")]
    assert [(c["action"], c["name"]) for c in diff["ip_range"]] == [("create", "10.20.0.10-10.20.0.50")]
    assert [c["action"] for c in diff["prefix"]] == ["skip"]
    assert "other" not in json.dumps(diff) and "10.99" not in json.dumps(diff) and "Secret" not in json.dumps(diff)
    assert local_state(admin) == before  # a dry run changes nothing

    real = new_sync(queue_db, "isp-a", "import", dry_run=False)
    netbox.run_sync(queue_db, "isp-a", real, source=source)
    assert sync_row(admin, real)["summary"] == {"create": 3, "update": 0, "link": 0, "skip": 1}
    device = admin.execute(
        "select id::text, netbox_id, site_name, serial_number, host(management_ip), vendor, model from devices"
    ).fetchone()
    assert device is not None and device[1:] == (7, "POP-North", "SER-nb-core-1", "192.0.2.10", "MikroTik", "CCR2004")
    pool = admin.execute(
        "select name, network_cidr::text, host(start_ip), host(end_ip), total_ips from ip_pools"
    ).fetchone()
    assert pool == ("pppoe", "10.20.0.0/24", "10.20.0.10", "10.20.0.50", 41)
    mapped = admin.execute("select object_type, local_id, netbox_id from netbox_mappings order by 1").fetchall()
    assert [m[0] for m in mapped] == ["device", "ip_range", "site"]
    assert ("device", device[0], device[1]) in mapped and ("site", "POP-North", 5) in mapped

    again = new_sync(queue_db, "isp-a", "import", dry_run=True)
    netbox.run_sync(queue_db, "isp-a", again, source=source)
    # Everything is mapped; the prefix now has a pool of that network here, so it is linked, not skipped.
    assert sync_row(admin, again)["summary"] == {"create": 0, "update": 0, "link": 1, "skip": 0}
    assert admin.execute("select count(*) from devices where tenant_id = 'isp-b'").fetchone() == (0,)


def test_export_creates_in_netbox_stamped_with_the_isps_tenant_and_maps_back(
    tenants: list[str],
    queue_db: Database,
    store: FileSecretStore,
    source: netbox.PynetboxSource,
    nb: NetboxDouble,
    admin: psycopg.Connection[Any],
) -> None:
    device = add_device(queue_db, store, "isp-a", "edge-local", address="198.51.100.7")
    admin.execute(
        "update devices set site_name = 'POP-South', model = 'CCR2004', serial_number = 'S-77' where id = %s", (device,)
    )
    admin.execute(
        "insert into ip_pools (tenant_id, name, network_cidr, start_ip, end_ip, total_ips, pool_type) "
        "values ('isp-a', 'cgnat', '100.64.0.0/24', '100.64.0.10', '100.64.0.200', 191, 'static')"
    )
    other_before = json.dumps({k: [o for o in v.values() if "other" in json.dumps(o)] for k, v in nb.objects.items()})

    dry = new_sync(queue_db, "isp-a", "export", dry_run=True)
    netbox.run_sync(queue_db, "isp-a", dry, source=source)
    diff = sync_row(admin, dry)["diff"]
    assert [(c["action"], c["name"]) for c in diff["device"]] == [("create", "edge-local")]
    assert [(c["action"], c["name"]) for c in diff["prefix"]] == [("create", "100.64.0.0/24")]
    assert len(nb.objects["devices"]) == 2  # nothing written by a dry run

    real = new_sync(queue_db, "isp-a", "export", dry_run=False)
    netbox.run_sync(queue_db, "isp-a", real, source=source)
    assert sync_row(admin, real)["status"] == "success", sync_row(admin, real)["error"]
    created = [o for o in nb.objects["devices"].values() if o["name"] == "edge-local"]
    assert len(created) == 1 and created[0]["tenant"]["slug"] == "isp-a" and created[0]["serial"] == "S-77"
    assert created[0]["device_type"]["model"] == "CCR2004" and created[0]["site"]["name"] == "POP-South"
    prefix = [o for o in nb.objects["prefixes"].values() if o["prefix"] == "100.64.0.0/24"]
    assert prefix and prefix[0]["tenant"]["slug"] == "isp-a"
    rng = [o for o in nb.objects["ip_ranges"].values() if o.get("description") == "cgnat"]
    assert rng and rng[0]["start_address"] == "100.64.0.10/24" and rng[0]["end_address"] == "100.64.0.200/24"
    assert admin.execute("select netbox_id from devices where id = %s", (device,)).fetchone() == (created[0]["id"],)
    after = json.dumps({k: [o for o in v.values() if "other" in json.dumps(o)] for k, v in nb.objects.items()})
    assert after == other_before  # another ISP's objects are never touched


def test_a_tag_scopes_the_isp_as_well(nb: NetboxDouble, nb_url: str) -> None:
    tag = nb.add("tags", name="isp-a", slug="isp-a-tag")
    nb.add("sites", name="Tagged", slug="tagged", tags=[{"id": tag["id"], "slug": "isp-a-tag"}])
    scoped = netbox.PynetboxSource(nb_url, TOKEN, netbox.Scope(tag="isp-a-tag"))
    assert [r["name"] for r in scoped.list("site")] == ["Tagged"]
    with pytest.raises(Exception, match="exactly one"):
        netbox.Scope(tenant="a", tag="b")


@pytest.fixture
def admin_headers(client: TestClient, tenants: list[str], auth: TokenFor) -> dict[str, str]:
    return auth("isp-a", "tenant_admin")


def test_a_sync_runs_as_a_job_from_the_api(
    client: TestClient,
    admin_headers: dict[str, str],
    queue_db: Database,
    store: FileSecretStore,
    settings: Settings,
    nb_url: str,
    admin: psycopg.Connection[Any],
) -> None:
    bad = client.post(
        "/api/v1/automation_endpoints", json={"kind": "netbox", "url": nb_url, "token": TOKEN}, headers=admin_headers
    )
    assert bad.status_code == 422 and bad.json()["field"] == "netbox_tenant"
    made = client.post(
        "/api/v1/automation_endpoints",
        json={"kind": "netbox", "url": nb_url, "token": TOKEN, "netbox_tenant": "isp-a"},
        headers=admin_headers,
    )
    assert made.status_code == 201, made.text
    sync = client.post("/api/v1/netbox_syncs", json={"direction": "import"}, headers=admin_headers)
    assert sync.status_code == 201 and sync.json()["dry_run"] is True and sync.json()["status"] == "pending"
    queued = admin.execute("select task_name, args->>'sync_id' from procrastinate.procrastinate_jobs").fetchall()
    assert queued == [("automation.netbox_sync", sync.json()["id"])]

    jobs.netbox_sync(queue_db, "isp-a", sync_id=sync.json()["id"], store=store)

    done = client.get(f"/api/v1/netbox_syncs/{sync.json()['id']}", headers=admin_headers).json()
    assert done["status"] == "success" and done["summary"]["create"] == 3
    assert TOKEN not in json.dumps(done) + json.dumps(made.json())
