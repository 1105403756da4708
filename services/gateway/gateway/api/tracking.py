"""Public tracking links (no sign-in; the unguessable token is the key): open pixel, click, unsubscribe.

The pixel answers at once; opens are buffered and recorded in batches, so a
slow service never delays a mail client and the pixel's rate is the HTTP rate. A GET on the
unsubscribe link only shows a confirmation page; the POST (the page's button,
or a mail client's RFC 8058 one-click request) unsubscribes.
"""
from __future__ import annotations

import base64
import html
import logging
import os
import re
import threading
import time

from flask import Blueprint, Response, redirect, request

from crm_shared.errors import NotFound
from crm_shared.rpc import get_client
from gateway.http import doc
from gateway.rpc import call

log = logging.getLogger(__name__)
bp = Blueprint("tracking", __name__)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"}


def _page(title: str, body: str, status: int = 200) -> Response:
    content = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
               "<meta name='viewport' content='width=device-width,initial-scale=1'></head>"
               "<body style='font-family:sans-serif;max-width:32rem;margin:4rem auto;color:#111827'>"
               f"<h1 style='font-size:20px'>{html.escape(title)}</h1>{body}</body></html>")
    return Response(content, status=status, mimetype="text/html", headers=NO_STORE)


class OpenBuffer:
    """Pixel loads collected per gateway process and sent to messaging in one RPC every ``interval``.

    One RPC per pixel would make the open rate the RPC rate; batching makes it
    the HTTP rate. A batch that fails stays in the buffer for the next round
    (bounded), so a messaging restart loses nothing; a gateway crash loses at
    most the last ``interval`` of opens, which are a best-effort signal anyway.
    """

    def __init__(self, interval: float = 0.25, max_batch: int = 2000, max_pending: int = 100_000):
        self.interval, self.max_batch, self.max_pending = interval, max_batch, max_pending
        self.pending: list[str] = []
        self.lock = threading.Lock()
        self.owner_pid: int | None = None

    def add(self, token: str) -> None:
        with self.lock:
            if len(self.pending) < self.max_pending:
                self.pending.append(token)
            if self.owner_pid != os.getpid():  # first use in this (forked) worker process
                self.owner_pid = os.getpid()
                threading.Thread(target=self._run, name="open-buffer", daemon=True).start()

    def _take(self) -> list[str]:
        with self.lock:
            batch, self.pending = self.pending[:self.max_batch], self.pending[self.max_batch:]
            return batch

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            batch = self._take()
            while batch:
                try:
                    get_client().call("messaging", "track_opens", batch, timeout=30)
                except Exception as exc:  # messaging or the broker is down: keep them for the next round
                    log.warning("opens not recorded yet", extra={"error": str(exc), "count": len(batch)})
                    with self.lock:
                        self.pending = (batch + self.pending)[:self.max_pending]
                    break
                batch = self._take()


OPENS = OpenBuffer()


@bp.get("/t/o/<token>.gif")
@doc("Open-tracking pixel", public=True, tags=["tracking"])
def open_pixel(token: str):
    if TOKEN.match(token):
        OPENS.add(token)
    return Response(PIXEL, mimetype="image/gif", headers=NO_STORE)


@bp.get("/t/c/<token>")
@doc("Click tracking: redirects to the link that was in the message", public=True, tags=["tracking"])
def click(token: str):
    url = call("messaging", "track_click", token)
    if not url:
        return _page("Link not found", "<p>This link is not valid.</p>", 404)
    return redirect(url, code=302)


@bp.get("/u/<token>")
@doc("Unsubscribe confirmation page (a GET never unsubscribes)", public=True, tags=["tracking"])
def unsubscribe_page(token: str):
    try:
        info = call("messaging", "unsubscribe_page", token)
    except NotFound:
        return _page("Link not found", "<p>This unsubscribe link is not valid.</p>", 404)
    if info["unsubscribed"]:
        return _page("You are unsubscribed", f"<p>{html.escape(info['email'])} receives no more email from us.</p>")
    return _page("Unsubscribe", (
        f"<p>Stop all email to <strong>{html.escape(info['email'])}</strong>?</p>"
        f"<form method='post' action='/u/{html.escape(token)}'>"
        "<button type='submit' style='padding:.5rem 1rem'>Unsubscribe</button></form>"))


@bp.post("/u/<token>")
@doc("Unsubscribe (RFC 8058 one-click or the page's button)", public=True, tags=["tracking"])
def unsubscribe(token: str):
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    try:
        info = call("messaging", "unsubscribe", token, "one_click" if one_click else "link")
    except NotFound:
        return _page("Link not found", "<p>This unsubscribe link is not valid.</p>", 404)
    return _page("You are unsubscribed", f"<p>{html.escape(info['email'])} receives no more email from us.</p>")
