"""Start one nameko service with the shared configuration: ``python -m crm_shared.runner contacts``.

Monkey-patching comes first, before anything imports sockets or psycopg2.
SIGTERM stops the container gracefully: in-flight workers finish, nothing
unfinished is acked (RELIABILITY M8).
"""
import eventlet

import crm_shared  # noqa: F401  (quiets eventlet's deprecation notice before eventlet loads)

eventlet.monkey_patch()  # noqa: E402

import logging.config  # noqa: E402
import sys  # noqa: E402

from nameko.cli.run import run  # noqa: E402

from crm_shared.config import nameko_config  # noqa: E402
from crm_shared.logging import nameko_logging_config  # noqa: E402
from crm_shared.service_classes import SERVICE_CLASSES, load_service  # noqa: E402,F401 (re-exported)


def main(argv: list[str]) -> None:
    name = argv[1]
    logging.config.dictConfig(nameko_logging_config(name))
    config = nameko_config(name)
    run([load_service(name)], config)


if __name__ == "__main__":
    main(sys.argv)
