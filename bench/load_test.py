"""Load test: N concurrent users mixing list, search, detail, notes and email through the gateway.

Prints throughput, p50/p95/p99 per request kind and overall, the error count,
and the resident memory of every process at the start and the end (to show no
memory growth). By default it starts its own isolated system with the demo
data; ``--url`` and ``--run-dir`` point it at a running one instead.

    .venv/bin/python bench/load_test.py --users 20 --seconds 1800     # the record run (30 minutes)
    .venv/bin/python bench/load_test.py --users 20 --seconds 60       # a quick run
"""
from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

from crm_shared.testing.api import ApiClient


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return 0.0
    return 0.0


def process_memory(run_dir: Path) -> dict[str, float]:
    """RSS of every process of the system, children (gunicorn/celery workers) included."""
    memory: dict[str, float] = {}
    for pid_file in sorted((run_dir / "pids").glob("*.pid")):
        pid = int(pid_file.read_text())
        pids = [pid] + [int(p) for p in _children(pid)]
        memory[pid_file.stem] = round(sum(rss_mb(p) for p in pids), 1)
    return memory


def _children(pid: int) -> list[str]:
    found: list[str] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            found.append(child)
            found.extend(_children(int(child)))
    return found


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


class LoadUser(threading.Thread):
    def __init__(self, base_url: str, role: str, contacts: list[dict], deadline: float, results: dict, lock):
        super().__init__(daemon=True)
        self.base_url, self.role = base_url, role
        self.client = ApiClient(base_url).as_role(role)
        self.contact_ids = [c["id"] for c in contacts]
        # sales users write (notes, email) only to their own contacts (RELIABILITY A1), as they would
        own = [c["id"] for c in contacts if c.get("owner_id") == self.client.user.get("id")]
        self.writable = self.contact_ids if role not in ("sales", "sales2") else own
        self.deadline = deadline
        self.results, self.lock = results, lock
        self.rng = random.Random()

    def timed(self, kind: str, method: str, path: str, **kwargs) -> None:
        """One request; an expired token (15 minutes) signs in again and repeats it, as the web client does.

        Errors are 5xx, 429, 401 after signing in again and dropped connections; other 4xx answers
        (a role refused) are counted apart, by status, so a run cannot pass on fast refusals.
        """
        started = time.perf_counter()
        status = 0
        try:
            response = self.client.request(method, path, **kwargs)
            if response.status_code == 401:
                self.client = ApiClient(self.base_url).as_role(self.role)
                with self.lock:
                    self.results["signed in again"].append(kind)
                response = self.client.request(method, path, **kwargs)
            status = response.status_code
        except Exception:  # a dropped connection counts as an error
            status = 0
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.results[kind].append(elapsed)
            self.statuses[(kind, status)] += 1
            if status == 0 or status >= 500 or status in (401, 429):
                self.results["errors"].append(kind)

    statuses: Counter = Counter()

    def run(self) -> None:
        terms = ["tech", "sarah", "ceo", "growth", "vp", "director", "enterprise", "a"]
        stages = ["New", "Nurturing", "Qualified", "Hot Lead"]
        while time.monotonic() < self.deadline:
            action = self.rng.random()
            contact_id = self.rng.choice(self.contact_ids)
            if action >= 0.8 and not self.writable:
                action = self.rng.random() * 0.8   # nothing of its own to write to: a read instead
            elif action >= 0.8:
                contact_id = self.rng.choice(self.writable)
            if action < 0.35:
                self.timed("list", "GET", "/api/v1/contacts", params={"page": self.rng.randint(1, 3)})
            elif action < 0.55:
                self.timed("search", "GET", "/api/v1/contacts",
                           params={"q": self.rng.choice(terms), "stage": self.rng.choice(stages)})
            elif action < 0.8:
                self.timed("detail", "GET", f"/api/v1/contacts/{contact_id}/detail")
            elif action < 0.95:
                self.timed("note", "POST", f"/api/v1/contacts/{contact_id}/notes",
                           json={"text": f"load test note {uuid.uuid4().hex[:6]}", "type": "general"})
            else:
                self.timed("email", "POST", "/api/v1/emails",
                           json={"contact_ids": [contact_id], "subject": "Hello {first_name}",
                                 "body": "Load test message for {first_name}."})


def run_load(base_url: str, run_dir: Path, users: int, seconds: float) -> None:
    admin = ApiClient(base_url).as_role("admin")
    listing = admin.get("/api/v1/contacts", params={"per_page": 200}).json()
    contacts = listing.get("items", [])
    if not contacts:
        raise SystemExit("no contacts to load-test against (load the demo data first)")
    memory_start = process_memory(run_dir)
    results: dict[str, list] = defaultdict(list)
    lock = threading.Lock()
    roles = ["admin", "marketing", "sales", "sales2"]
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    LoadUser.statuses = Counter()
    threads = [LoadUser(base_url, roles[i % len(roles)], contacts, deadline, results, lock) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    memory_end = process_memory(run_dir)
    kinds = sorted(k for k in results if k not in ("errors", "signed in again"))
    total = sum(len(results[k]) for k in kinds)
    everything = [v for k in kinds for v in results[k]]
    refused = {key: n for key, n in LoadUser.statuses.items() if 400 <= key[1] < 500 and key[1] not in (401, 429)}
    print(f"users={users} duration={elapsed:.0f}s requests={total} throughput={total / elapsed:.1f} req/s "
          f"errors={len(results['errors'])} refused(4xx)={sum(refused.values())} "
          f"signed_in_again={len(results['signed in again'])}")
    print("statuses: " + ", ".join(f"{kind} {status or 'no answer'}: {n}"
                                   for (kind, status), n in sorted(LoadUser.statuses.items())))
    print(f"{'kind':8} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for kind in kinds + ["all"]:
        values = everything if kind == "all" else results[kind]
        print(f"{kind:8} {len(values):7d} {statistics.median(values) if values else 0:8.1f} "
              f"{percentile(values, 95):8.1f} {percentile(values, 99):8.1f}")
    print("memory (RSS MB)  start -> end")
    for name in sorted(memory_start):
        print(f"  {name:18} {memory_start[name]:7.1f} -> {memory_end.get(name, 0):7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--url", help="gateway of a running system (default: start an isolated one)")
    parser.add_argument("--run-dir", default=".run", help="with --url: the run dir holding the pid files")
    args = parser.parse_args()
    if args.url:
        run_load(args.url, Path(args.run_dir), args.users, args.seconds)
        return
    from crm_shared.testing.environment import isolated_environment, running_system

    with isolated_environment(), running_system(demo_parts="all") as system:
        run_load(system.base_url, system.run_dir, args.users, args.seconds)


if __name__ == "__main__":
    main()
