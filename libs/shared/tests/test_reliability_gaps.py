"""RELIABILITY promises whose mechanism had no direct test (docs/reliability-tests.md, issue 9).

- M4/M9: ``reliable_handler`` re-raises (so nameko requeues: ``requeue_on_error``) with a growing
  backoff, and on the fifth failure parks the event in ``handler_failures``, logs an error and acks.
- M2 (broker down at commit time): an outbox row the relay could not publish stays pending and
  is published once the broker is reachable again.
- M5: the deploy-time bootstrap declares exactly the queues nameko's event handlers consume from,
  so an event published before any subscriber ran waits in its queue instead of being dropped
  (and without the bootstrap the mandatory publish is returned, never silently lost).
"""
from __future__ import annotations

import logging
import shutil
import subprocess
import uuid

import pytest
import sqlalchemy as sa
from kombu import Connection, Queue
from nameko.containers import ServiceContainer
from nameko.events import EventHandler
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from sqlalchemy.orm import Session

from crm_shared import reliability as rel
from crm_shared.bootstrap import declare_subscriber_queues, subscriber_queues
from crm_shared.config import SERVICES, amqp_uri, database_url
from crm_shared.service_classes import load_service


@pytest.fixture()
def engine(crm_env):
    engine = sa.create_engine(database_url("segments"))
    yield engine
    engine.dispose()


# -- M4 / M9: retry with backoff, park after N attempts ------------------------------------------
class _PoisonedService:
    """Stands in for a service: ``reliable_handler`` only needs ``self.db``."""

    calls = 0

    def __init__(self, session: Session):
        self.db = session

    @rel.reliable_handler("contacts", "contact_updated")
    def on_contact_updated(self, envelope: dict) -> None:
        type(self).calls += 1
        raise RuntimeError("cannot handle this event")


def test_a_failing_handler_is_requeued_with_backoff_then_parked_after_five_attempts(engine, monkeypatch, caplog):
    entrypoints = getattr(_PoisonedService.on_contact_updated, ENTRYPOINT_EXTENSIONS_ATTR)
    handlers = [e for e in entrypoints if isinstance(e, EventHandler)]
    assert handlers and all(h.requeue_on_error for h in handlers)    # nameko's default would ack and lose it
    assert all(h.reliable_delivery for h in handlers)                 # durable queue, survives the consumer

    slept: list[float] = []
    monkeypatch.setattr(rel.eventlet, "sleep", slept.append)
    envelope = rel.make_envelope("contacts", "contact_updated", {"contact_id": str(uuid.uuid4())})
    handler = f"{_PoisonedService.on_contact_updated.__module__}.{_PoisonedService.on_contact_updated.__qualname__}"
    _PoisonedService.calls = 0
    try:
        with Session(engine) as session:
            service = _PoisonedService(session)
            for attempt in range(1, rel.MAX_HANDLER_ATTEMPTS):
                with pytest.raises(RuntimeError):           # re-raised: the message goes back to the queue
                    service.on_contact_updated(envelope)
                with engine.connect() as conn:
                    row = conn.execute(sa.select(rel.handler_failures).where(
                        rel.handler_failures.c.event_id == envelope["event_id"])).one()
                assert (row.attempts, row.parked_at) == (attempt, None)
            with caplog.at_level(logging.ERROR, logger=rel.__name__):
                assert service.on_contact_updated(envelope) is None   # returns: acked, no hot redelivery loop
        assert _PoisonedService.calls == rel.MAX_HANDLER_ATTEMPTS == 5
        assert slept == sorted(slept) and len(set(slept)) == len(slept) == rel.MAX_HANDLER_ATTEMPTS - 1  # backoff
        with engine.connect() as conn:
            row = conn.execute(sa.select(rel.handler_failures).where(
                rel.handler_failures.c.event_id == envelope["event_id"])).one()
        assert row.handler == handler and row.attempts == 5 and row.parked_at is not None
        assert row.envelope["event_id"] == envelope["event_id"] and "cannot handle" in row.last_error
        assert any("parked" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)  # the alert
    finally:
        with engine.begin() as conn:
            conn.execute(rel.handler_failures.delete().where(rel.handler_failures.c.event_id == envelope["event_id"]))


# -- M2: RabbitMQ down at commit time ------------------------------------------------------------
def test_an_event_committed_while_the_broker_is_unreachable_is_published_once_it_is_back(engine):
    data = {"segment_id": "s-down", "segment_name": "Down", "contact_id": str(uuid.uuid4()), "change": "joined"}
    with Connection(amqp_uri()) as conn:
        queue = Queue(f"test-outage-{uuid.uuid4().hex[:8]}", exchange=rel.event_exchange("segments"),
                      routing_key="segment_membership_changed", durable=False, exclusive=True)(conn.default_channel)
        queue.declare()
        rel.OutboxRelay(engine).flush()                                  # whatever other tests left
        with Session(engine) as session:
            envelope = rel.add_event(session, "segments", "segment_membership_changed", data)
            session.commit()                                             # the fact is durable
        down = rel.OutboxRelay(engine, "amqp://guest:guest@127.0.0.1:1/")  # nothing listens on port 1
        assert down.flush() == 0
        with engine.connect() as db:
            row = db.execute(sa.select(rel.outbox).where(rel.outbox.c.event_id == envelope["event_id"])).one()
        assert row.published_at is None and row.attempts >= 1 and row.last_error    # kept, not dropped
        assert rel.OutboxRelay(engine).flush() >= 1                      # the broker is reachable again
        received = []
        while (message := queue.get(no_ack=True)) is not None:
            received.append(message.payload["event_id"])
        assert received.count(envelope["event_id"]) == 1
        with engine.connect() as db:
            assert db.execute(sa.select(rel.outbox.c.published_at).where(
                rel.outbox.c.event_id == envelope["event_id"])).scalar() is not None


# -- M5: subscriber queues exist before any publisher runs ----------------------------------------
def _nameko_queues(crm_env) -> dict[str, Queue]:
    """The queues nameko itself would consume from, built by its own EventHandler.setup()."""
    found: dict[str, Queue] = {}
    for name in SERVICES:
        container = ServiceContainer(load_service(name), {"AMQP_URI": amqp_uri()})
        for entrypoint in container.entrypoints:
            if isinstance(entrypoint, EventHandler):
                entrypoint.setup()
                found[entrypoint.queue.name] = entrypoint.queue
    return found


def test_the_bootstrap_declares_exactly_the_queues_nameko_handlers_consume(crm_env):
    ours = {q.name: q for q in subscriber_queues()}
    theirs = _nameko_queues(crm_env)
    assert theirs, "no event handlers found"
    assert set(ours) == set(theirs)                     # every handler of every service, under nameko's name
    for name, queue in theirs.items():
        mine = ours[name]
        assert (mine.exchange.name, mine.routing_key, mine.durable, mine.auto_delete) == \
               (queue.exchange.name, queue.routing_key, queue.durable, queue.auto_delete), name


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, stdout=subprocess.DEVNULL, timeout=60)


@pytest.mark.skipif(not shutil.which("rabbitmqctl"), reason="needs rabbitmqctl for a fresh vhost")
def test_an_event_published_before_any_subscriber_ran_waits_in_its_queue(crm_env):
    vhost = f"crm_gap_{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        uri = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
        envelope = rel.make_envelope("contacts", "contact_updated", {"contact_id": str(uuid.uuid4())})
        publisher = rel.ConfirmingPublisher(uri)
        try:
            with pytest.raises(rel.UndeliverableEvent):     # nobody declared a queue yet: an error, not a drop
                publisher.publish(envelope, rel.event_exchange("contacts"), "contact_updated")
            assert declare_subscriber_queues(uri) > 0       # the deploy-time step, no service running
            publisher.publish(envelope, rel.event_exchange("contacts"), "contact_updated")   # routed now
        finally:
            publisher.close()
        subscribers = [q for q in subscriber_queues() if q.name.startswith("evt-contacts-contact_updated--")]
        assert subscribers
        with Connection(uri) as conn:
            channel = conn.channel()
            for queue in subscribers:
                _, waiting, consumers = channel.queue_declare(queue.name, passive=True)
                assert (waiting, consumers) == (1, 0), queue.name   # it waits for its subscriber
    finally:
        _rabbitmqctl("delete_vhost", vhost)
