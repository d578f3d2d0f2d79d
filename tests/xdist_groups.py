"""``--dist loadgroup`` that works with pytest 9: a test module marked ``xdist_group`` runs on one worker.

pytest-xdist 3.8 groups tests by appending ``@group`` to ``item._nodeid`` in the workers; pytest 9 computes
``nodeid`` from ``item._id`` and ignores that attribute, so the groups silently fall apart and a module-scoped service
or browser is started once per worker (seen: the console bench set up on both workers). This scheduler keeps the
promise for whole modules: every test of a module whose source marks ``xdist_group`` goes to the same worker; every
other test is its own unit, as with ``--dist load``. The controller never imports test modules, so it reads the mark
from the source text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling

GROUP_MARK = re.compile(r"pytest\.mark\.xdist_group\(")


def grouped_modules(root: Path) -> frozenset[str]:
    """Node-id prefixes (``tests/web/test_x.py``) of the test modules that mark an ``xdist_group``."""
    return frozenset(
        path.relative_to(root).as_posix()
        for path in (root / "tests").rglob("test_*.py")
        if GROUP_MARK.search(path.read_text(encoding="utf-8"))
    )


class ModuleGroupScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no type information
    """Grouped modules are one unit of work; any other test is a unit of its own."""

    def __init__(self, config: pytest.Config, log: Producer | None, modules: frozenset[str]) -> None:
        super().__init__(config, log)
        self._modules = modules

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return module if module in self._modules else nodeid
