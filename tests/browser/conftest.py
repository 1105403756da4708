"""Browser fixtures: Debian's Chromium driven by Playwright, a freshly built web client, screenshots.

The browser cannot be downloaded here, so Playwright launches /usr/bin/chromium
(the `chromium` package; `./crm test` installs it when missing). Screenshots go
to artifacts/screenshots/ (gitignored) so a person can look at the screens.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_shared.testing.api import ApiClient

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "services" / "gateway" / "web"
BUILT_INDEX = ROOT / "services" / "gateway" / "gateway" / "static" / "app" / "index.html"
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _newest_source_mtime() -> float:
    files = [p for p in (WEB / "src").rglob("*") if p.is_file()]
    files += [WEB / name for name in ("index.html", "package.json", "vite.config.ts", "tsconfig.json")]
    return max(p.stat().st_mtime for p in files if p.exists())


def ensure_web_built() -> None:
    """Builds the client when the served copy is missing or older than its sources (tests see the code)."""
    if BUILT_INDEX.exists() and BUILT_INDEX.stat().st_mtime >= _newest_source_mtime():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to build the web client for the browser tests")
    if not (WEB / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True, timeout=600)
    subprocess.run([npm, "run", "-s", "build"], cwd=WEB, check=True, timeout=600)


class RunningSystem:
    """An already running system named by CRM_BROWSER_SYSTEM (a JSON file with base_url and mail_dir)."""

    def __init__(self, path: str):
        data = json.loads(Path(path).read_text())
        self.base_url: str = data["base_url"]
        self.mail_dir = Path(data["mail_dir"])


@pytest.fixture(scope="session")
def web_system(request):
    """The system with an up-to-date web client behind its gateway.

    Normally the whole system of ``crm_system``; while developing the client, CRM_BROWSER_SYSTEM may
    name a running one so that a test iteration does not start every process again (docs/web.md).
    """
    ensure_web_built()
    running = os.environ.get("CRM_BROWSER_SYSTEM")
    if running:
        return RunningSystem(running)
    return request.getfixturevalue("crm_system")


@pytest.fixture(scope="session")
def api(web_system) -> ApiClient:
    """An anonymous client of the system the browser talks to; ``api.as_role('sales')`` signs in."""
    return ApiClient(web_system.base_url)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian 'chromium' package (./crm test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture()
def page(browser, web_system):
    """A fresh browser context (own storage) per test, at a laptop viewport."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=web_system.base_url,
                                  accept_downloads=True)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture(scope="session")
def shot():
    """shot(page, name): a full-page screenshot in artifacts/screenshots/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(pg, name: str, full_page: bool = True) -> Path:
        path = SHOTS / f"{name}.png"
        pg.screenshot(path=str(path), full_page=full_page)
        return path

    return take
