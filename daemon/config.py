"""The service config (TOML), validated with pydantic. Every field has a default: no file is needed to start.

Secrets never live in the file: ``HAZWATCH_MQTT_PASSWORD`` and ``HAZWATCH_DB_URL`` come from the environment.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError

from daemon.errors import ConfigError
from daemon.notify.config import NotifyConfig
from rules.strict import StrictModel
from rules.yaml_source import YamlDocument, validation_issues

DEFAULT_SITE = Path(__file__).parent / "sites" / "demo-park.yaml"


class MqttConfig(StrictModel):
    """How to reach the MQTT broker."""

    broker: str = Field(
        "embedded",
        description="`embedded[:HOST:PORT]` starts an in-process broker; `mqtt://host:port` or `mqtts://host:port` "
        "uses a real one.",
    )
    topic_prefix: str = Field("hazwatch", description="First topic level; the service subscribes to `<prefix>/#`.")
    client_id: str = Field("hazwatch-service", description="Fixed client id, so the broker keeps our session.")
    username: str | None = Field(None, description="Broker user name.")
    password: SecretStr | None = Field(None, description="Broker password; prefer HAZWATCH_MQTT_PASSWORD.")
    ca_file: Path | None = Field(None, description="CA bundle for mqtts:// (system CAs when unset).")
    tls_insecure: bool = Field(False, description="Skip server certificate checks (test brokers only).")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keep-alive in seconds.")
    reconnect_min_s: float = Field(0.5, gt=0, description="First reconnect back-off.")
    reconnect_max_s: float = Field(30.0, gt=0, description="Longest reconnect back-off.")
    max_queued_messages: int = Field(100_000, ge=100, description="Inbound queue bound before back-pressure.")
    protocol: Literal["5", "3.1.1"] = Field(
        "5",
        description="MQTT protocol version. 5 lets the service bound how many unacknowledged messages the broker "
        "sends it (receive_maximum); the embedded broker always uses 3.1.1.",
    )
    session_expiry_s: int = Field(
        7 * 86400,
        ge=0,
        le=0xFFFFFFFF,
        description="MQTT 5 Session Expiry Interval: how long the broker keeps the session (and queues readings) "
        "while the service is away.",
    )
    receive_maximum: int = Field(
        20000,
        ge=1,
        le=65535,
        description="MQTT 5 Receive Maximum: messages the broker may send before the service acknowledges them. "
        "Messages are acknowledged after their readings commit, so this must cover several batches "
        "(ingest.batch_max_messages) in flight while one commits: 20,000 kept bench/ingest.py at the throughput "
        "of automatic acknowledgements (4,000 lost about a fifth). It also bounds what a stalled database can hold "
        "in memory.",
    )
    priority_devices: list[str] = Field(
        default_factory=list,
        description="Device ids (or device types: `source_monitor`, `gamma_station`, `gas_detector`, "
        "`weather_station`) whose topics also come over a second MQTT session, the priority lane, with its own "
        "client id (`<client_id>-priority`), queue and receive window: under overload the broker queues the bulk "
        "for the main session, and a priority device's readings would wait behind all of it; on their own session "
        "they are judged within a batch window. The main session still receives every topic; the copy that "
        "arrives second is acknowledged and dropped, so a reading is judged once. Empty: one session. A flood "
        "from the priority devices themselves is queued on the lane as before: list the devices whose alarms "
        "must not wait (sealed-source monitors, the stations near a facility), not the bulk. Not with the embedded "
        "broker (the demo's).",
    )
    priority_receive_maximum: int = Field(
        1000,
        ge=1,
        le=65535,
        description="MQTT 5 Receive Maximum of the priority lane: what it may hold unacknowledged.",
    )


class DatabaseConfig(StrictModel):
    """Where readings, alarms and quarantined input are stored."""

    url: str = Field(
        "sqlite:///hazwatch.db",
        description="SQLAlchemy URL: `sqlite:///path` (WAL) or `postgresql://user@host/db`. HAZWATCH_DB_URL overrides.",
    )
    store_readings: bool = Field(True, description="Store every valid reading (disable for very large sites).")
    spool_file: Path | None = Field(
        None,
        description="Where rows the database did not take before a shutdown are kept until the next start "
        "(default: beside a SQLite database, else `hazwatch.spool` in the working directory).",
    )
    spool_max_bytes: int = Field(256 * 1024 * 1024, ge=1024, description="Largest spool file.")
    raw_readings_keep_days: float | None = Field(
        None,
        gt=0,
        description="Keep raw live readings this many days, then only their per-minute aggregates (count, min, max, "
        "mean; table reading_minutes). PostgreSQL drops whole day partitions; SQLite deletes by age without "
        "aggregates. Unset: keep every reading.",
    )
    stop_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A shutdown waits this long for the database, then spools what is unwritten and exits.",
    )
    write_retry_max_s: float = Field(
        10.0,
        gt=0,
        description="A failed commit is retried after 0.1 s, doubling up to this pause: the longest a recovered "
        "database waits to be written again.",
    )


class HttpConfig(StrictModel):
    """The HTTP server for /healthz, /metrics, the API and the console."""

    host: str = Field("127.0.0.1", description="Listen address.")
    port: int = Field(8080, ge=0, le=65535, description="Listen port (0 picks a free one).")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest accepted request body.")
    public_read: bool = Field(
        False,
        description="Let read-only API endpoints and the live event stream answer without a token (wall display).",
    )
    max_shelve_s: float = Field(8 * 3600.0, gt=0, description="Longest time an alarm may be shelved.")
    metrics_render_process: bool = Field(
        True,
        description="Render the per-sensor /metrics families in a child process (off the event loop's interpreter "
        "lock); false renders them in threads of the service.",
    )


class TileSource(StrictModel):
    """A raster tile layer for the console map: XYZ (OpenStreetMap, the centre's own server) or WMTS KVP (Tianditu)."""

    name: str = Field(description="Shown in the map's layer switcher.")
    url: str = Field(
        description="Tile URL template with {z}, {x}, {y} (and {s} for subdomains), e.g. "
        "`https://tiles.example.cn/{z}/{x}/{y}.png`, or a WMTS GetTile URL with TILEMATRIX={z}&TILEROW={y}&TILECOL={x} "
        "(Tianditu: `http://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec"
        "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY`).",
    )
    attribution: str = Field("", description="Attribution text the tile provider's terms require.")
    subdomains: str = Field("", description="Letters or digits substituted for {s}, e.g. `01234567` for Tianditu.")
    max_zoom: int = Field(18, ge=1, le=22, description="Deepest zoom level the server has.")


class MapConfig(StrictModel):
    """The console map: tile layers when a tile server is reachable; the site file's own layers always."""

    tiles: list[TileSource] = Field(
        default_factory=list,
        description="Base layers, first shown by default. Empty: the map draws only the site file's GeoJSON layers "
        "(outlines, roads, rivers, residential areas, schools, hospitals), which needs no network.",
    )


class IngestConfig(StrictModel):
    """Input limits and batching."""

    max_payload_bytes: int = Field(256 * 1024, ge=64, description="Larger messages are quarantined unparsed.")
    max_future_skew_s: float = Field(300.0, gt=0, description="Readings timed further in the future are rejected.")
    max_past_age_s: float = Field(7 * 86400.0, gt=0, description="Readings older than this are rejected.")
    batch_max_messages: int = Field(2000, ge=1, description="A batch closes after this many messages ...")
    batch_max_delay_s: float = Field(
        0.02,
        gt=0,
        description="... or this long after its first message (bounds the latency of routine readings; a message the "
        "live pre-screen finds urgent closes its batch at once; past a burst of two, once per window).",
    )
    batch_max_delay_late_s: float = Field(
        0.25,
        gt=0,
        description="When readings arrive late (a backlog after an outage, or more input than the service keeps up "
        "with), the batch window grows to a tenth of how late they are, up to this: bigger batches cost less per "
        "reading, and a second-old reading loses little to 100 ms more. Equal to batch_max_delay_s: never grow.",
    )
    lookahead_messages: int = Field(
        10_000,
        ge=1,
        description="Under overload (input still waiting on the connection) up to this many received messages wait "
        "in the service instead of the socket and the broker, so urgent ones (pre-screened: a reading beyond its "
        "sensor's first alarm level, a device in alarm, a change of state, a device status) are judged ahead of the "
        "routine backlog. At most half the MQTT receive window (the rest covers rows being committed).",
    )
    decode_workers: int = Field(
        1,
        ge=0,
        le=32,
        description="Worker processes that decode big batches (a backlog, a heavy stream) while the service goes on "
        "receiving; 0 decodes everything in the service process.",
    )
    decode_workers_start_s: float = Field(
        5.0, ge=0, description="How long the start waits for the decode workers before subscribing."
    )
    decode_offload_min_messages: int = Field(
        100, ge=1, description="Batches of fewer messages are decoded in place (no process hop, no added latency)."
    )
    quarantine_log_interval_s: float = Field(60.0, gt=0, description="Log each quarantine reason at most this often.")
    quarantine_max_payload_bytes: int = Field(
        4096, ge=0, description="A quarantined message keeps at most this many bytes of its payload."
    )
    quarantine_max_bytes_per_day: int = Field(
        64 * 1024 * 1024,
        ge=0,
        description="Quarantine rows stored per UTC day, in bytes; past it rejections are only counted "
        "(hazwatch_quarantine_not_stored_total).",
    )
    quarantine_retention_days: float = Field(30.0, gt=0, description="Quarantine rows older than this are deleted.")
    stall_after_s: float = Field(
        10.0,
        gt=0,
        description="/healthz reports a stall when messages wait and no batch went through for this long.",
    )
    lag_degraded_s: float = Field(
        30.0,
        gt=0,
        description="/healthz says degraded when the oldest message waiting was received this long ago.",
    )
    behind_degraded_s: float = Field(
        10.0,
        gt=0,
        description="/healthz says degraded when the readings of the last batch arrived this much later (median) "
        "than their sensors' usual lateness (a floor each sensor learns: transit, a device clock that is off): the "
        "broker queues more than the service takes, or devices deliver a backlog. At 2.6x capacity the excess grows "
        "1.6 s a second, so 10 s is crossed within seconds; a steadily skewed clock never crosses it.",
    )
    behind_floor_rise_s: float = Field(
        600.0,
        gt=0,
        description="How slowly a sensor's usual lateness follows a higher one (time constant, seconds): a lower "
        "lateness is taken at once. Long enough that a backlog is not learnt as usual while it grows.",
    )


class Hj212Config(StrictModel):
    """The HJ 212-2017 TCP listener for data loggers (devices with an `hj212:` block in the site file)."""

    enabled: bool = Field(False, description="Listen for data loggers.")
    host: str = Field("127.0.0.1", description="Listen address (0.0.0.0 for loggers on other hosts).")
    port: int = Field(9212, ge=0, le=65535, description="Listen port (0 picks a free one).")
    max_data_bytes: int = Field(
        1024, ge=64, le=9999, description="Longest data segment accepted (HJ 212-2017 6.3.1 allows 1024)."
    )
    max_connections: int = Field(1000, ge=1, description="Connections beyond this are closed at once.")
    idle_timeout_s: float = Field(
        600.0, gt=0, description="A connection that sends nothing this long is closed (loggers reconnect)."
    )
    write_timeout_s: float = Field(10.0, gt=0, description="An answer the logger does not read this long closes it.")
    batch_max_delay_s: float = Field(
        0.02, gt=0, description="Readings from all loggers are handed to the pipeline at least this often."
    )


class ModbusConfig(StrictModel):
    """Modbus TCP polling of controllers (devices with a `modbus:` block in the site file)."""

    enabled: bool = Field(True, description="Poll the site's Modbus devices.")
    reconnect_max_s: float = Field(30.0, gt=0, description="Longest wait between connection attempts.")


class RecordingConfig(StrictModel):
    """Continuous recording of everything that arrives over MQTT (for later replay as a drill)."""

    enabled: bool = Field(False, description="Record every MQTT message as it arrives (JSON Lines).")
    dir: Path = Field(Path("recordings"), description="Directory for the recording files.")
    rotate_mb: int = Field(256, ge=1, description="Start a new file when the current one reaches this size (MiB).")


class AlarmConfig(StrictModel):
    """Rules, emergency plan and duty roster; empty means the shipped defaults."""

    rule_files: list[Path] = Field(default_factory=list, description="Rule files (YAML); empty: rules/defaults/*.")
    plan_file: Path | None = Field(None, description="Emergency plan (YAML); default: plans/defaults/city-plan.yaml.")
    roster_file: Path | None = Field(None, description="Duty roster (YAML); default: plans/defaults/roster.yaml.")
    tick_interval_s: float = Field(1.0, gt=0, description="How often timers (delays, shelving, escalation) run.")
    checkpoint_interval_s: float = Field(30.0, gt=0, description="How often the alarm state is saved for restarts.")


class HaConfig(StrictModel):
    """A high-availability pair: two instances, one leader by a PostgreSQL advisory lock (PostgreSQL only)."""

    enabled: bool = Field(
        False,
        description="Run as one of a pair: only the lock holder writes rows and sends pages; the other judges the "
        "same stream and takes over when the lock is free. Ignored on SQLite (the only instance leads).",
    )
    lock_key: int = Field(
        0x68617A77, ge=-(2**63), le=2**63 - 1, description="Advisory lock key; both instances of a pair use the same."
    )
    check_interval_s: float = Field(
        1.0, gt=0, le=60, description="How often the follower tries for the lock and the leader checks its session."
    )
    hold_s: float = Field(
        60.0,
        gt=0,
        description="How long the follower keeps the rows it would have written, to write the ones the leader did "
        "not commit when it takes over.",
    )
    lease_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="How long the leader may go silent (paused, frozen, cut off) before PostgreSQL ends its session, "
        "which frees the lock for the follower; a write transaction left idle that long is rolled back too. Keep it "
        "well above check_interval_s and the longest event-loop stall.",
    )
    action_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="How long an operator action made on the follower waits for the leader to apply it before the "
        "answer says it is recorded and still pending (the leader, or the next one, applies it).",
    )


class ServiceConfig(StrictModel):
    """Top-level service config."""

    site_file: Path = Field(DEFAULT_SITE, description="Site file (YAML) declaring devices and sensors.")
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    map: MapConfig = Field(default_factory=MapConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    hj212: Hj212Config = Field(default_factory=Hj212Config)
    modbus: ModbusConfig = Field(default_factory=ModbusConfig)
    alarms: AlarmConfig = Field(default_factory=AlarmConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    ha: HaConfig = Field(default_factory=HaConfig)
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], Field(description="Logging level.")] = "INFO"


def load_config(path: Path | None, environ: dict[str, str] | None = None) -> ServiceConfig:
    """Read and validate a config file (or the defaults), then apply secrets from the environment."""
    env = os.environ if environ is None else environ
    data: dict[str, object] = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: invalid TOML: {exc}"]) from exc
    try:
        config = ServiceConfig.model_validate(data)
    except ValidationError as exc:
        document = YamlDocument(str(path or "<defaults>"), data, _toml_lines(path))
        raise ConfigError.from_issues(validation_issues(document, exc)) from exc
    if password := env.get("HAZWATCH_MQTT_PASSWORD"):
        config.mqtt.password = SecretStr(password)
    if db_url := env.get("HAZWATCH_DB_URL"):
        config.database.url = db_url
    return config


def _toml_lines(path: Path | None) -> dict[tuple[str | int, ...], int]:
    """Best-effort map of dotted key paths to line numbers (tomllib keeps no positions)."""
    if path is None:
        return {}
    lines: dict[tuple[str | int, ...], int] = {}
    table: tuple[str, ...] = ()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            table = tuple(part.strip() for part in line.strip("[]").split("."))
            lines.setdefault(table, number)
        elif "=" in line and not line.startswith("#"):
            key = line.split("=", 1)[0].strip().strip('"')
            lines.setdefault((*table, key), number)
    return lines
