"""alert lifecycle, PagerDuty and SMS (SPEC §13, §15)

Notifications get a ``state`` (firing, acknowledged, resolved) and who/what/when resolved
them; existing rows become ``acknowledged`` when acknowledged, else ``firing``. Deliveries get
a ``kind`` (trigger, resolve, acknowledge, escalation; existing rows ``trigger``), which joins
their unique key, and the channel check admits ``pagerduty`` and ``sms``. Configs get
``auto_resolve_minutes`` and ``notify_on_resolve``; preferences ``sms_enabled`` and ``phone``.

Downgrade deletes the deliveries the old schema cannot hold (kinds other than trigger, and
pagerduty/sms rows).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa
import alertworker.core.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

OLD_CHANNELS = ('in_app', 'email', 'slack', 'webhook')
NEW_CHANNELS = (*OLD_CHANNELS, 'pagerduty', 'sms')


def _in(values):
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    # alert_configs and alert_notifications are parents (of throttles and notifications, of
    # deliveries): never recreated by a batch on SQLite, where dropping a parent cascades. So
    # their columns are added in place, on SQLite without their CHECK and FOREIGN KEY (SQLite
    # cannot add constraints to a table; the embedded database only).
    op.add_column('alert_configs', sa.Column('auto_resolve_minutes', sa.Integer(), server_default='0', nullable=False))
    op.add_column('alert_configs', sa.Column('notify_on_resolve', sa.Boolean(), server_default=sa.true(), nullable=False))
    pg = op.get_bind().dialect.name != 'sqlite'

    def enum(*values, name):
        return sa.Enum(*values, name=name, native_enum=False, create_constraint=pg, length=32)

    by = [sa.ForeignKey('users.id', name=op.f('fk_alert_notifications_resolved_by_users'), ondelete='SET NULL')] if pg else []
    op.add_column('alert_notifications', sa.Column('state', enum('firing', 'acknowledged', 'resolved', name='notification_state'), server_default='firing', nullable=False))
    op.add_column('alert_notifications', sa.Column('resolved_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('alert_notifications', sa.Column('resolve_reason', enum('event', 'recovery_pair', 'manual', 'timeout', name='resolve_reason'), nullable=True))
    op.add_column('alert_notifications', sa.Column('resolved_by_event_id', sa.String(length=64), nullable=True))
    op.add_column('alert_notifications', sa.Column('resolved_by', sa.Integer(), *by, nullable=True))
    op.create_index(op.f('ix_alert_notifications_config_id_state'), 'alert_notifications', ['config_id', 'state'], unique=False)
    op.create_index(op.f('ix_alert_notifications_tenant_id_state_id'), 'alert_notifications', ['tenant_id', 'state', 'id'], unique=False)
    op.execute("UPDATE alert_notifications SET state = 'acknowledged' WHERE acknowledged_at IS NOT NULL")

    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.Enum('trigger', 'resolve', 'acknowledge', 'escalation', name='delivery_kind', native_enum=False, create_constraint=True, length=32), server_default='trigger', nullable=False))
        batch_op.drop_constraint(batch_op.f('uq_notification_deliveries_notification_id_channel_recipient'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_notification_deliveries_notification_id_channel_recipient_kind'), ['notification_id', 'channel', 'recipient', 'kind'])
        batch_op.drop_constraint(batch_op.f('ck_notification_deliveries_channel'), type_='check')
        batch_op.create_check_constraint('channel', f"channel IN ({_in(NEW_CHANNELS)})")

    with op.batch_alter_table('notification_preferences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_enabled', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('phone', sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.execute(
        "DELETE FROM notification_deliveries WHERE kind != 'trigger'"
        f" OR channel NOT IN ({_in(OLD_CHANNELS)})"
    )
    with op.batch_alter_table('notification_preferences', schema=None) as batch_op:
        batch_op.drop_column('phone')
        batch_op.drop_column('sms_enabled')

    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_notification_deliveries_channel'), type_='check')
        batch_op.create_check_constraint('channel', f"channel IN ({_in(OLD_CHANNELS)})")
        batch_op.drop_constraint(batch_op.f('uq_notification_deliveries_notification_id_channel_recipient_kind'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_notification_deliveries_notification_id_channel_recipient'), ['notification_id', 'channel', 'recipient'])
        batch_op.drop_constraint(batch_op.f('ck_notification_deliveries_delivery_kind'), type_='check')
        batch_op.drop_column('kind')

    pg = op.get_bind().dialect.name != 'sqlite'
    op.drop_index(op.f('ix_alert_notifications_tenant_id_state_id'), table_name='alert_notifications')
    op.drop_index(op.f('ix_alert_notifications_config_id_state'), table_name='alert_notifications')
    if pg:
        op.drop_constraint(op.f('fk_alert_notifications_resolved_by_users'), 'alert_notifications', type_='foreignkey')
        op.drop_constraint(op.f('ck_alert_notifications_resolve_reason'), 'alert_notifications', type_='check')
        op.drop_constraint(op.f('ck_alert_notifications_notification_state'), 'alert_notifications', type_='check')
    for column in ('resolved_by', 'resolved_by_event_id', 'resolve_reason', 'resolved_at', 'state'):
        op.drop_column('alert_notifications', column)

    op.drop_column('alert_configs', 'notify_on_resolve')
    op.drop_column('alert_configs', 'auto_resolve_minutes')
