"""delivery recipients and digests (SPEC §8)

Email deliveries become one row per recipient: ``recipient`` joins the unique key
(``""`` for other channels and for email rows made before this revision, which still go to
every recipient of their config). ``notification_digests`` holds one summary email per
(user, period), and ``digest_id`` ties a digested delivery to it.

Downgrade keeps the lowest-id row of each (notification, channel): the other recipients'
email rows are deleted, as the old unique key demands.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa
import alertworker.core.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification_digests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('frequency', sa.Enum('off', 'hourly', 'daily', name='digest', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('period_start', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('period_end', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('send_after', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sending', 'sent', 'failed', 'empty', name='digest_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('lease_expires_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', alertworker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_notification_digests_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_digests_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_digests')),
    sa.UniqueConstraint('user_id', 'period_start', name=op.f('uq_notification_digests_user_id_period_start'))
    )
    with op.batch_alter_table('notification_digests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_digests_status_send_after'), ['status', 'send_after'], unique=False)

    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient', sa.String(length=320), server_default='', nullable=False))
        batch_op.add_column(sa.Column('digest_id', sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_notification_deliveries_notification_id_channel'), type_='unique')
        batch_op.create_index(batch_op.f('ix_notification_deliveries_digest_id'), ['digest_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_notification_deliveries_notification_id_channel_recipient'), ['notification_id', 'channel', 'recipient'])
        batch_op.create_foreign_key(batch_op.f('fk_notification_deliveries_digest_id_notification_digests'), 'notification_digests', ['digest_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    op.execute(
        "DELETE FROM notification_deliveries WHERE id NOT IN ("
        "SELECT MIN(id) FROM notification_deliveries GROUP BY notification_id, channel)"
    )
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_notification_deliveries_digest_id_notification_digests'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_notification_deliveries_notification_id_channel_recipient'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_digest_id'))
        batch_op.create_unique_constraint(batch_op.f('uq_notification_deliveries_notification_id_channel'), ['notification_id', 'channel'])
        batch_op.drop_column('digest_id')
        batch_op.drop_column('recipient')

    with op.batch_alter_table('notification_digests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_digests_status_send_after'))

    op.drop_table('notification_digests')
