"""search terms vocabulary

Revision ID: 18d5b9dd377f
Revises: a651793bd2f7
Create Date: 2026-11-22 11:34:07.943306
"""
from alembic import op
import sqlalchemy as sa


revision = '18d5b9dd377f'
down_revision = 'a651793bd2f7'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('search_terms',
    sa.Column('term', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('term')
    )
    op.create_index('ix_search_terms_trgm', 'search_terms', ['term'], unique=False, postgresql_using='gin', postgresql_ops={'term': 'gin_trgm_ops'})
    # the vocabulary of the contacts already stored (same rule as contacts.rules.search_words)
    op.execute(r"""
        INSERT INTO search_terms (term)
        SELECT DISTINCT w FROM contacts, regexp_split_to_table(search_text, '\s+') AS w
        WHERE length(w) BETWEEN 3 AND 100 AND position('@' in w) = 0
        ON CONFLICT DO NOTHING
    """)


def downgrade() -> None:
    op.drop_index('ix_search_terms_trgm', table_name='search_terms', postgresql_using='gin', postgresql_ops={'term': 'gin_trgm_ops'})
    op.drop_table('search_terms')
