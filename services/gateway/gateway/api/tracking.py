"""Public tracking links (no sign-in; the unguessable token is the key): open pixel, click, unsubscribe.

The pixel answers at once and records the open without waiting for the
service, so a slow service never delays a mail client. A GET on the
unsubscribe link only shows a confirmation page; the POST (the page's button,
or a mail client's RFC 8058 one-click request) unsubscribes.
"""
from __future__ import annotations

import base64
import html
import logging

from flask import Blueprint, Response, redirect, request

from crm_shared.errors import CrmError, NotFound
from gateway.http import doc
from gateway.rpc import call, call_async

log = logging.getLogger(__name__)
bp = Blueprint("tracking", __name__)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"}


def _page(title: str, body: str, status: int = 200) -> Response:
    content = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
               "<meta name='viewport' content='width=device-width,initial-scale=1'></head>"
               "<body style='font-family:sans-serif;max-width:32rem;margin:4rem auto;color:#111827'>"
               f"<h1 style='font-size:20px'>{html.escape(title)}</h1>{body}</body></html>")
    return Response(content, status=status, mimetype="text/html", headers=NO_STORE)


@bp.get("/t/o/<token>.gif")
@doc("Open-tracking pixel", public=True, tags=["tracking"])
def open_pixel(token: str):
    try:
        pending = call_async("messaging", "track_open", token, timeout=10)
        pending.client.forget(pending.correlation_id)  # fire and forget: the reply is not awaited
    except CrmError as exc:  # the broker is down: still answer the mail client
        log.warning("open not recorded", extra={"error": str(exc)})
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
