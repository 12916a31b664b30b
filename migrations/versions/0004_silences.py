"""silences and inhibition rules (SPEC §16)

``silences`` and ``inhibit_rules`` belong to a tenant; a write to either bumps the tenant's
``config_version`` (the pipeline caches them with the configs), so no new counter is needed.
``alert_throttles.silenced_count`` counts the events silenced or inhibited per
(config, fingerprint).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import alertworker.core.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('silences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('matchers', JSON, nullable=False),
    sa.Column('starts_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_silences_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_silences_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_silences'))
    )
    with op.batch_alter_table('silences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_silences_tenant_id_ends_at'), ['tenant_id', 'ends_at'], unique=False)

    op.create_table('inhibit_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('source', JSON, nullable=False),
    sa.Column('target', JSON, nullable=False),
    sa.Column('equal', JSON, nullable=False),
    sa.Column('created_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_inhibit_rules_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inhibit_rules'))
    )
    with op.batch_alter_table('inhibit_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inhibit_rules_tenant_id'), ['tenant_id'], unique=False)

    with op.batch_alter_table('alert_throttles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('silenced_count', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('alert_throttles', schema=None) as batch_op:
        batch_op.drop_column('silenced_count')

    with op.batch_alter_table('inhibit_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inhibit_rules_tenant_id'))
    op.drop_table('inhibit_rules')

    with op.batch_alter_table('silences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_silences_tenant_id_ends_at'))
    op.drop_table('silences')
