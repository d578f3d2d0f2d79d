"""Raw readings are kept N days, then summarised per sensor and minute (``reading_minutes``).

On PostgreSQL ``reading_chunks`` becomes a partitioned table: drill rows in one partition, live rows partitioned by
day (``time_min``, UTC) so the retention task drops a whole day at once instead of deleting row by row
(PostgreSQL documentation, "Table Partitioning", 5.11: "bulk removal ... by dropping a partition"). The partitions
live in the schema ``hazwatch_parts``; a default partition takes rows of days that have no partition yet. SQLite keeps
the plain table and deletes by age.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PARTS = "hazwatch_parts"
COLUMNS = "id, time_min, time_max, count, drill, format, sensors, data, drill_run_id"
INDEXES = {
    "ix_reading_chunks_time_max": "time_max",
    "ix_reading_chunks_time_min": "time_min",
    "ix_reading_chunks_drill_run": "drill_run_id",
}
COMMENTS = {
    "time_min": "earliest reading time in the chunk, unix seconds",
    "time_max": "latest reading time in the chunk, unix seconds",
    "count": "readings in the chunk",
    "format": "layout of `data` (see daemon/store/reading_chunks.py)",
    "sensors": "JSON list of the sensor ids the packed indices refer to",
    "data": "packed little-endian columns: u4 sensor, f8 time, f8 value, u2 flags",
    "drill_run_id": "drill_runs.id of the replay that wrote the row; null for live rows",
}


def upgrade() -> None:
    """Create ``reading_minutes``; on PostgreSQL partition ``reading_chunks`` (drill / live by day)."""
    op.create_table(
        "reading_minutes",
        sa.Column("sensor_id", sa.String(64), primary_key=True),
        sa.Column("minute", sa.Float, primary_key=True, comment="start of the minute, unix seconds"),
        sa.Column("count", sa.Integer, nullable=False, comment="readings in the minute"),
        sa.Column("min", sa.Float, nullable=False),
        sa.Column("max", sa.Float, nullable=False),
        sa.Column("mean", sa.Float, nullable=False),
        sa.Column("flagged", sa.Integer, nullable=False, comment="readings in the minute with any quality flag set"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {PARTS}")
    op.execute("ALTER TABLE reading_chunks RENAME TO reading_chunks_unpartitioned")
    op.execute(
        "ALTER TABLE reading_chunks_unpartitioned RENAME CONSTRAINT reading_chunks_pkey TO reading_chunks_old_pkey"
    )
    for name in INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_old")
    op.execute("ALTER SEQUENCE reading_chunks_id_seq OWNED BY NONE")
    op.execute(
        """
        CREATE TABLE reading_chunks (
            id BIGINT NOT NULL DEFAULT nextval('reading_chunks_id_seq'),
            time_min DOUBLE PRECISION NOT NULL,
            time_max DOUBLE PRECISION NOT NULL,
            count INTEGER NOT NULL,
            drill BOOLEAN NOT NULL,
            format SMALLINT NOT NULL,
            sensors TEXT NOT NULL,
            data BYTEA NOT NULL,
            drill_run_id BIGINT,
            CONSTRAINT reading_chunks_pkey PRIMARY KEY (id, drill, time_min)
        ) PARTITION BY LIST (drill)
        """
    )
    for column, comment in COMMENTS.items():
        op.execute(f"COMMENT ON COLUMN reading_chunks.{column} IS '{comment}'")
    op.execute(f"CREATE TABLE {PARTS}.reading_chunks_drill PARTITION OF reading_chunks FOR VALUES IN (true)")
    op.execute(
        f"CREATE TABLE {PARTS}.reading_chunks_live PARTITION OF reading_chunks FOR VALUES IN (false) "
        "PARTITION BY RANGE (time_min)"
    )
    op.execute(f"CREATE TABLE {PARTS}.reading_chunks_live_default PARTITION OF {PARTS}.reading_chunks_live DEFAULT")
    for name, column in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON reading_chunks ({column})")
    op.execute(f"INSERT INTO reading_chunks ({COLUMNS}) SELECT {COLUMNS} FROM reading_chunks_unpartitioned")  # noqa: S608
    op.execute("DROP TABLE reading_chunks_unpartitioned")
    op.execute("ALTER SEQUENCE reading_chunks_id_seq OWNED BY reading_chunks.id")


def downgrade() -> None:
    """Back to one plain ``reading_chunks`` table (every partition's rows copied) and no ``reading_minutes``."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE reading_chunks RENAME TO reading_chunks_partitioned")
        op.execute("ALTER SEQUENCE reading_chunks_id_seq OWNED BY NONE")
        for name in INDEXES:
            op.execute(f"DROP INDEX {name}")
        op.execute("ALTER TABLE reading_chunks_partitioned DROP CONSTRAINT reading_chunks_pkey")
        op.execute(
            """
            CREATE TABLE reading_chunks (
                id BIGINT NOT NULL DEFAULT nextval('reading_chunks_id_seq') PRIMARY KEY,
                time_min DOUBLE PRECISION NOT NULL,
                time_max DOUBLE PRECISION NOT NULL,
                count INTEGER NOT NULL,
                drill BOOLEAN NOT NULL,
                format SMALLINT NOT NULL,
                sensors TEXT NOT NULL,
                data BYTEA NOT NULL,
                drill_run_id BIGINT
            )
            """
        )
        for column, comment in COMMENTS.items():
            op.execute(f"COMMENT ON COLUMN reading_chunks.{column} IS '{comment}'")
        for name, column in INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON reading_chunks ({column})")
        op.execute(f"INSERT INTO reading_chunks ({COLUMNS}) SELECT {COLUMNS} FROM reading_chunks_partitioned")  # noqa: S608
        op.execute("DROP TABLE reading_chunks_partitioned")
        op.execute(f"DROP SCHEMA {PARTS} CASCADE")
        op.execute("ALTER SEQUENCE reading_chunks_id_seq OWNED BY reading_chunks.id")
    op.drop_table("reading_minutes")
