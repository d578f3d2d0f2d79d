"""High-availability pair: operator actions recorded once for both instances, and the leadership epoch.

``operator_actions`` is the single record of what people did (acknowledge, shelve, comment, close...): either
instance writes the row, the leader applies it to its engines and records the answer, the follower mirrors it.
``ha_leadership`` holds the fencing token: the epoch a new leader increments at takeover and every write that must
happen once checks (an old leader that wakes up after losing its lock finds a newer epoch and writes nothing).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``operator_actions`` and ``ha_leadership``."""
    op.create_table(
        "operator_actions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "kind", sa.String(32), nullable=False, comment="the operation: acknowledge_alarm, close_incident, ..."
        ),
        sa.Column(
            "args",
            sa.Text,
            nullable=False,
            comment="JSON object of the operation's arguments (actor and time included)",
        ),
        sa.Column("submitted_at", sa.Float, nullable=False, comment="clock time the person acted"),
        sa.Column("state", sa.String(16), nullable=False, comment="pending, applying, done or refused"),
        sa.Column("epoch", sa.BigInteger, nullable=True, comment="leadership epoch of the leader that applied it"),
        sa.Column("result", sa.Text, nullable=True, comment="JSON answer (done) or {status, error} (refused)"),
    )
    op.create_index("ix_operator_actions_state", "operator_actions", ["state"])
    op.create_table(
        "ha_leadership",
        sa.Column("lock_key", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("epoch", sa.BigInteger, nullable=False, comment="fencing token: incremented at every takeover"),
        sa.Column("holder", sa.String(128), nullable=False, comment="host and process id of the leader"),
        sa.Column("since", sa.Float, nullable=False, comment="wall time of the takeover"),
    )


def downgrade() -> None:
    """Remove what the upgrade added."""
    op.drop_table("ha_leadership")
    op.drop_index("ix_operator_actions_state", "operator_actions")
    op.drop_table("operator_actions")
