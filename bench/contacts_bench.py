"""Contacts benchmark: list/search, detail aggregate, KPIs, export and throughput through the gateway.

    .venv/bin/python bench/contacts_bench.py [--n 20000] [--requests 200] [--clients 20] [--keep]
    .venv/bin/python bench/contacts_bench.py --reuse SUFFIX   # again on the databases a --keep run left

Starts its own isolated system (fresh RabbitMQ vhost and database prefix,
free ports) the way the test fixtures do, bulk-loads ``--n`` generated
contacts straight into the contacts database with COPY (secondary indexes
dropped during the load and rebuilt after, then ANALYZE), signs in as the
demo admin and prints, through the gateway with that real token:

- p50/p95 of the list with a search term plus two filters (stage, channel),
- p50/p95 of the contact detail aggregate,
- p50/p95 of the KPI cards (as served, with the service's short cache) and of
  the KPI SQL itself uncached,
- p50/p95 of a 1000-row CSV export,
- requests per second with ``--clients`` concurrent clients doing list/search.

It asserts nothing; the figures are for docs/contacts.md.
"""
from __future__ import annotations

import argparse
import io
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
         "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
         "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Steven", "Sandra", "Andrew", "Ashley",
         "Priya", "Kenji", "Fatima", "Omar", "Lena", "Jonas", "Aisha", "Diego", "Hannah", "Ravi"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
        "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
        "Kowalski", "Nguyen", "Tanaka", "Okafor", "Haddad", "Novak", "Jensen", "Moreau", "Fischer", "Lindqvist"]
WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell",
         "Cyberdyne", "Wonka", "Oscorp", "Aperture", "Massive", "Dynamic", "Blue", "Green", "North", "Summit"]
POSITIONS = ["CEO", "CTO", "CFO", "VP of Sales", "Buyer", "Engineer", "Sales Manager", "Energy Manager",
             "Facilities Director", "Analyst", "Head of Procurement", "Marketing Director"]
STAGES = ["New", "Nurturing", "Qualified", "Hot Lead", "Cold Lead", "Customer", "Lost", "Unqualified", "Recycled",
          "Not Interested"]
CHANNELS = ["Webinar", "Newsletter", "Web Form", "Event", "Referral", "Import", "Social Media", "Cold Outreach"]
TYPES = ["Prospect", "Partner", "Investor", "Customer", "Lead"]
TAGS = ["Enterprise", "SMB", "Decision Maker", "Influencer", "Newsletter", "Champion", "Renewal", "Trade Show"]
COLUMNS = ("id", "first_name", "last_name", "name_key", "email", "phone", "company_id", "company", "position",
           "industry", "company_size", "type", "channel", "stage", "owner_id", "tags", "tag_keys", "score",
           "source", "search_text", "created_by", "created_at", "updated_at", "last_contact_at", "last_activity_at")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, stdout=subprocess.DEVNULL, timeout=60)


def commit() -> str:
    """The commit measured (with ``+dirty`` when the tree has changes), for the figures in docs/contacts.md."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def load() -> str:
    """The 1/5/15-minute load average: on a shared machine it says how far the figures can be trusted."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def report(label: str, samples: list[float]) -> None:
    print(f"  {label:<44} n={len(samples):>4}  p50={pct(samples, 50) * 1000:7.1f} ms"
          f"  p95={pct(samples, 95) * 1000:7.1f} ms  mean={statistics.mean(samples) * 1000:7.1f} ms", flush=True)


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def _pg_array(values: list[str]) -> str:
    return "{" + ",".join('"' + v.replace('"', '') + '"' for v in values) + "}"


def bulk_load(url: str, n: int, owners: list[str], seed: int = 11) -> None:
    """COPY ``n`` generated contacts (and their companies) into the contacts database."""
    import psycopg2
    import psycopg2.extensions
    from sqlalchemy.engine import make_url

    from contacts import rules

    psycopg2.extensions.set_wait_callback(None)  # COPY needs a blocking connection (no green wait callback)
    rng = random.Random(seed)
    sa_url = make_url(url)
    conn = psycopg2.connect(host=sa_url.host, port=sa_url.port or 5432, user=sa_url.username,
                            password=sa_url.password, dbname=sa_url.database)
    conn.autocommit = False
    cur = conn.cursor()
    companies = []
    buffer = io.StringIO()
    for i in range(max(50, n // 20)):
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i}"
        cid = str(uuid.uuid4())
        companies.append((cid, name))
        buffer.write(f"{cid}\t{name}\t{rules.company_key(name)}\n")
    buffer.seek(0)
    cur.copy_from(buffer, "companies", columns=("id", "name", "name_key"))
    cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'contacts' "
                "AND indexname NOT LIKE '%pkey' AND indexname NOT LIKE '%email_key'")
    indexes = cur.fetchall()
    for name, _ in indexes:
        cur.execute(f'DROP INDEX "{name}"')
    conn.commit()
    now = datetime.now(UTC)
    started = time.monotonic()
    chunk = 100_000
    for start in range(0, n, chunk):
        buffer = io.StringIO()
        for i in range(start, min(n, start + chunk)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company_id, company = companies[rng.randrange(len(companies))]
            position = rng.choice(POSITIONS)
            tags = rng.sample(TAGS, rng.randint(0, 3))
            email = f"{first}.{last}.{i}@bench{i % 997}.example.com".lower()
            created = now - timedelta(days=rng.randint(0, 720), seconds=rng.randint(0, 86400))
            active = max(created, now - timedelta(days=rng.randint(0, 90)))
            row = (str(uuid.uuid4()), first, last, rules.name_key(first, last), email,
                   f"+1{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(1000, 9999)}", company_id,
                   company, position, rng.choice(["Energy", "Software", "Retail", "Healthcare"]),
                   rng.choice([10, 50, 200, 1000, 5000]), rng.choice(TYPES), rng.choice(CHANNELS),
                   rng.choice(STAGES), rng.choice(owners), _pg_array(tags), _pg_array([t.lower() for t in tags]),
                   max(0, min(100, int(rng.gauss(50, 22)))), "bench",
                   rules.search_text(first, last, company, position, tags, email), "bench",
                   created.isoformat(), created.isoformat(), active.isoformat(), active.isoformat())
            buffer.write("\t".join(_copy_text(v) for v in row) + "\n")
        buffer.seek(0)
        cur.copy_from(buffer, "contacts", columns=COLUMNS)
        conn.commit()
        print(f"  loaded {min(n, start + chunk):>9,} contacts ({time.monotonic() - started:5.1f}s)", flush=True)
    built = time.monotonic()
    for _name, definition in indexes:
        cur.execute(definition)
        conn.commit()
    print(f"  rebuilt {len(indexes)} indexes in {time.monotonic() - built:.1f}s", flush=True)
    cur.execute(r"""INSERT INTO search_terms (term)
                    SELECT DISTINCT w FROM contacts, regexp_split_to_table(search_text, '\s+') AS w
                    WHERE length(w) BETWEEN 3 AND 100 AND position('@' in w) = 0 ON CONFLICT DO NOTHING""")
    conn.commit()
    conn.autocommit = True
    cur.execute("VACUUM ANALYZE contacts")
    cur.execute("VACUUM ANALYZE companies")
    conn.close()


ERRORS: dict[str, int] = {}


def timed(fn, label: str = "") -> float:
    """Seconds one call took; a failed call is counted (and reported) instead of ending the run."""
    started = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - a benchmark reports failures, it does not stop on them
        key = f"{label}: {str(exc)[:80]}"
        ERRORS[key] = ERRORS.get(key, 0) + 1
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="contacts to load (1000000 for the record)")
    parser.add_argument("--requests", type=int, default=200, help="samples per measured call")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients for the throughput run")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the throughput run")
    parser.add_argument("--keep", action="store_true", help="keep the databases and vhost afterwards")
    parser.add_argument("--reuse", metavar="SUFFIX",
                        help="measure again on the databases an earlier --keep run left (crmb_SUFFIX_*): "
                             "no load, pending migrations applied, nothing dropped afterwards")
    args = parser.parse_args(argv)

    suffix = args.reuse or uuid.uuid4().hex[:8]
    keep = args.keep or bool(args.reuse)
    vhost = f"crm_bench_{suffix}"
    if not args.reuse:
        rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    os.environ.update({"CRM_DB_PREFIX": f"crmb_{suffix}_", "CRM_RATE_LIMITS": "off",
                       "CRM_EXPORT_HOURLY_QUOTA": "1000000",
                       "CRM_AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{vhost}"})
    from crm_shared.config import SERVICES, database_url
    from crm_shared.db import drop_database
    from crm_shared.manage import migrate_all
    from crm_shared.system import System
    from crm_shared.testing.api import ApiClient

    migrate_all()
    run_dir = Path(tempfile.mkdtemp(prefix="crm-contacts-bench-"))
    system = System(run_dir=run_dir, env=dict(os.environ), gateway_port=free_port(), smtp_port=free_port())
    try:
        system.start()
        system.wait_healthy(timeout=180)
        subprocess.run([sys.executable, "-m", "deploy.demo", "--only", "users"], cwd=ROOT, env=os.environ,
                       check=True, timeout=120)
        admin = ApiClient(system.base_url).login("admin@demo.crm")
        owners = [u["id"] for u in admin.get("/api/v1/users").json()["items"]]
        n = count_contacts(database_url("contacts")) if args.reuse else args.n
        print(f"contacts benchmark: N={n:,} contacts, {os.cpu_count()} CPUs, commit {commit()}, "
              f"databases crmb_{suffix}_* (--reuse {suffix}), run dir {run_dir}", flush=True)
        if args.reuse:
            print(f"  reusing crmb_{suffix}_* as they are (--n ignored)", flush=True)
        else:
            started = time.monotonic()
            bulk_load(database_url("contacts"), args.n, owners)
            print(f"  bulk load total {time.monotonic() - started:.1f}s", flush=True)
        rng = random.Random(3)
        admin = ApiClient(system.base_url).login("admin@demo.crm")
        ids = [c["id"] for c in admin.get("/api/v1/contacts", params={"per_page": 200, "sort": "-created_at"})
               .json()["items"]]

        def list_params() -> dict:
            term = rng.choice([rng.choice(LAST), rng.choice(LAST)[:-1] + "x", rng.choice(WORDS), rng.choice(POSITIONS)])
            return {"q": term, "stage": rng.choice(STAGES), "channel": rng.choice(CHANNELS)}

        admin = ApiClient(system.base_url).login("admin@demo.crm")  # a fresh token: the load outlives its TTL
        for _ in range(5):  # warm up the gateway threads, the RPC client and the PostgreSQL cache
            admin.get("/api/v1/contacts", params=list_params())
        print(f"through the gateway (admin token), load average {load()}:", flush=True)
        samples = [timed(lambda: admin.get("/api/v1/contacts", params=list_params()).raise_for_status())
                   for _ in range(args.requests)]
        report("list: q + stage + channel", samples)
        samples = [timed(lambda: admin.get("/api/v1/contacts", params={"q": rng.choice(LAST)}).raise_for_status())
                   for _ in range(args.requests)]
        report("list: q only", samples)
        samples = [timed(lambda: admin.get(f"/api/v1/contacts/{rng.choice(ids)}/detail").raise_for_status())
                   for _ in range(args.requests)]
        report("detail aggregate", samples)
        detail_parts(admin.token, ids, rng, max(20, args.requests // 5))
        samples = [timed(lambda: admin.get("/api/v1/contacts/kpis", params={
            "period": rng.choice(["all", "this_month", "last_month"])}).raise_for_status())
            for _ in range(args.requests)]
        report("KPIs (as served, 30 s cache)", samples)
        samples = [timed(lambda: admin.get("/api/v1/contacts/export.csv", params={
            "stage": rng.choice(STAGES)}).raise_for_status()) for _ in range(max(10, args.requests // 10))]
        report("export 1000 rows", samples)
        kpi_sql(database_url("contacts"))
        for key, count in ERRORS.items():
            print(f"  errors: {count} x {key}", flush=True)
        admin = ApiClient(system.base_url).login("admin@demo.crm")
        throughput(system.base_url, admin.token, args.clients, args.seconds, list_params)
        print(f"  load average at the end {load()}", flush=True)
    finally:
        system.stop()
        if not keep:
            for service in SERVICES:
                drop_database(database_url(service))
            rabbitmqctl("delete_vhost", vhost)
    return 0


def detail_parts(token: str, ids: list[str], rng: random.Random, n: int) -> None:
    """Each RPC of the detail aggregate alone (straight over the bus, same token): which part is slow."""
    from crm_shared.rpc import get_client
    from gateway.api.contact_detail import detail_calls

    client = get_client()
    samples: dict[str, list[float]] = {}
    for _ in range(n):
        for part, (service, method, call_args, kwargs) in detail_calls(rng.choice(ids)).items():
            samples.setdefault(part, []).append(timed(
                lambda s=service, m=method, a=call_args, k=kwargs: client.call(
                    s, m, *a, context={"auth_token": token}, timeout=5, **k), f"detail part {part}"))
    for part, values in samples.items():
        report(f"  detail part {part} (RPC alone)", values)


def count_contacts(url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.text("SELECT count(*) FROM contacts"))
    finally:
        engine.dispose()


def kpi_sql(url: str) -> None:
    """The KPI queries without the service cache, straight on the database."""
    import sqlalchemy as sa

    from contacts.operations import ContactOps, _kpi_cache
    from crm_shared.auth import Caller

    engine = sa.create_engine(url)
    samples = []
    with engine.connect() as conn:
        from sqlalchemy.orm import Session

        session = Session(bind=conn)
        ops = ContactOps(session, Caller("bench", "admin", "bench"))
        for period in ["all", "this_month", "last_month"] * 10:
            _kpi_cache.clear()
            samples.append(timed(lambda p=period: ops.kpis(p)))
        session.close()
    engine.dispose()
    report("KPIs (SQL only, uncached)", samples)


def throughput(base_url: str, token: str, clients: int, seconds: float, params) -> None:
    import requests

    done, errors = [], []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        while time.monotonic() < stop:
            started = time.perf_counter()
            with lock:
                query = params()
            response = session.get(f"{base_url}/api/v1/contacts", params=query, timeout=30)
            with lock:
                if response.ok:
                    done.append(time.perf_counter() - started)
                else:
                    errors.append(response.status_code)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    print(f"  throughput: {len(done) / elapsed:6.1f} req/s list+search with {clients} clients over "
          f"{elapsed:.0f}s ({len(errors)} errors{': ' + str(dict(Counter(errors))) if errors else ''})", flush=True)
    if done:
        report(f"list+search latency under {clients} clients", done)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
