"""RPC from a request: the caller's token and the idempotency key travel in the context.

``call`` for one answer now; ``fan_out`` for several services at once with a
short timeout, returning what came back and naming what did not.
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import g, has_request_context, request

from crm_shared.errors import CrmError, ServiceUnavailable
from crm_shared.rpc import PendingCall, get_client


def request_context() -> dict[str, Any]:
    if not has_request_context():
        return {}
    context: dict[str, Any] = {"request_id": getattr(g, "request_id", None)}
    token = getattr(g, "token", None)
    if token:
        context["auth_token"] = token
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        context["idempotency_key"] = request.headers.get("Idempotency-Key") or str(uuid.uuid4())
    return context


def call(service: str, method: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
    return get_client().call(service, method, *args, context=request_context(), timeout=timeout, **kwargs)


def call_async(service: str, method: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> PendingCall:
    return get_client().call_async(service, method, *args, context=request_context(), timeout=timeout, **kwargs)


def fan_out(calls: dict[str, tuple], timeout: float = 1.5) -> tuple[dict[str, Any], list[str]]:
    """Run ``{part: (service, method, args, kwargs)}`` in parallel; return (results, unavailable parts).

    A part whose service is down, slow or failing is named in ``unavailable``
    rather than failing the whole answer.
    """
    pending: dict[str, PendingCall | None] = {}
    for part, (service, method, args, kwargs) in calls.items():
        try:
            pending[part] = call_async(service, method, *args, timeout=timeout, **kwargs)
        except ServiceUnavailable:
            pending[part] = None
    results: dict[str, Any] = {}
    unavailable: list[str] = []
    for part, waiting in pending.items():
        if waiting is None:
            unavailable.append(part)
            continue
        try:
            results[part] = waiting.result()
        except ServiceUnavailable:
            unavailable.append(part)
        except CrmError:
            raise
        except Exception:  # a bug in one service must not break the whole view
            unavailable.append(part)
    return results, unavailable
