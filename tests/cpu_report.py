"""``--cpu-durations=N``: the N tests that cost the most CPU (user+sys seconds, setup to teardown).

``--durations`` reports wall time, which on a shared 2-core machine says more about the neighbours than about the
test; the suite's budget is CPU. Each test's cost is what its worker process and the children it waited for used
from the start of its setup to the end of its teardown (a session fixture made during a test is charged to it).
Children still running at teardown, or reaped later, are not seen: a test that leaves a process behind hides its
cost (and fails elsewhere). Registered by tests/conftest.py.
"""

from __future__ import annotations

import resource
from collections.abc import Generator

import pytest

PROPERTY = "cpu_s"


def _cpu_s() -> float:
    """User+sys CPU seconds of this process and the children it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pytest_addoption(parser: pytest.Parser) -> None:
    """The option."""
    parser.addoption(
        "--cpu-durations",
        type=int,
        default=None,
        metavar="N",
        help="show the N tests that cost the most CPU seconds (0: all)",
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """Start the test's CPU count before any of its fixtures."""
    item.stash[_STARTED] = _cpu_s()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """The teardown report carries the test's CPU seconds (xdist sends user properties to the controller)."""
    report = yield
    started = item.stash.get(_STARTED, None)
    if call.when == "teardown" and started is not None:
        report.user_properties.append((PROPERTY, _cpu_s() - started))
    return report


_STARTED = pytest.StashKey[float]()
_COSTS: dict[str, float] = {}  # node id -> CPU seconds, in the process that reports (the controller under xdist)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect each test's figure (in the controller, from every worker)."""
    if report.when != "teardown":
        return
    for name, value in report.user_properties:
        if name == PROPERTY:
            _COSTS[report.nodeid] = float(value)  # type: ignore[arg-type]  # a float, as appended above


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The table."""
    top = config.getoption("--cpu-durations")
    if top is None:
        return
    costs = sorted(_COSTS.items(), key=lambda pair: pair[1], reverse=True)
    total = sum(cost for _, cost in costs)
    terminalreporter.write_sep("=", f"CPU seconds per test (user+sys, {len(costs)} tests, {total:.1f} CPU-s in all)")
    for nodeid, cost in costs if top == 0 else costs[:top]:
        terminalreporter.write_line(f"{cost:8.2f}  {nodeid}")
