"""deleted_contacts: tombstones so late events cannot bring a deleted or erased contact back

Revision ID: b3e8d1f4a7c2
Revises: 9d4f2b6c8e15
Create Date: 2026-12-03 14:30:00

Each event type has its own queue, so a contact_updated (or an import's
contacts_created) already in flight can arrive after contact_deleted or
contact_erased. The projection upserts skip ids found here. Existing
deletions are not known to this service, so the table starts empty.
"""
import sqlalchemy as sa
from alembic import op

revision = 'b3e8d1f4a7c2'
down_revision = '9d4f2b6c8e15'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deleted_contacts",
        sa.Column("contact_id", sa.String(64), primary_key=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("deleted_contacts")
