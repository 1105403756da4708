"""Starts and stops the whole system as local processes (no Docker).

Used by the README's run command (``deploy/local/up``) and by the test
fixtures, so both run exactly the same processes with the same settings.
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from crm_shared.config import SERVICES

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class System:
    run_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    gateway_port: int = 8000
    smtp_port: int = 8025
    import_workers: int = 1
    python: str = sys.executable

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "pids").mkdir(parents=True, exist_ok=True)
        self.env.update({
            "CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": str(self.smtp_port),
            "CRM_PUBLIC_URL": self.env.get("CRM_PUBLIC_URL", f"http://127.0.0.1:{self.gateway_port}"),
            "CRM_GATEWAY_BIND": f"127.0.0.1:{self.gateway_port}",
            "PYTHONUNBUFFERED": "1",
        })

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def mail_dir(self) -> Path:
        return self.run_dir / "mail"

    def commands(self) -> dict[str, list[str]]:
        cmds: dict[str, list[str]] = {
            "smtp-sink": [self.python, "-m", "crm_shared.smtp_sink", "--port", str(self.smtp_port),
                          "--dir", str(self.mail_dir)],
        }
        for service in SERVICES:
            cmds[service] = [self.python, "-m", "crm_shared.runner", service]
        if importlib.util.find_spec("imports.worker") is not None:
            for n in range(self.import_workers):
                cmds[f"import-worker-{n + 1}"] = [
                    self.python, "-m", "celery", "-A", "imports.worker", "worker", "-Q", "imports",
                    "--concurrency", "1", "--prefetch-multiplier", "1", "-n", f"imports{n + 1}@%h",
                    "--loglevel", "INFO"]
        cmds["gateway"] = [self.python, "-m", "gunicorn", "-c", str(ROOT / "services/gateway/gunicorn.conf.py"),
                           "gateway.wsgi:app"]
        return cmds

    def pid_file(self, name: str) -> Path:
        return self.run_dir / "pids" / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        try:
            pid = int(self.pid_file(name).read_text())
        except (FileNotFoundError, ValueError):
            return None
        self._reap(pid)  # a child of ours that died is a zombie until reaped
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def start_one(self, name: str) -> int:
        if (pid := self.pid(name)) is not None:
            return pid
        log = open(self.run_dir / "logs" / f"{name}.log", "ab")
        proc = subprocess.Popen(self.commands()[name], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
        self.pid_file(name).write_text(str(proc.pid))
        return proc.pid

    def start(self) -> None:
        for name in self.commands():
            self.start_one(name)

    def signal_one(self, name: str, sig: int) -> None:
        pid = self.pid(name)
        if pid is not None:
            os.killpg(pid, sig)

    def stop_one(self, name: str, grace: float = 15.0) -> None:
        pid = self.pid(name)
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGCONT)
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.pid(name) is not None:
            self._reap(pid)
            time.sleep(0.1)
        if self.pid(name) is not None:
            os.killpg(pid, signal.SIGKILL)
            time.sleep(0.2)
            self._reap(pid)
        self.pid_file(name).unlink(missing_ok=True)

    @staticmethod
    def _reap(pid: int) -> None:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

    def stop(self) -> None:
        names = list(self.commands())
        for name in reversed(names):
            self.stop_one(name, grace=10.0)

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.base_url}/api/v1/health", timeout=3) as response:
            return json.loads(response.read())

    def wait_healthy(self, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        last: dict | str = "not started"
        while time.monotonic() < deadline:
            try:
                last = self.health()
                if last.get("status") == "ok":
                    return last
            except Exception as exc:  # gateway not listening yet
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError(f"system not healthy after {timeout}s: {last}; logs in {self.run_dir / 'logs'}")
