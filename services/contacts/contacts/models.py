"""SQLAlchemy models of the contacts service, on its own metadata.

Users live here because owners are a contacts concept (every contact has an
owner); the gateway keeps nothing persistent (ARCHITECTURE "gateway").
Contacts keep a denormalised company name and a lowercased ``search_text``
(name, company, position, tags) so list search is one trigram-indexed column.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


TS = sa.DateTime(timezone=True)
TEXT_ARRAY = ARRAY(sa.Text)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    role: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    password_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())

    __table_args__ = (sa.CheckConstraint("role in ('admin','marketing','sales','executive')", name="ck_users_role"),)


class Company(Base):
    """One row per company name, compared case- and accent-insensitively (``name_key``)."""

    __tablename__ = "companies"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(150), nullable=False)
    name_key: Mapped[str] = mapped_column(sa.String(150), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())

    __table_args__ = (
        sa.Index("ix_companies_name_trgm", "name_key", postgresql_using="gin",
                 postgresql_ops={"name_key": "gin_trgm_ops"}),
    )


class SearchTerm(Base):
    """The words contacts are searched by (names, companies, positions, tags): the typo-tolerance vocabulary.

    A misspelt term is matched against these few thousand words by trigram
    similarity, then the contacts are found by the fast substring match.
    """

    __tablename__ = "search_terms"

    term: Mapped[str] = mapped_column(sa.String(100), primary_key=True)

    __table_args__ = (
        # GiST, not GIN: the planner costs a GIN scan for ``%`` above a full scan and never uses it
        sa.Index("ix_search_terms_gist", "term", postgresql_using="gist", postgresql_ops={"term": "gist_trgm_ops"}),
    )


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    first_name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    last_name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    name_key: Mapped[str] = mapped_column(sa.String(210), nullable=False)
    email: Mapped[str] = mapped_column(sa.String(254), nullable=False, unique=True)
    emails: Mapped[list[str]] = mapped_column(TEXT_ARRAY, nullable=False, server_default="{}")
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    phones: Mapped[list[str]] = mapped_column(TEXT_ARRAY, nullable=False, server_default="{}")
    company_id: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("companies.id"))
    company: Mapped[str | None] = mapped_column(sa.String(150))
    position: Mapped[str | None] = mapped_column(sa.String(100))
    department: Mapped[str | None] = mapped_column(sa.String(100))
    industry: Mapped[str | None] = mapped_column(sa.String(100))
    company_size: Mapped[int | None] = mapped_column(sa.Integer)
    annual_revenue: Mapped[int | None] = mapped_column(sa.BigInteger)
    address: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    social: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    type: Mapped[str | None] = mapped_column(sa.String(50))
    channel: Mapped[str | None] = mapped_column(sa.String(50))
    stage: Mapped[str] = mapped_column(sa.String(30), nullable=False, server_default="New")
    owner_id: Mapped[str | None] = mapped_column(sa.String(36))
    tags: Mapped[list[str]] = mapped_column(TEXT_ARRAY, nullable=False, server_default="{}")
    tag_keys: Mapped[list[str]] = mapped_column(TEXT_ARRAY, nullable=False, server_default="{}")
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    notes: Mapped[str | None] = mapped_column(sa.Text)
    score: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default="0")
    unsubscribed: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.false())
    source: Mapped[str] = mapped_column(sa.String(30), nullable=False, server_default="manual")
    import_id: Mapped[str | None] = mapped_column(sa.String(36))
    search_text: Mapped[str] = mapped_column(sa.Text, nullable=False, server_default="")
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default="1")
    created_by: Mapped[str | None] = mapped_column(sa.String(60))
    updated_by: Mapped[str | None] = mapped_column(sa.String(60))
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())
    last_contact_at: Mapped[datetime | None] = mapped_column(TS)
    last_activity_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())

    __table_args__ = (
        # search trigrams and the list's equality filters in one GIN (btree_gin): one scan for q + filters
        sa.Index("ix_contacts_search_filters", "search_text", "stage", sa.text("lower(channel)"),
                 sa.text("lower(type)"), "owner_id", "tag_keys", postgresql_using="gin",
                 postgresql_ops={"search_text": "gin_trgm_ops"}),
        sa.Index("ix_contacts_emails", "emails", postgresql_using="gin"),
        sa.Index("ix_contacts_phones", "phones", postgresql_using="gin"),
        sa.Index("ix_contacts_stage_created", "stage", "created_at"),
        sa.Index("ix_contacts_owner_created", "owner_id", "created_at"),
        sa.Index("ix_contacts_company_id", "company_id"),
        sa.Index("ix_contacts_channel", "channel"),
        sa.Index("ix_contacts_type", "type"),
        sa.Index("ix_contacts_score", "score"),
        sa.Index("ix_contacts_created_at", "created_at"),
        sa.Index("ix_contacts_last_activity", "last_activity_at"),
        sa.Index("ix_contacts_last_contact", "last_contact_at"),
        sa.Index("ix_contacts_phone", "phone"),
        sa.Index("ix_contacts_name_key", "name_key"),
        sa.Index("ix_contacts_import_id", "import_id"),
        sa.CheckConstraint("score >= 0 AND score <= 100", name="ck_contacts_score"),
    )


class StageChange(Base):
    """Every stage change: who, when, from, to (SPEC "Stages")."""

    __tablename__ = "stage_changes"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("contacts.id", ondelete="CASCADE"),
                                            nullable=False, index=True)
    from_stage: Mapped[str | None] = mapped_column(sa.String(30))
    to_stage: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    actor_id: Mapped[str | None] = mapped_column(sa.String(60))
    actor_name: Mapped[str | None] = mapped_column(sa.String(120))
    changed_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    contact_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("contacts.id", ondelete="CASCADE"),
                                            nullable=False)
    author_id: Mapped[str | None] = mapped_column(sa.String(60))
    author_name: Mapped[str | None] = mapped_column(sa.String(120))
    author_role: Mapped[str | None] = mapped_column(sa.String(20))
    type: Mapped[str] = mapped_column(sa.String(20), nullable=False, server_default="general")
    text: Mapped[str] = mapped_column(sa.Text, nullable=False)
    tags: Mapped[list[str]] = mapped_column(TEXT_ARRAY, nullable=False, server_default="{}")
    search: Mapped[Any] = mapped_column(
        TSVECTOR, sa.Computed("to_tsvector('simple', coalesce(text, ''))", persisted=True))
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())

    __table_args__ = (
        sa.Index("ix_notes_contact_created", "contact_id", "created_at"),
        sa.Index("ix_notes_search", "search", postgresql_using="gin"),
    )


class NoteRevision(Base):
    """The state of a note before each edit, with who edited it and when (seed 000 "Note History")."""

    __tablename__ = "note_revisions"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=True)
    note_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("notes.id", ondelete="CASCADE"),
                                         nullable=False, index=True)
    text: Mapped[str] = mapped_column(sa.Text, nullable=False)
    type: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    tags: Mapped[list[str]] = mapped_column(TEXT_ARRAY, nullable=False, server_default="{}")
    edited_by: Mapped[str | None] = mapped_column(sa.String(60))
    edited_by_name: Mapped[str | None] = mapped_column(sa.String(120))
    edited_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())


class Activity(Base):
    """One entry of a contact's timeline: own facts and the events of the other services."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("contacts.id", ondelete="CASCADE"),
                                            nullable=False)
    type: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    title: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    actor_id: Mapped[str | None] = mapped_column(sa.String(60))
    actor_name: Mapped[str | None] = mapped_column(sa.String(120))
    source: Mapped[str] = mapped_column(sa.String(30), nullable=False, server_default="contacts")
    event_id: Mapped[str | None] = mapped_column(sa.String(36))
    occurred_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())

    __table_args__ = (
        sa.Index("ix_activities_contact_time", "contact_id", "occurred_at"),
    )


class ImportRow(Base):
    """The outcome of one import row, so ``import_batch`` is idempotent and ``undo_import`` knows what to undo."""

    __tablename__ = "import_rows"

    import_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    row: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    contact_id: Mapped[str | None] = mapped_column(sa.String(36))
    outcome: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    version_after: Mapped[int | None] = mapped_column(sa.Integer)
    undone: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(TS, nullable=False, server_default=sa.func.now())


class AuditEntry(Base):
    """Append-only audit log; each row's hash covers its content and the previous row's hash."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(TS, nullable=False)
    actor_id: Mapped[str | None] = mapped_column(sa.String(60))
    actor_role: Mapped[str | None] = mapped_column(sa.String(20))
    action: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    entity: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    entity_id: Mapped[str | None] = mapped_column(sa.String(36))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    prev_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)

    __table_args__ = (
        sa.Index("ix_audit_entity", "entity_id", "at"),
        sa.Index("ix_audit_actor_action", "actor_id", "action", "at"),
    )
