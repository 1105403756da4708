"""Configuration from environment variables with local defaults.

One place decides every connection string, so the runner, the services, the
Celery workers and the tests cannot disagree about where things live.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

SERVICES: tuple[str, ...] = ("contacts", "imports", "scoring", "segments", "messaging")


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def amqp_uri() -> str:
    return env("CRM_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")


def postgres_server_url() -> str:
    """URL of the PostgreSQL server (maintenance db) used to create service databases."""
    return env("CRM_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def db_prefix() -> str:
    return env("CRM_DB_PREFIX", "crm_")


def database_url(service: str) -> str:
    """The database of one service: CRM_<SERVICE>_DATABASE_URL or <server>/<prefix><service>."""
    explicit = os.environ.get(f"CRM_{service.upper()}_DATABASE_URL")
    if explicit:
        return explicit
    base = postgres_server_url().rsplit("/", 1)[0]
    return f"{base}/{db_prefix()}{service}"


def redis_url() -> str:
    return env("CRM_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class AuthSettings:
    secret: str
    issuer: str
    audience: str
    ttl_seconds: int


def auth_settings() -> AuthSettings:
    return AuthSettings(
        secret=env("CRM_JWT_SECRET", "dev-only-secret-change-me-0123456789abcdef"),
        issuer=env("CRM_JWT_ISSUER", "crm-gateway"),
        audience=env("CRM_JWT_AUDIENCE", "crm-api"),
        ttl_seconds=int(env("CRM_TOKEN_TTL", "900")),
    )


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str
    password: str
    use_tls: bool
    sender: str


def smtp_settings() -> SmtpSettings:
    return SmtpSettings(
        host=env("CRM_SMTP_HOST", "127.0.0.1"),
        port=int(env("CRM_SMTP_PORT", "8025")),
        username=env("CRM_SMTP_USERNAME", ""),
        password=env("CRM_SMTP_PASSWORD", ""),
        use_tls=env("CRM_SMTP_TLS", "false").lower() in ("1", "true", "yes"),
        sender=env("CRM_SMTP_SENDER", "crm@demo.crm"),
    )


def public_base_url() -> str:
    """Where tracking links and unsubscribe pages point (the gateway as users reach it)."""
    return env("CRM_PUBLIC_URL", "http://127.0.0.1:8000")


def organization_id() -> str:
    """One organisation per deployment for now; per-organisation rows are keyed by this."""
    return env("CRM_ORGANIZATION_ID", "default")


def daily_send_cap() -> int:
    """Default per-organisation cap of emails claimed for sending per UTC day (RELIABILITY A7)."""
    return int(env("CRM_DAILY_SEND_CAP", "10000"))


def rpc_timeout() -> float:
    return float(env("CRM_RPC_TIMEOUT", "5"))


def nameko_config(service: str) -> dict:
    """The nameko container config for a service."""
    return {
        "AMQP_URI": amqp_uri(),
        "max_workers": int(env("CRM_MAX_WORKERS", "10")),
        "parent_calls_tracked": 10,
        "serializer": "json",
        "HEARTBEAT": int(env("CRM_AMQP_HEARTBEAT", "30")),
    }
