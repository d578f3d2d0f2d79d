"""Rows a replay writes name their drill run; drill runs carry a heartbeat.

A replay may write into the database a running service uses: ``drill_run_id`` tells its rows apart (and the
report finds them by it), ``heartbeat_at`` lets the service tell a running replay from a crashed one.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DRILL_RUN_COMMENT = "drill_runs.id of the replay that wrote the row; null for live rows"
TAGGED = ("alarms", "alarm_events", "quarantine", "incidents", "incident_events", "notifications")
INDEXED = {"alarms": "ix_alarms_drill_run", "incidents": "ix_incidents_drill_run",
           "notifications": "ix_notifications_drill_run"}  # fmt: skip


def upgrade() -> None:
    """Add ``drill_run_id`` to the tables a drill writes and ``heartbeat_at`` to ``drill_runs``."""
    for table in TAGGED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("drill_run_id", sa.BigInteger, nullable=True, comment=DRILL_RUN_COMMENT))
            if table in INDEXED:
                batch.create_index(INDEXED[table], ["drill_run_id"])
    with op.batch_alter_table("drill_runs") as batch:
        batch.add_column(
            sa.Column(
                "heartbeat_at",
                sa.Float,
                nullable=True,
                comment="wall time the replay last said it is alive (revision 0003); "
                "a stale running row is a crashed replay",
            )
        )


def downgrade() -> None:
    """Remove what the upgrade added."""
    with op.batch_alter_table("drill_runs") as batch:
        batch.drop_column("heartbeat_at")
    for table in reversed(TAGGED):
        with op.batch_alter_table(table) as batch:
            if table in INDEXED:
                batch.drop_index(INDEXED[table])
            batch.drop_column("drill_run_id")
