"""SQLAlchemy models of the imports service, on its own metadata.

An import is a job row (state machine + checkpoint cursor), its file bytes,
and one row per data line of the file. The row table is the unit of crash
safety: every stage writes its results there together with the job's
cursor in one transaction, so a killed worker resumes exactly where the
last commit left off (RELIABILITY I3).
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class Import(Base):
    __tablename__ = "imports"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    user_name: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    user_role: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    file_name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    source: Mapped[str] = mapped_column(sa.String(40), nullable=False, default="csv")
    content_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    size_bytes: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    encoding: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    delimiter: Mapped[str] = mapped_column(sa.String(4), nullable=False)
    headers: Mapped[list] = mapped_column(JSONB, nullable=False)
    mapping: Mapped[dict] = mapped_column(JSONB, nullable=False)
    rules: Mapped[dict] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="uploaded")
    phase: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="uploaded")
    cursor: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    run_token: Mapped[str] = mapped_column(sa.String(36), nullable=False, default=new_id)
    unresolved_action: Mapped[str | None] = mapped_column(sa.String(10), nullable=True)
    step: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=2)
    stage: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    progress: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    message: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    total_rows: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    stage_seconds: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    undo_result: Mapped[dict | None] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False,
                                                 server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False,
                                                 server_default=sa.func.now())
    last_activity_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False,
                                                       server_default=sa.func.now())
    completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    undone_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)

    __table_args__ = (sa.Index("ix_imports_status_updated", "status", "updated_at"),)


class ImportFile(Base):
    """The uploaded bytes, kept apart so listing jobs never loads them."""

    __tablename__ = "import_files"

    import_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("imports.id", ondelete="CASCADE"),
                                           primary_key=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)


class ImportRow(Base):
    __tablename__ = "import_rows"

    import_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("imports.id", ondelete="CASCADE"),
                                           primary_key=True)
    row: Mapped[int] = mapped_column(sa.Integer, primary_key=True)      # 1-based data row number
    line: Mapped[int] = mapped_column(sa.Integer, nullable=False)       # 1-based source line
    raw: Mapped[list] = mapped_column(JSONB, nullable=False)            # cells as read
    fields: Mapped[dict | None] = mapped_column(JSONB, nullable=True)   # validated contact fields
    errors: Mapped[list | None] = mapped_column(JSONB, nullable=True)   # [{field, value, type, message, fix}]
    valid: Mapped[bool | None] = mapped_column(sa.Boolean, nullable=True)
    email_key: Mapped[str | None] = mapped_column(sa.String(254), nullable=True)
    phone_key: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    name_key: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    company_key: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    fuzzy_key: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    match_type: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    confidence: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    existing_contact_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    existing: Mapped[dict | None] = mapped_column(JSONB, nullable=True)
    duplicate_of_row: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    decision: Mapped[str | None] = mapped_column(sa.String(10), nullable=True)   # merge|skip|review
    outcome: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)    # created|merged|skipped|failed
    contact_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    changes: Mapped[dict | None] = mapped_column(JSONB, nullable=True)
    conflicts: Mapped[dict | None] = mapped_column(JSONB, nullable=True)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)

    __table_args__ = (
        sa.Index("ix_import_rows_email", "import_id", "email_key"),
        sa.Index("ix_import_rows_phone", "import_id", "phone_key"),
        sa.Index("ix_import_rows_name", "import_id", "name_key"),
        sa.Index("ix_import_rows_company", "import_id", "company_key"),
        sa.Index("ix_import_rows_fuzzy", "import_id", "fuzzy_key"),
        sa.Index("ix_import_rows_match", "import_id", "match_type"),
    )


class MatchingRules(Base):
    """One stored rule set (id 'default'); each import copies it at upload time."""

    __tablename__ = "matching_rules"

    id: Mapped[str] = mapped_column(sa.String(20), primary_key=True, default="default")
    rules: Mapped[dict] = mapped_column(JSONB, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(sa.String(80), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False,
                                                 server_default=sa.func.now())


class DuplicateScan(Base):
    """A database-wide duplicate scan (seed 000 §4.1) and its groups."""

    __tablename__ = "duplicate_scans"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="scanning")
    requested_by: Mapped[str | None] = mapped_column(sa.String(80), nullable=True)
    scanned: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    groups: Mapped[list] = mapped_column(JSONB, nullable=False, default=list)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False,
                                                 server_default=sa.func.now())
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
