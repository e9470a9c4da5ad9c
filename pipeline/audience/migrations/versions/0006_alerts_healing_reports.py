"""alerts (once per cause), self-healing pauses (retry_at, retries, fault_since), register
snapshots and the provider's events per delivery and hour for the reports

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cause', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('issue', sa.String(length=20), nullable=True),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('message', sa.String(length=1000), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('cause')
    )
    op.create_index(op.f('ix_alerts_raised_at'), 'alerts', ['raised_at'], unique=False)
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('retries', sa.Integer(), server_default='0',
                                   nullable=False))
        batch.add_column(sa.Column('fault_since', sa.DateTime(timezone=True), nullable=True))
    op.create_table('snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_snapshots_taken_at'), 'snapshots', ['taken_at'], unique=False)
    op.create_table('snapshot_counts',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('measure', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['snapshots.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'measure', 'key')
    )
    op.create_table('delivery_event_counts',
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event', sa.String(length=30), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('delivery_id', 'hour', 'event')
    )


def downgrade() -> None:
    op.drop_table('delivery_event_counts')
    op.drop_table('snapshot_counts')
    op.drop_index(op.f('ix_snapshots_taken_at'), table_name='snapshots')
    op.drop_table('snapshots')
    with op.batch_alter_table('deliveries') as batch:
        for column in ('fault_since', 'retries', 'retry_at'):
            batch.drop_column(column)
    op.drop_index(op.f('ix_alerts_raised_at'), table_name='alerts')
    op.drop_table('alerts')
