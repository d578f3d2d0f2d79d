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
    false,
)

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# revision 0003: the rows a replay writes name their drill run, so a drill into the live database is told apart
DRILL_RUN_COMMENT = "drill_runs.id of the replay that wrote the row; null for live rows"

reading_chunks = Table(
    "reading_chunks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("time_min", Float, nullable=False, comment="earliest reading time in the chunk, unix seconds"),
    Column("time_max", Float, nullable=False, comment="latest reading time in the chunk, unix seconds"),
    Column("count", Integer, nullable=False, comment="readings in the chunk"),
    Column("drill", Boolean, nullable=False, default=False),
    Column("format", SmallInteger, nullable=False, comment="layout of `data` (see daemon/store/reading_chunks.py)"),
    Column("sensors", Text, nullable=False, comment="JSON list of the sensor ids the packed indices refer to"),
    Column(
        "data",
        LargeBinary,
        nullable=False,
        comment="packed little-endian columns: u4 sensor, f8 time, f8 value, u2 flags",
    ),
    Column("drill_run_id", BigInteger, nullable=True, comment=DRILL_RUN_COMMENT),
    Index("ix_reading_chunks_time_max", "time_max"),
    Index("ix_reading_chunks_time_min", "time_min"),
    Index("ix_reading_chunks_drill_run", "drill_run_id"),
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
    # revision 0002
    Column("alarm_key", String(200), nullable=True, comment="rule@sensor: the alarm's identity across episodes"),
    Column("message_zh", Text, nullable=True, comment="the alarm text in Chinese (message holds English)"),
    Column("shelved_until", Float, nullable=True),
    Column("latched", Boolean, nullable=False, default=False, server_default=false()),
    Column("incident_id", BigInteger, nullable=True),
    Column("drill_run_id", BigInteger, nullable=True, comment=DRILL_RUN_COMMENT),
    Index("ix_alarms_state", "state"),
    Index("ix_alarms_raised_at", "raised_at"),
    Index("ix_alarms_drill_run", "drill_run_id"),
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
    Column("drill_run_id", BigInteger, nullable=True, comment=DRILL_RUN_COMMENT),
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
    Column("drill_run_id", BigInteger, nullable=True, comment=DRILL_RUN_COMMENT),
    Index("ix_quarantine_reason", "reason"),
)

device_status = Table(
    "device_status",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("online", Boolean, nullable=False),
    Column("changed_at", Float, nullable=False),
)

# --- revision 0002: alarm lifecycle, incidents, outbox, users, drills -------------------------------------

sensor_service = Table(
    "sensor_service",
    metadata,
    Column("sensor_id", String(64), primary_key=True),
    Column("out_of_service", Boolean, nullable=False),
    Column("since", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("reason", Text, nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key", String(100), nullable=False, comment="the incident engine's id (unique within one run)"),
    Column("site", String(64), nullable=False),
    Column("zone", String(64), nullable=True),
    Column("title", Text, nullable=False),
    Column("proposed_tier", String(16), nullable=False, comment="blue/yellow/orange/red, set by the plan engine"),
    Column("confirmed_level", String(4), nullable=True, comment="IV/III/II/I, set by a person"),
    Column("state", String(16), nullable=False, comment="open/closed"),
    Column("opened_at", Float, nullable=False),
    Column("closed_at", Float, nullable=True),
    Column("closed_by", String(64), nullable=True),
    Column("updated_at", Float, nullable=False),
    Column("detail", Text, nullable=False, default="{}", comment="JSON: trigger, deadlines, engine state"),
    Column("drill", Boolean, nullable=False, default=False),
    Column("drill_run_id", BigInteger, nullable=True, comment=DRILL_RUN_COMMENT),
    Index("ix_incidents_state", "state"),
    Index("ix_incidents_key", "key"),
    Index("ix_incidents_drill_run", "drill_run_id"),
)

incident_events = Table(
    "incident_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_id", BigInteger, nullable=False),
    Column("time", Float, nullable=False),
    Column("type", String(32), nullable=False, comment="alarm_added/tier_changed/notification/ack/comment/..."),
    Column("actor", String(64), nullable=False, default="system"),
    Column("detail", Text, nullable=False, default="{}", comment="JSON"),
    Column("ref", String(200), nullable=False, default="", comment="alarm, notification, action or report id"),
    Column("drill", Boolean, nullable=False, default=False),
    Column("drill_run_id", BigInteger, nullable=True, comment=DRILL_RUN_COMMENT),
    Index("ix_incident_events_incident", "incident_id", "time"),
)

checklist_items = Table(
    "checklist_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_id", BigInteger, nullable=False),
    Column("tier", String(16), nullable=False),
    Column("position", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("due_at", Float, nullable=True),
    Column("done_at", Float, nullable=True),
    Column("done_by", String(64), nullable=True),
    Index("ix_checklist_incident", "incident_id"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("incident_id", BigInteger, nullable=True),
    Column("alarm_id", BigInteger, nullable=True),
    Column("event", String(32), nullable=False, comment="opened/tier_changed/escalation/reminder/resolved/alarm"),
    Column("channel", String(32), nullable=False, comment="webhook/alertmanager/smtp/wecom/dingtalk/console"),
    Column("recipient", String(200), nullable=False),
    Column("role", String(64), nullable=True),
    Column("language", String(8), nullable=False, default="zh"),
    Column("payload", Text, nullable=False, comment="JSON: everything the channel renders"),
    Column("state", String(16), nullable=False, comment="pending/delivered/failed"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float, nullable=True),
    Column("acknowledged_at", Float, nullable=True),
    Column("acknowledged_by", String(64), nullable=True),
    Column("drill", Boolean, nullable=False, default=False),
    Column("drill_run_id", BigInteger, nullable=True, comment=DRILL_RUN_COMMENT),
    # revision 0007: a person's page walks their channels in order (see daemon/notify/outbox.py)
    Column("page_id", String(200), nullable=True, comment="the page all its rows share"),
    Column("chain_key", String(200), nullable=True, comment="one person's page"),
    Column("chain_step", Integer, nullable=True, comment="channel order in the chain"),
    Column("step_timeout_s", Float, nullable=True, comment="time this step gets before the next"),
    Column("released_at", Float, nullable=True, comment="when this step was sent out"),
    Index("ix_notifications_due", "state", "next_attempt_at"),
    Index("ix_notifications_drill_run", "drill_run_id"),
    Index("ix_notifications_chain", "chain_key", "chain_step"),
    Index("ix_notifications_page", "page_id"),
)

# revision 0007: the signed, single-use acknowledgement link and SMS reply code of each person's page
page_links = Table(
    "page_links",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True, comment="sha256 of the link token"),
    Column("code", String(16), nullable=False, comment="short code an SMS reply quotes"),
    Column("page_id", String(200), nullable=False),
    Column("chain_key", String(200), nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("incident_id", BigInteger, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
    Column("used_via", String(32), nullable=True, comment="link / sms_reply / console"),
    Column("answer", String(32), nullable=True, comment="acknowledged / on_my_way"),
    Column("drill", Boolean, nullable=False),
    Index("ix_page_links_code", "code"),
)

users = Table(
    "users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    # scrypt hash for the password login (daemon/web/api/passwords.py); null: tokens only
    Column("password_hash", String(200), nullable=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True, comment="sha256 hex of the bearer token"),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
)

drill_runs = Table(
    "drill_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False, comment="recording or scenario file"),
    Column("speed", String(16), nullable=False),
    Column("started_at", Float, nullable=False, comment="wall time the replay began"),
    Column("finished_at", Float, nullable=True),
    Column("sim_start", Float, nullable=True),
    Column("sim_end", Float, nullable=True),
    Column("status", String(16), nullable=False, comment="running/finished/failed"),
    Column("report", Text, nullable=True, comment="JSON drill report"),
    Column(
        "heartbeat_at",
        Float,
        nullable=True,
        comment="wall time the replay last said it is alive (revision 0003); a stale running row is a crashed replay",
    ),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("time", Float, nullable=False, comment="clock time the state was taken"),
    Column("fingerprint", String(64), nullable=False, comment="hash of site, rules and plan the state belongs to"),
    Column("data", LargeBinary, nullable=False),
)

# --- revision 0005: tiered data review (audited; stored readings are never edited) --------------------------

review_days = Table(
    "review_days",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("station", String(64), nullable=False, comment="device id of the station under review"),
    Column("day", String(10), nullable=False, comment="local date YYYY-MM-DD in the site's time zone"),
    Column("tier", SmallInteger, nullable=False, comment="1 station, 2 centre, 3 bureau: who reviews it now"),
    Column("state", String(16), nullable=False, comment="in_review or approved"),
    Column("opened_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ux_review_days_station_day", "station", "day", unique=True),
)

review_actions = Table(
    "review_actions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("review_id", BigInteger, nullable=False),
    Column("at", Float, nullable=False, comment="clock time of the action"),
    Column("actor", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("tier", SmallInteger, nullable=False, comment="tier the review was at when the action was taken"),
    Column("action", String(16), nullable=False, comment="invalidate, confirm, qc, submit, approve, return"),
    Column("sensor_id", String(64), nullable=True, comment="null: every sensor of the station"),
    Column("time_from", Float, nullable=True, comment="start of the marked range (inclusive), unix seconds"),
    Column("time_to", Float, nullable=True, comment="end of the marked range (exclusive), unix seconds"),
    Column("reason_code", String(32), nullable=True),
    Column("comment", Text, nullable=False, default=""),
    Index("ix_review_actions_review", "review_id"),
)

# --- revision 0008: a high-availability pair shares operator actions and fences an old leader -----------------

operator_actions = Table(
    "operator_actions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False, comment="the operation: acknowledge_alarm, close_incident, ..."),
    Column("args", Text, nullable=False, comment="JSON object of the operation's arguments (actor and time included)"),
    Column("submitted_at", Float, nullable=False, comment="clock time the person acted"),
    Column("state", String(16), nullable=False, comment="pending, applying, done or refused"),
    Column("epoch", BigInteger, nullable=True, comment="leadership epoch of the leader that applied it"),
    Column("result", Text, nullable=True, comment="JSON answer (done) or {status, error} (refused)"),
    Index("ix_operator_actions_state", "state"),
)

ha_leadership = Table(
    "ha_leadership",
    metadata,
    Column("lock_key", BigInteger, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False, comment="fencing token: incremented at every takeover"),
    Column("holder", String(128), nullable=False, comment="host and process id of the leader"),
    Column("since", Float, nullable=False, comment="wall time of the takeover"),
)

# --- revision 0009: raw readings kept N days, then per-minute aggregates (PostgreSQL: live readings by day) -------

reading_minutes = Table(
    "reading_minutes",
    metadata,
    Column("sensor_id", String(64), primary_key=True),
    Column("minute", Float, primary_key=True, comment="start of the minute, unix seconds"),
    Column("count", Integer, nullable=False, comment="readings in the minute"),
    Column("min", Float, nullable=False),
    Column("max", Float, nullable=False),
    Column("mean", Float, nullable=False),
    Column("flagged", Integer, nullable=False, comment="readings in the minute with any quality flag set"),
)
