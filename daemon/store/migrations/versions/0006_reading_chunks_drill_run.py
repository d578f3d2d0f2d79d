"""Reading chunks a replay writes name their drill run, so two replays of the same recording never mix.

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DRILL_RUN_COMMENT = "drill_runs.id of the replay that wrote the row; null for live rows"


def upgrade() -> None:
    """Add ``drill_run_id`` (indexed) to ``reading_chunks``."""
    with op.batch_alter_table("reading_chunks") as batch:
        batch.add_column(sa.Column("drill_run_id", sa.BigInteger, nullable=True, comment=DRILL_RUN_COMMENT))
        batch.create_index("ix_reading_chunks_drill_run", ["drill_run_id"])


def downgrade() -> None:
    """Remove what the upgrade added."""
    with op.batch_alter_table("reading_chunks") as batch:
        batch.drop_index("ix_reading_chunks_drill_run")
        batch.drop_column("drill_run_id")
