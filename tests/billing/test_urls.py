"""Where the billing adapter may post (SSRF): https to public addresses, unless the operator allows more."""

from __future__ import annotations

import pytest

from ispops.billing import urls
from ispops.errors import ValidationFailed

INSIDE = [
    "https://127.0.0.1/x",
    "https://127.10.0.5/x",
    "https://10.0.0.1/x",
    "https://172.16.3.4/x",
    "https://192.168.1.1/x",
    "https://100.64.0.1/x",  # carrier-grade NAT
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/x",
    "https://[fe80::1]/x",
    "https://[fd00::1]/x",
    "https://[::ffff:10.0.0.1]/x",
    "https://localhost/x",
]
NEVER = ["https://0.0.0.0/x", "https://224.0.0.1/x", "https://[::]/x"]  # not even with the allowance


@pytest.mark.parametrize("url", INSIDE)
def test_internal_addresses_are_refused_naming_the_field(url: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        urls.check_url(url, allow_private=False)
    assert err.value.field == "url"
    assert urls.check_url(url, allow_private=True) == url  # the operator allowance


@pytest.mark.parametrize("url", NEVER)
def test_unspecified_and_multicast_addresses_are_never_allowed(url: str) -> None:
    for allow in (False, True):
        with pytest.raises(ValidationFailed) as err:
            urls.check_url(url, allow_private=allow)
        assert err.value.field == "url"


def test_internal_names_are_refused_without_a_lookup() -> None:
    for url in ("https://billing.internal/x", "https://nas.local/x", "https://a.localhost/x"):
        with pytest.raises(ValidationFailed, match="internal name"):
            urls.check_url(url, allow_private=False)


def test_the_webhooks_allowed_networks_apply_to_billing_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(urls.ALLOW_ENV, raising=False)
    monkeypatch.setenv("ISPOPS_WEBHOOK_ALLOWED_NETWORKS", "10.20.0.0/16")
    assert urls.check_url("https://10.20.1.1/billing") == "https://10.20.1.1/billing"
    with pytest.raises(ValidationFailed):
        urls.check_url("https://10.21.1.1/billing")


@pytest.mark.parametrize(
    "url", ["http://203.0.113.9/x", "ftp://billing.example/x", "https:///x", "https://u:p@8.8.8.8/x", "not a url"]
)
def test_only_https_with_a_host_and_no_credentials(url: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        urls.check_url(url, allow_private=False, field="endpoint")
    assert err.value.field == "endpoint"


def test_a_public_address_is_allowed_and_the_allowance_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert urls.check_url("https://8.8.8.8:8443/billing", allow_private=False) == "https://8.8.8.8:8443/billing"
    monkeypatch.delenv(urls.ALLOW_ENV, raising=False)
    with pytest.raises(ValidationFailed):
        urls.check_url("https://127.0.0.1/x")
    monkeypatch.setenv(urls.ALLOW_ENV, "1")
    assert urls.check_url("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/x"
