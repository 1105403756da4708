"""What happens after sending: opens, clicks, unsubscribes, bounces, delivery reports and replies.

Each fact moves the message's status forward only (an open after a click
keeps 'clicked') and becomes an event the first time it happens, so scoring
counts an email's open once however often the pixel loads.
"""
from __future__ import annotations

import email
import email.policy
import re
from collections import Counter
from collections.abc import Callable, Mapping
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, make_msgid, parsedate_to_datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from crm_shared.errors import NotFound
from messaging.models import Call, Campaign, Consent, Email, Enrollment, FollowUp, Suppression
from messaging.rules import as_batch_events, fail, one_of, progressed_status, utcnow

Emit = Callable[[str, dict[str, Any]], None]
UNSUBSCRIBE_TEXT_VERSION = "unsubscribe-v1"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|fw|fwd)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def _fact(email_row: Email, **extra: Any) -> dict[str, Any]:
    return {"contact_id": email_row.contact_id or "", "email_id": email_row.id, "subject": email_row.subject,
            "campaign_id": email_row.campaign_id, "template_id": email_row.template_id, **extra}


def by_token(session: Session, token: str, lock: bool = False) -> Email | None:
    if not _TOKEN.match(token or ""):
        return None
    query = sa.select(Email).where(Email.token == token, Email.direction == "outbound")
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def _mark_opened(row: Email, emit: Emit) -> None:
    now = utcnow()
    row.delivered_at = row.delivered_at or now
    if row.opened_at is None:
        row.opened_at = now
        emit("email_opened", _fact(row))
    row.status = progressed_status(row.status, "opened")


def record_opens(session: Session, tokens: list[str], emit_many: Callable[[list[tuple[str, dict]]], None]) -> int:
    """Pixel loads in a batch (the gateway buffers them): counts added, the first opens become ``emails_opened``
    events (one per BATCH_EVENT_LIMIT first opens, not one ``email_opened`` each)."""
    counts = Counter(t for t in tokens if _TOKEN.match(t or ""))
    if not counts:
        return 0
    rows = session.execute(sa.select(Email).where(Email.token.in_(list(counts)), Email.direction == "outbound",
                                                  Email.sent_at.is_not(None))
                           .order_by(Email.id).with_for_update()).scalars().all()
    now = utcnow()
    events = []
    for row in rows:
        row.open_count += counts[row.token]
        row.delivered_at = row.delivered_at or now
        if row.opened_at is None:
            row.opened_at = now
            events.append(("email_opened", _fact(row)))
        row.status = progressed_status(row.status, "opened")
    emit_many(as_batch_events(events))
    return len(rows)


def record_click(session: Session, click_token: str, emit: Emit) -> str | None:
    """The original link behind a click token, or None: only links that were in the message redirect."""
    token, _, index = (click_token or "").rpartition(".")
    if not index.isdigit():
        return None
    row = by_token(session, token, lock=True)
    if row is None or row.sent_at is None or int(index) >= len(row.links or []):
        return None
    n = int(index)
    url = row.links[n]
    _mark_opened(row, emit)  # a click proves the message was opened, even with images blocked
    row.click_count += 1
    if row.clicked_at is None:
        row.clicked_at = utcnow()
    if n not in (row.clicked_links or []):
        row.clicked_links = [*(row.clicked_links or []), n]
        emit("email_clicked", _fact(row, url=url))
    row.status = progressed_status(row.status, "clicked")
    return url


def mask(address: str | None) -> str:
    """What the confirmation page shows: enough to recognise, not enough to harvest."""
    if not address or "@" not in address:
        return ""
    local, _, domain = address.partition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 1)}@{domain}"


def unsubscribe_page(session: Session, token: str) -> dict[str, Any]:
    """GET on the link: what the page shows. It never unsubscribes (E1)."""
    row = by_token(session, token)
    if row is None or not row.to_email:
        raise NotFound("unknown unsubscribe link")
    already = session.get(Suppression, row.to_email.lower()) is not None
    return {"email": mask(row.to_email), "unsubscribed": already}


def unsubscribe_address(session: Session, address: str, contact_id: str | None, source: str, emit: Emit,
                        actor_id: str | None = None, text_version: str = UNSUBSCRIBE_TEXT_VERSION) -> bool:
    """Suppress an address, record the withdrawal, leave every campaign; True the first time."""
    address = address.strip().lower()
    created = session.execute(insert(Suppression).values(
        email=address, contact_id=contact_id, reason="unsubscribed", source=source,
    ).on_conflict_do_nothing().returning(Suppression.email)).first() is not None
    if not created:
        return False
    session.add(Consent(contact_id=contact_id, email=address, status="withdrawn", source=source,
                        text_version=text_version, recorded_by=actor_id))
    # queued messages to this address or contact are refused now rather than at send time
    targets = [Email.to_email == address]
    if contact_id:
        targets.append(Email.contact_id == contact_id)
    session.execute(sa.update(Email).where(Email.status == "queued", sa.or_(*targets))
                    .values(status="refused", error="unsubscribed"))
    if contact_id:
        left = session.execute(
            sa.update(Enrollment).where(Enrollment.contact_id == contact_id, Enrollment.status == "active")
            .values(status="unsubscribed", left_at=utcnow(), next_due_at=None)
            .returning(Enrollment.campaign_id)).scalars().all()
        names = dict(session.execute(sa.select(Campaign.id, Campaign.title).where(Campaign.id.in_(left))).all())
        for campaign_id in left:
            emit("campaign_unenrolled", {"contact_id": contact_id, "campaign_id": campaign_id,
                                         "campaign_name": names.get(campaign_id, ""), "actor_id": actor_id})
    emit("unsubscribed", {"contact_id": contact_id, "email": address, "source": source})
    return True


def unsubscribe(session: Session, token: str, emit: Emit, source: str = "one_click") -> dict[str, Any]:
    """POST on the link (RFC 8058 one-click, or the page's button)."""
    row = by_token(session, token, lock=True)
    if row is None or not row.to_email:
        raise NotFound("unknown unsubscribe link")
    first = unsubscribe_address(session, row.to_email, row.contact_id, source, emit)
    if row.unsubscribed_at is None:
        row.unsubscribed_at = utcnow()
    row.status = progressed_status(row.status, "unsubscribed")
    return {"email": mask(row.to_email), "unsubscribed": True, "already": not first}


def apply_delivery_report(session: Session, original: Email, action: str, diagnostic: str, emit: Emit) -> str:
    """A DSN for one of our messages: delivered, or a bounce (failed)."""
    now = utcnow()
    if action == "delivered":
        if original.delivered_at is None:
            original.delivered_at = now
            emit("email_delivered", _fact(original))
        original.status = progressed_status(original.status, "delivered")
    elif action == "failed":
        if original.bounced_at is None:
            original.bounced_at = now
            original.error = diagnostic[:500] or "bounced"
            emit("email_bounced", _fact(original))
        original.status = progressed_status(original.status, "bounced")
    return original.status


def _ids(value: str | None) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def parse_raw(raw: str) -> dict[str, Any]:
    """An RFC 5322 message (as a mail server would hand it over) as inbound fields, DSN included."""
    msg = email.message_from_string(raw, policy=email.policy.default)
    out: dict[str, Any] = {
        "from_email": (getaddresses([str(msg.get("From", ""))]) or [("", "")])[0][1],
        "subject": str(msg.get("Subject", "")), "message_id": str(msg.get("Message-ID", "")) or None,
        "in_reply_to": str(msg.get("In-Reply-To", "")) or None, "references": str(msg.get("References", "")),
    }
    if msg.get("Date"):
        try:
            out["received_at"] = parsedate_to_datetime(str(msg["Date"]))
        except (TypeError, ValueError):
            pass
    if msg.get_content_type() == "multipart/report":
        out["report"] = _parse_dsn(msg)
    body = msg.get_body(preferencelist=("plain", "html"))
    out["body"] = body.get_content() if body is not None else ""
    return out


def _parse_dsn(msg: Message) -> dict[str, Any]:
    action, diagnostic, original_id, crm_id = "", "", None, None
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            for block in part.get_payload():
                action = action or str(block.get("Action", "")).strip().lower()
                diagnostic = diagnostic or str(block.get("Diagnostic-Code", "")).strip()
        elif ctype in ("message/rfc822", "text/rfc822-headers"):
            if ctype == "message/rfc822":
                inner = part.get_payload()[0]
            else:
                inner = HeaderParser().parsestr(part.get_content())
            original_id = original_id or (str(inner.get("Message-ID", "")).strip() or None)
            crm_id = crm_id or (str(inner.get("X-CRM-Email-Id", "")).strip() or None)
    return {"action": action, "diagnostic": diagnostic, "original_message_id": original_id, "email_id": crm_id}


def _find_parent(session: Session, data: Mapping[str, Any], sender: str) -> Email | None:
    ids = _ids(data.get("in_reply_to")) + _ids(data.get("references"))
    if ids:
        parent = session.execute(sa.select(Email).where(Email.message_id.in_(ids))
                                 .order_by(Email.occurred_at.desc()).limit(1)).scalar_one_or_none()
        if parent is not None:
            return parent
    subject = _REPLY_PREFIX.sub("", data.get("subject") or "").strip()
    if not subject or not sender:
        return None
    return session.execute(
        sa.select(Email).where(Email.direction == "outbound", sa.func.lower(Email.to_email) == sender.lower(),
                               Email.subject == subject, Email.sent_at.is_not(None))
        .order_by(Email.sent_at.desc()).limit(1)).scalar_one_or_none()


def inbound(session: Session, data: Mapping[str, Any], emit: Emit) -> dict[str, Any]:
    """A received email: a delivery report, or a message threaded to what it answers."""
    fields = dict(data)
    if fields.get("raw"):
        parsed = parse_raw(fields.pop("raw"))
        fields = {**parsed, **{k: v for k, v in fields.items() if v is not None}}
    report = fields.get("report")
    if report and report.get("action") in ("delivered", "failed", "delayed"):
        original = None
        if report.get("email_id"):
            original = session.get(Email, report["email_id"])
        if original is None and report.get("original_message_id"):
            original = session.execute(sa.select(Email).where(
                Email.message_id == report["original_message_id"])).scalar_one_or_none()
        if original is None:
            raise NotFound("delivery report for an unknown message")
        status = apply_delivery_report(session, original, report["action"], report.get("diagnostic", ""), emit)
        return {"kind": "delivery_report", "email_id": original.id, "status": status}

    sender = (fields.get("from_email") or "").strip()
    if not sender:
        raise fail("from_email", "is required")
    message_id = (fields.get("message_id") or "").strip() or None
    if message_id:
        existing = session.execute(sa.select(Email).where(Email.message_id == message_id,
                                                          Email.direction == "inbound")).scalar_one_or_none()
        if existing is not None:  # the same message delivered twice: nothing happens twice
            return {"kind": "reply" if existing.in_reply_to else "message", "email_id": existing.id,
                    "contact_id": existing.contact_id, "thread_id": existing.thread_id, "duplicate": True}
    parent = _find_parent(session, fields, sender)
    contact_id = (parent.contact_id if parent else None) or fields.get("contact_id")
    if not contact_id:
        known = session.execute(sa.select(Email.contact_id).where(
            sa.func.lower(Email.to_email) == sender.lower(), Email.contact_id.is_not(None))
            .order_by(Email.occurred_at.desc()).limit(1)).scalar_one_or_none()
        contact_id = known
    if not contact_id:
        raise fail("contact_id", "the sender is not a known contact; give contact_id")
    now = utcnow()
    row = Email(contact_id=contact_id, direction="inbound", status="replied" if parent else "received",
                from_email=sender, to_email=fields.get("to_email"), subject=(fields.get("subject") or "")[:255],
                body=fields.get("body") or "", message_id=message_id or make_msgid(domain="inbound.crm"),
                in_reply_to=parent.message_id if parent else None,
                thread_id=(parent.thread_id or parent.id) if parent else None,
                occurred_at=fields.get("received_at") or now, links=[], clicked_links=[])
    session.add(row)
    if parent is not None:
        if parent.replied_at is None:
            parent.replied_at = now
            emit("email_replied", _fact(parent))
        parent.status = progressed_status(parent.status, "replied")
        if parent.thread_id is None:
            parent.thread_id = parent.id
    session.flush()
    return {"kind": "reply" if parent else "message", "email_id": row.id, "contact_id": contact_id,
            "thread_id": row.thread_id, "in_reply_to": parent.id if parent else None, "duplicate": False}


def forget_contact(session: Session, contact_id: str) -> dict[str, int]:
    """A deleted contact: nothing more is sent or due; its suppression (if any) stays (G1)."""
    refused = session.execute(sa.update(Email).where(Email.contact_id == contact_id, Email.status == "queued")
                              .values(status="refused", error="contact deleted")).rowcount
    left = session.execute(sa.update(Enrollment).where(Enrollment.contact_id == contact_id,
                                                       Enrollment.status == "active")
                           .values(status="removed", left_at=utcnow(), next_due_at=None)).rowcount
    cancelled = session.execute(sa.update(FollowUp).where(FollowUp.contact_id == contact_id,
                                                          FollowUp.status == "open")
                                .values(status="cancelled", completed_at=utcnow())).rowcount
    return {"refused": refused or 0, "left": left or 0, "cancelled": cancelled or 0}


def merge_contacts(session: Session, primary_id: str, merged_ids: list[str]) -> None:
    """Merged duplicates: their history, follow-ups and campaigns now belong to the primary contact."""
    if not merged_ids:
        return
    for model in (Email, Call, FollowUp, Suppression, Consent):
        session.execute(sa.update(model).where(model.contact_id.in_(merged_ids)).values(contact_id=primary_id))
    primary_campaigns = set(session.execute(sa.select(Enrollment.campaign_id).where(
        Enrollment.contact_id == primary_id)).scalars())
    for enrollment in session.execute(sa.select(Enrollment).where(Enrollment.contact_id.in_(merged_ids))).scalars():
        if enrollment.campaign_id in primary_campaigns:
            session.delete(enrollment)  # the primary is already in that campaign
        else:
            enrollment.contact_id = primary_id
            primary_campaigns.add(enrollment.campaign_id)


CONSENT_SOURCES = ("web_form", "double_opt_in", "event", "import", "verbal", "email", "phone", "letter", "manual")


def record_consent(session: Session, contact: Mapping[str, Any], data: Mapping[str, Any], emit: Emit,
                   actor_id: str | None) -> dict[str, Any]:
    """Proof of a marketing consent (G2); a withdrawal also suppresses the address."""
    status = one_of("status", data.get("status"), ("granted", "withdrawn"))
    source = one_of("source", data.get("source"), CONSENT_SOURCES)
    text_version = str(data.get("text_version") or "").strip()
    if not text_version or len(text_version) > 40:
        raise fail("text_version", "1 to 40 characters (which consent text the contact agreed to)")
    address = (contact.get("email") or "").lower()
    if not address:
        raise fail("contact_id", "the contact has no email address")
    if status == "withdrawn":
        unsubscribe_address(session, address, str(contact["id"]), source, emit, actor_id, text_version)
    else:
        session.add(Consent(contact_id=str(contact["id"]), email=address, status="granted", source=source,
                            text_version=text_version, recorded_by=actor_id))
    session.flush()
    latest = session.execute(sa.select(Consent).where(Consent.contact_id == str(contact["id"]))
                             .order_by(Consent.occurred_at.desc()).limit(1)).scalar_one()
    return {"id": latest.id, "email": latest.email, "status": latest.status, "source": latest.source,
            "text_version": latest.text_version, "recorded_by": latest.recorded_by,
            "occurred_at": latest.occurred_at.isoformat(),
            "suppressed": session.get(Suppression, address) is not None}
