"""Readings move from one row each to chunks of packed arrays (``reading_chunks``); stored readings are converted.

Revision ID: 0004
Revises: 0003

Format 1 is written out here rather than imported, so this migration keeps meaning what it
meant when later versions change the code.
"""

import json
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CONVERT_ROWS = 100_000
LAYOUT: tuple[np.dtype[Any], ...] = (np.dtype("<u4"), np.dtype("<f8"), np.dtype("<f8"), np.dtype("<u2"))


def upgrade() -> None:
    """Create ``reading_chunks``, pack every stored reading into it, drop ``readings``."""
    chunks = op.create_table(
        "reading_chunks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("time_min", sa.Float, nullable=False, comment="earliest reading time in the chunk, unix seconds"),
        sa.Column("time_max", sa.Float, nullable=False, comment="latest reading time in the chunk, unix seconds"),
        sa.Column("count", sa.Integer, nullable=False, comment="readings in the chunk"),
        sa.Column("drill", sa.Boolean, nullable=False),
        sa.Column(
            "format", sa.SmallInteger, nullable=False, comment="layout of `data` (see daemon/store/reading_chunks.py)"
        ),
        sa.Column(
            "sensors", sa.Text, nullable=False, comment="JSON list of the sensor ids the packed indices refer to"
        ),
        sa.Column(
            "data",
            sa.LargeBinary,
            nullable=False,
            comment="packed little-endian columns: u4 sensor, f8 time, f8 value, u2 flags",
        ),
    )
    op.create_index("ix_reading_chunks_time_max", "reading_chunks", ["time_max"])
    op.create_index("ix_reading_chunks_time_min", "reading_chunks", ["time_min"])
    old = sa.table(
        "readings",
        sa.column("id", sa.BigInteger),
        sa.column("sensor_id", sa.String),
        sa.column("time", sa.Float),
        sa.column("value", sa.Float),
        sa.column("flags", sa.SmallInteger),
        sa.column("drill", sa.Boolean),
    )
    bind = op.get_bind()
    for drill in (False, True):
        last_id = 0
        while True:
            rows = bind.execute(
                sa.select(old.c.id, old.c.sensor_id, old.c.time, old.c.value, old.c.flags)
                .where(old.c.id > last_id, old.c.drill.is_(drill))
                .order_by(old.c.id)
                .limit(CONVERT_ROWS)
            ).all()
            if not rows:
                break
            last_id = rows[-1][0]
            bind.execute(sa.insert(chunks), [_pack([row[1:] for row in rows], drill)])
    op.drop_index("ix_readings_sensor_time", table_name="readings")
    op.drop_table("readings")


def _pack(rows: list[tuple[str, float, float, int]], drill: bool) -> dict[str, object]:
    names, sensor = np.unique(np.array([row[0] for row in rows], dtype=object), return_inverse=True)
    time = np.array([row[1] for row in rows], np.float64)
    columns: tuple[Any, ...] = (sensor, time, [row[2] for row in rows], [row[3] for row in rows])
    data = b"".join(np.asarray(column, dtype).tobytes() for column, dtype in zip(columns, LAYOUT, strict=True))
    return {
        "time_min": float(time.min()),
        "time_max": float(time.max()),
        "count": len(rows),
        "drill": drill,
        "format": 1,
        "sensors": json.dumps(names.tolist(), separators=(",", ":")),
        "data": data,
    }


def downgrade() -> None:
    """Unpack the chunks into one row per reading again."""
    old = op.create_table(
        "readings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("sensor_id", sa.String(64), nullable=False),
        sa.Column("time", sa.Float, nullable=False, comment="unix seconds"),
        sa.Column("value", sa.Float, nullable=False, comment="canonical unit of the sensor's kind"),
        sa.Column("flags", sa.SmallInteger, nullable=False),
        sa.Column("drill", sa.Boolean, nullable=False),
    )
    op.create_index("ix_readings_sensor_time", "readings", ["sensor_id", "time"])
    chunk = sa.table(
        "reading_chunks",
        sa.column("id", sa.BigInteger),
        sa.column("count", sa.Integer),
        sa.column("drill", sa.Boolean),
        sa.column("sensors", sa.Text),
        sa.column("data", sa.LargeBinary),
    )
    bind = op.get_bind()
    for _, count, drill, sensors, data in bind.execute(sa.select(chunk).order_by(chunk.c.id)):
        columns, offset = [], 0
        for dtype in LAYOUT:
            columns.append(np.frombuffer(data, dtype, count, offset))
            offset += count * dtype.itemsize
        names = json.loads(sensors)
        rows = [
            {"sensor_id": names[s], "time": t, "value": v, "flags": f, "drill": drill}
            for s, t, v, f in zip(*(column.tolist() for column in columns), strict=True)
        ]
        bind.execute(sa.insert(old), rows)
    op.drop_table("reading_chunks")
