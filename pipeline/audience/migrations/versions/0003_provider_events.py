"""provider events: applied event ids, and the provider's outcome on each ledger entry

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('provider_events',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('event', sa.String(length=30), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index(op.f('ix_provider_events_received_at'), 'provider_events', ['received_at'],
                    unique=False)
    with op.batch_alter_table('ledger') as batch:
        batch.add_column(sa.Column('outcome', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('outcome_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ledger') as batch:
        batch.drop_column('outcome_at')
        batch.drop_column('outcome')
    op.drop_index(op.f('ix_provider_events_received_at'), table_name='provider_events')
    op.drop_table('provider_events')
