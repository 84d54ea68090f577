"""Schema-driven fuzzing of the whole OpenAPI document against a real uvicorn server.

Every operation gets generated requests (valid and invalid); no response may be a 5xx, and every
response must match the schema the document declares for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ispops.app import create_app
from ispops.auth.principal import Principal
from ispops.auth.tokens import issue_access_token
from ispops.config import Settings
from ispops.db.session import Database
from tests.api.conftest import SECRET
from tests.factories import populate

EXAMPLES = int(os.environ.get("ISPOPS_FUZZ_EXAMPLES", "12"))
# Operations that send packets to an address taken from the data: SNMP to a device and SSH for a backup, and
# the URL checks of a webhook endpoint and of the billing endpoint, which resolve the host name (a DNS query to
# the system's resolver). Their own tests use snmpd/sshd on loopback and IP literals.
OUTBOUND = (
    "poll_device",
    "backup_device",
    "create_webhook_endpoint",
    "update_webhook_endpoint",
    "billing_endpoint_put",
)


@pytest.fixture(scope="module")
def seeded(database: Database) -> dict[str, str]:
    """One row of everything in a tenant, so generated ids sometimes exist."""
    return populate(database, "fuzz-isp", 7)


def token(*, operator: bool) -> str:
    principal = Principal(
        kind="operator" if operator else "user",
        id="fuzzer",
        tenant_id=None if operator else "fuzz-isp",
        roles=frozenset() if operator else frozenset({"tenant_admin"}),
    )
    return issue_access_token(principal, secret=SECRET, ttl_seconds=3600)


def run_schemathesis(url: str, *, operator: bool, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The schemathesis CLI (its pytest plugin does not support this pytest), one run per kind of caller.

    One worker: with two, hypothesis parses lambda sources from two threads at once and CPython
    3.11.7 fails that with "AST constructor recursion depth mismatch" (a CPython bug, not ours).
    """
    paths = ["--include-path-regex" if operator else "--exclude-path-regex", "^/api/v1/tenants"]
    # Operations that send packets to an address taken from the data (SNMP to a device, SSH for a backup):
    # generated data would point them beyond this machine. Their own tests use snmpd/sshd on loopback.
    for contacts_the_network in OUTBOUND:
        paths += ["--exclude-operation-id", contacts_the_network]
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--header",
            f"Authorization: Bearer {token(operator=operator)}",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            "20261124",
            "--workers",
            "1",
            "--suppress-health-check",
            "all",
            "--request-timeout",
            "30",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
            *paths,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_the_operations_left_out_of_the_fuzz_exist() -> None:
    """The exclusions name real operations (a renamed one would silently be fuzzed again)."""
    paths = create_app(Settings(jwt_secret=SECRET)).openapi()["paths"]
    operation_ids = {operation.get("operationId") for path in paths.values() for operation in path.values()}
    assert set(OUTBOUND) <= operation_ids


@pytest.mark.parametrize("operator", [False, True], ids=["tenant-admin", "operator"])
def test_no_server_errors_and_responses_match_the_schema(
    live_url: str, seeded: dict[str, str], operator: bool, tmp_path: Path
) -> None:
    result = run_schemathesis(live_url, operator=operator, tmp_path=tmp_path)
    Path(os.environ.get("ISPOPS_FUZZ_LOG", "/dev/null")).write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout.lower()
