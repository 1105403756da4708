"""Start one nameko service with the shared configuration: ``python -m crm_shared.runner contacts``.

Monkey-patching comes first, before anything imports sockets or psycopg2.
SIGTERM stops the container gracefully: in-flight workers finish, nothing
unfinished is acked (RELIABILITY M8).
"""
import eventlet

import crm_shared  # noqa: F401  (quiets eventlet's deprecation notice before eventlet loads)

eventlet.monkey_patch()  # noqa: E402

import importlib  # noqa: E402
import logging.config  # noqa: E402
import sys  # noqa: E402

from nameko.cli.run import run  # noqa: E402

from crm_shared.config import nameko_config  # noqa: E402
from crm_shared.logging import nameko_logging_config  # noqa: E402

SERVICE_CLASSES = {
    "contacts": "contacts.service:ContactsService",
    "imports": "imports.service:ImportsService",
    "scoring": "scoring.service:ScoringService",
    "segments": "segments.service:SegmentsService",
    "messaging": "messaging.service:MessagingService",
}


def load_service(name: str):
    module_name, _, class_name = SERVICE_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def main(argv: list[str]) -> None:
    name = argv[1]
    logging.config.dictConfig(nameko_logging_config(name))
    config = nameko_config(name)
    run([load_service(name)], config)


if __name__ == "__main__":
    main(sys.argv)
