"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa
import alertworker.core.db
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rejected_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('tenant_slug', sa.String(length=64), nullable=True),
    sa.Column('event_id', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rejected_events'))
    )
    with op.batch_alter_table('rejected_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rejected_events_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_rejected_events_tenant_slug_received_at'), ['tenant_slug', 'received_at'], unique=False)

    op.create_table('tenants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('config_version', sa.Integer(), nullable=False),
    sa.Column('created_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants')),
    sa.UniqueConstraint('slug', name=op.f('uq_tenants_slug'))
    )
    op.create_table('alert_configs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('alert_type', sa.Enum('circuit_breaker_opened', 'circuit_breaker_closed', 'provider_unhealthy', 'provider_recovered', 'cost_limit_warning', 'cost_limit_exceeded', 'rate_limit_warning', 'rate_limit_exceeded', 'high_error_rate', 'high_latency', 'quota_exhausted', name='alert_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('severity', sa.Enum('info', 'warning', 'error', 'critical', name='severity', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('channels', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('channel_config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('cooldown_minutes', sa.Integer(), nullable=False),
    sa.Column('max_alerts_per_hour', sa.Integer(), nullable=False),
    sa.Column('group_similar', sa.Boolean(), nullable=False),
    sa.Column('group_by', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('conditions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_alert_configs_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_configs'))
    )
    with op.batch_alter_table('alert_configs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_configs_tenant_id_alert_type_is_active'), ['tenant_id', 'alert_type', 'is_active'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('created_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_users_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('tenant_id', 'email', name=op.f('uq_users_tenant_id_email'))
    )
    op.create_table('alert_notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('config_id', sa.Integer(), nullable=True),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('alert_type', sa.Enum('circuit_breaker_opened', 'circuit_breaker_closed', 'provider_unhealthy', 'provider_recovered', 'cost_limit_warning', 'cost_limit_exceeded', 'rate_limit_warning', 'rate_limit_exceeded', 'high_error_rate', 'high_latency', 'quota_exhausted', name='alert_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('severity', sa.Enum('info', 'warning', 'error', 'critical', name='severity', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('source_severity', sa.Enum('info', 'warning', 'error', 'critical', name='source_severity', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('context', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('occurrence_count', sa.Integer(), nullable=False),
    sa.Column('suppressed_since_last', sa.Integer(), nullable=False),
    sa.Column('is_test', sa.Boolean(), nullable=False),
    sa.Column('occurred_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_occurred_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('triggered_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['acknowledged_by'], ['users.id'], name=op.f('fk_alert_notifications_acknowledged_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['config_id'], ['alert_configs.id'], name=op.f('fk_alert_notifications_config_id_alert_configs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_alert_notifications_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_notifications')),
    sa.UniqueConstraint('config_id', 'event_id', name=op.f('uq_alert_notifications_config_id_event_id'))
    )
    with op.batch_alter_table('alert_notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_notifications_config_id_fingerprint_id'), ['config_id', 'fingerprint', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_notifications_tenant_id_id'), ['tenant_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_notifications_tenant_id_read_at'), ['tenant_id', 'read_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_notifications_triggered_at'), ['triggered_at'], unique=False)

    op.create_table('alert_throttles',
    sa.Column('config_id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('last_sent_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_count', sa.Integer(), nullable=False),
    sa.Column('suppressed_count', sa.Integer(), nullable=False),
    sa.Column('updated_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['config_id'], ['alert_configs.id'], name=op.f('fk_alert_throttles_config_id_alert_configs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('config_id', 'fingerprint', name=op.f('pk_alert_throttles'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('scopes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_api_tokens_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('notification_preferences',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('email_enabled', sa.Boolean(), nullable=False),
    sa.Column('slack_enabled', sa.Boolean(), nullable=False),
    sa.Column('webhook_enabled', sa.Boolean(), nullable=False),
    sa.Column('min_severity', sa.Enum('info', 'warning', 'error', 'critical', name='severity', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('quiet_hours', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('digest', sa.Enum('off', 'hourly', 'daily', name='digest', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('updated_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_preferences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_notification_preferences'))
    )
    op.create_table('notification_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('in_app', 'email', 'slack', 'webhook', name='channel', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sending', 'delivered', 'failed', 'deferred', 'skipped', 'digested', name='delivery_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('next_attempt_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_expires_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['notification_id'], ['alert_notifications.id'], name=op.f('fk_notification_deliveries_notification_id_alert_notifications'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_notification_deliveries_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_deliveries')),
    sa.UniqueConstraint('notification_id', 'channel', name=op.f('uq_notification_deliveries_notification_id_channel'))
    )
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_deliveries_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_deliveries_status_next_attempt_at'), ['status', 'next_attempt_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_status_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_created_at'))

    op.drop_table('notification_deliveries')
    op.drop_table('notification_preferences')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    op.drop_table('alert_throttles')
    with op.batch_alter_table('alert_notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_notifications_triggered_at'))
        batch_op.drop_index(batch_op.f('ix_alert_notifications_tenant_id_read_at'))
        batch_op.drop_index(batch_op.f('ix_alert_notifications_tenant_id_id'))
        batch_op.drop_index(batch_op.f('ix_alert_notifications_config_id_fingerprint_id'))

    op.drop_table('alert_notifications')
    op.drop_table('users')
    with op.batch_alter_table('alert_configs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_configs_tenant_id_alert_type_is_active'))

    op.drop_table('alert_configs')
    op.drop_table('tenants')
    with op.batch_alter_table('rejected_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rejected_events_tenant_slug_received_at'))
        batch_op.drop_index(batch_op.f('ix_rejected_events_received_at'))

    op.drop_table('rejected_events')
