"""RELIABILITY M7 at the RPC client every non-nameko process uses (gateway, Celery workers, tests).

- With the broker unreachable a call fails fast with ServiceUnavailable (the gateway's 503),
  well inside 5 s, instead of hanging until its timeout.
- A request the caller gave up on expires in the broker, so it never runs later (nameko's
  default would run a timed-out RPC whenever a worker gets to it).
"""
from __future__ import annotations

import time
import uuid

import pytest
from kombu import Connection, Producer, Queue

from crm_shared.errors import ServiceUnavailable
from crm_shared.rpc import RPC_EXCHANGE, RpcClient


def test_a_call_fails_fast_when_the_broker_is_unreachable():
    client = RpcClient("amqp://guest:guest@127.0.0.1:1/", timeout=30)      # nothing listens on port 1
    try:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            client.call("contacts", "ping")
        assert time.monotonic() - started < 5
    finally:
        client.close()


def test_a_call_the_caller_gave_up_on_expires_in_the_broker(rpc_client):
    service = f"ghost{uuid.uuid4().hex[:8]}"               # a service nobody runs: the request just waits
    with Connection(rpc_client.uri) as conn:
        channel = conn.channel()
        queue = Queue(f"rpc-{service}", exchange=RPC_EXCHANGE, routing_key=f"{service}.*", durable=False,
                      auto_delete=False, exclusive=True)(channel)
        queue.declare()
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            rpc_client.call(service, "work", timeout=1)
        assert time.monotonic() - started < 3
        while time.monotonic() - started < 1.5:           # past the request's expiration
            time.sleep(0.1)
        assert queue.get(no_ack=True) is None, "the abandoned request would still run"
        # control: the same queue keeps a request that carries no expiration
        Producer(channel).publish({"args": [], "kwargs": {}}, exchange=RPC_EXCHANGE, routing_key=f"{service}.work")
        assert queue.get(no_ack=True) is not None
