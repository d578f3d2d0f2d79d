"""No secret of the configuration reaches /metrics, /healthz, the API or an error body, while deliveries fail.

The service runs with every kind of secret it can hold: webhook URLs with a password in their userinfo, a token in
their path and an ``access_token`` parameter, Alibaba Cloud SMS keys (from the environment), an MQTT password and a
PostgreSQL URL with a password (both from the environment; the machine's PostgreSQL trusts 127.0.0.1, Mosquitto
allows anonymous clients, so the passwords are accepted and carried, not checked). A Cl2 alarm pages every channel,
every receiver answers 500 (so errors are made, retried and recorded), and then every body the service answers —
/metrics, /healthz, the notifications API, a 404, a 400, a 401 - and its log are searched for each secret.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import fresh_postgres
from tests.faults.harness import Mosquitto, ServiceProcess
from tests.faults.paging_support import chlorine_messages
from tests.helpers import eventually, publish
from tests.notify.notify_support import start_receiver

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(180)]

SECRETS = {
    "webhook_password": "hookPassw0rd-9f3",
    "webhook_path_token": "PathTok3nAbCdEfGh1234567890",
    "webhook_query_token": "QueryTok3nZyXwVu0987654321",
    "sms_key_id": "LTAI5tSmsKeyId77",
    "sms_key_secret": "SmsKeySecret0123456789abcdef",
    "mqtt_password": "MqttPassw0rd-4c1",
    "db_password": "DbPassw0rd-7e2",
}


@pytest.fixture
async def database(unique: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database, its URL carrying a password."""
    async with fresh_postgres(f"secrets{unique}") as url:
        yield url.replace("postgres@", f"postgres:{SECRETS['db_password']}@")


async def test_no_secret_in_metrics_health_api_or_error_bodies(
    tmp_path: Path, unique: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failing pages on every secret-bearing channel; no body the service answers and no log line holds a secret."""
    hits: list[str] = []

    async def fail(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=500, text="down")

    receiver = await start_receiver(fail)
    port = receiver.url.rsplit(":", 1)[1]
    monkeypatch.setenv("HAZWATCH_DB_URL", database)
    monkeypatch.setenv("HAZWATCH_MQTT_PASSWORD", SECRETS["mqtt_password"])
    monkeypatch.setenv("HZ_SMS_ID", SECRETS["sms_key_id"])
    monkeypatch.setenv("HZ_SMS_SECRET", SECRETS["sms_key_secret"])
    hooks = {
        "userinfo": f"http://hooks:{SECRETS['webhook_password']}@127.0.0.1:{port}/userinfo",
        "path": f"http://127.0.0.1:{port}/api/webhooks/42/{SECRETS['webhook_path_token']}",
        "query": f"http://127.0.0.1:{port}/robot/send?access_token={SECRETS['webhook_query_token']}",
    }
    people = "".join(
        f'[[notify.people]]\nname = "{name}"\nlanguage = "en"\n'
        f'channels = [{{type = "webhook", url = "{url}", idempotent = true}}]\n'
        for name, url in hooks.items()
    )
    people += (
        '[[notify.people]]\nname = "sms"\nlanguage = "en"\nchannels = [{type = "sms", address = "+8613800000000"}]\n'
    )
    names = ", ".join(f'"{name}"' for name in [*hooks, "sms"])
    config = (
        "[ingest]\ndecode_workers = 0\n[notify]\npoll_interval_s = 0.2\nrequest_timeout_s = 2.0\n"
        "memory_delivery_after_s = 1.0\nstorm_window_s = 0\n"
        f'[notify.providers]\nsms = "aliyun"\n[notify.providers.aliyun_sms]\nendpoint = "http://127.0.0.1:{port}/sms"\n'
        'access_key_id_env = "HZ_SMS_ID"\naccess_key_secret_env = "HZ_SMS_SECRET"\nsign_name = "test"\n'
        'template_code = "SMS_1"\n'
        f"{people}"
        f'[[notify.routes]]\nname = "gas"\nmin_priority = "high"\nkinds = ["gas"]\nrecipients = [{names}]\n'
    )
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    service = ServiceProcess(tmp_path / "service", broker.port, f"sec{unique}", config, mqtt_extra='username = "svc"\n')
    bodies: dict[str, str] = {}
    try:
        service.start()
        await service.wait_ready()
        await publish(("127.0.0.1", broker.port), chlorine_messages(service.prefix, time.time() - 60))

        async def every_channel_failed() -> bool:
            return {"/userinfo", "/robot/send", "/sms"} <= set(hits) and any("webhooks" in p for p in hits)

        await eventually(every_channel_failed, timeout=60)
        base = f"http://127.0.0.1:{service.http_port}"
        async with aiohttp.ClientSession() as session:
            for name, method, path, data in (
                ("metrics", "GET", "/metrics", None),
                ("healthz", "GET", "/healthz", None),
                ("notifications", "GET", "/api/notifications", None),
                ("404", "GET", "/api/alarms/999999", None),
                ("400", "GET", "/api/alarms?limit=many", None),
                ("401", "POST", "/api/alarms/1/acknowledge", b"{}"),
            ):
                async with session.request(method, base + path, data=data) as response:
                    bodies[name] = f"{response.status} {await response.text()}"
        assert service.terminate() == 0, service.logs()[-3000:]
    finally:
        if service.process is not None and service.process.poll() is None:
            service.kill()
        broker.stop()
        if receiver.runner is not None:
            await receiver.runner.cleanup()
    bodies["log"] = service.logs()
    assert "hazwatch_" in bodies["metrics"]
    assert [bodies[code][:3] for code in ("404", "400", "401")] == ["404", "400", "401"], bodies
    found = {(where, secret) for where, text in bodies.items() for secret, value in SECRETS.items() if value in text}
    assert found == set(), found
