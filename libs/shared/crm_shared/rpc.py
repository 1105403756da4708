"""A thread-safe RPC client speaking nameko's wire protocol, for non-nameko processes.

The gateway (gunicorn threads), Celery workers, the demo loader and the tests
call services through this one client. One reply queue per process, one
consumer thread, futures keyed by correlation id: calls fan out in parallel,
each with its own timeout, and every request carries an AMQP expiration so a
call the caller gave up on is never run later.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from kombu import Connection, Exchange, Producer, Queue
from kombu.exceptions import OperationalError

from crm_shared.config import amqp_uri, rpc_timeout
from crm_shared.errors import ERRORS_BY_NAME, CrmError, ServiceUnavailable

log = logging.getLogger(__name__)

RPC_EXCHANGE = Exchange("nameko-rpc", type="topic", durable=True)


class RemoteError(Exception):
    """An unexpected error inside a service (a bug): the gateway answers 500 without details."""

    def __init__(self, exc_type: str, value: str):
        super().__init__(f"{exc_type} {value}")
        self.exc_type = exc_type
        self.value = value


def _rebuild_error(error: dict[str, Any]) -> Exception:
    cls = ERRORS_BY_NAME.get(error.get("exc_type", ""))
    if cls is not None and str(error.get("exc_path", "")).startswith("crm_shared.errors."):
        args = error.get("exc_args") or []
        message = args[0] if args else error.get("value", "")
        details = args[1] if len(args) > 1 and isinstance(args[1], (dict, str)) else {}
        return cls(message, details)
    return RemoteError(error.get("exc_type", "Exception"), error.get("value", ""))


class RpcClient:
    def __init__(self, uri: str | None = None, timeout: float | None = None):
        self.uri = uri or amqp_uri()
        self.timeout = timeout or rpc_timeout()
        self.reply_queue_name = f"rpc.reply-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._futures: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._publish_lock = threading.Lock()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._publish_conn: Connection | None = None
        self._producer: Producer | None = None
        self._thread = threading.Thread(target=self._consume_forever, name="rpc-replies", daemon=True)
        self._thread.start()

    # -- replies ---------------------------------------------------------
    def _reply_queue(self) -> Queue:
        return Queue(self.reply_queue_name, exchange=RPC_EXCHANGE, routing_key=self.reply_queue_name,
                     auto_delete=True, exclusive=True)

    def _on_reply(self, body: dict[str, Any], message) -> None:
        message.ack()
        correlation_id = message.properties.get("correlation_id")
        with self._lock:
            future = self._futures.pop(correlation_id, None)
        if future is None or future.done():
            return
        error = body.get("error")
        if error:
            future.set_exception(_rebuild_error(error))
        else:
            future.set_result(body.get("result"))

    def _consume_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                with Connection(self.uri, heartbeat=20, connect_timeout=3) as conn:
                    with conn.Consumer(self._reply_queue(), callbacks=[self._on_reply], accept=["json"],
                                       no_ack=False):
                        self._ready.set()
                        while not self._stopping.is_set():
                            try:
                                conn.drain_events(timeout=1)
                            except TimeoutError:
                                conn.heartbeat_check()
            except Exception as exc:  # broker gone: fail waiting calls fast, reconnect
                self._ready.clear()
                log.warning("rpc reply consumer reconnecting", extra={"error": str(exc)})
                self._fail_pending(ServiceUnavailable("message broker unavailable"))
                time.sleep(1)

    def _fail_pending(self, exc: Exception) -> None:
        with self._lock:
            pending, self._futures = self._futures, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)

    # -- requests --------------------------------------------------------
    def _publish(self, body: dict, routing_key: str, correlation_id: str, headers: dict, expiration: float) -> None:
        with self._publish_lock:
            for attempt in range(2):
                try:
                    if self._producer is None:
                        self._publish_conn = Connection(self.uri, connect_timeout=3)
                        self._producer = Producer(self._publish_conn.channel(), exchange=RPC_EXCHANGE,
                                                  serializer="json")
                    self._producer.publish(
                        body, routing_key=routing_key, reply_to=self.reply_queue_name,
                        correlation_id=correlation_id, headers=headers, expiration=expiration,
                        delivery_mode=1)
                    return
                except (OperationalError, OSError, ConnectionError, AttributeError) as exc:
                    log.warning("rpc publish failed", extra={"error": str(exc), "attempt": attempt})
                    self._reset_publisher()
            raise ServiceUnavailable("message broker unavailable")

    def _reset_publisher(self) -> None:
        try:
            if self._publish_conn is not None:
                self._publish_conn.release()
        except Exception as exc:  # already broken
            log.debug("publisher release failed", extra={"error": str(exc)})
        self._publish_conn = None
        self._producer = None

    def call_async(self, service: str, method: str, *args: Any, context: dict | None = None,
                   timeout: float | None = None, **kwargs: Any) -> PendingCall:
        timeout = timeout or self.timeout
        if not self._ready.wait(timeout=min(timeout, 3)):
            raise ServiceUnavailable("message broker unavailable")
        correlation_id = str(uuid.uuid4())
        future: Future = Future()
        with self._lock:
            self._futures[correlation_id] = future
        headers = {f"nameko.{k}": v for k, v in (context or {}).items() if v is not None}
        headers.setdefault("nameko.call_id_stack", [f"gateway.{service}.{method}.{correlation_id}"])
        try:
            self._publish({"args": list(args), "kwargs": kwargs}, f"{service}.{method}", correlation_id,
                          headers, expiration=timeout)
        except Exception:
            with self._lock:
                self._futures.pop(correlation_id, None)
            raise
        return PendingCall(self, service, method, correlation_id, future, time.monotonic() + timeout)

    def call(self, service: str, method: str, *args: Any, context: dict | None = None,
             timeout: float | None = None, **kwargs: Any) -> Any:
        return self.call_async(service, method, *args, context=context, timeout=timeout, **kwargs).result()

    def forget(self, correlation_id: str) -> None:
        with self._lock:
            self._futures.pop(correlation_id, None)

    def close(self) -> None:
        self._stopping.set()
        self._reset_publisher()


class PendingCall:
    def __init__(self, client: RpcClient, service: str, method: str, correlation_id: str, future: Future,
                 deadline: float):
        self.client, self.service, self.method = client, service, method
        self.correlation_id, self.future, self.deadline = correlation_id, future, deadline

    def result(self) -> Any:
        try:
            return self.future.result(timeout=max(0.0, self.deadline - time.monotonic()))
        except FutureTimeout as exc:
            self.client.forget(self.correlation_id)
            raise ServiceUnavailable(f"{self.service} did not answer in time",
                                     {"service": self.service}) from exc


_client: RpcClient | None = None
_client_pid: int | None = None
_client_lock = threading.Lock()


def get_client() -> RpcClient:
    """The process-wide client (made again after a fork, e.g. in gunicorn workers)."""
    global _client, _client_pid
    with _client_lock:
        if _client is None or _client_pid != os.getpid():
            _client = RpcClient()
            _client_pid = os.getpid()
        return _client


__all__ = ["RpcClient", "PendingCall", "RemoteError", "get_client", "CrmError"]
