"""audit log: GDPR pseudonymization may rewrite content, never links or delete

The audit log stays append-only, with one exception for GDPR erasure
(RELIABILITY G1, contacts/erasure.py): inside a transaction that set
``crm.gdpr_erasure = 'on'`` (SET LOCAL), an UPDATE may change only
``before``, ``after`` and ``details``; who, when, what, and the hash links
stay. DELETE is always refused.

Revision ID: f8906fa0d9d9
Revises: 18d5b9dd377f
Create Date: 2026-11-22 11:49:21.445189
"""
from alembic import op

revision = 'f8906fa0d9d9'
down_revision = '18d5b9dd377f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE'
               AND coalesce(current_setting('crm.gdpr_erasure', true), '') = 'on'
               AND NEW.id = OLD.id AND NEW.at = OLD.at
               AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
               AND NEW.actor_role IS NOT DISTINCT FROM OLD.actor_role
               AND NEW.action = OLD.action AND NEW.entity = OLD.entity
               AND NEW.entity_id IS NOT DISTINCT FROM OLD.entity_id
               AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'audit_log is append-only';
        END $$;
    """)


def downgrade() -> None:
    op.execute("""
        CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only';
        END $$;
    """)
