"""Table definitions. The Alembic migrations under ``migrations/`` create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")

readings = Table(
    "readings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("sensor_id", String(64), nullable=False),
    Column("time", Float, nullable=False, comment="unix seconds"),
    Column("value", Float, nullable=False, comment="canonical unit of the sensor's kind"),
    Column("flags", SmallInteger, nullable=False, default=0),
    Column("drill", Boolean, nullable=False, default=False),
    Index("ix_readings_sensor_time", "sensor_id", "time"),
)

alarms = Table(
    "alarms",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rule", String(128), nullable=False, comment="rule id or detector condition"),
    Column("sensor_id", String(64), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("site", String(64), nullable=False),
    Column("zone", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("state", String(32), nullable=False),
    Column("classification", String(32), nullable=True),
    Column("message", Text, nullable=False, default=""),
    Column("value", Float, nullable=True),
    Column("level", Float, nullable=True),
    Column("raised_at", Float, nullable=False),
    Column("cleared_at", Float, nullable=True),
    Column("acknowledged_at", Float, nullable=True),
    Column("acknowledged_by", String(64), nullable=True),
    Column("updated_at", Float, nullable=False),
    Column("drill", Boolean, nullable=False, default=False),
    Index("ix_alarms_state", "state"),
    Index("ix_alarms_raised_at", "raised_at"),
)

alarm_events = Table(
    "alarm_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alarm_id", BigInteger, nullable=False),
    Column("time", Float, nullable=False),
    Column("from_state", String(32), nullable=True),
    Column("to_state", String(32), nullable=False),
    Column("actor", String(64), nullable=False, default="system"),
    Column("reason", Text, nullable=False, default=""),
    Column("drill", Boolean, nullable=False, default=False),
    Index("ix_alarm_events_alarm", "alarm_id"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("received_at", Float, nullable=False),
    Column("topic", Text, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("drill", Boolean, nullable=False, default=False),
    Index("ix_quarantine_reason", "reason"),
)

device_status = Table(
    "device_status",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("online", Boolean, nullable=False),
    Column("changed_at", Float, nullable=False),
)
