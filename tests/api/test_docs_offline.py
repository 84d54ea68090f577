"""``/docs`` works without Internet access: every asset comes from this server, from the package."""

from __future__ import annotations

import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

from fastapi.testclient import TestClient

from ispops.api.docs import ASSETS

ROOT = Path(__file__).resolve().parents[2]


class References(HTMLParser):
    """Every ``src`` and ``href`` in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in ("src", "href") and value]


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    return parser.found


def test_docs_load_nothing_from_another_host(app_client: TestClient) -> None:
    page = app_client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    refs = references(page.text)
    assert len(refs) == 3  # the script, the stylesheet, the icon
    assert all(ref.startswith("/docs/assets/") for ref in refs), refs
    assert not re.search(r"https?://|//[a-z]", page.text), "an absolute URL in /docs"
    assert '"validatorUrl": null' in page.text  # the online validator would send the document out
    assert "url: '/openapi.json'" in page.text
    redirect = app_client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200 and not re.search(r"https?://", redirect.text)


def test_the_assets_are_served_from_the_package(app_client: TestClient) -> None:
    types = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
    for ref in references(app_client.get("/docs").text):
        asset = app_client.get(ref)
        assert asset.status_code == 200, ref
        assert types[Path(ref).suffix] in asset.headers["content-type"], ref
        assert asset.content == (ASSETS / Path(ref).name).read_bytes(), ref
    assert b"SwaggerUIBundle" in (ASSETS / "swagger-ui-bundle.js").read_bytes()
    assert "Apache License" in (ASSETS / "LICENSE").read_text()
    assert app_client.get("/docs/assets/swagger-ui-bundle.js.map").status_code == 404  # only what is shipped


def test_the_assets_are_part_of_the_distribution() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = ROOT / "src" / "ispops"
    shipped = {p for pattern in package_data["ispops"] for p in package.glob(pattern)}
    assert set(ASSETS.iterdir()) <= shipped
