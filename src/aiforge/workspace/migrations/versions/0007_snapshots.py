"""The history of each project's snapshots: parent, sources, incremental watermarks.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(64), nullable=False, index=True),
        sa.Column("snapshot", sa.String(64), nullable=False, index=True),
        sa.Column("parent", sa.String(64), nullable=True),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("sources", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("snapshots")
