"""At-least-once delivery plus idempotent effects (RELIABILITY M1-M5, M9).

- Events go into an outbox row in the same transaction as the fact; a relay
  publishes them after commit (at once from the worker, and from a timer for
  anything a crash left behind), with publisher confirms and ``mandatory``.
- Handlers claim ``(event_id, handler)`` in the same transaction as their
  effect, so a redelivered event changes nothing twice.
- A failing handler is retried with backoff and parked after five attempts.
- Mutating RPCs store their result under an idempotency key.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import eventlet
import sqlalchemy as sa
from kombu import Connection, Exchange, Producer
from nameko.events import event_handler
from nameko.extensions import DependencyProvider
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from crm_shared.config import amqp_uri

log = logging.getLogger(__name__)

metadata = sa.MetaData()

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("event_type", sa.String(80), nullable=False),
    sa.Column("envelope", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
)
sa.Index("ix_outbox_pending", outbox.c.id, postgresql_where=outbox.c.published_at.is_(None))

processed_events = sa.Table(
    "processed_events", metadata,
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("handler", sa.String(120), primary_key=True),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

handler_failures = sa.Table(
    "handler_failures", metadata,
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("handler", sa.String(120), primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("envelope", JSONB),
    sa.Column("parked_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

idempotency_keys = sa.Table(
    "idempotency_keys", metadata,
    sa.Column("key", sa.String(120), primary_key=True),
    sa.Column("scope", sa.String(120), primary_key=True),
    sa.Column("result", JSONB),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

MAX_HANDLER_ATTEMPTS = 5
MAX_UNROUTABLE_ATTEMPTS = 5


def crash_point(name: str) -> None:
    """Die here, as SIGKILL would, when ``CRM_CRASH_POINT`` names this point (fault tests only).

    Deterministic crash points let the chaos suite prove that a process killed
    between two steps (e.g. after commit, before publish) loses nothing.
    """
    if os.environ.get("CRM_CRASH_POINT") == name:
        log.error("crash point reached", extra={"crash_point": name})
        os._exit(137)


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_envelope(source: str, event_type: str, data: dict[str, Any], schema_version: int = 1,
                  event_id: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": schema_version,
        "occurred_at": utcnow().isoformat(),
        "source": source,
        "data": data,
    }


def add_event(session: Session, source: str, event_type: str, data: dict[str, Any],
              schema_version: int = 1) -> dict[str, Any]:
    """Write an event into the outbox inside the caller's transaction; it is published after commit."""
    from crm_shared.events import validate_event_data

    data = validate_event_data(source, event_type, data)
    envelope = make_envelope(source, event_type, data, schema_version)
    session.execute(outbox.insert().values(
        event_id=envelope["event_id"], source=source, event_type=event_type,
        envelope=json.loads(json.dumps(envelope, default=str))))
    return envelope


def add_events(session: Session, source: str, event_type: str, items: list[dict[str, Any]],
               schema_version: int = 1) -> list[dict[str, Any]]:
    """Many events of one type in one INSERT (bulk imports): each validated and enveloped like ``add_event``."""
    from crm_shared.events import validate_event_data

    envelopes = [make_envelope(source, event_type, validate_event_data(source, event_type, data), schema_version)
                 for data in items]
    if envelopes:
        session.execute(outbox.insert(), [
            {"event_id": e["event_id"], "source": source, "event_type": event_type,
             "envelope": json.loads(json.dumps(e, default=str))} for e in envelopes])
    return envelopes


def event_exchange(source: str) -> Exchange:
    return Exchange(f"{source}.events", type="topic", durable=True, auto_delete=False)


class UndeliverableEvent(Exception):
    """The broker returned a mandatory event: no queue is bound for it."""


class ConfirmingPublisher:
    """Publishes with publisher confirms and ``mandatory``; a returned message raises.

    With confirms on, the broker sends basic.return before the ack, so once
    ``publish`` returns we know whether the event reached a queue (RELIABILITY M5).
    """

    def __init__(self, uri: str):
        self.uri = uri
        self.connection: Connection | None = None
        self.producer: Producer | None = None
        self.returned: list[str] = []

    def _connect(self) -> Producer:
        if self.producer is None:
            self.connection = Connection(self.uri, transport_options={"confirm_publish": True},
                                         connect_timeout=3)
            channel = self.connection.channel()
            channel.events["basic_return"].add(self._on_return)
            self.producer = Producer(channel, serializer="json")
        return self.producer

    def _on_return(self, exc, exchange, routing_key, message) -> None:
        self.returned.append(message.properties.get("message_id") or "")

    def publish(self, body: dict, exchange: Exchange, routing_key: str) -> None:
        self.returned.clear()
        try:
            self._connect().publish(body, exchange=exchange, routing_key=routing_key, mandatory=True,
                                    delivery_mode=2, message_id=body.get("event_id"), declare=[exchange],
                                    retry=False)
        except Exception:
            self.close()
            raise
        if self.returned:
            raise UndeliverableEvent(routing_key)

    def close(self) -> None:
        try:
            if self.connection is not None:
                self.connection.release()
        except Exception as exc:  # already broken
            log.debug("publisher close failed", extra={"error": str(exc)})
        self.connection = None
        self.producer = None


MAX_FLUSH_BYTES = 4 * 1024 * 1024   # stored envelope bytes one flush loads (see OutboxRelay._next_rows)


class OutboxRelay:
    """Publishes committed outbox rows; safe to run from many processes at once (SKIP LOCKED)."""

    def __init__(self, engine: Engine, uri: str | None = None):
        self.engine = engine
        self.publisher = ConfirmingPublisher(uri or amqp_uri())
        # one publisher connection: only one flush at a time uses it (eventlet raises "second simultaneous
        # read" otherwise). A flush asked for meanwhile does not wait (a worker teardown must not hold its
        # worker slot): it asks the running one to go round once more.
        self._lock = threading.Lock()
        self._again = False

    def flush(self, limit: int = 500) -> int:
        if not self._lock.acquire(blocking=False):
            self._again = True
            return 0
        try:
            published = 0
            while True:
                self._again = False
                count, capped = self._flush(limit)
                published += count
                if not (self._again or capped):   # a page cut short by size: the rest goes now too
                    return published
        finally:
            self._lock.release()

    def _flush(self, limit: int) -> tuple[int, bool]:
        """Publish one page; returns how many went out and whether the page was cut short by size."""
        published: list[int] = []
        with self.engine.begin() as conn:
            rows, capped = self._next_rows(conn, limit)
            for row in rows:
                try:
                    self.publisher.publish(row.envelope, exchange=event_exchange(row.source),
                                           routing_key=row.event_type)
                except UndeliverableEvent:
                    attempts = row.attempts + 1
                    done = attempts >= MAX_UNROUTABLE_ATTEMPTS
                    log.warning("event unroutable", extra={"event_type": row.event_type,
                                                           "event_id": row.envelope["event_id"],
                                                           "attempts": attempts})
                    conn.execute(outbox.update().where(outbox.c.id == row.id).values(
                        attempts=attempts, last_error="unroutable",
                        published_at=utcnow() if done else None))
                    continue
                except Exception as exc:  # broker down: keep the row, the timer retries
                    log.warning("outbox publish failed: %s", exc, extra={"error": str(exc)})
                    conn.execute(outbox.update().where(outbox.c.id == row.id).values(
                        attempts=row.attempts + 1, last_error=str(exc)[:500]))
                    break
                published.append(row.id)
            if published:   # one statement for the batch (a crash before it republishes: consumers dedupe)
                conn.execute(outbox.update().where(outbox.c.id.in_(published)).values(published_at=utcnow()))
        return len(published), capped

    def _next_rows(self, conn: Any, limit: int) -> tuple[list[Any], bool]:
        """The oldest unpublished rows, locked, up to ``limit`` rows or ``MAX_FLUSH_BYTES`` of envelopes.

        Batch events carry up to a thousand items each, so 500 of them (a full
        rescore) would be half a million dicts in memory at once; the sizes are
        read first (stored sizes, nothing decompressed) and only what fits is loaded.
        """
        heads = conn.execute(
            sa.select(outbox.c.id, sa.func.pg_column_size(outbox.c.envelope).label("size"))
            .where(outbox.c.published_at.is_(None)).order_by(outbox.c.id).limit(limit)
            .with_for_update(skip_locked=True)).all()
        wanted, total = [], 0
        for head in heads:
            if wanted and total + (head.size or 0) > MAX_FLUSH_BYTES:
                break
            wanted.append(head.id)
            total += head.size or 0
        if not wanted:
            return [], False
        return conn.execute(sa.select(outbox.c.id, outbox.c.source, outbox.c.event_type, outbox.c.envelope,
                                      outbox.c.attempts).where(outbox.c.id.in_(wanted))
                            .order_by(outbox.c.id)).all(), len(wanted) < len(heads)


class EventOutbox(DependencyProvider):
    """Gives a worker ``add(session, event_type, data)``; flushes the outbox after the worker ends."""

    def __init__(self, db_attr: str = "db"):
        self.db_attr = db_attr
        self.relay: OutboxRelay | None = None
        self.dirty: set = set()

    def start(self) -> None:
        db_provider = next(dep for dep in self.container.dependencies
                           if getattr(dep, "attr_name", None) == self.db_attr)
        self.relay = OutboxRelay(db_provider.engine, self.container.config["AMQP_URI"])

    def get_dependency(self, worker_ctx):
        source = self.container.service_name
        provider = self

        class _Outbox:
            def add(self, session: Session, event_type: str, data: dict[str, Any],
                    schema_version: int = 1) -> dict[str, Any]:
                provider.dirty.add(worker_ctx)
                return add_event(session, source, event_type, data, schema_version)

            def add_many(self, session: Session, event_type: str, items: list[dict[str, Any]],
                         schema_version: int = 1) -> list[dict[str, Any]]:
                provider.dirty.add(worker_ctx)
                return add_events(session, source, event_type, items, schema_version)

            def flush(self) -> int:
                return provider.flush()

        return _Outbox()

    def flush(self) -> int:
        try:
            return self.relay.flush() if self.relay else 0
        except Exception as exc:  # the timer will retry; never fail the worker for this
            log.warning("outbox flush failed", extra={"error": str(exc)})
            return 0

    def worker_teardown(self, worker_ctx) -> None:
        if worker_ctx in self.dirty:
            self.dirty.discard(worker_ctx)
            crash_point("after_commit_before_publish")
            self.flush()


def claim_event(session: Session, event_id: str, handler: str) -> bool:
    """True the first time ``handler`` sees ``event_id`` (in the caller's transaction)."""
    result = session.execute(
        insert(processed_events).values(event_id=event_id, handler=handler)
        .on_conflict_do_nothing().returning(processed_events.c.event_id))
    return result.first() is not None


def reliable_handler(source: str, event_type: str, **kwargs) -> Callable:
    """A nameko event handler that retries with backoff and parks poison events (M4, M9).

    The wrapped method gets the event envelope; it must commit its own work and
    should call ``claim_event`` in that transaction for idempotency. The service
    must have a ``db`` session dependency.
    """

    def decorator(fn: Callable) -> Callable:
        handler_name = f"{fn.__module__}.{fn.__qualname__}"

        @functools.wraps(fn)
        def wrapper(self, envelope: dict[str, Any]):
            event_id = str(envelope.get("event_id") or uuid.uuid4())
            try:
                return fn(self, envelope)
            except Exception as exc:
                self.db.rollback()
                attempts = _record_failure(self.db, event_id, handler_name, envelope, exc)
                if attempts >= MAX_HANDLER_ATTEMPTS:
                    log.error("event parked after repeated failures",
                              extra={"event_id": event_id, "handler": handler_name, "attempts": attempts,
                                     "error": str(exc)})
                    return None
                log.warning("event handler failed, will retry",
                            extra={"event_id": event_id, "handler": handler_name, "attempts": attempts,
                                   "error": str(exc)})
                eventlet.sleep(min(0.2 * 2 ** attempts, 5))
                raise

        return event_handler(source, event_type, requeue_on_error=True, **kwargs)(wrapper)

    return decorator


def _record_failure(session: Session, event_id: str, handler: str, envelope: dict, exc: Exception) -> int:
    stmt = insert(handler_failures).values(
        event_id=event_id, handler=handler, attempts=1, last_error=repr(exc)[:2000],
        envelope=json.loads(json.dumps(envelope, default=str)))
    stmt = stmt.on_conflict_do_update(
        index_elements=[handler_failures.c.event_id, handler_failures.c.handler],
        set_={"attempts": handler_failures.c.attempts + 1, "last_error": stmt.excluded.last_error,
              "updated_at": sa.func.now()},
    ).returning(handler_failures.c.attempts)
    attempts = session.execute(stmt).scalar_one()
    if attempts >= MAX_HANDLER_ATTEMPTS:
        session.execute(handler_failures.update().where(
            (handler_failures.c.event_id == event_id) & (handler_failures.c.handler == handler)
        ).values(parked_at=utcnow()))
    session.commit()
    return attempts


def load_idempotent_result(session: Session, key: str | None, scope: str) -> Any | None:
    """The stored result of an earlier call with the same key, or None."""
    if not key:
        return None
    row = session.execute(sa.select(idempotency_keys.c.result).where(
        (idempotency_keys.c.key == key) & (idempotency_keys.c.scope == scope))).first()
    return None if row is None else row.result


def store_idempotent_result(session: Session, key: str | None, scope: str, result: Any) -> None:
    """Record the result in the caller's transaction.

    A concurrent twin (same key, started before the first one committed) meets the UNIQUE key here:
    it answers 409 ``Conflict`` naming the key, and its transaction is rolled back by the caller, so
    the effect still happens once; asked again, it gets the first call's result (as Stripe answers).
    """
    if not key:
        return
    from crm_shared.errors import Conflict

    try:
        with session.begin_nested():
            session.execute(idempotency_keys.insert().values(
                key=key, scope=scope, result=json.loads(json.dumps(result, default=str))))
    except sa.exc.IntegrityError as exc:
        raise Conflict("a request with this Idempotency-Key is still being processed or has just finished; "
                       "send it again to get its result", {"idempotency_key": key, "scope": scope}) from exc
