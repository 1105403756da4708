"""Demo import: one completed CSV import in the history, made by the marketing demo user.

Runs after contacts (ORDER 50). The file is the seed 001 sample plus a few
messy rows (an invalid email, a phone with letters, a duplicate of a sample
row), so the history, summary and error report have something to show.
Loading twice changes nothing (an import of the same file name is reused).
"""
from __future__ import annotations

import base64
import time

from crm_shared.auth import create_token
from crm_shared.rpc import RpcClient

ORDER = 50
FILE_NAME = "demo-trade-show-leads.csv"
CSV = """Name,Email,Phone,Company,Position,Address,Tags
John Doe,john@example.com,+1 555-123-4567,Acme Corp,Sales Manager,"123 Main St, City, State","prospect,enterprise"
Jane Smith,jane@company.com,+1 555-987-6543,Tech Solutions,Marketing Director,"456 Oak Ave, Austin","lead,technology"
Bob Johnson,bob@startup.com,+1 555-555-1234,Innovation Inc,CEO,"789 Pine Rd, City, State","customer,startup"
Priya Raman,priya.raman@northwind.example,+44 20 7946 0958,Northwind Traders,Procurement Lead,"1 King St, London",event
Tom Becker,tom.becker@fabrikam.example,,Fabrikam,CTO,,"webinar,technology"
John Abc,johnabc.com,,Acme Corp,,,
Mia Wong,mia.wong@contoso.example,555-ABC-1234,Contoso,Analyst,,
Jane Smith,jane@company.com,+1 555-987-6543,Tech Solutions,Marketing Director,"456 Oak Ave, City, State",lead
"""


def _wait(rpc: RpcClient, ctx: dict, import_id: str, statuses: tuple[str, ...], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    job = rpc.call("imports", "get_import", import_id, context=ctx)
    while job["status"] not in statuses and time.monotonic() < deadline:
        time.sleep(0.5)
        job = rpc.call("imports", "get_import", import_id, context=ctx)
    return job


def load(rpc: RpcClient, context: dict) -> None:
    system = context["system_context"]
    users = rpc.call("contacts", "list_users", "marketing", context=system)
    if not users:
        print("demo data: imports skipped (no marketing user)", flush=True)
        return
    user = users[0]
    ctx = {"auth_token": create_token(user["id"], "marketing", name=user["name"], email=user["email"],
                                      ttl_seconds=900)}
    history = rpc.call("imports", "list_imports", 1, 200, True, context=ctx)["items"]
    if any(h["file_name"] == FILE_NAME and h["status"] == "completed" for h in history):
        return
    job = rpc.call("imports", "create_import", FILE_NAME, base64.b64encode(CSV.encode()).decode(), None,
                   context=ctx, timeout=60)
    job = _wait(rpc, ctx, job["id"], ("review", "completed", "failed", "cancelled"))
    if job["status"] == "review":
        rpc.call("imports", "commit_import", job["id"], "merge", context=ctx)
        job = _wait(rpc, ctx, job["id"], ("completed", "failed"))
    print(f"demo data: import {job['file_name']} {job['status']} {job.get('summary') or ''}", flush=True)
