"""Initial schema: readings, alarms, alarm events, quarantine, device status.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the first tables."""
    op.create_table(
        "readings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("sensor_id", sa.String(64), nullable=False),
        sa.Column("time", sa.Float, nullable=False, comment="unix seconds"),
        sa.Column("value", sa.Float, nullable=False, comment="canonical unit of the sensor's kind"),
        sa.Column("flags", sa.SmallInteger, nullable=False),
        sa.Column("drill", sa.Boolean, nullable=False),
    )
    op.create_index("ix_readings_sensor_time", "readings", ["sensor_id", "time"])
    op.create_table(
        "alarms",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(128), nullable=False, comment="rule id or detector condition"),
        sa.Column("sensor_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("classification", sa.String(32), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("level", sa.Float, nullable=True),
        sa.Column("raised_at", sa.Float, nullable=False),
        sa.Column("cleared_at", sa.Float, nullable=True),
        sa.Column("acknowledged_at", sa.Float, nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("drill", sa.Boolean, nullable=False),
    )
    op.create_index("ix_alarms_state", "alarms", ["state"])
    op.create_index("ix_alarms_raised_at", "alarms", ["raised_at"])
    op.create_table(
        "alarm_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("alarm_id", sa.BigInteger, nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("from_state", sa.String(32), nullable=True),
        sa.Column("to_state", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("drill", sa.Boolean, nullable=False),
    )
    op.create_index("ix_alarm_events_alarm", "alarm_events", ["alarm_id"])
    op.create_table(
        "quarantine",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("drill", sa.Boolean, nullable=False),
    )
    op.create_index("ix_quarantine_reason", "quarantine", ["reason"])
    op.create_table(
        "device_status",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    """Drop everything the upgrade created."""
    for table in ("device_status", "quarantine", "alarm_events", "alarms", "readings"):
        op.drop_table(table)
