"""Web client figures: built bundle sizes, and (with a running system) screen load times in headless Chromium.

    .venv/bin/python bench/web_client.py                       # bundle sizes of the last build
    .venv/bin/python bench/web_client.py --url http://127.0.0.1:8000 -n 5
                                                               # + sign-in, contacts list and detail load times

Load times are wall-clock from navigation until the screen shows its data (contact rows, detail heading);
they depend on the machine's load, so the script prints the conditions next to the figures.
"""
from __future__ import annotations

import argparse
import gzip
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "services" / "gateway" / "gateway" / "static" / "app"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def bundle_sizes() -> None:
    if not (BUILD / "index.html").exists():
        print("no build found: run `npm run build` in services/gateway/web")
        return
    total_raw = total_gz = 0
    for path in sorted(BUILD.rglob("*")):
        if path.is_file():
            raw = path.read_bytes()
            gz = len(gzip.compress(raw, 9))
            total_raw += len(raw)
            total_gz += gz
            print(f"  {path.relative_to(BUILD)!s:40} {len(raw) / 1024:8.1f} KiB  gzip {gz / 1024:7.1f} KiB")
    print(f"  {'total':40} {total_raw / 1024:8.1f} KiB  gzip {total_gz / 1024:7.1f} KiB")


def load_times(url: str, runs: int) -> None:
    import requests
    from playwright.sync_api import sync_playwright

    login = requests.post(f"{url}/api/v1/auth/login", json={"email": "marketing@demo.crm",
                                                             "password": "demo-password"}, timeout=30).json()
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    contacts = requests.get(f"{url}/api/v1/contacts?per_page=1", headers=headers, timeout=30).json()["items"]
    if not contacts:
        contacts = [requests.post(f"{url}/api/v1/contacts", headers=headers, timeout=30, json={
            "first_name": "Bench", "last_name": "Mark", "email": f"bench.{os.getpid()}@example.com"}).json()]
    contact_id = contacts[0]["id"]
    figures: dict[str, list[float]] = {"sign-in to contacts list": [], "contacts list (reload)": [],
                                       "contact detail": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(runs):
            context = browser.new_context(base_url=url, viewport={"width": 1366, "height": 900})
            page = context.new_page()
            page.goto("/login")
            page.get_by_label("Email").fill("marketing@demo.crm")
            page.get_by_label("Password").fill("demo-password")
            start = time.perf_counter()
            page.get_by_role("button", name="Sign in").click()
            page.get_by_test_id("contact-row").first.wait_for(timeout=30_000)
            figures["sign-in to contacts list"].append(time.perf_counter() - start)
            start = time.perf_counter()
            page.reload()
            page.get_by_test_id("contact-row").first.wait_for(timeout=30_000)
            figures["contacts list (reload)"].append(time.perf_counter() - start)
            start = time.perf_counter()
            page.goto(f"/contacts/{contact_id}")
            page.locator(".dh-name").wait_for(timeout=30_000)
            figures["contact detail"].append(time.perf_counter() - start)
            context.close()
        browser.close()
    print(f"  N={runs} runs, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, values in figures.items():
        print(f"  {name:28} median {statistics.median(values) * 1000:7.0f} ms   max {max(values) * 1000:7.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="base URL of a running gateway with the demo users")
    parser.add_argument("-n", type=int, default=5, help="page loads per screen (default 5)")
    args = parser.parse_args()
    print("web client bundle:")
    bundle_sizes()
    if args.url:
        print(f"screen load times against {args.url}:")
        load_times(args.url.rstrip("/"), args.n)


if __name__ == "__main__":
    main()
