"""delivery operations: attempts, endpoint health, the delivery_failing alert type (SPEC §18)

``delivery_attempts`` keeps every send attempt of a delivery (deleted with it);
``endpoint_health`` keeps one row per destination (config, channel). The ``alert_type``
CHECK constraints of configs and notifications admit ``delivery_failing``; downgrade deletes
that type's notifications and configs first, as the old constraint demands. On SQLite the
CHECKs are rewritten in place (a batch would recreate the tables, and dropping a parent table
cascades to its children).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa
import alertworker.core.db


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_OLD_TYPES = (
    'circuit_breaker_opened', 'circuit_breaker_closed', 'provider_unhealthy', 'provider_recovered',
    'cost_limit_warning', 'cost_limit_exceeded', 'rate_limit_warning', 'rate_limit_exceeded',
    'high_error_rate', 'high_latency', 'quota_exhausted',
)
_NEW_TYPES = _OLD_TYPES + ('delivery_failing',)


def _alert_type(values):
    return sa.Enum(*values, name='alert_type', native_enum=False, create_constraint=True, length=32)


def _in(values):
    return "alert_type IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _retype(old, new) -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        for table in ('alert_configs', 'alert_notifications'):
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.alter_column('alert_type', existing_type=_alert_type(old),
                                      type_=_alert_type(new), existing_nullable=False)
        return
    # SQLite: a batch would recreate both tables, and dropping a parent table with foreign keys
    # on cascades (deliveries, throttles, ...). Rewrite the CHECK's list in the stored schema
    # instead (SQLite's documented procedure for CHECK changes; every row satisfies the new one).
    version = bind.exec_driver_sql('PRAGMA schema_version').scalar()
    bind.exec_driver_sql('PRAGMA writable_schema=ON')
    for table in ('alert_configs', 'alert_notifications'):
        sql = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).scalar()
        if sql.count(_in(old)) != 1:
            raise RuntimeError(f'{table}: alert_type CHECK not as expected: {sql}')
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
            (sql.replace(_in(old), _in(new)), table),
        )
    bind.exec_driver_sql(f'PRAGMA schema_version={version + 1}')
    bind.exec_driver_sql('PRAGMA writable_schema=OFF')


def upgrade() -> None:
    op.create_table('delivery_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('started_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.Enum('delivered', 'retry', 'failed', name='attempt_outcome', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['notification_deliveries.id'], name=op.f('fk_delivery_attempts_delivery_id_notification_deliveries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempts'))
    )
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_attempts_delivery_id_id'), ['delivery_id', 'id'], unique=False)

    op.create_table('endpoint_health',
    sa.Column('config_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_alerted_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['config_id'], ['alert_configs.id'], name=op.f('fk_endpoint_health_config_id_alert_configs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('config_id', 'channel', name=op.f('pk_endpoint_health'))
    )
    _retype(_OLD_TYPES, _NEW_TYPES)


def downgrade() -> None:
    op.execute("DELETE FROM alert_notifications WHERE alert_type = 'delivery_failing'")
    op.execute("DELETE FROM alert_configs WHERE alert_type = 'delivery_failing'")
    _retype(_NEW_TYPES, _OLD_TYPES)
    op.drop_table('endpoint_health')
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_attempts_delivery_id_id'))
    op.drop_table('delivery_attempts')
