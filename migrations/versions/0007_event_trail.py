"""the trail: what became of each event, per config considered (SPEC §17)

``event_trail`` holds one row per batch and set of events with the same outcomes; on
Postgres its ``event_ids`` is a ``uuid[]`` with a GIN index (the look-up by event id), on
SQLite a JSON list without an index (the embedded default searches it as text).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import alertworker.core.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event_trail',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('received_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('event_ids', sa.JSON().with_variant(postgresql.ARRAY(postgresql.UUID(as_uuid=False)), 'postgresql'), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('alert_type', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('kinds', sa.String(length=400), nullable=False),
    sa.Column('outcomes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_event_trail_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_trail'))
    )
    with op.batch_alter_table('event_trail', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_trail_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_trail_tenant_id_id'), ['tenant_id', 'id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.create_index('ix_event_trail_event_ids', 'event_trail', ['event_ids'], unique=False,
                        postgresql_using='gin')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_event_trail_event_ids', table_name='event_trail', postgresql_using='gin')
    with op.batch_alter_table('event_trail', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_trail_tenant_id_id'))
        batch_op.drop_index(batch_op.f('ix_event_trail_received_at'))
    op.drop_table('event_trail')
