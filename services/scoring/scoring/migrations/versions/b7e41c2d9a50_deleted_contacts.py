"""deleted contacts: tombstones so a late contacts_created cannot bring a deleted contact back

Revision ID: b7e41c2d9a50
Revises: 10bcc3ac8be3
Create Date: 2026-12-03 12:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'b7e41c2d9a50'
down_revision = '10bcc3ac8be3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deleted_contacts',
    sa.Column('contact_id', sa.String(length=64), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('contact_id')
    )


def downgrade() -> None:
    op.drop_table('deleted_contacts')
