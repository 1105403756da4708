"""The web client's own unit tests (Vitest), run from pytest so the README's test command covers them.

The type check runs in `npm run build` (tsc before vite), which `./crm test` and the browser tests do.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.browser.conftest import WEB


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed for the web client's tests (Node 20+)")
    if not (WEB / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True, timeout=600)
    return npm


def test_vitest_unit_tests_pass():
    result = subprocess.run([_npm(), "test", "--", "--run"], cwd=WEB, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout

