"""SQLAlchemy models of the segments service, on its own metadata.

``contact_projection`` is this service's own copy of the contact attributes
criteria can test (fed by contacts, scoring and messaging events, rebuilt
from ``contacts.iter_contacts``); it never reads another service's database.
Text values keep their case (compared with ``lower()``); tags and campaign
names are stored lowercased so array containment is index-friendly.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


TS = sa.DateTime(timezone=True)
TEXT_ARRAY = ARRAY(sa.Text)


class Segment(Base):
    __tablename__ = "segments"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="", server_default="")
    color: Mapped[str] = mapped_column(sa.String(7), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(10), nullable=False)  # dynamic | static
    criteria: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    template_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_by: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())
    refreshed_at: Mapped[datetime | None] = mapped_column(TS)

    __table_args__ = (
        sa.CheckConstraint("kind in ('dynamic','static')", name="ck_segments_kind"),
        sa.Index("uq_segments_org_name", "organization_id", sa.text("lower(name)"), unique=True),
    )


class SegmentMember(Base):
    """One contact in one segment: qualifying (dynamic), manual, or both."""

    __tablename__ = "segment_members"

    segment_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("segments.id", ondelete="CASCADE"),
                                            primary_key=True)
    contact_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    manual: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    qualifies: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    added_by: Mapped[str | None] = mapped_column(sa.String(64))
    added_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())

    __table_args__ = (sa.Index("ix_segment_members_contact", "contact_id"),)


class SegmentTemplate(Base):
    """A saved template ("save as template"); the seed's three built-ins live in code."""

    __tablename__ = "segment_templates"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, default=new_id)
    organization_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="", server_default="")
    color: Mapped[str] = mapped_column(sa.String(7), nullable=False)
    criteria: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_by: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())

    __table_args__ = (sa.Index("uq_segment_templates_org_name", "organization_id", sa.text("lower(name)"),
                               unique=True),)


# Columns the score index carries besides its keys (score, contact_id).
PREVIEW_COVERED = ("known", "demo_requested", "engagement_level", "company_size", "last_email_opened_at", "stage",
                   "role_class", "position", "owner_id", "channel", "type")


class ContactProjection(Base):
    """The contact attributes criteria test; ``known`` once a contact snapshot arrived."""

    __tablename__ = "contact_projection"

    contact_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    known: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False, server_default=sa.false())
    first_name: Mapped[str | None] = mapped_column(sa.Text)
    last_name: Mapped[str | None] = mapped_column(sa.Text)
    name: Mapped[str | None] = mapped_column(sa.Text)
    email: Mapped[str | None] = mapped_column(sa.Text)
    phone: Mapped[str | None] = mapped_column(sa.Text)
    company: Mapped[str | None] = mapped_column(sa.Text)
    position: Mapped[str | None] = mapped_column(sa.Text)
    role_class: Mapped[str | None] = mapped_column(sa.String(20))
    department: Mapped[str | None] = mapped_column(sa.Text)
    industry: Mapped[str | None] = mapped_column(sa.Text)
    owner_id: Mapped[str | None] = mapped_column(sa.String(64))
    stage: Mapped[str | None] = mapped_column(sa.Text)
    type: Mapped[str | None] = mapped_column(sa.Text)
    channel: Mapped[str | None] = mapped_column(sa.Text)
    source: Mapped[str | None] = mapped_column(sa.Text)
    city: Mapped[str | None] = mapped_column(sa.Text)
    state: Mapped[str | None] = mapped_column(sa.Text)
    country: Mapped[str | None] = mapped_column(sa.Text)
    company_size: Mapped[float | None] = mapped_column(sa.Numeric)
    annual_revenue: Mapped[float | None] = mapped_column(sa.Numeric)
    tags: Mapped[list[str]] = mapped_column(TEXT_ARRAY, nullable=False, default=list, server_default="{}")
    unsubscribed: Mapped[bool | None] = mapped_column(sa.Boolean)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict,
                                                          server_default=sa.text("'{}'::jsonb"))
    created_at: Mapped[datetime | None] = mapped_column(TS)
    updated_at: Mapped[datetime | None] = mapped_column(TS)
    last_contact_at: Mapped[datetime | None] = mapped_column(TS)
    score: Mapped[int | None] = mapped_column(sa.Integer)
    fit: Mapped[int | None] = mapped_column(sa.Integer)
    engagement: Mapped[int | None] = mapped_column(sa.Integer)
    engagement_level: Mapped[float | None] = mapped_column(sa.Float)
    score_at: Mapped[datetime | None] = mapped_column(TS)  # last score_changed applied
    demo_requested: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False,
                                                 server_default=sa.false())
    last_email_opened_at: Mapped[datetime | None] = mapped_column(TS)
    events: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict,
                                                   server_default=sa.text("'{}'::jsonb"))
    campaign_ids: Mapped[list[str]] = mapped_column(TEXT_ARRAY, nullable=False, default=list, server_default="{}")
    campaigns: Mapped[list[str]] = mapped_column(TEXT_ARRAY, nullable=False, default=list, server_default="{}")
    projected_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())

    __table_args__ = (
        # Range tests, top-N samples in index order, and index-only preview counts of score-led criteria
        # (the included columns are what such criteria test besides the score; migration 7c2e4a9b1d30).
        sa.Index("ix_projection_score", sa.text("score DESC NULLS LAST"), "contact_id",
                 postgresql_include=list(PREVIEW_COVERED)),
        sa.Index("ix_projection_company_size", "company_size"),
        sa.Index("ix_projection_engagement_level", "engagement_level"),
        sa.Index("ix_projection_owner", "owner_id"),
        sa.Index("ix_projection_tags", "tags", postgresql_using="gin"),
    )


class DeletedContact(Base):
    """A contact the contacts service deleted, merged away or erased: its late events must not bring it back.

    Every event type reaches this service on its own queue, so a ``contact_updated`` or an import's
    ``contacts_created`` already in flight can arrive after the ``contact_deleted``/``contact_erased``;
    without this the projection (and, for an erasure, the person's data) would come back. Only the
    opaque contact id is kept.
    """

    __tablename__ = "deleted_contacts"

    contact_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())


# Text fields whose ``contains`` conditions a trigram index answers (query.py compiles ``contains`` as
# ``lower(column) LIKE '%...%'``): a preview typed against "email contains @acme" finds its few rows
# in the index instead of lowering every row of the projection (migration 9d4f2b6c8e15).
TRIGRAM_FIELDS = ("email", "name", "company")
for _field in TRIGRAM_FIELDS:
    sa.Index(f"ix_projection_{_field}_trgm", sa.func.lower(ContactProjection.__table__.c[_field]).label(_field),
             postgresql_using="gin", postgresql_ops={_field: "gin_trgm_ops"})
