"""contacts companies notes activity audit

Revision ID: a651793bd2f7
Revises: b1190b7f0a35
Create Date: 2026-11-22 10:26:46.067193
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'a651793bd2f7'
down_revision = 'b1190b7f0a35'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.String(length=60), nullable=True),
    sa.Column('actor_role', sa.String(length=20), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('entity', sa.String(length=30), nullable=False),
    sa.Column('entity_id', sa.String(length=36), nullable=True),
    sa.Column('before', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('after', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_audit_actor_action', 'audit_log', ['actor_id', 'action', 'at'], unique=False)
    op.create_index('ix_audit_entity', 'audit_log', ['entity_id', 'at'], unique=False)
    op.create_table('companies',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=150), nullable=False),
    sa.Column('name_key', sa.String(length=150), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name_key')
    )
    op.create_index('ix_companies_name_trgm', 'companies', ['name_key'], unique=False, postgresql_using='gin', postgresql_ops={'name_key': 'gin_trgm_ops'})
    op.create_table('import_rows',
    sa.Column('import_id', sa.String(length=36), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('version_after', sa.Integer(), nullable=True),
    sa.Column('undone', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('import_id', 'row')
    )
    op.create_table('contacts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('name_key', sa.String(length=210), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('emails', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('phones', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('company_id', sa.String(length=36), nullable=True),
    sa.Column('company', sa.String(length=150), nullable=True),
    sa.Column('position', sa.String(length=100), nullable=True),
    sa.Column('department', sa.String(length=100), nullable=True),
    sa.Column('industry', sa.String(length=100), nullable=True),
    sa.Column('company_size', sa.Integer(), nullable=True),
    sa.Column('annual_revenue', sa.BigInteger(), nullable=True),
    sa.Column('address', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('social', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('type', sa.String(length=50), nullable=True),
    sa.Column('channel', sa.String(length=50), nullable=True),
    sa.Column('stage', sa.String(length=30), server_default='New', nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('tag_keys', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('custom_fields', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('score', sa.Integer(), server_default='0', nullable=False),
    sa.Column('unsubscribed', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('source', sa.String(length=30), server_default='manual', nullable=False),
    sa.Column('import_id', sa.String(length=36), nullable=True),
    sa.Column('search_text', sa.Text(), server_default='', nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_by', sa.String(length=60), nullable=True),
    sa.Column('updated_by', sa.String(length=60), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_contact_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_activity_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('score >= 0 AND score <= 100', name='ck_contacts_score'),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    op.create_index('ix_contacts_channel', 'contacts', ['channel'], unique=False)
    op.create_index('ix_contacts_company_id', 'contacts', ['company_id'], unique=False)
    op.create_index('ix_contacts_created_at', 'contacts', ['created_at'], unique=False)
    op.create_index('ix_contacts_emails', 'contacts', ['emails'], unique=False, postgresql_using='gin')
    op.create_index('ix_contacts_import_id', 'contacts', ['import_id'], unique=False)
    op.create_index('ix_contacts_last_activity', 'contacts', ['last_activity_at'], unique=False)
    op.create_index('ix_contacts_last_contact', 'contacts', ['last_contact_at'], unique=False)
    op.create_index('ix_contacts_name_key', 'contacts', ['name_key'], unique=False)
    op.create_index('ix_contacts_owner_created', 'contacts', ['owner_id', 'created_at'], unique=False)
    op.create_index('ix_contacts_phone', 'contacts', ['phone'], unique=False)
    op.create_index('ix_contacts_phones', 'contacts', ['phones'], unique=False, postgresql_using='gin')
    op.create_index('ix_contacts_score', 'contacts', ['score'], unique=False)
    op.create_index('ix_contacts_search_trgm', 'contacts', ['search_text'], unique=False, postgresql_using='gin', postgresql_ops={'search_text': 'gin_trgm_ops'})
    op.create_index('ix_contacts_stage_created', 'contacts', ['stage', 'created_at'], unique=False)
    op.create_index('ix_contacts_tag_keys', 'contacts', ['tag_keys'], unique=False, postgresql_using='gin')
    op.create_index('ix_contacts_type', 'contacts', ['type'], unique=False)
    op.create_table('activities',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('actor_id', sa.String(length=60), nullable=True),
    sa.Column('actor_name', sa.String(length=120), nullable=True),
    sa.Column('source', sa.String(length=30), server_default='contacts', nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_activities_contact_time', 'activities', ['contact_id', 'occurred_at'], unique=False)
    op.create_table('notes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('author_id', sa.String(length=60), nullable=True),
    sa.Column('author_name', sa.String(length=120), nullable=True),
    sa.Column('author_role', sa.String(length=20), nullable=True),
    sa.Column('type', sa.String(length=20), server_default='general', nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('search', postgresql.TSVECTOR(), sa.Computed("to_tsvector('simple', coalesce(text, ''))", persisted=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_notes_contact_created', 'notes', ['contact_id', 'created_at'], unique=False)
    op.create_index('ix_notes_search', 'notes', ['search'], unique=False, postgresql_using='gin')
    op.create_table('stage_changes',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('from_stage', sa.String(length=30), nullable=True),
    sa.Column('to_stage', sa.String(length=30), nullable=False),
    sa.Column('actor_id', sa.String(length=60), nullable=True),
    sa.Column('actor_name', sa.String(length=120), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_stage_changes_contact_id'), 'stage_changes', ['contact_id'], unique=False)
    op.create_table('note_revisions',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('note_id', sa.String(length=36), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('edited_by', sa.String(length=60), nullable=True),
    sa.Column('edited_by_name', sa.String(length=120), nullable=True),
    sa.Column('edited_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['note_id'], ['notes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_note_revisions_note_id'), 'note_revisions', ['note_id'], unique=False)
    # The audit log is append-only: the database refuses to change or remove a row.
    op.execute("""
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only';
        END $$;
    """)
    op.execute("CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
               "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index(op.f('ix_note_revisions_note_id'), table_name='note_revisions')
    op.drop_table('note_revisions')
    op.drop_index(op.f('ix_stage_changes_contact_id'), table_name='stage_changes')
    op.drop_table('stage_changes')
    op.drop_index('ix_notes_search', table_name='notes', postgresql_using='gin')
    op.drop_index('ix_notes_contact_created', table_name='notes')
    op.drop_table('notes')
    op.drop_index('ix_activities_contact_time', table_name='activities')
    op.drop_table('activities')
    op.drop_index('ix_contacts_type', table_name='contacts')
    op.drop_index('ix_contacts_tag_keys', table_name='contacts', postgresql_using='gin')
    op.drop_index('ix_contacts_stage_created', table_name='contacts')
    op.drop_index('ix_contacts_search_trgm', table_name='contacts', postgresql_using='gin', postgresql_ops={'search_text': 'gin_trgm_ops'})
    op.drop_index('ix_contacts_score', table_name='contacts')
    op.drop_index('ix_contacts_phones', table_name='contacts', postgresql_using='gin')
    op.drop_index('ix_contacts_phone', table_name='contacts')
    op.drop_index('ix_contacts_owner_created', table_name='contacts')
    op.drop_index('ix_contacts_name_key', table_name='contacts')
    op.drop_index('ix_contacts_last_contact', table_name='contacts')
    op.drop_index('ix_contacts_last_activity', table_name='contacts')
    op.drop_index('ix_contacts_import_id', table_name='contacts')
    op.drop_index('ix_contacts_emails', table_name='contacts', postgresql_using='gin')
    op.drop_index('ix_contacts_created_at', table_name='contacts')
    op.drop_index('ix_contacts_company_id', table_name='contacts')
    op.drop_index('ix_contacts_channel', table_name='contacts')
    op.drop_table('contacts')
    op.drop_table('import_rows')
    op.drop_index('ix_companies_name_trgm', table_name='companies', postgresql_using='gin', postgresql_ops={'name_key': 'gin_trgm_ops'})
    op.drop_table('companies')
    op.drop_index('ix_audit_entity', table_name='audit_log')
    op.drop_index('ix_audit_actor_action', table_name='audit_log')
    op.drop_table('audit_log')
