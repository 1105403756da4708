"""Fixed-window rate limits in Redis (RELIABILITY A7): login and export answer 429 above them."""
from __future__ import annotations

import logging
import os
import time

import redis

from crm_shared.config import redis_url
from crm_shared.errors import RateLimited

log = logging.getLogger(__name__)
_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(redis_url(), socket_timeout=0.5, socket_connect_timeout=0.5)
    return _client


def limits_enabled() -> bool:
    return os.environ.get("CRM_RATE_LIMITS", "on") != "off"


def hit(bucket: str, limit: int, window_seconds: int) -> None:
    """Count one hit; raise RateLimited when ``limit`` is passed within the window."""
    if not limits_enabled():
        return
    window = int(time.time() // window_seconds)
    key = f"crm:rl:{os.environ.get('CRM_DB_PREFIX', 'crm_')}:{bucket}:{window}"
    try:
        pipe = _redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, window_seconds + 5)
        count = pipe.execute()[0]
    except redis.RedisError as exc:  # fail open: a cache outage must not lock everyone out
        log.warning("rate limiter unavailable", extra={"error": str(exc)})
        return
    if count > limit:
        retry_after = window_seconds - int(time.time()) % window_seconds
        raise RateLimited("too many requests, try again later", {"retry_after_s": retry_after,
                                                                  "limit": limit, "window_s": window_seconds})
