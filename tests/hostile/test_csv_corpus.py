"""A corpus of hostile CSV files through the gateway: each is refused with a reason or read correctly.

Never a 5xx, never mojibake, never a formula that a spreadsheet would run.
"""
from __future__ import annotations

import time

import pytest

from crm_shared.testing.helpers import uid

HEADER = "Name,Email,Phone,Company,Position,Address,Tags\n"


def upload(client, data: bytes):
    return client.post("/api/v1/imports", files={"file": ("hostile.csv", data, "text/csv")}, timeout=120)


def wait_settled(client, import_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/imports/{import_id}").json()
        if body["status"] in ("review", "failed", "completed", "cancelled"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"import {import_id} did not settle")


REFUSED = {
    "empty file": b"",
    "only whitespace": b"  \n\n \r\n",
    "header only": HEADER.encode(),
    "binary data": bytes(range(256)) * 40,
    "NUL bytes in text": b"Name,Email\nAda\x00,ada@x.com\n",
    "png image": b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
    "one thousand columns": (",".join(f"col{i}" for i in range(1000)) + "\n" + ",".join("x" * 1000) + "\n").encode(),
    "UTF-8 with an invalid byte":
        "Name,Email\nJosé Núñez,jose@example.com\n".encode() + b"Bad \xff\xfe,bad@example.com\n",
    "UTF-8 BOM then invalid bytes": b"\xef\xbb\xbfName,Email\nAda \xc3\x28,ada@example.com\n",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_hostile_file_is_refused_with_a_reason(marketing, name):
    response = upload(marketing, REFUSED[name])
    if response.status_code == 202:
        body = wait_settled(marketing, response.json()["id"])
        assert body["status"] == "failed", f"{name}: accepted as {body}"
        assert body["message"]
        return
    assert response.status_code in (400, 413, 422), f"{name}: {response.status_code} {response.text[:200]}"
    error = response.json()["error"]
    assert error["message"] and "Traceback" not in response.text


def test_mixed_delimiters_never_fail_the_server(marketing):
    u = uid()
    data = (HEADER + f"Ann Lee,ann{u}@example.com,,Acme,CEO,,\n"
            f"Bob Ray;bob{u}@example.com;;Beta;CTO;;\n").encode()
    response = upload(marketing, data)
    assert response.status_code < 500
    if response.status_code == 202:
        assert wait_settled(marketing, response.json()["id"])["status"] in ("review", "failed")


def test_cp1252_file_is_read_without_mojibake(marketing):
    u = uid()
    data = (HEADER + f"José Müller,jose{u}@example.com,,Café Crème,CEO,,\n").encode("cp1252")
    response = upload(marketing, data)
    assert response.status_code == 202, response.text
    import_id = response.json()["id"]
    assert wait_settled(marketing, import_id)["status"] == "review"
    rows = marketing.get(f"/api/v1/imports/{import_id}/rows").json()["items"]
    text = str(rows)
    assert "José" in text and "Müller" in text and "Café Crème" in text
    assert "Ã" not in text


def test_formula_cells_are_stored_as_text_and_exported_neutralised(api, marketing):
    u = uid()
    data = (HEADER + f'Eve Hack,eve{u}@example.com,,"=HYPERLINK(""http://evil"")",@SUM(A1),"+1 Main St",\n').encode()
    response = upload(marketing, data)
    assert response.status_code == 202, response.text
    import_id = response.json()["id"]
    wait_settled(marketing, import_id)
    commit = marketing.post(f"/api/v1/imports/{import_id}/commit", json={})
    assert commit.status_code == 202, commit.text
    deadline = time.monotonic() + 90
    while marketing.get(f"/api/v1/imports/{import_id}").json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    # another role exports: the marketing user's hourly export quota is spent by other tests in the session
    export = api.as_role("executive").get("/api/v1/contacts/export.csv", params={"import_id": import_id})
    assert export.status_code == 200
    lines = export.text.splitlines()
    assert any("eve" in line for line in lines[1:])
    for line in lines[1:]:
        for cell in line.split('","'):
            assert not cell.strip('"').startswith(("=", "+", "-", "@")), line
