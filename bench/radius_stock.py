"""FreeRADIUS's stock SQL configuration for bench/radius.py (and bench/storm.py through it): its own
``queries.conf`` with our process settings (split from radius.py to keep each file short)."""

from __future__ import annotations

from pathlib import Path

from ispops.radius.config import RaddbOptions, render

STOCK_QUERIES = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/queries.conf")


STOCK_SQL = """sql {{
	dialect = "postgresql"
	driver = "rlm_sql_postgresql"
	postgresql {{
		send_application_name = yes
	}}
	radius_db = "{conninfo}"
	acct_table1 = "radacct"
	acct_table2 = "radacct"
	postauth_table = "radpostauth"
	authcheck_table = "radcheck"
	groupcheck_table = "radgroupcheck"
	authreply_table = "radreply"
	groupreply_table = "radgroupreply"
	usergroup_table = "radusergroup"
	read_groups = no
	read_profiles = no
	delete_stale_sessions = yes
	read_clients = yes
	client_table = "nas"
	group_attribute = "SQL-Group"
	pool {{
		start = 0
		min = 1
		max = {pool}
		spare = {pool}
		uses = 0
		retry_delay = 1
		lifetime = 0
		idle_timeout = 60
	}}
	$INCLUDE {queries}
}}
"""

STOCK_SITE = """server stock {{
	listen {{
		type = auth
		ipaddr = 127.0.0.1
		port = {auth}
	}}
	listen {{
		type = acct
		ipaddr = 127.0.0.1
		port = {acct}
	}}
	authorize {{
		chap
		mschap
		sql
		if (notfound) {{
			reject
		}}
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
		Auth-Type CHAP {{
			chap
		}}
		Auth-Type MS-CHAP {{
			mschap
		}}
	}}
	session {{
		sql
	}}
	post-auth {{
		sql
		Post-Auth-Type REJECT {{
			sql
		}}
	}}
	preacct {{
		stock_acct_unique
	}}
	accounting {{
		sql
	}}
}}
"""

STOCK_POLICY = (  # the stock acct_unique policy without its Class branch (the NAS sends no Class)
    'stock_acct_unique {\n\tupdate request {\n\t\t&Acct-Unique-Session-Id := "%{md5:%{User-Name},'
    "%{Acct-Session-ID},%{%{NAS-IPv6-Address}:-%{NAS-IP-Address}},%{NAS-Identifier},%{NAS-Port-ID},"
    '%{NAS-Port}}"\n\t}\n}\n'
)


def render_stock(out: Path, conninfo: str, auth: int, acct: int, threads: int) -> Path:
    """FreeRADIUS's stock SQL module and queries with our process settings (same threads, same pool)."""
    render(
        out,
        RaddbOptions(
            conninfo=conninfo,
            listen="127.0.0.1",
            auth_port=auth,
            acct_port=acct,
            threads=threads,
            spool=False,
            status_port=None,
        ),
    )
    for name in ("sites-enabled/ispops", "sites-enabled/ispops-spool", "sites-enabled/ispops-coa", "policy.d/ispops"):
        (out / name).unlink()
    (out / "mods-enabled" / "sql").write_text(
        STOCK_SQL.format(conninfo=conninfo, pool=threads + 2, queries=STOCK_QUERIES)
    )
    (out / "sites-enabled" / "stock").write_text(STOCK_SITE.format(auth=auth, acct=acct))
    (out / "policy.d" / "stock").write_text(STOCK_POLICY)
    return out
