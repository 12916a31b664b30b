"""escalation policies and on-call schedules (SPEC §14)

``escalation_policies`` and ``oncall_schedules`` (their steps, layers and overrides as JSON);
a config's ``escalation_policy_id`` (RESTRICT: a policy in use cannot be deleted); on each
notification the escalation's progress (policy, steps run, next step's time, state); on each
delivery the ``escalation_step`` that made it and that target's channel config. Escalation
rows (``kind`` escalation, allowed since 0003) are exempt from the one-row-per-destination-and-
kind key of 0003, which becomes a partial unique index WHERE escalation_step IS NULL: a step
may page the same destination again, triggers and resolves stay one per destination.

Downgrade deletes escalation deliveries (the old key cannot hold them).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa
import alertworker.core.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_STATE = sa.Enum('running', 'stopped', 'finished', name='escalation_state', native_enum=False, create_constraint=True, length=32)
_ORDINARY = sa.text('escalation_step IS NULL')
_KEY = 'uq_notification_deliveries_destination_kind'
_OLD_KEY = 'uq_notification_deliveries_notification_id_channel_recipient_kind'  # 0003's


def _owned(name: str, *columns: sa.Column) -> None:
    op.create_table(name,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    *columns,
    sa.Column('created_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f(f'fk_{name}_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{name}'))
    )
    op.create_index(op.f(f'ix_{name}_tenant_id'), name, ['tenant_id'], unique=False)


def upgrade() -> None:
    _owned('escalation_policies',
           sa.Column('steps', alertworker.core.db.JSONType, nullable=False),
           sa.Column('repeat', sa.Integer(), nullable=False))
    _owned('oncall_schedules',
           sa.Column('timezone', sa.String(length=64), nullable=False),
           sa.Column('layers', alertworker.core.db.JSONType, nullable=False),
           sa.Column('overrides', alertworker.core.db.JSONType, nullable=False))

    with op.batch_alter_table('alert_configs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_policy_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_alert_configs_escalation_policy_id'), ['escalation_policy_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_alert_configs_escalation_policy_id_escalation_policies'), 'escalation_policies', ['escalation_policy_id'], ['id'], ondelete='RESTRICT')

    with op.batch_alter_table('alert_notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_policy_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('escalation_step', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('escalation_next_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalation_state', _STATE, nullable=True))
        batch_op.create_index(batch_op.f('ix_alert_notifications_escalation_next_at'), ['escalation_next_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_alert_notifications_escalation_policy_id_escalation_policies'), 'escalation_policies', ['escalation_policy_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_step', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('escalation_target', alertworker.core.db.JSONType, nullable=True))
        batch_op.drop_constraint(batch_op.f(_OLD_KEY), type_='unique')
    op.create_index(_KEY, 'notification_deliveries', ['notification_id', 'channel', 'recipient', 'kind'], unique=True, postgresql_where=_ORDINARY, sqlite_where=_ORDINARY)


def downgrade() -> None:
    op.execute("DELETE FROM notification_deliveries WHERE escalation_step IS NOT NULL")
    op.drop_index(_KEY, table_name='notification_deliveries')
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f(_OLD_KEY), ['notification_id', 'channel', 'recipient', 'kind'])
        batch_op.drop_column('escalation_target')
        batch_op.drop_column('escalation_step')

    with op.batch_alter_table('alert_notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_alert_notifications_escalation_policy_id_escalation_policies'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_alert_notifications_escalation_next_at'))
        batch_op.drop_constraint(batch_op.f('ck_alert_notifications_escalation_state'), type_='check')
        batch_op.drop_column('escalation_state')
        batch_op.drop_column('escalation_next_at')
        batch_op.drop_column('escalation_step')
        batch_op.drop_column('escalation_policy_id')

    with op.batch_alter_table('alert_configs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_alert_configs_escalation_policy_id_escalation_policies'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_alert_configs_escalation_policy_id'))
        batch_op.drop_column('escalation_policy_id')

    op.drop_index(op.f('ix_oncall_schedules_tenant_id'), table_name='oncall_schedules')
    op.drop_table('oncall_schedules')
    op.drop_index(op.f('ix_escalation_policies_tenant_id'), table_name='escalation_policies')
    op.drop_table('escalation_policies')
