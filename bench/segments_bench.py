"""Segments benchmark (issue 6): preview p95, full refresh of 50 segments, event-to-membership delay p95.

    .venv/bin/python bench/segments_bench.py                 # N = 100,000 contacts (default, shared CPU)
    .venv/bin/python bench/segments_bench.py --contacts 1000000

It starts its own isolated environment the way the test fixtures do (a fresh
RabbitMQ vhost and database prefix), migrates the segments database, loads N
synthetic contacts straight into the segments projection with COPY, and runs
the real segments service process. Preview and refresh go through RPC, as the
gateway calls them; the delay is measured from publishing a ``contact_updated``
event (the contacts service's envelope) to the membership row appearing or
disappearing in the segments database. Everything is dropped at the end.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["New", "Nurturing", "Qualified", "Hot Lead", "Cold Lead", "Customer", "Lost", "Unqualified"]
POSITIONS = ["CEO", "CTO", "CFO", "Chief Marketing Officer", "Founder", "VP Sales", "Director of IT",
             "Marketing Manager", "Sales Manager", "Engineer", "Analyst", "Consultant", "Head of Procurement"]
CHANNELS = ["Webinar", "Newsletter", "Web Form", "Event", "Referral", "Import"]
TYPES = ["Prospect", "Partner", "Investor", "Customer"]
TAGS = ["enterprise", "smb", "vip", "partner", "newsletter", "webinar", "trial", "churn-risk", "ceo", "tech"]
INDUSTRIES = ["Manufacturing", "Renewable Energy Sources", "Oil & Gas", "Software", "Retail", "Finance"]
PREVIEW_CRITERIA = {"all": [{"field": "score", "op": "gt", "value": 80},
                            {"field": "company_size", "op": "gt", "value": 100},
                            {"field": "stage", "op": "ne", "value": "Lost"}]}
# Other shapes a preview meets, measured with --preview-suite (not in the headline figure): ones the
# score index covers, ones only a sequential or bitmap scan answers, and sparse ones (sample fallback).
PREVIEW_SUITE = {
    "score+size (template)": {"all": [{"field": "score", "op": "gt", "value": 80},
                                      {"field": "company_size", "op": "gt", "value": 100}]},
    "engagement+demo (template)": {"all": [{"field": "engagement_level", "op": "gt", "value": 70},
                                           {"field": "demo_requested", "op": "eq", "value": True}]},
    "size+C-Level (template)": {"all": [{"field": "company_size", "op": "gt", "value": 1000},
                                        {"field": "position", "op": "eq", "value": "C-Level"}]},
    "stage+tag+channel": {"all": [{"field": "stage", "op": "eq", "value": "Qualified"},
                                  {"field": "tags", "op": "contains", "value": "vip"},
                                  {"field": "channel", "op": "in", "value": ["Webinar", "Event"]}]},
    "opened 30 days, not lost": {"all": [{"field": "last_email_opened_at", "op": "within_days", "value": 30},
                                         {"field": "stage", "op": "ne", "value": "Lost"}]},
    "custom field eq": {"all": [{"field": "custom.plan", "op": "eq", "value": "gold"}]},
    "email contains (1%)": {"all": [{"field": "email", "op": "contains", "value": "user12"}]},
    "email contains (one)": {"all": [{"field": "email", "op": "contains", "value": "user99999@"}]},
    "name contains (one)": {"all": [{"field": "name", "op": "contains", "value": "first123456 "}]},
    "company contains+stage+score": {"all": [{"field": "company", "op": "contains", "value": "company 1234"},
                                             {"field": "stage", "op": "ne", "value": "Lost"},
                                             {"field": "score", "op": "gte", "value": 20}]},
    "email contains (short, 2)": {"all": [{"field": "email", "op": "contains", "value": "r7"}]},
    "low engagement, new (sparse)": {"all": [{"field": "engagement_level", "op": "lt", "value": 2},
                                             {"field": "stage", "op": "eq", "value": "New"}]},
    "any of two": {"any": [{"field": "score", "op": "gte", "value": 95},
                           {"field": "tags", "op": "contains", "value": "ceo"}]},
}
FLIP_CRITERIA = {"all": [{"field": "company_size", "op": "gt", "value": 2000},
                         {"field": "score", "op": "gt", "value": 60},
                         {"field": "tags", "op": "contains", "value": "enterprise"}]}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def fifty_segments(rng: random.Random) -> list[dict]:
    """50 realistic three-condition segments (the seed's three among them)."""
    segments = [
        {"all": [{"field": "score", "op": "gt", "value": 80}, {"field": "company_size", "op": "gt", "value": 100}]},
        {"all": [{"field": "engagement_level", "op": "gt", "value": 70},
                 {"field": "demo_requested", "op": "eq", "value": True}]},
        {"all": [{"field": "company_size", "op": "gt", "value": 1000},
                 {"field": "position", "op": "eq", "value": "C-Level"}]},
        FLIP_CRITERIA,
    ]
    while len(segments) < 50:
        segments.append({"all": [
            {"field": "stage", "op": "eq", "value": rng.choice(STAGES)},
            {"field": "tags", "op": "contains", "value": rng.choice(TAGS)},
            rng.choice([{"field": "score", "op": "between", "value": sorted(rng.sample(range(0, 101), 2))},
                        {"field": "channel", "op": "in", "value": rng.sample(CHANNELS, 2)},
                        {"field": "last_email_opened_at", "op": "within_days", "value": rng.choice([7, 30, 90])},
                        {"any": [{"field": "company_size", "op": "gte", "value": rng.choice([50, 500, 5000])},
                                 {"field": "custom.plan", "op": "eq", "value": rng.choice(["gold", "silver"])}]}]),
        ]})
    return segments


def copy_contacts(engine, n: int, seed: int = 7, vacuum: bool = True) -> float:
    """COPY n synthetic contacts into contact_projection (then VACUUM unless told not to); returns seconds."""
    from crm_shared.criteria import role_class

    rng = random.Random(seed)
    now = datetime.now(UTC)
    columns = ("contact_id", "known", "first_name", "last_name", "name", "email", "company", "position",
               "role_class", "industry", "owner_id", "stage", "type", "channel", "company_size", "tags",
               "custom_fields", "created_at", "updated_at", "score", "fit", "engagement", "engagement_level",
               "demo_requested", "last_email_opened_at", "events")
    started = time.monotonic()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        chunk = 50000
        for start in range(0, n, chunk):
            buf = io.StringIO()
            for i in range(start, min(n, start + chunk)):
                position = rng.choice(POSITIONS)
                score = rng.randint(0, 100)
                opened = now - timedelta(days=rng.randint(0, 200)) if rng.random() < 0.6 else None
                demo = rng.random() < 0.1
                tags = "{" + ",".join(rng.sample(TAGS, rng.randint(0, 3))) + "}"
                created = now - timedelta(days=rng.randint(0, 720))
                row = [f"c{i:08d}", "t", f"First{i}", f"Last{i}", f"First{i} Last{i}", f"user{i}@bench.example",
                       f"Company {i % 20000}", position, role_class(position), rng.choice(INDUSTRIES),
                       f"owner{i % 10}", rng.choice(STAGES), rng.choice(TYPES), rng.choice(CHANNELS),
                       str(int(rng.lognormvariate(4.5, 1.6))), tags,
                       json.dumps({"plan": rng.choice(["gold", "silver", "free"])}), created.isoformat(),
                       created.isoformat(), str(score), "0", str(score), f"{rng.uniform(0, 100):.1f}",
                       "t" if demo else "f", opened.isoformat() if opened else "\\N",
                       json.dumps({"demo_requested": now.isoformat()} if demo else {})]
                buf.write("\t".join(v.replace("\t", " ") for v in row) + "\n")
            buf.seek(0)
            cursor.copy_expert(f"COPY contact_projection ({', '.join(columns)}) FROM STDIN", buf)
        raw.commit()
        if vacuum:
            # What autovacuum does within a minute of such a load (and keeps doing, every 2% of rows
            # changed): sets hint bits and the visibility map, which index-only scans rely on.
            raw.set_isolation_level(0)  # VACUUM cannot run inside a transaction block
            cursor.execute("VACUUM (ANALYZE) contact_projection")
        else:
            cursor.execute("ANALYZE contact_projection")
            raw.commit()
    finally:
        raw.close()
    return time.monotonic() - started


class Environment:
    """An isolated vhost + database prefix, like crm_shared.testing.fixtures.crm_env."""

    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.vhost = f"crm_bench_{suffix}"
        self.env = {"CRM_DB_PREFIX": f"crmb_{suffix}_", "CRM_AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}",
                    "CRM_SEGMENTS_REFRESH_SECONDS": "86400"}

    def __enter__(self) -> Environment:
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", self.vhost], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*"],
                       check=True, stdout=subprocess.DEVNULL)
        os.environ.update(self.env)
        return self

    def __exit__(self, *exc) -> None:
        from crm_shared.config import database_url
        from crm_shared.db import drop_database

        try:
            drop_database(database_url("segments"))
        finally:
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost], check=False, stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--previews", type=int, default=30)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--no-vacuum", action="store_true",
                        help="only ANALYZE after the COPY, as runs A-D did (measures before autovacuum came by)")
    parser.add_argument("--preview-suite", action="store_true",
                        help="also time the preview of the criteria shapes in PREVIEW_SUITE")
    args = parser.parse_args(argv)
    if not shutil.which("rabbitmqctl"):
        print("rabbitmqctl is needed to create an isolated vhost")
        return 2
    with Environment():
        return run(args)


def run(args) -> int:
    import sqlalchemy as sa
    from kombu import Connection, Queue

    from crm_shared.auth import create_token
    from crm_shared.config import database_url
    from crm_shared.criteria import validate_criteria
    from crm_shared.db import migrate
    from crm_shared.manage import package_dir
    from crm_shared.reliability import event_exchange, make_envelope
    from crm_shared.rpc import RpcClient
    from crm_shared.system import System

    migrate("segments", package_dir("segments"))
    engine = sa.create_engine(database_url("segments"))
    print(f"loading {args.contacts:,} contacts into the projection with COPY ...", flush=True)
    print(f"  loaded in {copy_contacts(engine, args.contacts, vacuum=not args.no_vacuum):.1f}s "
          f"({'ANALYZE only' if args.no_vacuum else 'then VACUUM (ANALYZE)'})", flush=True)
    with Connection(os.environ["CRM_AMQP_URI"]) as conn:  # a subscriber, so membership events are routable
        Queue("bench-membership-events", exchange=event_exchange("segments"),
              routing_key="segment_membership_changed", durable=False, auto_delete=False)(conn.channel()).declare()

    run_dir = Path(tempfile.mkdtemp(prefix="segments-bench-"))
    system = System(run_dir=run_dir, env=dict(os.environ))
    system.start_one("segments")
    rpc = RpcClient(timeout=600)
    ctx = {"auth_token": create_token("bench-admin", "admin", name="bench", ttl_seconds=7200)}
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                rpc.call("segments", "ping", timeout=3)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

        # 1. preview of a three-condition criteria
        timings = []
        for _ in range(args.previews):
            started = time.monotonic()
            result = rpc.call("segments", "preview", PREVIEW_CRITERIA, 10, context=ctx)
            timings.append((time.monotonic() - started) * 1000)
        print(f"preview (3 conditions, count {result['count']:,} + sample of 10) over RPC, {args.previews} runs: "
              f"p50 {statistics.median(timings):.0f} ms, p95 {p95(timings):.0f} ms", flush=True)

        if args.preview_suite:
            for label, criteria in PREVIEW_SUITE.items():
                timings = []
                for _ in range(args.previews):
                    started = time.monotonic()
                    result = rpc.call("segments", "preview", criteria, 10, context=ctx)
                    timings.append((time.monotonic() - started) * 1000)
                print(f"  preview {label:30s} count {result['count']:>9,}: p50 {statistics.median(timings):5.0f} ms, "
                      f"p95 {p95(timings):5.0f} ms", flush=True)

        # 2. one segment created over RPC (it is populated before the call returns)
        started = time.monotonic()
        single = rpc.call("segments", "create_segment", {"name": "Bench single", "criteria": PREVIEW_CRITERIA},
                          context=ctx)
        print(f"create one segment over RPC incl. population ({single['member_count']:,} members): "
              f"{time.monotonic() - started:.1f}s", flush=True)
        rpc.call("segments", "delete_segment", single["id"], context=ctx)

        # 3. 50 segments: definitions written directly, populated by one refresh, then the daily refresh
        rng = random.Random(11)
        with engine.begin() as conn:
            for i, criteria in enumerate(fifty_segments(rng)):
                conn.execute(sa.text(
                    "INSERT INTO segments (id, organization_id, name, description, color, kind, criteria) "
                    "VALUES (:id, 'default', :name, '', '#2563EB', 'dynamic', CAST(:criteria AS jsonb))"),
                    {"id": str(uuid.uuid4()), "name": f"Bench {i:02d}",
                     "criteria": json.dumps(validate_criteria(criteria))})
        started = time.monotonic()
        populated = rpc.call("segments", "refresh_all", context=ctx)
        members = sum(r["joined"] for r in populated["segments"])
        print(f"first population of 50 segments in one refresh ({members:,} memberships, as many events): "
              f"{time.monotonic() - started:.1f}s", flush=True)
        with engine.connect() as conn:
            segments = [{"id": r.id} for r in conn.execute(sa.text("SELECT id FROM segments ORDER BY name"))]
        # The event backlog a first population leaves is not the steady state: mark it published, in
        # batches that skip the rows the service's relay holds (a plain UPDATE would queue behind it).
        while True:
            with engine.begin() as conn:
                marked = conn.execute(sa.text(
                    "UPDATE outbox SET published_at = now() WHERE id IN (SELECT id FROM outbox "
                    "WHERE published_at IS NULL LIMIT 50000 FOR UPDATE SKIP LOCKED)")).rowcount
            if not marked:
                break
        started = time.monotonic()
        refreshed = rpc.call("segments", "refresh_all", context=ctx)
        print(f"full refresh of 50 segments over {args.contacts:,} contacts: {time.monotonic() - started:.1f}s "
              f"({len(refreshed['segments'])} segments, {sum(r['joined'] + r['left'] for r in refreshed['segments'])}"
              f" changes)", flush=True)

        # 3. event -> membership delay: contact_updated snapshots that flip FLIP_CRITERIA
        flip = segments[3]["id"]
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT * FROM contact_projection WHERE score > 60 AND 'enterprise' = ANY(tags) "
                "AND company_size < 100 LIMIT :n"), {"n": args.events}).mappings().all()
        delays = []
        with Connection(os.environ["CRM_AMQP_URI"]) as conn:
            producer = conn.Producer(serializer="json")
            for row in rows:
                for size, joined in ((5000, True), (10, False)):
                    snapshot = {k: row[k] for k in ("first_name", "last_name", "email", "company", "position",
                                                    "industry", "owner_id", "stage", "type", "channel", "tags",
                                                    "custom_fields", "score")}
                    snapshot.update(id=row["contact_id"], company_size=size, created_at=row["created_at"].isoformat(),
                                    updated_at=datetime.now(UTC).isoformat())
                    envelope = make_envelope("contacts", "contact_updated",
                                             {"contact_id": row["contact_id"], "contact": snapshot,
                                              "changed": ["company_size"]})
                    started = time.monotonic()
                    producer.publish(envelope, exchange=event_exchange("contacts"), routing_key="contact_updated")
                    with engine.connect() as db:
                        while True:
                            present = db.execute(sa.text(
                                "SELECT 1 FROM segment_members WHERE segment_id = :s AND contact_id = :c"),
                                {"s": flip, "c": row["contact_id"]}).first() is not None
                            db.rollback()
                            if present == joined:
                                break
                            if time.monotonic() - started > 30:
                                raise RuntimeError("membership did not change within 30 s")
                            time.sleep(0.005)
                    delays.append((time.monotonic() - started) * 1000)
        print(f"contact_updated event -> membership change, {len(delays)} changes (joins and leaves, 50 segments "
              f"evaluated each): p50 {statistics.median(delays):.0f} ms, p95 {p95(delays):.0f} ms", flush=True)
    finally:
        rpc.close()
        system.stop()
        engine.dispose()
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
