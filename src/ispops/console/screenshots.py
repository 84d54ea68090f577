"""Screenshots of the console's main pages, for docs/console/ and the README.

Signs in to a running console (e.g. ``./dev up`` with its demo data) through the login form, in headless
chromium driven by Playwright, and saves one PNG per page::

    python -m ispops.console.screenshots --url http://127.0.0.1:8000 \\
        --tenant lakeside-fibre --email admin@lakeside-fibre.demo --password ispops-demo-2026 --out docs/console

``--page name=/console/path`` (repeated) replaces the default set; a name ending in ``-phone`` is shot at
390px wide; a path ending in ``/@first`` opens that list and follows its first record's link (a subscriber
360, an OLT, ...). Independent of the test suite; needs the
``playwright`` package (a development dependency) and a chromium (``/usr/bin/chromium`` by default).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# name -> path, in order; "/@first": the list's first record.
PAGES: dict[str, str] = {
    "dashboard": "/console/",
    "subscribers": "/console/r/subscribers",
    "subscriber-360": "/console/r/subscribers/@first",
    "orders": "/console/operations/orders",
    "ftth": "/console/ftth",
    "wireless": "/console/wireless",
    "map": "/console/map",
    "import": "/console/imports",
    "devices": "/console/r/devices",
    "device": "/console/r/devices/@first",
    "device-edit": "/console/r/devices/@first/edit",
    "ip-pools": "/console/r/ip_pools",
    "radius-sessions": "/console/r/radacct?active=true",
    "audit": "/console/operations/audit",
}
PHONE = {"dashboard-phone": "/console/", "subscribers-phone": "/console/r/subscribers"}  # 390px wide
FIRST_ROW = 'main td a, main table a[href*="/console/"]'


def _parse_pages(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not path.startswith("/console"):
            raise SystemExit(f"--page wants name=/console/path, not {item!r}")
        out[name] = path
    return out


def _open(page: Any, path: str) -> bool:
    """Go to ``path`` (following a list's first row for ``/@first``); False when there is nothing there."""
    first = re.match(r"^(.*?)/@first(/.*)?$", path)
    if first is None:
        response = page.goto(path)
        return response is not None and response.status < 400
    page.goto(first.group(1))
    link = page.locator(FIRST_ROW).first
    if link.count() == 0:
        return False
    href = link.get_attribute("href")
    if not href:
        return False
    if first.group(2):
        href = re.sub(r"^/console/subscribers/", "/console/r/subscribers/", href) + first.group(2)
    response = page.goto(href)
    return response is not None and response.status < 400


def _login(page: Any, tenant: str, email: str, password: str, otp: str | None) -> None:
    page.goto("/console/login")
    page.get_by_label("Organisation (tenant id)").fill(tenant)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    if otp:
        page.get_by_label("One-time code").fill(otp)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    if "/console/login" in page.url:
        raise SystemExit("sign-in failed: " + (page.locator("[role=alert]").first.text_content() or "?"))


def shoot(
    url: str,
    tenant: str,
    email: str,
    password: str,
    out: Path,
    *,
    otp: str | None = None,
    pages: dict[str, str] | None = None,
    chromium: str = "/usr/bin/chromium",
) -> list[Path]:
    """Sign in and save one PNG per page into ``out``; returns the files written."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            chosen = pages if pages is not None else PAGES | PHONE
            wide = {k: v for k, v in chosen.items() if not k.endswith("-phone")}
            phone = {k: v for k, v in chosen.items() if k.endswith("-phone")}
            for size, todo in (((1280, 860), wide), ((390, 844), phone)):
                if not todo:
                    continue
                context = browser.new_context(base_url=url, viewport={"width": size[0], "height": size[1]})
                page = context.new_page()
                _login(page, tenant, email, password, otp)
                for name, path in todo.items():
                    if not _open(page, path):
                        print(f"skipped {name}: nothing at {path}", file=sys.stderr)
                        continue
                    page.wait_for_load_state("networkidle")
                    target = out / f"{name}.png"
                    page.screenshot(path=str(target), full_page=size[0] < 800)
                    written.append(target)
                    print(f"wrote {target}")
                context.close()
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--tenant", default="lakeside-fibre")
    parser.add_argument("--email", default="admin@lakeside-fibre.demo")
    parser.add_argument("--password", default="ispops-demo-2026")
    parser.add_argument("--otp", default=None, help="a one-time code, when the user has MFA on")
    parser.add_argument("--out", type=Path, default=Path("docs/console"))
    parser.add_argument("--page", action="append", default=[], help="name=/console/path (replaces the default set)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    chosen = _parse_pages(args.page) if args.page else None
    written = shoot(
        args.url, args.tenant, args.email, args.password, args.out, otp=args.otp, pages=chosen, chromium=args.chromium
    )
    return 0 if written else 1


if __name__ == "__main__":
    raise SystemExit(main())
