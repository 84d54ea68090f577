"""NAS addresses: one canonical host address per NAS, unique across tenants (issue 13, item 1).

``nas.nasname`` was any text: ``127.0.0.2/32``, ``0.0.0.0/0``, ``localhost``, ``127.000.000.002``,
``::ffff:127.0.0.2``, ``"127.0.0.2 "``. The unique index ``uq_nas__nasname`` compared the text, and
FreeRADIUS loaded a CIDR value as a network client, so one tenant could take packets from another
tenant's NAS (or from any source) by registering a network or another spelling of its address.

- ``ispops_is_host_address(text)`` (IMMUTABLE, never raises): true when the text is one host address
  exactly as ``host(text::inet)`` prints it (so no prefix length, no padding, lower case, no zero-padded
  octets), and not the unspecified address (``0.0.0.0``, ``::``), an IPv4-mapped address
  (``::ffff:a.b.c.d``: the IPv4 form is the address) or a deprecated IPv4-compatible one (``::a.b.c.d``).
  ``ispops.radius.nas`` applies the same rule in the API, with messages (a test compares the two).
- ``ck_nas__nasname`` (was: 1-128 characters) requires it of every live row. Soft-deleted rows are history
  and keep what they held; restoring one checks it again. ``uq_nas__nasname`` (live rows of all tenants)
  is then exact: one address, one live NAS.
- ``ck_nas__server``: ``server`` (the virtual server) is NULL or ``'ispops'``. A tenant's NAS with
  another value had its packets handled by that virtual server (``ispops-spool`` answered them without
  the tenant policy); the upgrade clears other values. ``ispops_radius_clients()`` returns NULL as
  ``server`` whatever the column holds: the client is global, so FreeRADIUS hands its packets to the
  listener's virtual server, ``ispops`` (checked with FreeRADIUS 3.2.1: NULL and ``'ispops'`` both route
  there; another name routes elsewhere or drops the client). ``ispops_radius_client(text)`` (0021) never
  returned the column.

The upgrade rewrites the live addresses that have one obvious host form (``127.0.0.2/32`` ->
``127.0.0.2``, surrounding blanks trimmed, IPv6 in its compressed lower-case form) and fails, naming the NAS
ids, when a live address is no host address (networks, names, zero-padded IPv4 octets, which some parsers
read as octal, IPv4-mapped IPv6) or two would be the same address afterwards: the operator fixes those by
hand and upgrades again. The downgrade restores the length CHECK and 0014's client list; the cleared
``server`` values and the rewritten addresses stay as they are.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

import importlib

from ispops.db.ddl import each_tenant, steps

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_v0014 = importlib.import_module("ispops.migrations.versions.0014_radius_server")


def _swap(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected one {old!r}"
    return text.replace(old, new)


HOST_ADDRESS = """
CREATE FUNCTION ispops_is_host_address(p_address text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
-- One host address written as host(p_address::inet) prints it; false (never an error) for anything else.
DECLARE a inet;
BEGIN
  a := p_address::inet;
  RETURN host(a) = p_address                              -- no prefix length, padding, upper case, 001
     AND a <> '0.0.0.0'::inet                             -- unspecified
     AND NOT a <<= '::ffff:0.0.0.0/96'::inet              -- IPv4-mapped: the IPv4 form is the address
     AND NOT (a <<= '::/96'::inet AND a <> '::1'::inet);  -- unspecified, deprecated IPv4-compatible
EXCEPTION WHEN data_exception THEN
  RETURN false;
END $$
"""

# Every live address made canonical where that is obvious, or the whole upgrade refused with the NAS ids
# to fix by hand. The owner sees one tenant at a time (FORCE RLS), so the rows are gathered tenant by
# tenant first: collisions are between tenants.
CANONICALISE = """
DO $$
DECLARE
  t record;
  r record;
  a inet;
  v text;
  ids bigint[] := '{}';
  owners text[] := '{}';
  lives boolean[] := '{}';
  names text[] := '{}';
  canons text[] := '{}';
  unfixable text;
  colliding text;
BEGIN
  FOR t IN SELECT id FROM tenants ORDER BY id LOOP
    PERFORM set_config('app.current_tenant_id', t.id, true);
    FOR r IN SELECT n.id, n.nasname, n.deleted_at IS NULL AS live FROM nas n WHERE n.tenant_id = t.id LOOP
      v := btrim(r.nasname, E' \\t\\r\\n');
      BEGIN
        a := v::inet;
      EXCEPTION WHEN data_exception THEN
        a := NULL;
      END;
      ids := ids || r.id;
      owners := owners || t.id::text;
      lives := lives || r.live;
      names := names || r.nasname;
      canons := canons || CASE
        WHEN a IS NULL THEN NULL
        WHEN masklen(a) <> CASE family(a) WHEN 4 THEN 32 ELSE 128 END THEN NULL    -- a network
        WHEN family(a) = 4 AND split_part(v, '/', 1) <> host(a) THEN NULL          -- 010.0.0.1: octal?
        WHEN NOT ispops_is_host_address(host(a)) THEN NULL
        ELSE host(a) END;
    END LOOP;
  END LOOP;
  PERFORM set_config('app.current_tenant_id', '', true);

  SELECT string_agg(format('id %s (tenant %s): %L', x.id, x.owner, x.name), ', ' ORDER BY x.id) INTO unfixable
    FROM unnest(ids, owners, lives, names, canons) AS x(id, owner, live, name, canon)
   WHERE x.live AND x.canon IS NULL;
  SELECT string_agg(format('id %s (tenant %s): %L', x.id, x.owner, x.name), ', ' ORDER BY x.canon, x.id)
    INTO colliding
    FROM unnest(ids, owners, lives, names, canons) AS x(id, owner, live, name, canon)
   WHERE x.live AND x.canon IN (SELECT y.canon FROM unnest(lives, canons) AS y(live, canon)
                                 WHERE y.live GROUP BY y.canon HAVING count(*) > 1);
  IF unfixable IS NOT NULL OR colliding IS NOT NULL THEN
    RAISE EXCEPTION 'nas: these live NAS addresses cannot become one host address each; fix them by hand '
      '(docs/radius.md, "NAS addresses") and upgrade again. Not one host address: %. The same address after '
      'canonicalising: %', coalesce(unfixable, 'none'), coalesce(colliding, 'none')
      USING ERRCODE = 'check_violation', TABLE = 'nas', COLUMN = 'nasname';
  END IF;

  FOR t IN SELECT DISTINCT x.owner FROM unnest(owners, names, canons) AS x(owner, name, canon)
            WHERE x.canon <> x.name LOOP
    PERFORM set_config('app.current_tenant_id', t.owner, true);
    UPDATE nas n SET nasname = x.canon
      FROM unnest(ids, canons) AS x(id, canon)
     WHERE n.tenant_id = t.owner AND n.id = x.id AND x.canon <> n.nasname;
  END LOOP;
  PERFORM set_config('app.current_tenant_id', '', true);
END $$
"""

# The client list, without the tenant-editable virtual server.
CLIENTS = _swap(
    _swap(_v0014.CLIENTS, "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
    "n.type, n.secret, n.server",
    "n.type, n.secret,\n             NULL::text  -- never nas.server: every client is served by the listener's ispops",
)
CLIENTS_0014 = _swap(_v0014.CLIENTS, "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")

NASNAME_0002 = "ALTER TABLE nas ADD CONSTRAINT ck_nas__nasname CHECK (length(nasname) BETWEEN 1 AND 128)"
NAS_KEY_RULE_0002 = "ALTER TABLE nas ADD CONSTRAINT ck_nas__secret CHECK (length(secret) BETWEEN 8 AND 128)"
# A shared secret FreeRADIUS can read from its client file (ispops.radius.clients): no control characters,
# no backslash before a quote or at the end (FreeRADIUS 3.2.1 reads a single-quoted value literally except
# for \'). NOT VALID: a row that already breaks it is left out of the client file (and reported) until it
# is changed, rather than failing the upgrade; every new or changed secret is held to it.
NAS_KEY_RULE = (
    "ALTER TABLE nas ADD CONSTRAINT ck_nas__secret CHECK (length(secret) BETWEEN 8 AND 128 "
    "AND secret !~ '[\\x01-\\x1f\\x7f]' AND strpos(secret, chr(92) || chr(39)) = 0 "
    "AND right(secret, 1) <> chr(92)) NOT VALID"
)

UPGRADE = [
    HOST_ADDRESS,
    CANONICALISE,
    each_tenant("""
    UPDATE nas SET server = NULL WHERE tenant_id = t.id AND server IS NOT NULL AND server <> 'ispops';"""),
    "ALTER TABLE nas DROP CONSTRAINT ck_nas__nasname",
    "ALTER TABLE nas ADD CONSTRAINT ck_nas__nasname CHECK (deleted_at IS NOT NULL OR ispops_is_host_address(nasname))",
    "ALTER TABLE nas ADD CONSTRAINT ck_nas__server CHECK (server IS NULL OR server = 'ispops')",
    "ALTER TABLE nas DROP CONSTRAINT ck_nas__secret",
    NAS_KEY_RULE,
    CLIENTS,
]
DOWNGRADE = [
    CLIENTS_0014,
    "ALTER TABLE nas DROP CONSTRAINT ck_nas__secret",
    NAS_KEY_RULE_0002,
    "ALTER TABLE nas DROP CONSTRAINT ck_nas__server",
    "ALTER TABLE nas DROP CONSTRAINT ck_nas__nasname",
    NASNAME_0002,
    "DROP FUNCTION ispops_is_host_address(text)",
]

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
