"""A running service with the HJ 212 listener on a free port, for the ingest tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from daemon.service import Service
from rules.site import Site
from tests.conftest import running_service, service_config
from tests.daemon.ingest.hj212_examples import LOGGER_SITE


@pytest.fixture
async def hj212_service(machine_broker: tuple[str, int], sqlite_url: str, unique: str) -> AsyncIterator[Service]:
    """The service with one HJ 212 logger in its site, listening on a free port."""
    config = service_config(f"mqtt://{machine_broker[0]}:{machine_broker[1]}", sqlite_url, f"hw-{unique}", unique)
    config.hj212.enabled = True
    config.hj212.port = 0
    config.hj212.idle_timeout_s = 1.0
    async with running_service(config, Site.model_validate(LOGGER_SITE)) as service:
        yield service
