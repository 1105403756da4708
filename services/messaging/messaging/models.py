"""SQLAlchemy models of the messaging service, on its own metadata.

Contacts live in the contacts service; here they are only ids (and the email
address a message actually went to). The suppression list is keyed by the
lower-cased address so a contact re-created under the same email stays
suppressed.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    return str(uuid.uuid4())


TS = sa.DateTime(timezone=True)


class Base(DeclarativeBase):
    pass


class Template(Base):
    __tablename__ = "templates"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    category: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_by: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())

    __table_args__ = (sa.UniqueConstraint("name", name="uq_templates_name"),)


class SendJob(Base):
    """One send request (single or bulk); its recipients are Email rows with its job_id."""

    __tablename__ = "send_jobs"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    template_id: Mapped[str | None] = mapped_column(sa.String(36))
    subject: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    sender_name: Mapped[str] = mapped_column(sa.String(120), nullable=False, default="")
    sender_email: Mapped[str] = mapped_column(sa.String(254), nullable=False, default="")
    created_by: Mapped[str | None] = mapped_column(sa.String(64))
    send_at: Mapped[datetime | None] = mapped_column(TS)
    total: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())


class Email(Base):
    """A message to or from a contact, with its delivery status and tracking token.

    ``send_key`` is the claim: one row per (job, contact) or (campaign step,
    contact), inserted under a UNIQUE constraint before anything is sent, so a
    retried job or a redelivered timer tick never sends twice (E4, M3).
    """

    __tablename__ = "emails"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    contact_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    direction: Mapped[str] = mapped_column(sa.String(10), nullable=False, default="outbound")
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="queued")
    send_key: Mapped[str | None] = mapped_column(sa.String(160), unique=True)
    token: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    job_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    template_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    campaign_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    step_id: Mapped[str | None] = mapped_column(sa.String(36))
    from_email: Mapped[str | None] = mapped_column(sa.String(254))
    to_email: Mapped[str | None] = mapped_column(sa.String(254), index=True)
    subject: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    body: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    links: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    message_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(sa.String(255))
    thread_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    sent_by: Mapped[str | None] = mapped_column(sa.String(64))
    error: Mapped[str | None] = mapped_column(sa.Text)
    send_at: Mapped[datetime | None] = mapped_column(TS)
    claimed_at: Mapped[datetime | None] = mapped_column(TS)
    sent_at: Mapped[datetime | None] = mapped_column(TS)
    delivered_at: Mapped[datetime | None] = mapped_column(TS)
    opened_at: Mapped[datetime | None] = mapped_column(TS)
    clicked_at: Mapped[datetime | None] = mapped_column(TS)
    replied_at: Mapped[datetime | None] = mapped_column(TS)
    bounced_at: Mapped[datetime | None] = mapped_column(TS)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(TS)
    open_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0, server_default="0")
    click_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0, server_default="0")
    clicked_links: Mapped[list[int]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    occurred_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())

    __table_args__ = (
        sa.Index("ix_emails_pending", "send_at", postgresql_where=sa.text("status = 'queued'")),
        sa.Index("ix_emails_contact_time", "contact_id", "occurred_at"),
    )


class Suppression(Base):
    """An address nobody may email again (E1); checked at send time."""

    __tablename__ = "suppressions"

    email: Mapped[str] = mapped_column(sa.String(254), primary_key=True)
    contact_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    reason: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    source: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())


class Consent(Base):
    """Proof of marketing consent and its withdrawal (G2): when, where from, which text."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    contact_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    email: Mapped[str] = mapped_column(sa.String(254), nullable=False, index=True)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False)  # granted | withdrawn
    source: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    text_version: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    recorded_by: Mapped[str | None] = mapped_column(sa.String(64))
    occurred_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    code: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    type: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    visibility: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="Internal")
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="Draft")
    start_date: Mapped[date | None] = mapped_column(sa.Date)
    end_date: Mapped[date | None] = mapped_column(sa.Date)
    capacity: Mapped[int | None] = mapped_column(sa.Integer)
    owner_id: Mapped[str | None] = mapped_column(sa.String(64))
    status_history: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())


class CampaignStep(Base):
    __tablename__ = "campaign_steps"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    delay_minutes: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    template_id: Mapped[str | None] = mapped_column(sa.String(36))
    subject: Mapped[str | None] = mapped_column(sa.String(255))
    body: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (sa.UniqueConstraint("campaign_id", "position", name="uq_campaign_steps_position"),)


class Enrollment(Base):
    __tablename__ = "enrollments"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False)
    contact_id: Mapped[str] = mapped_column(sa.String(36), nullable=False, index=True)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="active")
    steps_done: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    next_due_at: Mapped[datetime | None] = mapped_column(TS)
    enrolled_by: Mapped[str | None] = mapped_column(sa.String(64))
    enrolled_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())
    left_at: Mapped[datetime | None] = mapped_column(TS)
    # why the next step did not fire when due: before_start_date | campaign_ended | daily_send_cap
    # (at send time also campaign_inactive | campaign_discarded, see sending.stop_out_of_period)
    hold_reason: Mapped[str | None] = mapped_column(sa.String(40))

    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "contact_id", name="uq_enrollments_campaign_contact"),
        sa.Index("ix_enrollments_due", "next_due_at", postgresql_where=sa.text("status = 'active'")),
    )


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    contact_id: Mapped[str] = mapped_column(sa.String(36), nullable=False, index=True)
    purpose: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    direction: Mapped[str] = mapped_column(sa.String(10), nullable=False, default="outbound")
    scheduled_at: Mapped[datetime | None] = mapped_column(TS)
    occurred_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())
    duration_s: Mapped[int | None] = mapped_column(sa.Integer)
    participants: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    notes: Mapped[str] = mapped_column(sa.String(1000), nullable=False, default="")
    outcome: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    user_id: Mapped[str | None] = mapped_column(sa.String(64))
    user_name: Mapped[str] = mapped_column(sa.String(120), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())

    __table_args__ = (sa.CheckConstraint("char_length(notes) <= 1000", name="ck_calls_notes_length"),)


class FollowUp(Base):
    __tablename__ = "follow_ups"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    contact_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    type: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    priority: Mapped[str] = mapped_column(sa.String(10), nullable=False, default="medium")
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="open")
    due_at: Mapped[datetime] = mapped_column(TS, nullable=False)
    remind_at: Mapped[datetime] = mapped_column(TS, nullable=False)
    reminded_at: Mapped[datetime | None] = mapped_column(TS)
    assigned_to: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    template_id: Mapped[str | None] = mapped_column(sa.String(36))
    call_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_by: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())
    completed_at: Mapped[datetime | None] = mapped_column(TS)

    __table_args__ = (sa.Index("ix_follow_ups_remind", "remind_at",
                               postgresql_where=sa.text("status = 'open' AND reminded_at IS NULL")),)


class SendSettings(Base):
    """Per-organisation override of the daily send cap (None: CRM_DAILY_SEND_CAP)."""

    __tablename__ = "send_settings"

    organization_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    daily_cap: Mapped[int | None] = mapped_column(sa.Integer)
    updated_by: Mapped[str | None] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())


class DailySendCount(Base):
    """Emails claimed for sending per organisation and UTC day; the row is the lock of the cap (A7)."""

    __tablename__ = "daily_send_counts"

    organization_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    claimed: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
