"""Hypothesis strategies and targets for fuzzing the HTTP API and the SenML codec (tests and bench/fuzz_*.py)."""

from __future__ import annotations

import asyncio
import json
import math
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.clock import ManualClock
from daemon.config import DEFAULT_SITE
from daemon.ingest.senml import BatchBuilder, SenmlDecoder
from daemon.site_file import load_site
from daemon.store.engine import create_engine, migrate
from daemon.web.api.auth import add_user
from daemon.web.api.context import ApiContext
from daemon.web.api.failed_auth import FailedAuthLimiter
from daemon.web.api.operations import StoreOperations
from daemon.web.app import create_app
from daemon.web.events import EventBus
from detectors.kinds import BOOLEAN_KINDS
from rules.sensor_table import SensorTable

T0 = 1_800_000_000.0
ROLES = ("viewer", "operator", "supervisor", "admin")

# Every route of the API with its placeholders (kept equal to add_api_routes by test_routes_are_all_fuzzed).
ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/api/openapi.json"),
    ("GET", "/api/me"),
    ("POST", "/api/login"),
    ("GET", "/api/site"),
    ("GET", "/api/alarms"),
    ("GET", "/api/alarms/{alarm_id}"),
    ("GET", "/api/incidents"),
    ("GET", "/api/incidents/{incident_id}"),
    ("GET", "/api/notifications"),
    ("GET", "/api/duty"),
    ("GET", "/api/map"),
    ("GET", "/api/drill-runs"),
    ("GET", "/api/sensors/{sensor_id}/history"),
    *(
        ("POST", f"/api/alarms/{{alarm_id}}/{action}")
        for action in ("acknowledge", "shelve", "unshelve", "reset", "comment")
    ),
    ("POST", "/api/notifications/{notification_id}/acknowledge"),
    ("GET", "/api/pages"),
    ("POST", "/api/pages/shown"),
    ("POST", "/api/pages/{notification_id}/acknowledge"),
    ("POST", "/api/sensors/{sensor_id}/out-of-service"),
    ("POST", "/api/sensors/{sensor_id}/in-service"),
    ("POST", "/api/sensors/{sensor_id}/reset-credibility"),
    ("POST", "/api/incidents/{incident_id}/comment"),
    ("POST", "/api/incidents/{incident_id}/checklist/{item_id}/done"),
    ("POST", "/api/incidents/{incident_id}/confirm-level"),
    ("POST", "/api/incidents/{incident_id}/close"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
)

# Values a path segment or query value takes: numbers of every size and sign, Unicode digits, text.
segments = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.integers(min_value=0, max_value=9).map(lambda n: "1" * (4300 + n * 10)),  # past int()'s 4,300-digit limit
    st.sampled_from(["0", "1", "7", "2", "²", "١٢", "0x10", "1e3", " 1", "1 ", "+1", "-0", "9" * 19, str(2**63)]),
    st.text(min_size=1, max_size=30),
)

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
body_objects = st.fixed_dictionaries(
    {},
    optional={
        "reason": json_values,
        "text": json_values,
        "duration_s": st.one_of(st.floats(), st.integers(min_value=-(2**70), max_value=2**70), json_values),
        "level": st.one_of(st.sampled_from(["I", "II", "III", "IV", "V", ""]), json_values),
    },
)
bodies = st.one_of(
    st.none(),
    body_objects.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n),
    st.integers(min_value=1, max_value=3000).map(lambda n: b'{"a":' * n),
    st.integers(min_value=4300, max_value=6000).map(lambda n: b'{"duration_s": ' + b"9" * n + b"}"),
    st.binary(max_size=200),
    st.sampled_from([b"NaN", b'{"duration_s": NaN}', b'{"duration_s": 1e999}', b"\xff\xfe", b'"\\ud800"']),
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes | None]:
    """A method, a URL path with query, headers and a body."""
    method, template = draw(st.sampled_from(ROUTES))
    path = template
    for name in ("alarm_id", "incident_id", "notification_id", "item_id", "sensor_id"):
        if "{" + name + "}" in path:
            path = path.replace("{" + name + "}", urllib.parse.quote(draw(segments), safe=""))
    query = draw(
        st.dictionaries(
            st.sampled_from(["limit", "state", "token", "x"]), segments | st.sampled_from(["active", "all"])
        )
    )
    if query:
        path += "?" + urllib.parse.urlencode(query)
    # aiohttp refuses long request lines itself (a plain 400 before the application sees them): stay clear of it.
    path = path[:4000]
    role = draw(st.sampled_from((*ROLES, None, "forged")))
    headers = {}
    if role == "forged":
        headers["Authorization"] = "Bearer " + draw(st.text(max_size=60).filter(lambda t: t.isprintable()))
    elif role is not None:
        headers["Authorization"] = f"Bearer {{{role}}}"
    return method, path, headers, draw(bodies)


@dataclass
class ApiUnderTest:
    """The API on a real SQLite file over real HTTP."""

    base: str
    tokens: dict[str, str]
    session: aiohttp.ClientSession

    async def status(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> tuple[int, str]:
        """Send one request; the status and the body text."""
        # Only the exact role placeholders become tokens: a forged token may itself contain braces.
        roles = {f"Bearer {{{role}}}": f"Bearer {token}" for role, token in self.tokens.items()}
        headers = {k: roles.get(v, v) for k, v in headers.items()}
        async with self.session.request(method, self.base + path, data=body, headers=headers) as response:
            return response.status, await response.text()


@asynccontextmanager
async def api_under_test(directory: Path, *, rate_limited: bool = True) -> AsyncIterator[ApiUnderTest]:
    """Start the API app (no public reads: the token paths are fuzzed too) with one user per role."""
    engine: AsyncEngine = create_engine(f"sqlite:///{directory / 'fuzz.db'}")
    await migrate(engine)
    table = SensorTable.build(load_site(DEFAULT_SITE))
    context = ApiContext(StoreOperations(engine, table.index), EventBus(), ManualClock(T0), table, max_shelve_s=3600)
    if not rate_limited:  # the fuzzer forges tokens by the thousand: keep every path reachable
        context.failed_auth = FailedAuthLimiter(max_failures=2**62)
    app = create_app(engine, CollectorRegistry(), lambda: True, context, max_body_bytes=64 * 1024)
    tokens = {role: await add_user(engine, f"{role}-user", role, T0) for role in ROLES}
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            yield ApiUnderTest(f"http://127.0.0.1:{port}", tokens, session)
    finally:
        await runner.cleanup()
        await engine.dispose()


def run_api_fuzz(loop: asyncio.AbstractEventLoop, api: ApiUnderTest, request: tuple[Any, ...]) -> int:
    """One request: any answer but a 5xx, and every error a JSON body naming its status; returns the status."""
    method, path, headers, body = request
    status, text = loop.run_until_complete(api.status(method, path, headers, body))
    if status == 503 and method == "GET" and path.split("?")[0] == "/healthz":
        # A health verdict, not an error: the probe says 503 when the database does not answer its ping within
        # PING_TIMEOUT_S, which a SQLite file on a machine at load 18 did once in 8,673 requests (bench/fuzz_api.py).
        assert json.loads(text)["database_ok"] is False, text[:300]
        return status
    assert status < 500, (status, method, path, text[:300])
    if status >= 400 and path.startswith("/api/"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            raise AssertionError(f"{status} without a JSON body ({len(path)} chars): {text[:300]!r}") from None
        assert document["status"] == status
    return status


# --- codec ---------------------------------------------------------------------------------------------------

senml_records = st.fixed_dictionaries(
    {},
    optional={
        "bn": st.one_of(st.sampled_from(["gamma-01:", "gas-n01:", "weather-01:"]), json_values),
        "bt": st.one_of(st.floats(), st.integers(min_value=-(2**70), max_value=2**70), json_values),
        "n": st.one_of(st.sampled_from(["dose_rate", "cl2", "saturated", "fault", "wind_speed"]), json_values),
        "u": st.one_of(st.sampled_from(["nSv/h", "uSv/h", "ppm", "mg/m3", "m/s"]), json_values),
        "v": st.one_of(st.floats(), st.integers(min_value=-(2**70), max_value=2**70), json_values),
        "vb": json_values,
        "t": st.one_of(st.floats(), st.integers(min_value=-(2**70), max_value=2**70), json_values),
    },
)


def _dump(value: Any) -> bytes:
    # NaN and Infinity as the standard library writes them: the codec must refuse them, not crash.
    return json.dumps(value, allow_nan=True).encode()


payloads = st.one_of(
    st.lists(senml_records, max_size=8).map(_dump),
    senml_records.map(_dump),
    json_values.map(_dump),
    st.binary(max_size=300),
    st.integers(min_value=1, max_value=5000).map(lambda n: b"[" * n),
    st.integers(min_value=1, max_value=2000).map(lambda n: b'[{"v":' * n),
    st.integers(min_value=4300, max_value=5000).map(lambda n: b'[{"n":"dose_rate","v":' + b"1" * n + b"}]"),
)
# --- structure-aware: valid SenML for the demo site, then mutated ------------------------------------------------
# Random bytes and random records almost never name a known device, sensor and unit at a plausible time, so they stop
# at the first check (unknown device, bad JSON). Starting from a message the codec accepts whole and changing a few
# things (as AFL's and libFuzzer's dictionary and structure mutators do) reaches unit conversion, the shape cache,
# status flags, time checks and range flags with inputs that are almost right.

_SITE_TABLE = SensorTable.build(load_site(DEFAULT_SITE))
# (device, name, declared unit, boolean) of every sensor: the names a device really uses.
_SENSORS = [
    (
        _SITE_TABLE.devices[int(_SITE_TABLE.device_of[i])].id,
        name,
        spec.unit,
        spec.kind in BOOLEAN_KINDS,
    )
    for (_device, name), i in _SITE_TABLE.by_device_name.items()
    for spec in (_SITE_TABLE.sensors[i],)
]
_UNITS = ["nSv/h", "uSv/h", "mSv/h", "ppm", "ppb", "mg/m3", "ug/m3", "m/s", "km/h", "Cel", "K", "V", "%RH", "deg"]
_NUMBERS = st.one_of(
    st.floats(min_value=-1e3, max_value=1e5),
    st.sampled_from([0, -0.0, 1e-300, 1e308, -1e308, 2**53 + 1, 2**63, 2**64, float("nan"), float("inf")]),
    st.integers(min_value=-(2**70), max_value=2**70),
)


@st.composite
def valid_senml(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    """A message the codec accepts whole: one device's sensors, declared units, times around T0 (topic, records)."""
    device = draw(st.sampled_from(sorted({d for d, _, _, _ in _SENSORS})))
    own = [entry for entry in _SENSORS if entry[0] == device]
    chosen = draw(st.lists(st.sampled_from(own), min_size=1, max_size=6))
    base_time = T0 - draw(st.floats(min_value=0, max_value=3600))
    records: list[dict[str, Any]] = []
    for position, (_, name, unit, boolean) in enumerate(chosen):
        record: dict[str, Any] = {"n": name, "t": -position * draw(st.sampled_from([0.0, 0.0004, 1.0, 60.0]))}
        if boolean:
            record["vb"] = draw(st.booleans())
        else:
            record["v"] = draw(st.floats(min_value=0, max_value=1e4))
            record["u"] = unit
        records.append(record)
    records[0].update({"bn": f"{device}:", "bt": base_time})
    return f"hazwatch/demo-park/{device}", records


def _mutate_record(draw: st.DrawFn, records: list[dict[str, Any]]) -> None:
    """One structural change to one record (or to the list)."""
    if not records:
        return
    index = draw(st.integers(0, len(records) - 1))
    record = records[index]
    kind = draw(
        st.sampled_from(["drop", "value", "unit", "name", "time", "base", "type", "dup", "status", "extra", "remove"])
    )
    keys = sorted(record)
    if kind == "drop" and keys:
        del record[draw(st.sampled_from(keys))]
    elif kind == "value":
        record[draw(st.sampled_from(["v", "vb", "vs", "vd"]))] = draw(st.one_of(_NUMBERS, json_leaves))
    elif kind == "unit":
        record[draw(st.sampled_from(["u", "bu"]))] = draw(st.one_of(st.sampled_from(_UNITS), json_leaves))
    elif kind == "name":
        name = str(record.get("n", ""))
        record["n"] = draw(st.sampled_from([name.upper(), name + "x", "", "fault", "saturated", "../" + name]))
    elif kind == "time":
        record[draw(st.sampled_from(["t", "bt"]))] = draw(
            st.one_of(_NUMBERS, st.sampled_from([T0 + 301, T0 - 8 * 86400, 2**28 - 1, 2**28, -(2**28), 1e20]))
        )
    elif kind == "base":
        record["bn"] = draw(st.sampled_from(["", "gamma-01:", "gas-n01/", "nobody:", "gamma-01:gamma-01:"]))
    elif kind == "type":
        key = draw(st.sampled_from(keys or ["n"]))
        record[key] = draw(json_values)
    elif kind == "dup":
        records.insert(index, dict(record))
    elif kind == "status":
        records.append(
            {"n": draw(st.sampled_from(["fault", "saturated"])), "vb": draw(st.one_of(st.booleans(), json_leaves))}
        )
    elif kind == "extra":
        record[draw(st.text(max_size=4))] = draw(json_values)
    else:
        del records[index]


def _mutate_bytes(draw: st.DrawFn, payload: bytes) -> bytes:
    """A byte-level change: truncate, flip, insert or repeat."""
    if not payload:
        return payload
    at = draw(st.integers(0, len(payload) - 1))
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "repeat"]))
    if kind == "truncate":
        return payload[:at]
    if kind == "flip":
        return payload[:at] + bytes([payload[at] ^ (1 << draw(st.integers(0, 7)))]) + payload[at + 1 :]
    if kind == "insert":
        return (
            payload[:at]
            + draw(st.sampled_from([b"[", b"{", b'"', b",", b"\\", b"\xff", b"NaN", b"1e999"]))
            + payload[at:]
        )
    return payload[:at] + payload[at:] * draw(st.integers(2, 4))


@st.composite
def mutated_senml(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid message with a few structural mutations and, sometimes, one byte-level one (topic, payload)."""
    topic, records = draw(valid_senml())
    for _ in range(draw(st.integers(0, 3))):
        _mutate_record(draw, records)
    document: Any = records
    if draw(st.integers(0, 9)) == 0:
        document = records[0] if records else {}  # a lone record object
    payload = _dump(document)
    if draw(st.integers(0, 4)) == 0:
        payload = _mutate_bytes(draw, payload)
    if draw(st.integers(0, 9)) == 0:
        topic = draw(st.sampled_from([topic + "/status", topic.replace("demo-park", "other"), topic + "x"]))
    return topic, payload


topics = st.one_of(
    st.sampled_from(
        [
            "hazwatch/demo-park/gamma-01",
            "hazwatch/demo-park/gas-n01",
            "hazwatch/demo-park/gamma-01/status",
            "hazwatch/demo-park/nobody",
            "hazwatch/other/gamma-01",
        ]
    ),
    st.text(max_size=40),
)


# What the codec fuzz draws: mostly mutated valid messages (deep paths), the rest anything at all (shallow paths).
messages = st.one_of(mutated_senml(), mutated_senml(), mutated_senml(), st.tuples(topics, payloads))


def codec_decoder() -> SenmlDecoder:
    """The demo site's decoder with the default limits."""
    table = SensorTable.build(load_site(DEFAULT_SITE))
    return SenmlDecoder(table, "hazwatch", 256 * 1024, 300.0, 7 * 86400.0)


def run_codec_fuzz(decoder: SenmlDecoder, topic: str, payload: bytes) -> tuple[int, list[str]]:
    """Decoding never raises; every reading it keeps is finite and names a known sensor.

    Returns the readings kept and the reason of each rejection."""
    builder = BatchBuilder()
    result = decoder.decode(topic, payload, T0, builder)
    batch = builder.build()
    assert result.readings == len(batch)
    assert all(math.isfinite(v) for v in batch.value.tolist())
    assert all(math.isfinite(t) for t in batch.time.tolist())
    for rejection in result.rejections:
        assert rejection.detail
    return result.readings, [str(rejection.reason) for rejection in result.rejections]
