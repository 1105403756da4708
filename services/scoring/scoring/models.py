"""SQLAlchemy models of the scoring service, on its own metadata.

The service keeps its own projection of the contact attributes it scores
(never reading another service's database), the engagement events, scores
with history, the versioned scoring model and the automation rules.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def _now() -> sa.sql.elements.ColumnElement:
    return sa.func.now()


class ContactProfile(Base):
    """The contact attributes scoring needs, projected from contacts events."""

    __tablename__ = "contact_profiles"

    contact_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    email: Mapped[str | None] = mapped_column(sa.String(320), index=True)
    stage: Mapped[str | None] = mapped_column(sa.String(40))
    owner_id: Mapped[str | None] = mapped_column(sa.String(64))
    attrs: Mapped[dict] = mapped_column(JSONB, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=_now())


class EngagementEvent(Base):
    __tablename__ = "engagement_events"
    __table_args__ = (sa.Index("ix_engagement_contact_time", "contact_id", "occurred_at"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    contact_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    type: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    properties: Mapped[dict] = mapped_column(JSONB, nullable=False, default=dict)
    source: Mapped[str] = mapped_column(sa.String(40), nullable=False, default="api")
    source_ref: Mapped[str | None] = mapped_column(sa.String(140), unique=True)
    recorded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=_now())


class ContactFact(Base):
    """Stage and field changes, kept so rules can be previewed over past data."""

    __tablename__ = "contact_facts"
    __table_args__ = (sa.Index("ix_contact_facts_kind_time", "kind", "at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    data: Mapped[dict] = mapped_column(JSONB, nullable=False, default=dict)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=_now())


class Score(Base):
    __tablename__ = "scores"
    __table_args__ = (sa.Index("ix_scores_score", "score"),)

    contact_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    score: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    fit: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    engagement: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    engagement_level: Mapped[float] = mapped_column(sa.Float, nullable=False)
    model_version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    computed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=_now())


class ScoreHistory(Base):
    __tablename__ = "score_history"
    __table_args__ = (sa.Index("ix_score_history_contact_time", "contact_id", "at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    score: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    previous_score: Mapped[int | None] = mapped_column(sa.Integer)
    fit: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    engagement: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    reason: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    model_version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=_now())


class ModelVersion(Base):
    """Every change of the scoring model is a new row; the highest version is in force."""

    __tablename__ = "model_versions"

    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    config: Mapped[dict] = mapped_column(JSONB, nullable=False)
    created_by: Mapped[str | None] = mapped_column(sa.String(64))
    note: Mapped[str] = mapped_column(sa.String(300), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=_now())


class Rule(Base):
    __tablename__ = "rules"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    trigger: Mapped[dict] = mapped_column(JSONB, nullable=False)
    criteria: Mapped[dict | None] = mapped_column(JSONB)
    actions: Mapped[list] = mapped_column(JSONB, nullable=False)
    priority: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=5)
    blocking: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    mode: Mapped[dict] = mapped_column(JSONB, nullable=False)
    sunset_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    is_default: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    next_run_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_run_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=_now())


class RuleRun(Base):
    __tablename__ = "rule_runs"
    __table_args__ = (sa.Index("ix_rule_runs_rule_time", "rule_id", "at"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    rule_id: Mapped[str] = mapped_column(sa.String(36), nullable=False)
    contact_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    trigger: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    actions: Mapped[list] = mapped_column(JSONB, nullable=False)
    outcome: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=_now())


class RuleContactState(Base):
    """How often a rule acted on a contact: the memory behind one-time and in-cycle modes."""

    __tablename__ = "rule_contact_state"

    rule_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    contact_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    fired_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    first_fired_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    last_fired_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    next_due_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)


class JobRun(Base):
    """When a periodic job last ran (the full rescore runs every ``rescore_interval_hours``)."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    result: Mapped[dict] = mapped_column(JSONB, nullable=False, default=dict)


class DeletedContact(Base):
    """A contact the contacts service deleted (or merged away): its late events must not bring it back.

    Events reach each handler on its own queue, so an import's ``contacts_created``
    can arrive after the ``contact_deleted`` of an undo; without this a deleted
    contact would get a profile and a score again.
    """

    __tablename__ = "deleted_contacts"

    contact_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=_now())
