"""score index in sample order (DESC NULLS LAST) so preview samples stop after N rows

Revision ID: 5b1d0c3a9e21
Revises: 4e02e4f06ecd
Create Date: 2026-11-22 10:55:00
"""
from alembic import op

revision = '5b1d0c3a9e21'
down_revision = '4e02e4f06ecd'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_projection_score")
    op.execute("CREATE INDEX ix_projection_score ON contact_projection (score DESC NULLS LAST)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_projection_score")
    op.execute("CREATE INDEX ix_projection_score ON contact_projection (score)")
