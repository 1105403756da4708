"""Structured (JSON) logging for every process, one line per record."""
from __future__ import annotations

import logging
import os
import sys

from pythonjsonlogger.json import JsonFormatter


def configure_logging(process: str, level: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
        static_fields={"process": process},
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("CRM_LOG_LEVEL", "INFO"))
    for noisy in ("kombu", "amqp", "nameko", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def nameko_logging_config(process: str) -> dict:
    """The LOGGING section of a nameko config (dictConfig) with the same JSON format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "ts", "levelname": "level", "name": "logger"},
            "static_fields": {"process": process},
        }},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"level": os.environ.get("CRM_LOG_LEVEL", "INFO"), "handlers": ["stderr"]},
        "loggers": {name: {"level": "WARNING"} for name in ("kombu", "amqp", "nameko")},
    }
