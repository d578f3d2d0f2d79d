"""Person pages walk a chain of channels, and every page carries a signed, single-use acknowledgement link.

``notifications`` rows of one person's page share ``chain_key`` and are numbered by ``chain_step``; a later step is
``held`` until the one before it failed or was not acknowledged within ``step_timeout_s`` of ``released_at``.
``page_id`` groups every row of one page (all people, all channels) so one acknowledgement stops all of them.
``page_links`` keeps the hash of each link token and the short SMS reply code.

Revision ID: 0007
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add the chain columns to ``notifications`` and create ``page_links``."""
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("page_id", sa.String(200), nullable=True, comment="the page all its rows share"))
        batch.add_column(sa.Column("chain_key", sa.String(200), nullable=True, comment="one person's page"))
        batch.add_column(sa.Column("chain_step", sa.Integer, nullable=True, comment="channel order in the chain"))
        batch.add_column(
            sa.Column("step_timeout_s", sa.Float, nullable=True, comment="time this step gets before the next")
        )
        batch.add_column(sa.Column("released_at", sa.Float, nullable=True, comment="when this step was sent out"))
        batch.create_index("ix_notifications_chain", ["chain_key", "chain_step"])
        batch.create_index("ix_notifications_page", ["page_id"])
    op.create_table(
        "page_links",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True, comment="sha256 of the link token"),
        sa.Column("code", sa.String(16), nullable=False, comment="short code an SMS reply quotes"),
        sa.Column("page_id", sa.String(200), nullable=False),
        sa.Column("chain_key", sa.String(200), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("used_at", sa.Float, nullable=True),
        sa.Column("used_via", sa.String(32), nullable=True, comment="link / sms_reply / console"),
        sa.Column("answer", sa.String(32), nullable=True, comment="acknowledged / on_my_way"),
        sa.Column("drill", sa.Boolean, nullable=False),
    )
    op.create_index("ix_page_links_code", "page_links", ["code"])


def downgrade() -> None:
    """Remove what the upgrade added."""
    op.drop_index("ix_page_links_code", "page_links")
    op.drop_table("page_links")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index("ix_notifications_page")
        batch.drop_index("ix_notifications_chain")
        for column in ("released_at", "step_timeout_s", "chain_step", "chain_key", "page_id"):
            batch.drop_column(column)
