"""contacts.import_batch in-process: rows per second of the commit stage without the bus, with an optional profile.

    .venv/bin/python bench/import_batch_bench.py [--rows 5000] [--batch 1000] [--existing 20000]
                                                 [--merge-share 0.1] [--profile]

Creates a fresh contacts database (own prefix), COPY-loads ``--existing``
contacts with the contacts benchmark's loader, then stores ``--rows`` import
rows through ``import_ops.import_batch`` in batches of ``--batch`` with a real
outbox (the events are written, not published) and a committed transaction per
batch, as the service does. About ``--merge-share`` of the rows merge into
existing contacts, 3% are invalid. It prints rows per second and, with
``--profile``, the 25 costliest functions (CRM_BENCH_PROFILE_FILE=path also dumps the profile for pstats) and,
with ``--statements``, the database time per statement kind. It asserts nothing; it shows what
bounds the commit stage of the imports benchmark (bench/imports_bench.py).
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rows(n: int, start: int, existing_ids: list[str], merge_share: float, rng: random.Random) -> list[dict]:
    rows = []
    for i in range(start, start + n):
        number = i + 1
        if existing_ids and rng.random() < merge_share:
            rows.append({"row": number, "action": "merge", "contact_id": rng.choice(existing_ids),
                         "fields": {"department": rng.choice(["Ops", "Sales", "IT"]),
                                    "tags": ["imported", f"batch{number % 7}"]}})
            continue
        first = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)).title()
        fields = {"first_name": first, "last_name": rng.choice(["Smith", "Jones", "Nguyen", "Garcia"]),
                  "email": f"row{i}.{uuid.uuid4().hex[:6]}@example.com",
                  "phone": f"+1 415 555 {i % 10000:04d}", "company": f"Company {i % 500}",
                  "position": rng.choice(["CEO", "Sales Manager", "Engineer", "CTO"]),
                  "tags": ["imported"], "utility_type": "Solar"}
        if rng.random() < 0.03:
            fields["email"] = "not-an-email"
        rows.append({"row": number, "action": "create", "fields": fields})
    return rows


def _time_statements(engine, totals: dict[str, list[float]]) -> None:
    """Accumulate the wall time of each statement kind between cursor execute and its return."""
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        took = time.perf_counter() - conn.info["bench_started"].pop()
        entry = totals.setdefault(" ".join(statement.split())[:90], [0.0, 0])
        entry[0] += took
        entry[1] += 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--existing", type=int, default=20000)
    parser.add_argument("--merge-share", type=float, default=0.1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--statements", action="store_true",
                        help="print the database time of the costliest statement kinds")
    args = parser.parse_args(argv)

    os.environ["CRM_DB_PREFIX"] = f"crmib_{uuid.uuid4().hex[:8]}_"
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from bench.contacts_bench import bulk_load
    from contacts import audit, import_ops
    from contacts.models import Contact, User
    from contacts.operations import ContactOps
    from crm_shared.auth import Caller
    from crm_shared.config import database_url
    from crm_shared.db import drop_database, make_engine
    from crm_shared.manage import migrate, package_dir
    from crm_shared.reliability import add_event, add_events

    url = database_url("contacts")
    migrate("contacts", package_dir("contacts"))
    engine = make_engine(url)     # the services' engine settings (executemany pages)
    statement_time: dict[str, list[float]] = {}
    if args.statements:
        _time_statements(engine, statement_time)
    try:
        with Session(engine) as session:
            admin = User(email="admin@bench.crm", name="Bench Admin", role="admin", password_hash="x")
            session.add(admin)
            session.commit()
            admin_id = admin.id
        started = time.monotonic()
        bulk_load(url, args.existing, [admin_id])
        print(f"loaded {args.existing:,} existing contacts in {time.monotonic() - started:.1f}s", flush=True)
        with Session(engine) as session:
            existing_ids = list(session.scalars(sa.select(Contact.id).limit(50000)))
        caller = Caller(user_id=admin_id, role="admin", name="Bench Admin")
        rng = random.Random(5)
        import_id = str(uuid.uuid4())
        profiler = cProfile.Profile() if args.profile else None
        outcomes: dict[str, int] = {}
        errors: list[str] = []
        started = time.monotonic()
        for start in range(0, args.rows, args.batch):
            rows = _rows(min(args.batch, args.rows - start), start, existing_ids, args.merge_share, rng)
            with Session(engine) as session:
                ops = ContactOps(session, caller, lambda t, d, s=session: add_event(s, "contacts", t, d),
                                 emit_many=lambda t, items, s=session: add_events(s, "contacts", t, items))
                if profiler:
                    profiler.enable()
                results = import_ops.import_batch(ops, import_id, rows)
                session.commit()
                audit.reset_chain(session)
                if profiler:
                    profiler.disable()
            for result in results:
                outcomes[result["outcome"]] = outcomes.get(result["outcome"], 0) + 1
                if result["error"] and len(errors) < 3:
                    errors.append(result["error"])
        elapsed = time.monotonic() - started
        print(f"import_batch: {args.rows:,} rows in batches of {args.batch}: {elapsed:.2f} s "
              f"({args.rows / elapsed:,.0f} rows/s); outcomes {outcomes}; sample errors {errors}", flush=True)
        if args.statements:
            print("database time by statement (first 90 characters), costliest first:")
            for text, (seconds, calls) in sorted(statement_time.items(), key=lambda kv: -kv[1][0])[:15]:
                print(f"  {seconds:7.2f} s {int(calls):6d}x  {text}")
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
            if os.environ.get("CRM_BENCH_PROFILE_FILE"):
                profiler.dump_stats(os.environ["CRM_BENCH_PROFILE_FILE"])
    finally:
        engine.dispose()
        drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
