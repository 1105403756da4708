"""score index covers what score-led criteria test (index-only preview counts); autovacuum keeps the visibility map fresh

Revision ID: 7c2e4a9b1d30
Revises: 5b1d0c3a9e21
Create Date: 2026-12-02 18:30:00

A preview count such as "score > 80 AND company_size > 100 AND stage != Lost"
was a bitmap heap scan touching nearly every page of the projection (20% of
rows match the score range, ~23 rows a page). With the columns such criteria
test included in the score index it is an index-only scan of the range.
``contact_id`` becomes the second key so the sample's ``ORDER BY score DESC
NULLS LAST, contact_id`` is the index order (no incremental sort of ties).
Index-only scans skip the heap only on all-visible pages, so the projection is
vacuumed after 2% of its rows changed instead of autovacuum's default 20%.
"""
from alembic import op

revision = '7c2e4a9b1d30'
down_revision = '5b1d0c3a9e21'
branch_labels = None
depends_on = None

INCLUDED = ("known, demo_requested, engagement_level, company_size, last_email_opened_at, stage, role_class, "
            "position, owner_id, channel, type")


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_projection_score")
    op.execute("CREATE INDEX ix_projection_score ON contact_projection (score DESC NULLS LAST, contact_id) "
               f"INCLUDE ({INCLUDED})")
    op.execute("ALTER TABLE contact_projection SET (autovacuum_vacuum_scale_factor = 0.02, "
               "autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02)")


def downgrade() -> None:
    op.execute("ALTER TABLE contact_projection RESET (autovacuum_vacuum_scale_factor, "
               "autovacuum_vacuum_insert_scale_factor, autovacuum_analyze_scale_factor)")
    op.execute("DROP INDEX IF EXISTS ix_projection_score")
    op.execute("CREATE INDEX ix_projection_score ON contact_projection (score DESC NULLS LAST)")
