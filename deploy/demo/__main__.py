"""``python -m deploy.demo [--only part,...]``: load the demo data into a running system."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import deploy.demo as demo_pkg
from crm_shared.auth import system_token
from crm_shared.rpc import RpcClient


def parts() -> list:
    modules = [importlib.import_module(f"deploy.demo.{m.name}") for m in pkgutil.iter_modules(demo_pkg.__path__)
               if not m.name.startswith("_")]
    return sorted((m for m in modules if hasattr(m, "load")), key=lambda m: getattr(m, "ORDER", 100))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.demo")
    parser.add_argument("--only", default="", help="comma-separated part names (e.g. users,contacts)")
    args = parser.parse_args(argv)
    wanted = {p for p in args.only.split(",") if p}
    rpc = RpcClient(timeout=120)
    context: dict = {"system_context": {"auth_token": system_token("demo", ttl_seconds=3600)}}
    for module in parts():
        name = module.__name__.rsplit(".", 1)[-1]
        if wanted and name not in wanted:
            continue
        started = time.monotonic()
        module.load(rpc, context)
        print(f"demo data: {name} loaded in {time.monotonic() - started:.1f}s", flush=True)
    rpc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
