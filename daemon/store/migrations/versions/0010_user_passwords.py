"""Users may have a password (scrypt hash) for the user-name-and-password login; null means tokens only.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``users.password_hash``."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(200), nullable=True))


def downgrade() -> None:
    """Drop ``users.password_hash``."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_hash")
