"""What every nameko service shares: the caller, health, the outbox timer.

A service class inherits ``ServiceBase`` and declares ``name``, ``db`` and
``outbox``; it gets a ``ping`` RPC that checks its database and a timer that
publishes outbox rows a crash left behind.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc as nameko_rpc
from nameko.timer import timer

from crm_shared.auth import SYSTEM, Caller, decode_token
from crm_shared.db import ping as db_ping
from crm_shared.errors import CrmError

log = logging.getLogger(__name__)


def rpc(fn=None, **kwargs):
    """nameko's ``@rpc`` with our domain errors as expected (logged as warnings, no traceback)."""
    kwargs.setdefault("expected_exceptions", CrmError)
    if fn is None:
        return nameko_rpc(**kwargs)
    return nameko_rpc(**kwargs)(fn)


class RequestContext:
    """The verified caller and the idempotency key of the current RPC."""

    def __init__(self, data: dict[str, Any], service: str):
        self._data = data
        self._service = service
        self._caller: Caller | None = None

    @property
    def caller(self) -> Caller:
        """Raises Unauthorized when the call carries no valid token (RELIABILITY A1)."""
        if self._caller is None:
            self._caller = decode_token(self._data.get("auth_token"))
        return self._caller

    @property
    def caller_or_system(self) -> Caller:
        """For event handlers and timers: the system acts when no user token is present."""
        if self._data.get("auth_token"):
            return self.caller
        return Caller(user_id=f"system:{self._service}", role=SYSTEM, name=self._service)

    def authenticate(self) -> Caller:
        """Any signed-in user; for reads every role may do."""
        return self.caller

    @property
    def idempotency_key(self) -> str | None:
        return self._data.get("idempotency_key")

    @property
    def request_id(self) -> str | None:
        return self._data.get("request_id")


class Context(DependencyProvider):
    """``self.ctx``: the verified caller. Event handlers and timers act as the system.

    For workers not started by an RPC, a short-lived system token goes into the
    worker's context, so RPCs they make to other services carry a verifiable
    identity. RPC workers never get one: an RPC without a token stays anonymous.
    """

    def worker_setup(self, worker_ctx) -> None:
        from nameko.rpc import Rpc

        if not isinstance(worker_ctx.entrypoint, Rpc) and not worker_ctx.data.get("auth_token"):
            from crm_shared.auth import system_token

            worker_ctx.data["auth_token"] = system_token(self.container.service_name)

    def get_dependency(self, worker_ctx) -> RequestContext:
        return RequestContext(worker_ctx.data, self.container.service_name)


class ServiceBase:
    """Mixin with the entrypoints every service has."""

    name: str
    db: Any
    outbox: Any

    @rpc
    def ping(self) -> dict[str, Any]:
        started = time.monotonic()
        ok = db_ping(self.db)
        return {"service": self.name, "status": "ok" if ok else "down",
                "database": "ok" if ok else "down", "latency_ms": round((time.monotonic() - started) * 1000, 1)}

    @timer(interval=2)
    def relay_outbox(self) -> None:
        self.outbox.flush()
