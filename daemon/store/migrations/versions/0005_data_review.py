"""Tiered data review: one row per station-day under review, and its audit trail of actions.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``review_days`` and ``review_actions``."""
    op.create_table(
        "review_days",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("station", sa.String(64), nullable=False, comment="device id of the station under review"),
        sa.Column("day", sa.String(10), nullable=False, comment="local date YYYY-MM-DD in the site's time zone"),
        sa.Column("tier", sa.SmallInteger, nullable=False, comment="1 station, 2 centre, 3 bureau: who reviews it now"),
        sa.Column("state", sa.String(16), nullable=False, comment="in_review or approved"),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ux_review_days_station_day", "review_days", ["station", "day"], unique=True)
    op.create_table(
        "review_actions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("review_id", sa.BigInteger, nullable=False),
        sa.Column("at", sa.Float, nullable=False, comment="clock time of the action"),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("tier", sa.SmallInteger, nullable=False, comment="tier the review was at when the action was taken"),
        sa.Column("action", sa.String(16), nullable=False, comment="invalidate, confirm, qc, submit, approve, return"),
        sa.Column("sensor_id", sa.String(64), nullable=True, comment="null: every sensor of the station"),
        sa.Column("time_from", sa.Float, nullable=True, comment="start of the marked range (inclusive), unix seconds"),
        sa.Column("time_to", sa.Float, nullable=True, comment="end of the marked range (exclusive), unix seconds"),
        sa.Column("reason_code", sa.String(32), nullable=True),
        sa.Column("comment", sa.Text, nullable=False),
    )
    op.create_index("ix_review_actions_review", "review_actions", ["review_id"])


def downgrade() -> None:
    """Drop the review tables."""
    op.drop_table("review_actions")
    op.drop_table("review_days")
