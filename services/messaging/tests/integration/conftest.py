"""Fixtures shared by the messaging service-layer tests."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from crm_shared.config import SmtpSettings
from crm_shared.smtp_sink import SinkHandler


@pytest.fixture()
def sink(tmp_path: Path) -> Iterator[tuple[SmtpSettings, Path]]:
    """A real SMTP server on a free port writing what it receives to a folder (read_messages)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(SinkHandler(tmp_path / "mail"), hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpSettings("127.0.0.1", port, "", "", False, "crm@demo.crm"), tmp_path / "mail"
    controller.stop()
