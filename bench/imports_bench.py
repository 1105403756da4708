"""Imports benchmark: a generated messy CSV from upload to completed summary, through the gateway.

    .venv/bin/python bench/imports_bench.py [--rows 50000] [--existing 20000] [--two-worker-rows N]
                                            [--skip-single] [--keep]

Starts its own isolated system (fresh RabbitMQ vhost and database prefix, free
ports, one Celery import worker) the way the test fixtures do, bulk-loads
``--existing`` contacts with the contacts benchmark's COPY loader, then imports a file
of ``--rows`` rows with about 5% invalid rows, 10% duplicates of existing
contacts in varied forms (case, phone format, nickname, typo, name+company)
and 2% duplicates inside the file. Names come from ~3,000 first and ~25,000
last names (with the 30 commonest English ones, so nicknames occur). It prints rows per second for each stage
(parse+validate, match, commit), the end-to-end time from upload to the
completed summary, the peak memory of the worker processes, and the time with
1 and with 2 workers (two files imported at once). It asserts nothing.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
         "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
         "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Steven", "Sandra", "Andrew", "Ashley"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
        "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson"]
NICK = {"Robert": "Bob", "William": "Bill", "Elizabeth": "Liz", "Michael": "Mike", "James": "Jim",
        "Joseph": "Joe", "Thomas": "Tom", "Richard": "Rick", "Daniel": "Dan", "Matthew": "Matt"}
WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell",
         "Cyberdyne", "Wonka", "Gringotts", "Oscorp", "Aperture", "Massive", "Dynamic", "Blue", "Green", "North"]


_SYLLABLES = ["ka", "lo", "mi", "ra", "te", "su", "no", "vi", "da", "ke", "ri", "mo", "sa", "ne", "lu", "ta",
              "be", "go", "ni", "pa", "ro", "si", "ve", "zo", "ha", "ja", "ol", "an", "er", "in"]


def _pool(n: int, seed: int, minimum: int) -> list[str]:
    """Realistically many distinct names: a real CRM has far more than 30 first and 30 last names."""
    rng = random.Random(seed)
    names = set()
    while len(names) < n:
        names.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(minimum, minimum + 1))).title())
    return sorted(names)


FIRST = FIRST + _pool(3000, 1, 2)
LAST = LAST + _pool(20000, 2, 2) + _pool(5000, 3, 3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, stdout=subprocess.DEVNULL, timeout=60)


def person(rng: random.Random, i: int, tag: str) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i % 5000}"
    return {"first_name": first, "last_name": last, "email": f"{first}.{last}.{i}@{tag}.example.com".lower(),
            "phone": f"+1 {200 + i % 700:03d} {i // 10000 % 900 + 100:03d} {i % 10000:04d}",
            "company": company, "position": rng.choice(["CEO", "CTO", "Buyer", "Engineer", "Sales Manager"])}


def messy_file(rows: int, existing: list[dict], tag: str, seed: int) -> bytes:
    """~5% invalid, ~10% duplicates of existing contacts (varied forms), ~2% duplicates inside the file."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Name", "Email", "Phone", "Company", "Position", "Address", "Tags"])
    written: list[list[str]] = []
    for i in range(rows):
        roll = rng.random()
        if roll < 0.05:
            p = person(rng, 10_000_000 + i, tag)
            bad = rng.choice(["email", "phone", "name", "company"])
            row = [f"{p['first_name']} {p['last_name']}", p["email"], p["phone"], p["company"], p["position"],
                   "1 Main St", "import"]
            if bad == "email":
                row[1] = row[1].replace("@", "")
            elif bad == "phone":
                row[2] = "555-ABC-1234"
            elif bad == "name":
                row[0] = ""
            else:
                row[3] = "C" * 160
        elif roll < 0.15 and existing:
            e = rng.choice(existing)
            form = rng.choice(["email_case", "phone", "nickname", "typo", "name_company"])
            name = f"{e['first_name']} {e['last_name']}"
            email, phone = e["email"], e["phone"]
            if form == "email_case":
                email = email.upper()
            elif form == "phone":
                name, email = f"{rng.choice(FIRST)} {rng.choice(LAST)}", f"other.{i}@{tag}.example.org"
                digits = phone[-10:]
                phone = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
            elif form == "nickname":
                name, email = f"{NICK.get(e['first_name'], e['first_name'])} {e['last_name']}", f"n{i}@{tag}.io"
                phone = ""
            elif form == "typo":
                last = e["last_name"]
                name, email, phone = f"{e['first_name']} {last[:-1] + last[-1] * 2}", f"t{i}@{tag}.io", ""
            else:
                email, phone = f"nc{i}@{tag}.io", ""
            row = [name, email, phone, e["company"], e["position"], "", "existing"]
        elif roll < 0.17 and written:
            row = list(rng.choice(written))
        else:
            p = person(rng, 20_000_000 + seed * 1_000_000 + i, tag)
            row = [f"{p['first_name']} {p['last_name']}", p["email"], p["phone"], p["company"], p["position"],
                   f"{i} Market Street, Springfield", "lead,import"]
            written.append(row)
        writer.writerow(row)
    return out.getvalue().encode()


class MemoryWatch(threading.Thread):
    """Peak resident memory (VmHWM) of the worker process groups, sampled while the import runs."""

    def __init__(self, system, names: list[str]):
        super().__init__(daemon=True)
        self.system, self.names, self.peak_kb, self.stop = system, names, 0, threading.Event()

    def pids(self) -> list[int]:
        roots = {self.system.pid(n) for n in self.names} - {None}
        found = set(roots)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) in roots:
                    found.add(int(entry.name))
        return sorted(found)

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in self.pids():
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
                except OSError:
                    pass
            time.sleep(0.5)


class Client:
    """The marketing demo user, signed in again when the 15-minute token runs out; 503s are asked again."""

    def __init__(self, base_url: str):
        from crm_shared.testing.api import ApiClient

        self.anonymous = ApiClient(base_url)
        self.api = self.anonymous.as_role("marketing")

    def request(self, method: str, path: str, **kwargs):
        for attempt in range(10):
            response = self.api.request(method, path, **kwargs)
            if response.status_code == 401:
                self.api = self.anonymous.as_role("marketing")
                continue
            if response.status_code == 503 and method == "GET" and attempt < 9:
                time.sleep(1)
                continue
            return response
        return response

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)


def wait_status(client: Client, import_id: str, statuses: tuple[str, ...], limit: float = 3600) -> dict:
    deadline = time.monotonic() + limit
    while (job := client.get(f"/api/v1/imports/{import_id}").json())["status"] not in statuses:
        if time.monotonic() > deadline:
            raise TimeoutError(f"import {import_id} still {job['status']} {job['progress']}% after {limit}s")
        time.sleep(0.5)
    return job


def run_import(client, data: bytes, name: str) -> dict:
    started = time.monotonic()
    response = client.post("/api/v1/imports", files={"file": (name, data, "text/csv")}, timeout=120)
    assert response.status_code == 202, response.text
    import_id = response.json()["id"]
    uploaded = time.monotonic()
    job = wait_status(client, import_id, ("review", "failed"))
    reviewed = time.monotonic()
    assert job["status"] == "review", job
    response = client.post(f"/api/v1/imports/{import_id}/commit", json={"unresolved": "merge"})
    assert response.status_code == 202, response.text
    job = wait_status(client, import_id, ("completed", "failed"))
    done = time.monotonic()
    return {"job": job, "upload_s": uploaded - started, "process_s": reviewed - uploaded,
            "commit_s": done - reviewed, "total_s": done - started}


def report(label: str, rows: int, result: dict) -> None:
    job, stages = result["job"], result["job"]["stage_seconds"]
    validate = stages.get("split", 0) + stages.get("validate", 0)
    print(f"\n== {label}: {rows} rows, status {job['status']}")
    print(f"summary: {job['summary']}")
    print(f"upload (gateway + file checks):   {result['upload_s']:7.2f} s")
    print(f"parse+validate (worker):          {validate:7.2f} s  {rows / max(validate, 1e-9):9.0f} rows/s")
    print(f"match (worker, incl. contacts RPC): {stages.get('match', 0):5.2f} s  "
          f"{rows / max(stages.get('match', 1e-9), 1e-9):9.0f} rows/s")
    print(f"commit (worker + contacts.import_batch): {stages.get('commit', 0):.2f} s  "
          f"{rows / max(stages.get('commit', 1e-9), 1e-9):9.0f} rows/s")
    print(f"processing wall time (upload->review): {result['process_s']:.2f} s; "
          f"commit wall time: {result['commit_s']:.2f} s")
    print(f"end to end (upload -> completed summary): {result['total_s']:.2f} s "
          f"({rows / result['total_s']:.0f} rows/s)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--existing", type=int, default=20_000)
    parser.add_argument("--two-worker-rows", type=int, default=None,
                        help="rows per file in the 2-worker run (default: --rows; 0 skips that run)")
    parser.add_argument("--skip-single", action="store_true", help="skip the 1-worker run")
    parser.add_argument("--keep", action="store_true", help="keep the databases and vhost afterwards")
    args = parser.parse_args()

    suffix = uuid.uuid4().hex[:8]
    vhost = f"crm_bench_{suffix}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    os.environ.update({"CRM_DB_PREFIX": f"crmb_{suffix}_", "CRM_RATE_LIMITS": "off",
                       "CRM_AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{vhost}"})
    from crm_shared.config import SERVICES, database_url
    from crm_shared.db import drop_database
    from crm_shared.manage import migrate_all
    from crm_shared.system import System

    migrate_all()
    run_dir = Path(tempfile.mkdtemp(prefix="crm-imports-bench-"))
    system = System(run_dir=run_dir, env=dict(os.environ), gateway_port=free_port(), smtp_port=free_port(),
                    import_workers=2)
    names = list(system.commands())
    try:
        for name in names:
            if name != "import-worker-2":
                system.start_one(name)
        system.wait_healthy(timeout=180)
        subprocess.run([sys.executable, "-m", "deploy.demo", "--only", "users"], cwd=ROOT, env=os.environ,
                       check=True, timeout=120)
        import sqlalchemy as sa

        sys.path.insert(0, str(ROOT / "bench"))
        import contacts_bench  # the contacts developer's COPY loader, fed with many more distinct names

        contacts_bench.FIRST, contacts_bench.LAST = FIRST, LAST

        engine = sa.create_engine(database_url("contacts"))
        with engine.connect() as conn:
            owners = [r[0] for r in conn.execute(sa.text("SELECT id FROM users"))]
        started = time.monotonic()
        contacts_bench.bulk_load(database_url("contacts"), args.existing, owners)
        with engine.connect() as conn:
            existing = [dict(r._mapping) for r in conn.execute(sa.text(
                "SELECT first_name, last_name, email, phone, company, position FROM contacts "
                "ORDER BY random() LIMIT 5000"))]
        engine.dispose()
        print(f"loaded {args.existing} existing contacts in {time.monotonic() - started:.1f}s")
        client = Client(system.base_url)

        one: dict = {}
        if not args.skip_single:
            data = messy_file(args.rows, existing, f"f{suffix}", seed=1)
            print(f"file: {args.rows} rows, {len(data) / 1e6:.1f} MB")
            watch = MemoryWatch(system, ["import-worker-1"])
            watch.start()
            one = run_import(client, data, "bench-1.csv")
            watch.stop.set()
            report("1 worker, one file", args.rows, one)
            print(f"peak worker memory (VmHWM, largest process): {watch.peak_kb / 1024:.0f} MB")
        rows2 = args.rows if args.two_worker_rows is None else args.two_worker_rows
        if rows2:
            system.start_one("import-worker-2")
            time.sleep(5)
            files = [messy_file(rows2, existing, f"g{suffix}", seed=2), messy_file(rows2, existing,
                                                                                      f"h{suffix}", seed=3)]
            watch = MemoryWatch(system, ["import-worker-1", "import-worker-2"])
            watch.start()
            results: list[dict] = [{}, {}]
            started = time.monotonic()
            threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, run_import(
                client, files[k], f"bench-2-{k}.csv"))) for k in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            both = time.monotonic() - started
            watch.stop.set()
            for k in range(2):
                report(f"2 workers, file {k + 1} of 2 imported at once", rows2, results[k])
            print(f"\n2 workers: both files ({2 * rows2} rows) completed in {both:.2f} s "
                  f"({2 * rows2 / both:.0f} rows/s); one worker, one file: {one.get('total_s', float('nan')):.2f} s")
            print(f"peak worker memory with 2 workers (largest process): {watch.peak_kb / 1024:.0f} MB")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)      # a second Ctrl-C must not skip the clean-up
        system.stop()
        if not args.keep:
            for service in SERVICES:
                try:
                    drop_database(database_url(service))
                except Exception as exc:  # best effort
                    print(f"could not drop {service}: {exc}")
            rabbitmqctl("delete_vhost", vhost)
    return 0


if __name__ == "__main__":
    sys.exit(main())
