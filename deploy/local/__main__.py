"""``python -m deploy.local up|down|status|restart NAME``: the whole system as local processes."""
from __future__ import annotations

import os
import subprocess
import sys

from crm_shared.manage import migrate_all
from crm_shared.system import ROOT, System


def make_system() -> System:
    return System(run_dir=ROOT / ".run", gateway_port=int(os.environ.get("CRM_PORT", "8000")),
                  smtp_port=int(os.environ.get("CRM_SMTP_PORT", "8025")),
                  import_workers=int(os.environ.get("CRM_IMPORT_WORKERS", "1")))


def up() -> int:
    system = make_system()
    print("migrating databases...", flush=True)
    migrate_all()
    print("starting processes...", flush=True)
    system.start()
    health = system.wait_healthy(timeout=240)
    print(f"health: {health['status']} {health['services']}", flush=True)
    subprocess.run([sys.executable, "-m", "deploy.demo"], cwd=ROOT, check=True)
    print(f"""
CRM is running.
  Open:        {system.base_url}/
  API:         {system.base_url}/api/v1  (OpenAPI: {system.base_url}/api/v1/openapi.json)
  Sign in:     admin@demo.crm / demo-password   (also marketing@, sales@, sales2@, exec@demo.crm)
  Sent email:  {system.mail_dir} (SMTP sink on 127.0.0.1:{system.smtp_port})
  Logs:        {system.run_dir / 'logs'}
  Stop:        ./crm down""", flush=True)
    return 0


def down() -> int:
    make_system().stop()
    print("stopped", flush=True)
    return 0


def status() -> int:
    system = make_system()
    for name in system.commands():
        pid = system.pid(name)
        print(f"{name:18} {'running pid ' + str(pid) if pid else 'stopped'}")
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "up":
        return up()
    if command == "down":
        return down()
    if command == "status":
        return status()
    if command in ("stop", "start") and len(argv) > 1:
        system = make_system()
        (system.stop_one if command == "stop" else system.start_one)(argv[1])
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
