"""editions (content-addressed parts), a delivery's edition, one active delivery per issue,
and the one-sender lease

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('edition_parts',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('digest')
    )
    op.create_table('editions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue', sa.String(length=20), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('manifest', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by', sa.String(length=400), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('digest')
    )
    op.create_index(op.f('ix_editions_issue'), 'editions', ['issue'], unique=False)
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('edition_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('active_issue', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('lease_owner', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('lease_since', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('lease_expires', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('transport_log', sa.String(length=1000), nullable=True))
        batch.create_foreign_key('fk_deliveries_edition_id_editions', 'editions',
                                 ['edition_id'], ['id'])
        batch.create_unique_constraint('uq_deliveries_active_issue', ['active_issue'])
    op.execute("UPDATE deliveries SET active_issue = issue WHERE state NOT IN "
               "('finished', 'cancelled') AND id IN (SELECT max(id) FROM deliveries "
               "GROUP BY issue)")


def downgrade() -> None:
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_constraint('uq_deliveries_active_issue', type_='unique')
        batch.drop_constraint('fk_deliveries_edition_id_editions', type_='foreignkey')
        for column in ('transport_log', 'lease_expires', 'lease_since', 'lease_owner',
                       'active_issue', 'edition_id'):
            batch.drop_column(column)
    op.drop_index(op.f('ix_editions_issue'), table_name='editions')
    op.drop_table('editions')
    op.drop_table('edition_parts')
