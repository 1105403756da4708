"""A local SMTP sink for development and tests: every message is kept as an .eml file.

``python -m crm_shared.smtp_sink --port 8025 --dir .run/mail``; tests read the
folder with ``read_messages``.
"""
from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


class SinkHandler:
    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook name)
        name = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.folder / (name + ".tmp")
        header = f"X-Sink-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n".encode()
        tmp.write_bytes(header + envelope.original_content)
        tmp.rename(self.folder / name)
        return "250 Message accepted for delivery"


def read_messages(folder: str | Path) -> list[EmailMessage]:
    """Every message the sink received, oldest first."""
    path = Path(folder)
    if not path.exists():
        return []
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(path.glob("*.eml"))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", default=".run/mail")
    args = parser.parse_args()
    controller = Controller(SinkHandler(Path(args.dir)), hostname=args.host, port=args.port)
    controller.start()
    print(f"smtp sink on {args.host}:{args.port}, storing in {args.dir}", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
