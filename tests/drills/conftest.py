"""Drill test fixtures: simulate a shipped scenario (optionally shortened) and replay it into a fresh SQLite."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import pickle
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from daemon.chain.build import AlarmSetup
from daemon.clock import WallClock
from daemon.config import ServiceConfig
from daemon.drills.replay import ReplayOptions, ReplayResult, replay_recording
from daemon.drills.report import ReportContext, build_report
from daemon.drills.scenario import SCENARIO_LIBRARY, load_scenario
from daemon.drills.simulate_output import write_columnar, write_jsonl
from daemon.drills.simulator import Simulator
from daemon.site_file import load_site
from daemon.store.engine import create_engine
from plans.roster import Roster
from rules.sensor_table import SensorTable
from rules.site import Site

Drill = Callable[..., Awaitable[dict[str, Any]]]


def simulate(tmp_path: Path, name: str, *, duration_s: float | None = None, columnar: bool = False) -> Path:
    """Write a shipped scenario as a recording in ``tmp_path``."""
    scenario = load_scenario(SCENARIO_LIBRARY / f"{name}.yaml")
    if duration_s is not None:
        scenario = scenario.model_copy(update={"duration_s": duration_s})
    simulator = Simulator(scenario, _site(Path(scenario.site_file)))
    path = tmp_path / (f"{name}.hzc" if columnar else f"{name}.jsonl")
    (write_columnar if columnar else write_jsonl)(simulator, path)
    return path


async def replay_and_report(recording: Path, db_url: str, **options: Any) -> dict[str, Any]:
    """Replay a recording as a drill into ``db_url`` and build its report."""
    return (await replay_run(recording, db_url, **options)).report


@dataclass(frozen=True)
class Run:
    """One replay: its report, the recording and database it used, what the replay returned and its metrics."""

    report: dict[str, Any]
    recording: Path
    db: Path | None
    result: ReplayResult
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The value the replay's metrics registry held for ``name`` (with ``labels``) when the replay ended."""
        return self.samples.get((name, tuple(sorted((labels or {}).items()))))


@functools.cache
def _site(path: Path) -> Site:
    """The site file, parsed once per session (it is read-only, and parsing it costs more than a short replay)."""
    return load_site(path)


@functools.cache
def _roster() -> Roster:
    """The default roster, loaded once per session (the report names people from it; loading parses every rule,
    plan and roster file, about as long as replaying a quiet hour)."""
    return AlarmSetup.load(ServiceConfig().alarms).roster


async def replay_run(recording: Path, db_url: str, **options: Any) -> Run:
    """Replay a recording as a drill into ``db_url``; the report and everything around it."""
    config = ServiceConfig()
    config.database.url = db_url
    site = _site(Path(config.site_file))
    registry = CollectorRegistry()
    result = await replay_recording(
        recording, config, site, ReplayOptions(**options), wall=WallClock(), registry=registry
    )
    engine = create_engine(db_url)
    try:
        table = SensorTable.build(site)
        kinds = {s.id: s.kind.value for s in table.sensors}
        context = ReportContext(_roster(), table)
        report = await build_report(engine, result, kinds, context)
    finally:
        await engine.dispose()
    db = Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite:///") else None
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in registry.collect()
        for sample in metric.samples
    }
    return Run(report, recording, db, result, samples)


class ScenarioRuns:
    """Each shipped scenario simulated and replayed once per test session and form, shared by every xdist worker
    of the session: the first worker that needs a replay makes it under a file lock in the session's shared folder,
    the others wait for it and read it. The reports, recordings and databases are shared by every test that needs
    that replay: read them, never change them."""

    def __init__(self, work: Path) -> None:
        self._work = work
        self._runs: dict[tuple[str, float | None, bool, bool], Run] = {}

    async def run(
        self, name: str, *, duration_s: float | None = None, columnar: bool = False, blocks: bool = True
    ) -> Run:
        """The replay of ``name`` from JSON Lines (or ``.hzc``), from the session's cache; ``blocks=False``: every
        batch through the pipeline on its own (the reference for the block replay)."""
        key = (name, duration_s, columnar, blocks)
        if key not in self._runs:
            recording = self.recording(name, duration_s=duration_s, columnar=columnar)
            db = recording.parent / ("drill.db" if blocks else "drill-batch-by-batch.db")
            with _locked(db.with_suffix(".lock")):
                saved = db.with_suffix(".run.pickle")
                if saved.exists():
                    self._runs[key] = pickle.loads(saved.read_bytes())  # noqa: S301 - written by this session
                else:
                    db.unlink(missing_ok=True)  # left by a worker that died mid-replay
                    run = await replay_run(recording, f"sqlite:///{db}", blocks=blocks)
                    saved.write_bytes(pickle.dumps(run))
                    self._runs[key] = run
        return self._runs[key]

    def recording(self, name: str, *, duration_s: float | None = None, columnar: bool = False) -> Path:
        """The recording of ``name`` in JSON Lines (or ``.hzc``), simulated once per session."""
        folder = self._work / f"{name}-{duration_s or 'full'}-{'hzc' if columnar else 'jsonl'}"
        folder.mkdir(parents=True, exist_ok=True)
        recording = folder / (f"{name}.hzc" if columnar else f"{name}.jsonl")
        with _locked(folder / "recording.lock"):
            if not recording.exists():
                (folder / "partial").mkdir(exist_ok=True)
                partial = simulate(folder / "partial", name, duration_s=duration_s, columnar=columnar)
                partial.rename(recording)  # complete or absent: a worker killed mid-write leaves no half file
        return recording

    async def report(self, name: str, *, duration_s: float | None = None, columnar: bool = False) -> dict[str, Any]:
        """The report of ``name`` replayed from JSON Lines (or ``.hzc``), from the session's cache."""
        return (await self.run(name, duration_s=duration_s, columnar=columnar)).report


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) across processes; waits while another holds it."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a worker that dies releases it with its file descriptors
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def scenario_runs(tmp_path_factory: pytest.TempPathFactory) -> ScenarioRuns:
    """The session's cache of scenario replays, in the folder every xdist worker of the session shares (the
    parent of each worker's own temporary folder; without xdist, the session's)."""
    base = tmp_path_factory.getbasetemp()
    return ScenarioRuns((base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "scenario-runs")


@pytest.fixture
def drill(scenario_runs: ScenarioRuns) -> Drill:
    """``await drill(name, duration_s=...)``: a shipped scenario simulated and replayed (once per session)."""
    return scenario_runs.report
