"""Outbox, idempotent handlers and idempotency keys against real PostgreSQL and RabbitMQ."""
import uuid

import pytest
import sqlalchemy as sa
from kombu import Connection, Queue
from sqlalchemy.orm import Session

from crm_shared import reliability as rel
from crm_shared.config import amqp_uri, database_url
from crm_shared.errors import Conflict


@pytest.fixture()
def engine(crm_env):
    engine = sa.create_engine(database_url("segments"))
    yield engine
    engine.dispose()


def _queue(name: str, source: str, event_type: str) -> Queue:
    return Queue(name, exchange=rel.event_exchange(source), routing_key=event_type, durable=False,
                 exclusive=True)


def test_outbox_publishes_after_commit_and_only_once(engine):
    queue_name = f"test-outbox-{uuid.uuid4().hex[:8]}"
    with Connection(amqp_uri()) as conn:
        queue = _queue(queue_name, "segments", "segment_membership_changed")(conn.default_channel)
        queue.declare()
        data = {"segment_id": "s1", "segment_name": "VIP", "contact_id": "c1", "change": "joined"}
        with Session(engine) as session:
            envelope = rel.add_event(session, "segments", "segment_membership_changed", data)
            session.rollback()  # a rolled-back fact is never published
        with Session(engine) as session:
            committed = rel.add_event(session, "segments", "segment_membership_changed", data)
            session.commit()
        relay = rel.OutboxRelay(engine)
        assert relay.flush() >= 1
        assert relay.flush() == 0
        received = []
        while (message := queue.get(no_ack=True)) is not None:
            received.append(message.payload["event_id"])
        assert committed["event_id"] in received
        assert envelope["event_id"] not in received
        assert received.count(committed["event_id"]) == 1


def test_unroutable_event_is_retried_then_given_up(engine):
    """An event no queue is bound for is an error that is retried, then marked, never silently dropped."""
    envelope = rel.make_envelope("nobody-subscribes", "nothing_happened", {})
    with Session(engine) as session:
        session.execute(rel.outbox.insert().values(event_id=envelope["event_id"], source="nobody-subscribes",
                                                   event_type="nothing_happened", envelope=envelope))
        session.commit()
    relay = rel.OutboxRelay(engine)
    relay.flush()
    with engine.connect() as conn:
        row = conn.execute(sa.select(rel.outbox).where(rel.outbox.c.event_id == envelope["event_id"])).one()
    assert (row.last_error, row.attempts, row.published_at) == ("unroutable", 1, None)
    for _ in range(rel.MAX_UNROUTABLE_ATTEMPTS):
        relay.flush()
    with engine.connect() as conn:
        row = conn.execute(sa.select(rel.outbox).where(rel.outbox.c.event_id == envelope["event_id"])).one()
    assert row.attempts == rel.MAX_UNROUTABLE_ATTEMPTS
    assert row.published_at is not None


def test_claim_event_is_true_once(engine):
    event_id = str(uuid.uuid4())
    with Session(engine) as session:
        assert rel.claim_event(session, event_id, "h") is True
        assert rel.claim_event(session, event_id, "h") is False
        assert rel.claim_event(session, event_id, "other-handler") is True
        session.rollback()
    with Session(engine) as session:  # a rolled-back claim does not count
        assert rel.claim_event(session, event_id, "h") is True
        session.rollback()


def test_idempotency_key_returns_the_first_result(engine):
    key = uuid.uuid4().hex
    with Session(engine) as session:
        assert rel.load_idempotent_result(session, key, "create") is None
        rel.store_idempotent_result(session, key, "create", {"id": "42"})
        session.commit()
    with Session(engine) as session:
        assert rel.load_idempotent_result(session, key, "create") == {"id": "42"}
        with pytest.raises(Conflict) as twin:   # a twin that read before the first call committed
            rel.store_idempotent_result(session, key, "create", {"id": "43"})
        assert twin.value.status == 409 and twin.value.details["idempotency_key"] == key
        session.rollback()
    with Session(engine) as session:
        assert rel.load_idempotent_result(session, None, "create") is None


def test_a_concurrent_twin_waits_for_the_first_call_then_answers_409_and_writes_nothing(engine):
    """Two calls with one key in flight at once: the second blocks on the key, then refuses; one effect."""
    import threading

    key, marker, table = uuid.uuid4().hex, "effect", f"twin_effects_{uuid.uuid4().hex[:8]}"
    outcome: dict[str, object] = {}
    first = Session(engine)
    first.execute(sa.text(f"CREATE TABLE {table} (marker text)"))
    first.commit()
    first.execute(sa.text(f"INSERT INTO {table} VALUES (:m)"), {"m": marker})
    rel.store_idempotent_result(first, key, "create", {"id": "first"})   # not committed yet

    def twin() -> None:
        with Session(engine) as session:
            assert rel.load_idempotent_result(session, key, "create") is None   # nothing committed to read
            session.execute(sa.text(f"INSERT INTO {table} VALUES (:m)"), {"m": marker})
            try:
                rel.store_idempotent_result(session, key, "create", {"id": "second"})
                session.commit()
                outcome["result"] = "stored"
            except Conflict as exc:
                session.rollback()
                outcome["result"] = exc.status

    thread = threading.Thread(target=twin)
    thread.start()
    thread.join(1.0)
    assert thread.is_alive()   # waiting on the first call's key
    first.commit()
    first.close()
    thread.join(10)
    assert outcome == {"result": 409}
    with Session(engine) as session:
        assert session.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE marker = :m"), {"m": marker}) == 1
        assert rel.load_idempotent_result(session, key, "create") == {"id": "first"}
        session.execute(sa.text(f"DROP TABLE {table}"))
        session.commit()


def test_a_flush_loads_a_bounded_amount_of_envelopes_and_still_publishes_everything(engine, monkeypatch):
    """Batch events are large: one page holds at most MAX_FLUSH_BYTES of them, the next pages follow at once."""
    queue_name = f"test-outbox-{uuid.uuid4().hex[:8]}"
    item = {"contact_id": "c", "score": 40, "fit": 30, "engagement": 10, "engagement_level": 10.0,
            "reason": uuid.uuid4().hex * 20}
    with Connection(amqp_uri()) as conn:
        queue = _queue(queue_name, "scoring", "scores_changed")(conn.default_channel)
        queue.declare()
        relay = rel.OutboxRelay(engine)
        relay.flush()                                   # whatever other tests left
        with Session(engine) as session:
            ids = [rel.add_event(session, "scoring", "scores_changed",
                                 {"changes": [dict(item, contact_id=f"c{n}-{i}") for i in range(50)]})["event_id"]
                   for n in range(6)]
            session.commit()
        loaded: list[int] = []
        next_rows = rel.OutboxRelay._next_rows

        def counting(self, conn, limit):
            rows, capped = next_rows(self, conn, limit)
            loaded.append(len(rows))
            return rows, capped

        monkeypatch.setattr(rel.OutboxRelay, "_next_rows", counting)
        with engine.connect() as conn:
            size = conn.execute(sa.select(sa.func.pg_column_size(rel.outbox.c.envelope))
                                .where(rel.outbox.c.event_id == ids[0])).scalar()
        monkeypatch.setattr(rel, "MAX_FLUSH_BYTES", size * 2 + 1)
        assert relay.flush() == 6
        assert max(loaded) == 2 and sum(loaded) == 6
        received = []
        while (message := queue.get(no_ack=True)) is not None:
            received.append(message.payload["event_id"])
        assert received == ids
