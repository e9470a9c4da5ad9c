"""the ledger's index on batch dropped: no query looks rows up by batch alone (a batch's rows
are found by id, or in flight by delivery and state), and every claim paid to keep it

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_ledger_batch', table_name='ledger')


def downgrade() -> None:
    op.create_index('ix_ledger_batch', 'ledger', ['batch'], unique=False)
