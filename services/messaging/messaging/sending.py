"""Sending email: enqueue recipients, then claim, render and send them in the background.

The order of things is what makes it safe (RELIABILITY E1, E4, M3):
1. ``enqueue`` writes one ``emails`` row per recipient with a UNIQUE
   ``send_key`` (job + contact, or campaign step + contact). A retried request
   or a redelivered timer tick inserts nothing new.
2. ``claim`` moves a batch from ``queued`` to ``sending`` and commits before a
   byte goes to SMTP (``FOR UPDATE SKIP LOCKED``, so replicas share work).
3. Suppression is checked after the claim, right before sending.
4. A row left in ``sending`` (the process died mid-send) is never sent again:
   at most once, and ``expire_stuck`` marks it failed for a human to look at.

SMTP runs on eventlet-patched sockets (cooperative), one connection per chunk.
"""
from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Session

from crm_shared.auth import Caller
from crm_shared.config import SmtpSettings
from crm_shared.errors import Forbidden, NotFound
from crm_shared.gdpr import email_key
from messaging import limits, merge, templates
from messaging.mime import Outgoing, build_message, new_message_id
from messaging.models import (
    Campaign,
    CampaignStep,
    Consent,
    Email,
    Enrollment,
    SendJob,
    Suppression,
    Template,
    new_id,
)
from messaging.rules import (
    SEND_TIME_ENDS,
    as_batch_events,
    cap_window,
    check_send_cap,
    fail,
    remaining_today,
    send_time_hold,
    utcnow,
)

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 10_000
CHECK_AT_ENQUEUE = 1000  # up to this many recipients, contacts are looked up at once for exact per-contact results
STUCK_AFTER = timedelta(minutes=10)
JOB_RECIPIENTS_SHOWN = 1000  # the job status lists the first recipients; counts cover all of them

Emit = Callable[[str, dict[str, Any]], None]
EmitMany = Callable[[list[tuple[str, dict[str, Any]]]], None]


class ContactsPort(Protocol):
    """What messaging needs from the contacts service (RpcProxy in production, a fake in unit tests)."""

    def get_contacts(self, contact_ids: list[str]) -> list[dict[str, Any]]: ...

    def resolve_filter_ids(self, filters: dict[str, Any], limit: int = 10000) -> list[str]: ...


def new_token() -> str:
    return secrets.token_urlsafe(18)


def contacts_by_id(contacts: ContactsPort, ids: Iterable[str], chunk: int = 500) -> dict[str, dict[str, Any]]:
    ids = list(dict.fromkeys(ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), chunk):
        for contact in contacts.get_contacts(ids[start:start + chunk]) or []:
            found[str(contact["id"])] = contact
    return found


def suppressed(session: Session, emails: Iterable[str] = (), contact_ids: Iterable[str] = ()) -> set[str]:
    """Suppressed addresses and contact ids among those given."""
    emails = [e.lower() for e in emails if e]
    contact_ids = [c for c in contact_ids if c]
    if not emails and not contact_ids:
        return set()
    keys = {email_key(e): e for e in emails}  # erased addresses stay suppressed as a keyed hash (G1)
    rows = session.execute(sa.select(Suppression.email, Suppression.contact_id).where(
        sa.or_(Suppression.email.in_(emails + list(keys)), Suppression.contact_id.in_(contact_ids)))).all()
    return {keys.get(r.email, r.email) for r in rows} | {r.contact_id for r in rows if r.contact_id}


def refusal(contact: Mapping[str, Any] | None, blocked: set[str]) -> str | None:
    """Why a contact must not get an email now, or None (E1: checked again at send time)."""
    if contact is None:
        return "contact_not_found"
    if not contact.get("email"):
        return "no_email"
    if contact.get("unsubscribed") or str(contact["id"]) in blocked or contact["email"].lower() in blocked:
        return "unsubscribed"
    return None


def resolve_recipients(contacts: ContactsPort, data: Mapping[str, Any]) -> list[str]:
    if data.get("contact_ids"):
        ids = [str(i) for i in data["contact_ids"]]
    elif data.get("filter") is not None:
        ids = [str(i) for i in contacts.resolve_filter_ids(dict(data["filter"]), limit=MAX_RECIPIENTS + 1)]
    else:
        raise fail("contact_ids", "give contact_ids or a filter")
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise fail("contact_ids", "no recipients")
    if len(ids) > MAX_RECIPIENTS:
        raise fail("contact_ids", f"at most {MAX_RECIPIENTS} recipients per send")
    return ids


def enqueue(session: Session, caller: Caller, contacts: ContactsPort, data: Mapping[str, Any]) -> dict[str, Any]:
    """Create a send job and claim one row per recipient; the sender timer does the rest."""
    template = None
    if data.get("template_id"):
        template = templates.get(session, data["template_id"])
    subject = data.get("subject") if data.get("subject") is not None else (template.subject if template else None)
    body = data.get("body") if data.get("body") is not None else (template.body if template else None)
    if not subject or not subject.strip():
        raise fail("subject", "is required (or give a template_id)")
    if not body or not body.strip():
        raise fail("body", "is required (or give a template_id)")
    templates.check_merge_fields({"subject": subject, "body": body})
    send_at: datetime | None = data.get("send_at")
    if send_at is not None and send_at < utcnow() - timedelta(minutes=5):
        raise fail("send_at", "must not be in the past")
    ids = resolve_recipients(contacts, data)

    known: dict[str, dict[str, Any]] | None = None
    if len(ids) <= CHECK_AT_ENQUEUE or caller.role == "sales":
        known = contacts_by_id(contacts, ids)
    blocked = suppressed(session, [c.get("email") or "" for c in (known or {}).values()], ids)

    job = SendJob(template_id=template.id if template else None, subject=subject, body=body,
                  sender_name=caller.name or "CRM", sender_email=caller.email or "",
                  created_by=caller.user_id, send_at=send_at)
    session.add(job)
    session.flush()
    results: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for contact_id in ids:
        contact = known.get(contact_id) if known is not None else {"id": contact_id, "email": "?"}
        reason = refusal(contact, blocked)
        if reason is None and known is not None and not caller.can_write_owned(contact.get("owner_id")):
            reason = "not_owner"
        if reason:
            results.append({"contact_id": contact_id, "status": "refused", "reason": reason})
            continue
        email_id = new_id()
        rows.append({"id": email_id, "contact_id": contact_id, "direction": "outbound", "status": "queued",
                     "send_key": f"job:{job.id}:{contact_id}", "token": new_token(), "job_id": job.id,
                     "template_id": job.template_id, "sent_by": caller.user_id, "send_at": send_at,
                     "subject": "", "body": "", "links": [], "clicked_links": []})
        results.append({"contact_id": contact_id, "status": "queued", "email_id": email_id})
    if caller.role == "sales" and ids and all(r.get("reason") == "not_owner" for r in results):
        raise Forbidden("you may only email contacts you own", {"results": results})
    if rows:
        # the cap's day row is locked until this transaction commits: concurrent sends queue behind it (A7)
        left = limits.budget(session, at=send_at)
        check_send_cap(len(rows), left.cap, left.remaining, left.resets_at, utcnow())
        session.execute(insert(Email).values(rows).on_conflict_do_nothing(index_elements=["send_key"]))
    job.total = len(rows)
    queued = len(rows)
    return {"job_id": job.id, "total": len(ids), "queued": queued, "refused": len(ids) - queued,
            "send_at": send_at.isoformat() if send_at else None, "results": results}


def enqueue_campaign_step(session: Session, campaign: Campaign, step: CampaignStep, contact_id: str) -> bool:
    """Claim the (campaign step, contact) send; False when it was claimed before (E4)."""
    result = session.execute(insert(Email).values(
        id=new_id(), contact_id=contact_id, direction="outbound", status="queued",
        send_key=f"campaign:{campaign.id}:{step.id}:{contact_id}", token=new_token(), campaign_id=campaign.id,
        step_id=step.id, template_id=step.template_id, sent_by=campaign.owner_id, subject="", body="",
        links=[], clicked_links=[],
    ).on_conflict_do_nothing(index_elements=["send_key"]).returning(Email.id))
    return result.first() is not None


@dataclass
class Claimed:
    id: str
    contact_id: str
    token: str
    job_id: str | None
    campaign_id: str | None
    step_id: str | None
    template_id: str | None


def claim(session: Session, limit: int) -> list[Claimed]:
    """Move due queued rows to 'sending' and commit: from here on they are never sent twice."""
    now = utcnow()
    due_now = sa.and_(Email.status == "queued", sa.or_(Email.send_at.is_(None), Email.send_at <= now))
    if session.execute(sa.select(Email.id).where(due_now).limit(1)).first() is None:
        session.commit()
        return []  # idle ticks do not touch the counter row
    day, _ = cap_window(now)
    # lock the day's counter first: claims of several replicas cannot pass the cap together (A7)
    left = remaining_today(limits.effective_cap(session), limits.lock_day(session, day))
    limit = min(limit, left)
    if limit <= 0:
        session.commit()
        return []
    due = (sa.select(Email.id).where(due_now)
           .order_by(Email.created_at).limit(limit).with_for_update(skip_locked=True))
    rows = session.execute(
        sa.update(Email).where(Email.id.in_(due.scalar_subquery())).values(status="sending", claimed_at=now)
        .returning(Email.id, Email.contact_id, Email.token, Email.job_id, Email.campaign_id, Email.step_id,
                   Email.template_id)).all()
    limits.add_claimed(session, day, len(rows))
    session.commit()
    return [Claimed(*row) for row in rows]


@dataclass
class Content:
    subject: str
    body: str
    sender_name: str
    sender_email: str


def load_contents(session: Session, claimed: list[Claimed], default_sender: str) -> dict[tuple[str, str], Content]:
    """Subject/body/sender per job or campaign step of the claimed rows."""
    out: dict[tuple[str, str], Content] = {}
    job_ids = {c.job_id for c in claimed if c.job_id}
    for job in session.execute(sa.select(SendJob).where(SendJob.id.in_(job_ids))).scalars():
        out[("job", job.id)] = Content(job.subject, job.body, job.sender_name, job.sender_email or default_sender)
    step_ids = {c.step_id for c in claimed if c.step_id}
    if step_ids:
        rows = session.execute(sa.select(CampaignStep, Campaign, Template)
                               .join(Campaign, Campaign.id == CampaignStep.campaign_id)
                               .outerjoin(Template, Template.id == CampaignStep.template_id)
                               .where(CampaignStep.id.in_(step_ids))).all()
        for step, campaign, template in rows:
            subject = step.subject or (template.subject if template else campaign.title)
            body = step.body or (template.body if template else "")
            out[("step", step.id)] = Content(subject, body, campaign.title, default_sender)
    return out


@dataclass
class Outcome:
    email_id: str
    status: str  # sent | bounced | failed | refused | queued (put back: nothing was sent)
    error: str | None = None
    out: Outgoing | None = None
    links: list[str] = field(default_factory=list)
    contact_id: str = ""


def prepare(claimed: list[Claimed], contacts: dict[str, dict[str, Any]], blocked: set[str],
            contents: Mapping[tuple[str, str], Content], envelope_sender: str) -> tuple[list[Outcome], list[Outcome]]:
    """Split claimed rows into refusals and rendered messages ready for SMTP."""
    refused: list[Outcome] = []
    ready: list[Outcome] = []
    domain = envelope_sender.rpartition("@")[2] or "crm.local"
    for row in claimed:
        contact = contacts.get(row.contact_id)
        reason = refusal(contact, blocked)
        content = contents.get(("job", row.job_id) if row.job_id else ("step", row.step_id or ""))
        if reason is None and content is None:
            reason = "content_missing"
        if reason:
            refused.append(Outcome(row.id, "refused", reason, contact_id=row.contact_id))
            continue
        values = merge.contact_values(contact, content.sender_name, content.sender_email)
        subject, body = merge.render_message(content.subject, content.body, values)
        out = Outgoing(email_id=row.id, token=row.token, from_name=content.sender_name,
                       from_email=envelope_sender, to_email=contact["email"], subject=subject, body=body,
                       message_id=new_message_id(domain),
                       reply_to=content.sender_email if content.sender_email != envelope_sender else None)
        ready.append(Outcome(row.id, "sent", out=out, contact_id=row.contact_id))
    return refused, ready


def smtp_connect(settings: SmtpSettings) -> smtplib.SMTP:
    conn = smtplib.SMTP(settings.host, settings.port, timeout=30)
    if settings.use_tls:
        conn.starttls(context=ssl.create_default_context())
    if settings.username:
        conn.login(settings.username, settings.password)
    return conn


def send_chunk(batch: list[Outcome], settings: SmtpSettings, base_url: str) -> list[Outcome]:
    """Send over one SMTP connection; one recipient's failure does not stop the rest."""
    try:
        conn = smtp_connect(settings)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("smtp connect failed, batch stays queued", extra={"error": str(exc)})
        for item in batch:
            item.status, item.error = "queued", f"smtp unavailable: {exc}"
        return batch
    try:
        for item in batch:
            assert item.out is not None
            raw, item.links = build_message(item.out, base_url)
            try:
                conn.sendmail(settings.sender, [item.out.to_email], raw)
            except smtplib.SMTPRecipientsRefused as exc:
                item.status, item.error = "bounced", str(exc.recipients)[:500]
            except smtplib.SMTPDataError as exc:
                code = exc.smtp_code
                item.status, item.error = ("bounced" if 500 <= code < 600 else "failed"), str(exc)[:500]
            except smtplib.SMTPServerDisconnected as exc:
                # the message may or may not have gone out: never retry it (at most once)
                item.status, item.error = "failed", f"connection lost: {exc}"
                conn = _reconnect(settings)
                if conn is None:
                    _unsent_back_to_queue(batch, item)
                    return batch
            except (OSError, smtplib.SMTPException) as exc:
                item.status, item.error = "failed", str(exc)[:500]
    finally:
        try:
            if conn is not None:
                conn.quit()
        except (OSError, smtplib.SMTPException):
            pass
    return batch


def _reconnect(settings: SmtpSettings) -> smtplib.SMTP | None:
    try:
        return smtp_connect(settings)
    except (OSError, smtplib.SMTPException):
        return None


def _unsent_back_to_queue(batch: list[Outcome], failed_item: Outcome) -> None:
    after = False
    for item in batch:
        if after:
            item.status, item.error = "queued", "smtp connection lost before sending"
        if item is failed_item:
            after = True


def record(session: Session, outcomes: list[Outcome], emit_many: EmitMany, campaign_of: Mapping[str, str | None],
           subjects: Mapping[str, str], template_of: Mapping[str, str | None]) -> None:
    """Write every recipient's status, and its event, in one transaction and a few statements."""
    now = utcnow()
    delivered = [o for o in outcomes if o.out is not None and o.status in ("sent", "bounced")]
    others = [o for o in outcomes if o not in delivered]
    if delivered:
        rows = sa.values(
            sa.column("id", sa.String), sa.column("status", sa.String), sa.column("error", sa.Text),
            sa.column("to_email", sa.String), sa.column("from_email", sa.String), sa.column("subject", sa.String),
            sa.column("body", sa.Text), sa.column("links", JSONB), sa.column("message_id", sa.String),
            sa.column("sent_at", sa.DateTime(timezone=True)), sa.column("bounced_at", sa.DateTime(timezone=True)),
            name="v",
        ).data([(o.email_id, o.status, o.error, o.out.to_email, o.out.from_email, o.out.subject, o.out.body,
                 o.links, o.out.message_id, now if o.status == "sent" else None,
                 now if o.status == "bounced" else None) for o in delivered if o.out is not None])
        session.execute(sa.update(Email).where(Email.id == rows.c.id).values(
            status=rows.c.status, error=sa.cast(rows.c.error, sa.Text), to_email=rows.c.to_email,
            from_email=rows.c.from_email, subject=rows.c.subject, body=rows.c.body, links=rows.c.links,
            message_id=rows.c.message_id, sent_at=sa.cast(rows.c.sent_at, sa.DateTime(timezone=True)),
            bounced_at=sa.cast(rows.c.bounced_at, sa.DateTime(timezone=True)), occurred_at=now))
    if others:
        rows = sa.values(sa.column("id", sa.String), sa.column("status", sa.String), sa.column("error", sa.Text),
                         name="w").data([(o.email_id, o.status, o.error) for o in others])
        session.execute(sa.update(Email).where(Email.id == rows.c.id).values(
            status=rows.c.status, error=sa.cast(rows.c.error, sa.Text),
            claimed_at=sa.case((rows.c.status == "queued", sa.null()), else_=Email.claimed_at)))
        limits.add_claimed(session, cap_window(now)[0], -sum(1 for o in others if o.status == "queued"))
    emit_many(as_batch_events([
        ("email_sent" if o.status == "sent" else "email_bounced",
         {"contact_id": o.contact_id, "email_id": o.email_id, "subject": subjects.get(o.email_id, ""),
          "campaign_id": campaign_of.get(o.email_id), "template_id": template_of.get(o.email_id)})
        for o in delivered]))   # one emails_sent (and emails_bounced) per batch, not an event per email
    session.commit()


def expire_stuck(session: Session) -> int:
    """Rows left 'sending' by a crash are failed, never re-sent (at most once)."""
    result = session.execute(sa.update(Email).where(
        Email.status == "sending", Email.claimed_at < utcnow() - STUCK_AFTER,
    ).values(status="failed", error="sender stopped mid-send; not retried to avoid a double send"))
    session.commit()
    return result.rowcount or 0


def release(session: Session, claimed: list[Claimed]) -> None:
    """Nothing was sent (a dependency failed before SMTP): the rows go back to the queue."""
    session.rollback()
    back = session.execute(sa.update(Email).where(Email.id.in_([c.id for c in claimed]), Email.status == "sending")
                           .values(status="queued", claimed_at=None))
    limits.add_claimed(session, cap_window(utcnow())[0], -(back.rowcount or 0))  # not sent: not counted
    session.commit()


def stop_out_of_period(session: Session, claimed: list[Claimed], now: datetime | None = None) -> list[Claimed]:
    """Right before SMTP, check each claimed campaign step against its campaign's period and status.

    The campaign timer checked both when it queued the step, but the end date may have passed (or
    the period or status changed) while the step sat in the queue. A step that must not go out is
    not sent: its unsent row is deleted and taken off the daily cap count (claimed, never sent),
    and the enrollment is rewound to that step exactly as if the timer had stopped it there:
    - ``campaign_ended``, ``campaign_discarded``: the enrollment ends with that ``hold_reason``;
    - ``before_start_date``, ``campaign_inactive``: it stays active with that ``hold_reason`` and
      the timer queues the step again (under the same UNIQUE send key, so still once) at the
      start date or when the campaign is Active again.
    A new period re-examines held and ended enrollments as usual. Returns the rows that may be sent;
    commits what it changed.
    """
    ids = {c.campaign_id for c in claimed if c.campaign_id}
    if not ids:
        return claimed
    now = now or utcnow()
    today, _ = cap_window(now)
    found = {c.id: c for c in session.execute(sa.select(Campaign).where(Campaign.id.in_(ids))
                                               .execution_options(populate_existing=True)).scalars()}
    reasons: dict[str, str] = {}
    for row in claimed:
        campaign = found.get(row.campaign_id or "")
        if campaign is not None:  # a deleted campaign is refused as content_missing later
            reason = send_time_hold(campaign.status, campaign.start_date, campaign.end_date, today)
            if reason is not None:
                reasons[row.id] = reason
    if not reasons:
        return claimed
    stopped = [c for c in claimed if c.id in reasons]
    positions = dict(session.execute(sa.select(CampaignStep.id, CampaignStep.position).where(
        CampaignStep.id.in_({c.step_id for c in stopped if c.step_id}))).all())
    pairs = list({(c.campaign_id, c.contact_id) for c in stopped})
    enrollments = {(e.campaign_id, e.contact_id): e for e in session.execute(
        sa.select(Enrollment).where(sa.tuple_(Enrollment.campaign_id, Enrollment.contact_id).in_(pairs))
        .with_for_update().execution_options(populate_existing=True)).scalars()}
    gone = session.execute(sa.delete(Email).where(Email.id.in_(list(reasons)), Email.status == "sending")
                           .returning(Email.id)).scalars().all()
    for row in stopped:
        enrollment = enrollments.get((row.campaign_id, row.contact_id))
        if enrollment is None or enrollment.status not in ("active", "completed", "ended"):
            continue  # removed or unsubscribed meanwhile: nothing to hold or end
        reason, campaign = reasons[row.id], found[row.campaign_id or ""]
        position = positions.get(row.step_id or "")
        if position is not None:
            enrollment.steps_done = min(enrollment.steps_done, position - 1)
        enrollment.hold_reason = reason
        if reason in SEND_TIME_ENDS:
            enrollment.status, enrollment.next_due_at = "ended", None
        else:
            enrollment.status = "active"
            enrollment.next_due_at = (datetime.combine(campaign.start_date, dt_time(0), UTC)
                                      if reason == "before_start_date" and campaign.start_date else now)
    limits.add_claimed(session, today, -len(gone))  # claimed but never sent: not counted (A7)
    session.commit()
    log.info("campaign steps stopped at send time", extra={
        "stopped": len(gone), "reasons": sorted(set(reasons.values())),
        "campaign_ids": sorted({c.campaign_id or "" for c in stopped})})
    return [c for c in claimed if c.id not in reasons]


def process_batch(session: Session, contacts: ContactsPort, settings: SmtpSettings, base_url: str,
                  emit_many: EmitMany,
                  limit: int = 400, chunk: int = 100, map_fn: Callable = map) -> int:
    """Claim up to ``limit`` due rows, check suppression, render and send them; returns rows handled."""
    marks = [("start", time.monotonic())]
    claimed = claim(session, limit)
    if not claimed:
        return 0
    marks.append(("claim", time.monotonic()))
    try:
        contact_map = contacts_by_id(contacts, [c.contact_id for c in claimed])
        marks.append(("contacts", time.monotonic()))
        blocked = suppressed(session, [c.get("email") or "" for c in contact_map.values()],
                             [c.contact_id for c in claimed])
        contents = load_contents(session, claimed, settings.sender)
        sendable = stop_out_of_period(session, claimed)
    except Exception:
        release(session, claimed)
        raise
    handled, claimed = len(claimed), sendable
    if not claimed:
        return handled
    refused, ready = prepare(claimed, contact_map, blocked, contents, settings.sender)
    marks.append(("prepare", time.monotonic()))
    batches = [ready[i:i + chunk] for i in range(0, len(ready), chunk)]
    sent: list[Outcome] = [item for batch in map_fn(lambda b: send_chunk(b, settings, base_url), batches)
                           for item in batch]
    marks.append(("smtp", time.monotonic()))
    by_id = {c.id: c for c in claimed}
    record(session, refused + sent, emit_many,
           campaign_of={i: c.campaign_id for i, c in by_id.items()},
           subjects={o.email_id: o.out.subject for o in sent if o.out is not None},
           template_of={i: c.template_id for i, c in by_id.items()})
    marks.append(("record", time.monotonic()))
    log.info("send batch", extra={"claimed": handled, "refused": len(refused), "stopped": handled - len(claimed),
                                  **{f"{name}_ms": round((t - marks[n][1]) * 1000)
                                     for n, (name, t) in enumerate(marks[1:])}})
    return handled


def job_status(session: Session, job_id: str) -> dict[str, Any]:
    """Per-recipient status of a send job, with counts by status."""
    job = session.get(SendJob, job_id)
    if job is None:
        raise NotFound("send job not found", {"job_id": job_id})
    counts = dict(session.execute(sa.select(Email.status, sa.func.count()).where(Email.job_id == job_id)
                                  .group_by(Email.status)).all())
    rows = session.execute(sa.select(Email.id, Email.contact_id, Email.status, Email.error, Email.sent_at)
                           .where(Email.job_id == job_id).order_by(Email.created_at)
                           .limit(JOB_RECIPIENTS_SHOWN)).all()
    pending = counts.get("queued", 0) + counts.get("sending", 0)
    return {"job_id": job.id, "subject": job.subject, "template_id": job.template_id, "total": sum(counts.values()),
            "counts": counts, "done": pending == 0, "created_at": job.created_at.isoformat(),
            "send_at": job.send_at.isoformat() if job.send_at else None,
            "recipients": [{"email_id": r.id, "contact_id": r.contact_id, "status": r.status, "error": r.error,
                            "sent_at": r.sent_at.isoformat() if r.sent_at else None} for r in rows]}


def consents_of(session: Session, contact_id: str) -> list[dict[str, Any]]:
    rows = session.execute(sa.select(Consent).where(Consent.contact_id == contact_id)
                           .order_by(Consent.occurred_at.desc())).scalars().all()
    return [{"id": c.id, "email": c.email, "status": c.status, "source": c.source, "text_version": c.text_version,
             "recorded_by": c.recorded_by, "occurred_at": c.occurred_at.isoformat()} for c in rows]
