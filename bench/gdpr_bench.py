"""GDPR erasure benchmark: how long an erasure takes at the gateway and until every service is clean.

    .venv/bin/python bench/gdpr_bench.py [--contacts 40] [--erase 20] [--pad 100000]

Starts its own isolated system (fresh RabbitMQ vhost and database prefix, free
ports) the way the test fixtures do. Creates ``--contacts`` contacts through
the gateway, each with a note, an engagement event and a segment membership.
Then it pads the tables the erasure scans by text (the contacts audit log and
every service's published outbox) with ``--pad`` filler rows each, because
those scans grow with history. Finally it erases ``--erase`` of the contacts
one after another and prints:

- p50/p95/max latency of ``POST /contacts/{id}/erase`` (the contacts
  transaction: delete, audit pseudonymization, reliability purge, event);
- p50/p95/max time from the request until scoring, segments and messaging
  have all erased their copies (messaging holds the keyed hash).

It asserts nothing; the figures are for docs/gdpr.md.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def figures(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"{name}: n={len(ms)} p50={statistics.median(ms):.0f} ms p95={pct(ms, 0.95):.0f} ms "
            f"max={max(ms):.0f} ms")


def pad(database_url_of, rows: int) -> None:
    """Filler history: audit entries (insert-only, the trigger allows it) and published outbox rows."""
    import sqlalchemy as sa

    from crm_shared.config import SERVICES

    for service in SERVICES:
        engine = sa.create_engine(database_url_of(service))
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO outbox (event_id, source, event_type, envelope, published_at) "
                "SELECT gen_random_uuid()::text, :s, 'filler', jsonb_build_object('data', jsonb_build_object("
                "'contact', jsonb_build_object('email', 'filler' || g || '@pad.example', 'first_name', 'Pad'))), "
                "now() FROM generate_series(1, :n) g"), {"s": service, "n": rows})
            if service == "contacts":
                conn.execute(sa.text(
                    "INSERT INTO audit_log (at, actor_id, actor_role, action, entity, entity_id, before, after, "
                    "details, prev_hash, hash) SELECT now(), 'bench', 'admin', 'update', 'contact', "
                    "gen_random_uuid()::text, NULL, jsonb_build_object('email', 'filler' || g || '@pad.example'), "
                    "'{}'::jsonb, repeat('0', 64), repeat('0', 64) FROM generate_series(1, :n) g"), {"n": rows})
            conn.execute(sa.text("ANALYZE"))
        engine.dispose()


def erased_everywhere(database_url_of, contact_id: str, key: str) -> bool:
    import sqlalchemy as sa

    checks = {"scoring": ("SELECT count(*) FROM contact_profiles WHERE contact_id = :c", 0),
              "segments": ("SELECT count(*) FROM contact_projection WHERE contact_id = :c", 0),
              "messaging": ("SELECT count(*) FROM suppressions WHERE email = :k", 1)}
    for service, (sql, expected) in checks.items():
        engine = sa.create_engine(database_url_of(service), poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                if conn.execute(sa.text(sql), {"c": contact_id, "k": key}).scalar_one() != expected:
                    return False
        finally:
            engine.dispose()
    return True


def projected(database_url_of, ids: list[str]) -> int:
    """How many of the contacts both scoring and segments have projected."""
    import sqlalchemy as sa

    counts = []
    for service, table in (("scoring", "contact_profiles"), ("segments", "contact_projection")):
        engine = sa.create_engine(database_url_of(service), poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                counts.append(conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE contact_id = ANY(:ids)"),
                                           {"ids": ids}).scalar_one())
        finally:
            engine.dispose()
    return min(counts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=40)
    parser.add_argument("--erase", type=int, default=20)
    parser.add_argument("--pad", type=int, default=100000)
    args = parser.parse_args()

    from crm_shared.config import database_url
    from crm_shared.gdpr import email_key
    from crm_shared.testing.api import ApiClient
    from crm_shared.testing.environment import isolated_environment, running_system

    with isolated_environment(), tempfile.TemporaryDirectory() as run_dir, \
            running_system(Path(run_dir)) as system:
        admin = ApiClient(system.base_url).as_role("admin")
        segment = admin.post("/api/v1/segments", json={"name": f"Bench {uuid.uuid4().hex[:6]}",
                                                       "kind": "static"}).json()
        contacts = []
        for _ in range(args.contacts):
            tag = uuid.uuid4().hex[:8]
            last = "Erase" + "".join(chr(97 + int(c, 16)) for c in tag)  # names are letters only
            response = admin.post("/api/v1/contacts", json={"first_name": "Bench", "last_name": last,
                                                            "email": f"bench.{tag}@erase.example"})
            response.raise_for_status()
            contact = response.json()
            admin.post(f"/api/v1/contacts/{contact['id']}/notes", json={"text": f"Call {contact['email']}"})
            admin.post("/api/v1/engagement-events", json={"contact_id": contact["id"], "type": "email_opened"})
            contacts.append(contact)
        admin.post(f"/api/v1/segments/{segment['id']}/members", json={"contact_ids": [c["id"] for c in contacts]})
        ids = [c["id"] for c in contacts]
        deadline = time.monotonic() + 120
        while projected(database_url, ids) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.5)  # the projections catch up before the clock starts
        started = time.monotonic()
        pad(database_url, args.pad)
        print(f"padded {args.pad} audit entries and {args.pad} published outbox rows per service "
              f"in {time.monotonic() - started:.1f}s")

        latencies, clean = [], []
        for contact in contacts[:args.erase]:
            key = email_key(contact["email"])
            t0 = time.monotonic()
            response = admin.post(f"/api/v1/contacts/{contact['id']}/erase", timeout=60)
            latencies.append(time.monotonic() - t0)
            if response.status_code != 200:
                print("erase failed:", response.status_code, response.text[:200])
                continue
            while not erased_everywhere(database_url, contact["id"], key):
                if time.monotonic() - t0 > 60:
                    print("not erased everywhere within 60 s:", contact["id"])
                    break
                time.sleep(0.05)
            clean.append(time.monotonic() - t0)
        print(f"contacts={args.contacts} erased={len(clean)} pad={args.pad} (shared 2-core machine)")
        print(figures("erase request (gateway round trip)", latencies))
        print(figures("erased in every service (from request)", clean))


if __name__ == "__main__":
    main()
