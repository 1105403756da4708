"""Messaging benchmark: a bulk send to the SMTP sink and the tracking endpoints' request rate.

    .venv/bin/python bench/messaging_bench.py [--n 2000] [--seconds 5] [--threads 32]

Starts its own isolated system (fresh RabbitMQ vhost and database prefix, free
ports) the way the test fixtures do, creates N contacts through the contacts
service, sends one email to all of them with ``POST /api/v1/emails`` (a
filter on the import id) and prints:
- messages per second (SMTP hand-offs between the first and the last send),
- the time from the request until the last recipient's status is recorded,
- requests per second on the open pixel and on the click redirect (from wrk when it is installed,
  ``apt-get install wrk``; else from Python threads, which top out near 300 requests/s themselves).
It prints figures; it asserts nothing about speed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, stdout=subprocess.DEVNULL, timeout=60)


def cpu_seconds(system) -> dict[str, float]:
    """CPU time (user + system) used so far by each process group of the system (gunicorn workers included)."""
    groups = {name: system.pid(name) for name in system.commands()}
    by_pgid = {pid: name for name, pid in groups.items() if pid}
    ticks = os.sysconf("SC_CLK_TCK")
    used = dict.fromkeys(groups, 0.0)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = by_pgid.get(int(fields[2]))
        if name:
            used[name] += (int(fields[11]) + int(fields[12])) / ticks
    return used


def cpu_report(before: dict[str, float], after: dict[str, float], units: int, what: str) -> None:
    spent = {k: after[k] - before[k] for k in after if after[k] - before[k] > 0.05}
    text = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(spent.items(), key=lambda kv: -kv[1]))
    busiest = max(spent.values()) if spent else 0
    print(f"  CPU used: {text}; total {sum(spent.values()):.1f}s = {1000 * sum(spent.values()) / units:.1f} ms "
          f"per {what}; bound by one core for the busiest process: {units / busiest if busiest else 0:.0f}/s")


def status_counts(engine, job_id: str) -> dict[str, int]:
    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT status, count(*) FROM emails WHERE job_id = :j GROUP BY status"),
                            {"j": job_id}).all()
    return {status: n for status, n in rows}


def hammer(url_of, seconds: float, threads: int) -> tuple[int, int, float]:
    """Requests from ``threads`` keep-alive clients for ``seconds``: (ok, failed, elapsed)."""
    import requests

    ok = failed = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        nonlocal ok, failed
        session = requests.Session()
        mine_ok = mine_failed = 0
        i = n
        while time.monotonic() < stop:
            try:
                r = session.get(url_of(i), allow_redirects=False, timeout=10)
                if r.status_code in (200, 302):
                    mine_ok += 1
                else:
                    mine_failed += 1
            except requests.RequestException:
                mine_failed += 1
            i += threads
        with lock:
            ok += mine_ok
            failed += mine_failed

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return ok, failed, time.monotonic() - started


WRK_SCRIPT = """
paths = {%s}
local n = 0
init = function(args) n = math.random(#paths) end
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %%d %%d %%d %%.0f %%.0f\\n", summary.requests, e.status,
                         e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(95)))
end
"""


def hammer_wrk(base: str, paths: list[str], seconds: float, connections: int) -> tuple[int, int, float, str]:
    """The same load from wrk (C, two threads): the Python client above is bound by its own GIL near
    300 requests/s, so it measures itself rather than the gateway. Returns (ok, failed, elapsed, detail).

    Install it with ``apt-get install wrk`` (Debian); without it the Python client is used.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % ", ".join(f'"{p}"' for p in paths))
    try:
        started = time.monotonic()
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", script.name,
                              base], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
        elapsed = time.monotonic() - started
    finally:
        os.unlink(script.name)
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    total, status_errors, socket_errors, p50_us, p95_us = (float(x) for x in line.split()[1:])
    rate = next((x.split()[1] for x in out.splitlines() if x.startswith("Requests/sec:")), "?")
    return (int(total - status_errors), int(status_errors + socket_errors), elapsed,
            f"wrk {rate} requests/s, latency p50 {p50_us / 1000:.1f} ms / p95 {p95_us / 1000:.1f} ms")


def tracking_run(label: str, system, base: str, paths: list[str], args) -> None:
    """One tracking endpoint under load, with the CPU each process used for it."""
    cpu0 = cpu_seconds(system)
    if shutil.which("wrk") and not args.python_client:
        ok, failed, elapsed, detail = hammer_wrk(base, paths, args.seconds, args.threads)
    else:
        ok, failed, elapsed = hammer(lambda i: base + paths[i % len(paths)], args.seconds, args.threads)
        detail = "Python client"
    print(f"{label}: {ok / elapsed:.0f} requests/s ({ok} ok, {failed} failed, {args.threads} clients, "
          f"{elapsed:.1f}s; {detail})")
    cpu_report(cpu0, cpu_seconds(system), max(ok, 1), "request")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000, help="recipients (the issue's figure is 10000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each tracking run")
    parser.add_argument("--threads", type=int, default=32, help="concurrent tracking clients")
    parser.add_argument("--keep", action="store_true", help="keep the databases and vhost afterwards")
    parser.add_argument("--python-client", action="store_true",
                        help="load the tracking endpoints from Python threads even when wrk is installed")
    args = parser.parse_args()

    suffix = uuid.uuid4().hex[:8]
    vhost = f"crm_bench_{suffix}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    os.environ.update({"CRM_DB_PREFIX": f"crmb_{suffix}_", "CRM_RATE_LIMITS": "off",
                       "CRM_AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{vhost}"})
    import requests
    import sqlalchemy as sa

    from crm_shared.auth import system_token
    from crm_shared.config import SERVICES, database_url
    from crm_shared.db import drop_database
    from crm_shared.manage import migrate_all
    from crm_shared.rpc import RpcClient
    from crm_shared.system import System
    from crm_shared.testing.api import ApiClient

    migrate_all()
    run_dir = Path(tempfile.mkdtemp(prefix="crm-messaging-bench-"))
    system = System(run_dir=run_dir, env=dict(os.environ), gateway_port=free_port(), smtp_port=free_port())
    os.environ["CRM_SMTP_PORT"] = str(system.smtp_port)
    os.environ["CRM_PUBLIC_URL"] = system.base_url
    system.env["CRM_PUBLIC_URL"] = system.base_url
    system.start()
    rpc = RpcClient(timeout=600)
    engine = sa.create_engine(database_url("messaging"), poolclass=sa.pool.NullPool)
    try:
        system.wait_healthy(timeout=180)
        subprocess.run([sys.executable, "-m", "deploy.demo", "--only", "users"], cwd=ROOT, env=os.environ,
                       check=True, timeout=120, stdout=subprocess.DEVNULL)
        api = ApiClient(system.base_url).as_role("marketing")

        import_id = str(uuid.uuid4())
        context = {"auth_token": system_token("bench", ttl_seconds=3600)}
        started = time.monotonic()

        def create(start: int) -> None:
            rows = [{"row": i + 1, "action": "create", "contact_id": None,
                     "fields": {"first_name": "Bench", "last_name": "Contact", "company": f"Bench Co {i % 50}",
                                "position": "CTO", "email": f"bench{i}.{suffix}@bench.example"}}
                    for i in range(start, min(start + 250, args.n))]
            rpc.call("contacts", "import_batch", import_id, rows, context=context)

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(create, range(0, args.n, 250)))
        print(f"setup: {args.n} contacts created in {time.monotonic() - started:.1f}s", flush=True)

        cpu0 = cpu_seconds(system)
        t0 = time.monotonic()
        response = api.post("/api/v1/emails", json={
            "filter": {"import_id": import_id}, "subject": "Launch news for {first_name} at {company_name}",
            "body": "Hi {first_name},\nour launch: https://example.com/launch?c=1 and https://example.com/docs\n"
                    "{sender_name}"}, timeout=120)
        response.raise_for_status()
        accepted = time.monotonic() - t0
        job = response.json()
        assert job["queued"] == args.n, job["queued"]
        while True:
            counts = status_counts(engine, job["job_id"])
            if counts.get("queued", 0) + counts.get("sending", 0) == 0:
                break
            time.sleep(0.2)
        last_status = time.monotonic() - t0
        cpu1 = cpu_seconds(system)
        with engine.connect() as conn:
            first_sent, last_sent = conn.execute(sa.text(
                "SELECT min(sent_at), max(sent_at) FROM emails WHERE job_id = :j"), {"j": job["job_id"]}).one()
            tokens = conn.execute(sa.text("SELECT token FROM emails WHERE job_id = :j AND status = 'sent'"),
                                  {"j": job["job_id"]}).scalars().all()
        window = max((last_sent - first_sent).total_seconds(), 1e-6)
        in_sink = len(list(system.mail_dir.glob("*.eml")))
        print(f"bulk send: N={args.n}, accepted (202) in {accepted:.2f}s, statuses {counts}")
        print(f"  messages/s (first to last SMTP hand-off): {counts.get('sent', 0) / window:.0f}")
        print(f"  messages/s (request to last status):      {counts.get('sent', 0) / last_status:.0f}")
        print(f"  time until the last status was recorded:  {last_status:.1f}s; messages in the sink: {in_sink}")
        cpu_report(cpu0, cpu1, args.n, "message")

        base = system.base_url
        time.sleep(5)  # let the email_sent events drain so they do not share the CPU with the next phase
        tracking_run("open pixel", system, base, [f"/t/o/{t}.gif" for t in tokens], args)
        tracking_run("click redirect", system, base, [f"/t/c/{t}.{i % 2}" for i, t in enumerate(tokens)], args)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                opened = conn.execute(sa.text("SELECT count(*) FROM emails WHERE job_id = :j AND opened_at IS NOT "
                                              "NULL"), {"j": job["job_id"]}).scalar_one()
            if opened >= min(len(tokens), 1):
                break
            time.sleep(0.5)
        print(f"  emails with a recorded open: {opened}")
        requests.get(f"{base}/api/v1/health", timeout=5)
    finally:
        engine.dispose()
        rpc.close()
        system.stop()
        if not args.keep:
            for service in SERVICES:
                try:
                    drop_database(database_url(service))
                except Exception as exc:  # best effort clean-up
                    print(f"could not drop {service}: {exc}")
            rabbitmqctl("delete_vhost", vhost)
            shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
