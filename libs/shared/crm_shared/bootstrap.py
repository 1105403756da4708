"""Declare every subscriber's event queue before any publisher runs (RELIABILITY M5).

Nameko declares a handler's queue only when its service starts; an event
published before that is dropped. This step reads the event handlers of every
service class and declares the same durable queues and bindings up front, so
facts published while a subscriber is down or not yet deployed wait for it.
"""
from __future__ import annotations

import logging

from kombu import Connection, Queue
from nameko.events import SERVICE_POOL, EventHandler
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from crm_shared.config import SERVICES, amqp_uri
from crm_shared.reliability import event_exchange

log = logging.getLogger(__name__)


def subscriber_queues(service_names: tuple[str, ...] = SERVICES) -> list[Queue]:
    from crm_shared.service_classes import load_service  # not crm_shared.runner: it monkey-patches

    queues = []
    for name in service_names:
        cls = load_service(name)
        for attr in dir(cls):
            method = getattr(cls, attr, None)
            for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()) or ():
                if not isinstance(entrypoint, EventHandler) or entrypoint.handler_type != SERVICE_POOL:
                    continue
                queue_name = f"evt-{entrypoint.source_service}-{entrypoint.event_type}--{name}.{attr}"
                queues.append(Queue(queue_name, exchange=event_exchange(entrypoint.source_service),
                                    routing_key=entrypoint.event_type, durable=True, auto_delete=False))
    return queues


def declare_subscriber_queues(uri: str | None = None) -> int:
    queues = subscriber_queues()
    with Connection(uri or amqp_uri(), connect_timeout=5) as conn:
        channel = conn.channel()
        for queue in queues:
            queue(channel).declare()
    log.info("subscriber queues declared", extra={"count": len(queues)})
    return len(queues)
