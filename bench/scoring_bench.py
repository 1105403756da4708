"""Scoring benchmark: prints figures, asserts nothing.

1. Full rescore: N contacts with E engagement events each, loaded straight into
   an isolated scoring database, then the same ``bulk.rescore_all`` the 4-hourly
   timer runs (first run: every score new; second run: steady state). The
   transaction is rolled back, so nothing is published.
2. Engagement events per second through the gateway (``POST /api/v1/engagement-events``,
   several client threads) against a freshly started isolated system.
3. Delay from posting a significant event to the new score being visible in
   the contact list (``GET /api/v1/contacts?q=...``), p50/p95.

    .venv/bin/python bench/scoring_bench.py [--contacts 20000] [--events-per-contact 10]
                                            [--api-events 2000] [--threads 8] [--delay-samples 40]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TYPES = ["email_opened", "email_clicked", "page_visited", "pricing_page_visited", "webinar_attended",
         "whitepaper_downloaded", "subscribed", "demo_requested", "email_sent", "call_logged"]
POSITIONS = ["CEO", "VP of Sales", "Sales Manager", "Engineer", "Head of Procurement", "Intern", "Consultant", ""]
INDUSTRIES = ["SaaS", "Utilities", "Retail", "Manufacturing", "Agriculture", "Fintech", ""]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env() -> tuple[str, str | None]:
    """A fresh database prefix and RabbitMQ vhost, as the test fixtures make them."""
    suffix = uuid.uuid4().hex[:8]
    os.environ.update({"CRM_DB_PREFIX": f"crmb_{suffix}_", "CRM_RATE_LIMITS": "off"})
    vhost = None
    if shutil.which("rabbitmqctl"):
        vhost = f"crm_bench_{suffix}"
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True,
                       stdout=subprocess.DEVNULL)
        os.environ["CRM_AMQP_URI"] = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    from crm_shared.manage import migrate_all

    migrate_all()
    return suffix, vhost


def cleanup(vhost: str | None) -> None:
    from crm_shared.config import SERVICES, database_url
    from crm_shared.db import drop_database

    for service in SERVICES:
        try:
            drop_database(database_url(service))
        except Exception as exc:  # best effort
            print(f"could not drop {service}: {exc}")
    if vhost:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False, stdout=subprocess.DEVNULL)


# -- 1. full rescore --------------------------------------------------------------------------------
def load_synthetic(n: int, per_contact: int) -> float:
    """COPY n profiles and n*per_contact events into the scoring database; returns seconds."""
    import psycopg2
    import psycopg2.extensions
    from sqlalchemy.engine import make_url

    from crm_shared.config import database_url

    psycopg2.extensions.set_wait_callback(None)
    url = make_url(database_url("scoring"))
    conn = psycopg2.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                            dbname=url.database)
    rng = random.Random(42)
    now = datetime.now(UTC)
    started = time.monotonic()
    chunk = 50_000
    with conn, conn.cursor() as cur:
        for start in range(0, n, chunk):
            profiles, events = io.StringIO(), io.StringIO()
            for i in range(start, min(n, start + chunk)):
                cid = f"b{i:08d}"
                attrs = json.dumps({"id": cid, "email": f"{cid}@bench.test", "position": rng.choice(POSITIONS),
                                    "industry": rng.choice(INDUSTRIES), "first_name": "B", "stage": "New"})
                profiles.write(f"{cid}\t{cid}@bench.test\tNew\t{attrs}\n")
                for _ in range(per_contact):
                    at = now - timedelta(seconds=rng.uniform(0, 150 * 86400))
                    events.write(f"{uuid.uuid4()}\t{cid}\t{rng.choice(TYPES)}\t{at.isoformat()}\t{{}}\tbench\n")
            profiles.seek(0)
            events.seek(0)
            cur.copy_expert("COPY contact_profiles (contact_id, email, stage, attrs) FROM STDIN", profiles)
            cur.copy_expert("COPY engagement_events (id, contact_id, type, occurred_at, properties, source) "
                            "FROM STDIN", events)
        cur.execute("ANALYZE contact_profiles; ANALYZE engagement_events")
    conn.close()
    return time.monotonic() - started


def bench_rescore(n: int, per_contact: int) -> None:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from crm_shared.config import database_url
    from scoring import bulk

    load_s = load_synthetic(n, per_contact)
    print(f"loaded {n:,} contacts and {n * per_contact:,} events in {load_s:.1f}s")
    engine = sa.create_engine(database_url("scoring"))
    with Session(engine) as db:
        first = bulk.rescore_all(db, "bench")
        print(f"full rescore, all new:     {first['seconds']:.1f}s total (query {first['query_seconds']}s, "
              f"python {first['compute_seconds']}s, write {first['write_seconds']}s), {first['changed']:,} changed, "
              f"{n / max(first['seconds'], 1e-9):,.0f} contacts/s")
        second = bulk.rescore_all(db, "bench")
        print(f"full rescore, steady:      {second['seconds']:.1f}s total, {second['changed']:,} changed")
        db.rollback()
    with engine.begin() as conn:  # keep the running system's periodic rescore off the synthetic rows
        conn.execute(sa.text("TRUNCATE contact_profiles, engagement_events"))
    engine.dispose()


# -- 2 and 3: through the gateway ------------------------------------------------------------------------
def start_system(run_dir: Path):
    from crm_shared.system import System

    system = System(run_dir=run_dir, env=dict(os.environ), gateway_port=free_port(), smtp_port=free_port())
    system.start()
    system.wait_healthy(timeout=240)
    subprocess.run([sys.executable, "-m", "deploy.demo", "--only", "users"], cwd=ROOT, env=os.environ, check=True,
                   timeout=180, stdout=subprocess.DEVNULL)
    return system


def bench_api(base_url: str, total: int, threads: int, samples: int) -> None:
    from crm_shared.testing.api import ApiClient

    admin = ApiClient(base_url).as_role("admin")
    marketing = ApiClient(base_url).as_role("marketing")
    admin.patch("/api/v1/rules/default-hot-lead", json={"enabled": False})
    rng = random.Random()
    tag = "".join(rng.choice(string.ascii_lowercase) for _ in range(6))
    contacts = []
    for i in range(max(50, samples)):
        suffix = "".join(string.ascii_lowercase[int(d)] for d in f"{i:04d}")  # names take letters only
        body = {"first_name": "Bench", "last_name": f"Zq{tag}{suffix}", "email": f"b{i}.{tag}@example.com",
                "position": "Engineer"}
        created = marketing.post("/api/v1/contacts", json=body)
        if created.status_code != 201:
            raise RuntimeError(f"could not create a bench contact: {created.text}")
        contacts.append(created.json())
    for c in contacts:  # scoring knows every contact before the clock starts
        marketing.get(f"/api/v1/contacts/{c['id']}/score")

    errors = [0]
    lock = threading.Lock()

    def worker(count: int, seed: int) -> None:
        client = ApiClient(base_url, marketing.token)
        rng = random.Random(seed)
        for _ in range(count):
            c = rng.choice(contacts)
            r = client.post("/api/v1/engagement-events", json={"contact_id": c["id"], "type": rng.choice(TYPES[:4])})
            if r.status_code != 201:
                with lock:
                    errors[0] += 1

    per = total // threads
    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(per, s)) for s in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - started
    print(f"engagement events via API: {per * threads:,} in {elapsed:.1f}s = {per * threads / elapsed:,.0f} events/s "
          f"({threads} threads, {errors[0]} errors)")

    delays = []
    for c in contacts[:samples]:
        before = marketing.get(f"/api/v1/contacts/{c['id']}").json().get("score")
        sent = time.monotonic()
        recorded = marketing.post("/api/v1/engagement-events", json={"contact_id": c["id"], "type": "demo_requested"})
        target = recorded.json()["score"]["score"]
        deadline = sent + 30
        while time.monotonic() < deadline:
            items = marketing.get("/api/v1/contacts", params={"q": c["last_name"], "per_page": 5}).json()["items"]
            if any(i["id"] == c["id"] and i.get("score") == target for i in items):
                delays.append(time.monotonic() - sent)
                break
            time.sleep(0.01)
        else:
            print(f"  score of {c['id']} not visible after 30 s (was {before}, expected {target})")
    if delays:
        delays.sort()
        p95 = delays[min(len(delays) - 1, int(round(0.95 * (len(delays) - 1))))]
        print(f"event -> score visible in the contact list: p50 {statistics.median(delays) * 1000:.0f} ms, "
              f"p95 {p95 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms ({len(delays)} samples)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=20000)
    parser.add_argument("--events-per-contact", type=int, default=10)
    parser.add_argument("--api-events", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--delay-samples", type=int, default=40)
    parser.add_argument("--skip-api", action="store_true", help="only the rescore part")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    _, vhost = isolated_env()
    system = None
    try:
        bench_rescore(args.contacts, args.events_per_contact)
        if not args.skip_api:
            system = start_system(Path(tempfile.mkdtemp(prefix="crm-bench-")))
            bench_api(system.base_url, args.api_events, args.threads, args.delay_samples)
    finally:
        if system is not None:
            system.stop()
        cleanup(vhost)
    return 0


if __name__ == "__main__":
    sys.exit(main())
