"""Alarm lifecycle columns, sensor service state, incidents and timeline, checklist, notification outbox,
users and API tokens, drill runs.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add the tables behind rules, plans, notifications, the API and drills."""
    with op.batch_alter_table("alarms") as batch:
        batch.add_column(
            sa.Column(
                "alarm_key", sa.String(200), nullable=True, comment="rule@sensor: the alarm's identity across episodes"
            )
        )
        batch.add_column(
            sa.Column("message_zh", sa.Text, nullable=True, comment="the alarm text in Chinese (message holds English)")
        )
        batch.add_column(sa.Column("shelved_until", sa.Float, nullable=True))
        batch.add_column(sa.Column("latched", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("incident_id", sa.BigInteger, nullable=True))
    op.create_table(
        "sensor_service",
        sa.Column("sensor_id", sa.String(64), primary_key=True),
        sa.Column("out_of_service", sa.Boolean, nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(100), nullable=False, comment="the incident engine's id (unique within one run)"),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(64), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column(
            "proposed_tier", sa.String(16), nullable=False, comment="blue/yellow/orange/red, set by the plan engine"
        ),
        sa.Column("confirmed_level", sa.String(4), nullable=True, comment="IV/III/II/I, set by a person"),
        sa.Column("state", sa.String(16), nullable=False, comment="open/closed"),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("closed_at", sa.Float, nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, comment="JSON: trigger, deadlines, engine state"),
        sa.Column("drill", sa.Boolean, nullable=False),
    )
    op.create_index("ix_incidents_state", "incidents", ["state"])
    op.create_index("ix_incidents_key", "incidents", ["key"])
    op.create_table(
        "incident_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.BigInteger, nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column(
            "type", sa.String(32), nullable=False, comment="alarm_added/tier_changed/notification/ack/comment/..."
        ),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, comment="JSON"),
        sa.Column("ref", sa.String(200), nullable=False, comment="alarm, notification, action or report id"),
        sa.Column("drill", sa.Boolean, nullable=False),
    )
    op.create_index("ix_incident_events_incident", "incident_events", ["incident_id", "time"])
    op.create_table(
        "checklist_items",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.BigInteger, nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("due_at", sa.Float, nullable=True),
        sa.Column("done_at", sa.Float, nullable=True),
        sa.Column("done_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_checklist_incident", "checklist_items", ["incident_id"])
    op.create_table(
        "notifications",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("incident_id", sa.BigInteger, nullable=True),
        sa.Column("alarm_id", sa.BigInteger, nullable=True),
        sa.Column(
            "event", sa.String(32), nullable=False, comment="opened/tier_changed/escalation/reminder/resolved/alarm"
        ),
        sa.Column("channel", sa.String(32), nullable=False, comment="webhook/alertmanager/smtp/wecom/dingtalk/console"),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("role", sa.String(64), nullable=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("payload", sa.Text, nullable=False, comment="JSON: everything the channel renders"),
        sa.Column("state", sa.String(16), nullable=False, comment="pending/delivered/failed"),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("delivered_at", sa.Float, nullable=True),
        sa.Column("acknowledged_at", sa.Float, nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("drill", sa.Boolean, nullable=False),
    )
    op.create_index("ix_notifications_due", "notifications", ["state", "next_attempt_at"])
    op.create_table(
        "users",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False, unique=True, comment="sha256 hex of the bearer token"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_used_at", sa.Float, nullable=True),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )
    op.create_table(
        "drill_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text, nullable=False, comment="recording or scenario file"),
        sa.Column("speed", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False, comment="wall time the replay began"),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("sim_start", sa.Float, nullable=True),
        sa.Column("sim_end", sa.Float, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, comment="running/finished/failed"),
        sa.Column("report", sa.Text, nullable=True, comment="JSON drill report"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("time", sa.Float, nullable=False, comment="clock time the state was taken"),
        sa.Column(
            "fingerprint", sa.String(64), nullable=False, comment="hash of site, rules and plan the state belongs to"
        ),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    """Remove what the upgrade added."""
    for table in (
        "checkpoints",
        "drill_runs",
        "api_tokens",
        "users",
        "notifications",
        "checklist_items",
        "incident_events",
        "incidents",
        "sensor_service",
    ):
        op.drop_table(table)
    with op.batch_alter_table("alarms") as batch:
        batch.drop_column("incident_id")
        batch.drop_column("latched")
        batch.drop_column("shelved_until")
        batch.drop_column("message_zh")
        batch.drop_column("alarm_key")
