"""Celery workers for imports: queue ``imports`` on the same RabbitMQ vhost as the services.

Run any number of them, on any machine: ``celery -A imports.worker worker -Q imports``.
Every task is one short, idempotent step of a checkpointed job (see
``pipeline``): acks_late + reject_on_worker_lost + prefetch 1 mean a worker
killed mid-step leaves its message to be redelivered to another worker,
which resumes from the last committed checkpoint (RELIABILITY I3, I6).
"""
from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from kombu import Queue
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from crm_shared.config import amqp_uri, database_url
from crm_shared.db import make_engine

log = logging.getLogger(__name__)

QUEUE = "imports"
app = Celery("imports", broker=amqp_uri())
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue=QUEUE,
    task_queues=[Queue(QUEUE, durable=True)],
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    broker_heartbeat=30,
    task_soft_time_limit=600,     # far below RabbitMQ's consumer_timeout (30 min); steps take seconds
    task_time_limit=900,
    worker_hijack_root_logger=False,
    worker_max_memory_per_child=int(os.environ.get("CRM_IMPORT_WORKER_MAX_MEMORY_KB", "800000")),
)

_sessionmaker: sessionmaker | None = None
_pid: int | None = None


def session_factory() -> Session:
    """A session on the imports database; the engine is made per process (after the prefork)."""
    global _sessionmaker, _pid
    if _sessionmaker is None or _pid != os.getpid():
        _sessionmaker = sessionmaker(bind=make_engine(database_url("imports"), pool_size=2),
                                     expire_on_commit=False)
        _pid = os.getpid()
    return _sessionmaker()


class RpcContacts:
    """The contacts service over RPC, as the system (workers act on nobody's behalf)."""

    def _call(self, method: str, *args: Any, timeout: float = 120) -> Any:
        from crm_shared.auth import system_token
        from crm_shared.rpc import get_client

        return get_client().call("contacts", method, *args, context={"auth_token": system_token("imports")},
                                 timeout=timeout)

    def match_candidates(self, keys: dict[str, list[str]]) -> list[dict[str, Any]]:
        result = self._call("match_candidates", keys, "match")
        return result.get("items", []) if isinstance(result, dict) else result

    def import_batch(self, import_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result = self._call("import_batch", import_id, rows, timeout=300)
        return result.get("results", result.get("items", [])) if isinstance(result, dict) else result

    def iter_contacts(self, after_id: str | None, limit: int) -> dict[str, Any]:
        return self._call("iter_contacts", after_id, limit)


def enqueue(import_id: str, token: str) -> None:
    """Queue the next step of a job (called after the state change committed)."""
    app.send_task("imports.advance", args=[import_id, token], queue=QUEUE)


def enqueue_scan(scan_id: str) -> None:
    app.send_task("imports.scan_duplicates", args=[scan_id], queue=QUEUE)


TRANSIENT_DB_ERRORS = ("OperationalError", "InterfaceError", "DisconnectionError")


def is_transient(exc: BaseException) -> bool:
    """Errors that say "not now" rather than "never": the broker or a service unreachable, or a database
    gone away (a restart, a killed session), ours or the contacts service's. They retry as long as it takes."""
    from crm_shared.errors import ServiceUnavailable
    from crm_shared.rpc import RemoteError

    if isinstance(exc, ServiceUnavailable | ConnectionError | OSError
                  | sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DisconnectionError):
        return True
    if isinstance(exc, RemoteError):
        return exc.exc_type in TRANSIENT_DB_ERRORS
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


@app.task(name="imports.advance", bind=True, max_retries=None)
def advance_task(self, import_id: str, token: str) -> str:
    """One step; queue the next one. Transient errors retry with backoff, bad data fails the job."""
    from crm_shared.rpc import RemoteError
    from imports import pipeline

    try:
        with session_factory() as session:
            state = pipeline.advance(session, import_id, token, RpcContacts())
    except Exception as exc:
        if is_transient(exc):
            # A timed-out call may still be running in contacts: give it time to finish before asking again
            # (safe either way: import_batch is idempotent on (import_id, row)). After a database restart the
            # step has rolled back, the pool reconnects (pre-ping) and the checkpoint is intact.
            log.warning("import step will retry", extra={"import_id": import_id, "error": str(exc)[:300],
                                                         "error_type": type(exc).__name__})
            raise self.retry(exc=exc, countdown=min(10 * 2 ** min(self.request.retries, 3), 60)) from exc
        if isinstance(exc, RemoteError):
            if self.request.retries < 5:
                raise self.retry(exc=exc, countdown=2 ** self.request.retries) from exc
            _fail(import_id, f"the contacts service failed: {exc.exc_type}")
            return "failed"
        if self.request.retries < 3:   # a race or a deadlock: a few quick retries, then the job fails
            raise self.retry(exc=exc, countdown=2 ** self.request.retries) from exc
        log.error("import step failed", exc_info=exc, extra={"import_id": import_id})
        _fail(import_id, f"processing failed: {type(exc).__name__}: {exc}"[:500])
        return "failed"
    if state == "continue":
        enqueue(import_id, token)
    return state


def _fail(import_id: str, message: str) -> None:
    from imports import pipeline
    from imports.models import Import

    with session_factory() as session:
        job = session.get(Import, import_id, with_for_update=True)
        if job is not None and job.phase in pipeline.ACTIVE_PHASES:
            pipeline.restart(job, "failed", "failed")
            job.stage, job.message = "Import failed", message
            session.commit()


@app.task(name="imports.scan_duplicates", bind=True, max_retries=3)
def scan_duplicates_task(self, scan_id: str) -> int:
    """Database-wide duplicate scan over contacts.iter_contacts with the import matcher."""
    from imports import scan

    with session_factory() as session:
        return scan.run_scan(session, scan_id, RpcContacts())
