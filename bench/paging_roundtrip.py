"""A duty officer's page through a cloud SMS/voice provider and back: alarm -> provider request -> reply -> ack.

The full service (private Mosquitto, SQLite, the shipped roster and plan) with ``notify.providers`` pointing at a
local fake of Alibaba Cloud (Dyvmsapi SingleCallByTts + Dysmsapi SendSms) or Tencent Cloud (vms SendTtsVoice + sms
SendSms): real aiohttp servers that check every request's signature with their own code written from the providers'
signature documents (``tests/notify/providers/fake_providers.py``), so the service's real signing code runs on every
page. Each round:

1. publishes one chlorine reading over the high-high level (the clock starts at the publish);
2. waits for the provider's request: the shipped roster pages the duty officer's phone first, so it is the
   text-to-speech call, whose text carries the page's reply code (``alarm -> provider request``);
3. pushes the officer's reply SMS to the service's inbound callback in the provider's documented form (Alibaba
   SmsUp batch push / Tencent SMS reply callback) and times it until the service answers with the acknowledged
   page (the acknowledgement is committed before the answer) (``reply -> acknowledged``);
Each round is a fresh service on its own database (same broker and fakes): a new incident and a new page every
time, where one service would group the rounds into one incident (and its storm rule into one message). The
first page of a service also opens its HTTP connection to the provider, so the figure includes a TCP connect.

    python bench/paging_roundtrip.py [--provider aliyun|tencent] [--rounds 20] [--rate 1000]

``--rate`` runs the same background load as ``bench/latency.py`` (normal gamma readings, separate process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import numpy as np
from latency_stages import StageProbe, commit_hook, installed
from private_broker import start_mosquitto
from sqlalchemy import func, select

# The fake providers live with the tests that check the channels against them; the bench runs the same code.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from daemon.config import DEFAULT_SITE, ServiceConfig
from daemon.notify.channels.aliyun_voice import AliyunVoiceChannel
from daemon.notify.channels.tencent_voice import TencentVoiceChannel
from daemon.notify.config import NotifyConfig
from daemon.service import Service
from daemon.site_file import load_site
from daemon.store.schema import notifications
from tests.notify.providers import fake_providers as fake

KEY_ID, SECRET = "LTAI-bench-id", "bench-secret"
INBOUND = "bench-inbound-secret"
PEOPLE = ("ZHANG_WEI", "LI_NA", "WANG_QIANG", "CHEN_JING", "LIU_YANG", "ZHAO_MIN")
REPLY_CODE = re.compile(r"(?:回复短信|reply) (\d+)")


class Stamped(list[Any]):
    """A provider's accepted-request list that stamps each arrival (``perf_counter``)."""

    def __init__(self, probe: StageProbe | None = None) -> None:
        super().__init__()
        self.arrivals: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()
        self.probe = probe

    def append(self, item: Any) -> None:
        """Keep the request and when it arrived."""
        self.arrivals.put_nowait((time.perf_counter(), item))
        if self.probe is not None:
            self.probe.finish()
        super().append(item)


def environment() -> dict[str, str]:
    """Secrets and roster addresses as the service would read them from its environment."""
    environ = {
        "HAZWATCH_ACK_LINK_KEY": "bench-link-key-0123456789abcdef",
        "HAZWATCH_INBOUND_SMS": INBOUND,
        "PROVIDER_KEY_ID": KEY_ID,
        "PROVIDER_SECRET": SECRET,
    }
    for index, person in enumerate(PEOPLE):
        environ[f"HAZWATCH_PHONE_{person}"] = f"1390000{index:04d}"
        environ[f"HAZWATCH_WECOM_USER_{person}"] = person.lower()
        environ[f"HAZWATCH_EMAIL_{person}"] = f"{person.lower()}@example.org"
    return environ


def providers(provider: str, urls: dict[str, str]) -> dict[str, Any]:
    """``notify.providers`` for the chosen cloud, pointed at the fakes."""
    if provider == "aliyun":
        keys = {"access_key_id_env": "PROVIDER_KEY_ID", "access_key_secret_env": "PROVIDER_SECRET"}
        return {
            "sms": "aliyun",
            "voice": "aliyun",
            "aliyun_sms": {"endpoint": urls["sms"] + "/", **keys, "sign_name": "某市环境应急",
                           "template_code": "SMS_100001"},
            "aliyun_voice": {"endpoint": urls["voice"] + "/", **keys, "tts_code": "TTS_100000001"},
        }  # fmt: skip
    keys = {"secret_id_env": "PROVIDER_KEY_ID", "secret_key_env": "PROVIDER_SECRET"}
    return {
        "sms": "tencent",
        "voice": "tencent",
        "tencent_sms": {"endpoint": urls["sms"] + "/", **keys, "sms_sdk_app_id": "1400000001",
                        "sign_name": "某市环境应急", "template_id": "2000001"},
        "tencent_voice": {"endpoint": urls["voice"] + "/", **keys, "voice_sdk_app_id": "1400000002",
                          "template_id": "3000001"},
    }  # fmt: skip


def fake_apps(provider: str, probe: StageProbe) -> dict[str, tuple[Any, fake.Seen]]:
    """The provider's SMS and voice APIs, each with the requests it accepted (the call finishes the probe)."""
    sms, voice = fake.Seen(), fake.Seen()
    sms.accepted, voice.accepted = Stamped(), Stamped(probe)
    if provider == "aliyun":
        return {
            "sms": (fake.aliyun_sms(KEY_ID, SECRET, sms), sms),
            "voice": (fake.aliyun_vms(KEY_ID, SECRET, voice), voice),
        }
    return {
        "sms": (fake.tencent(KEY_ID, SECRET, "SendSms", "2021-01-11", sms), sms),
        "voice": (fake.tencent(KEY_ID, SECRET, "SendTtsVoice", "2020-09-02", voice), voice),
    }


def called(provider: str, request: Any) -> tuple[str, str]:
    """The number called and the text read out, from the provider request."""
    if provider == "aliyun":
        return str(request["CalledNumber"]), str(json.loads(request["TtsParam"])["text"])
    return str(request["CalledNumber"]), str(request["TemplateParamSet"][0])


def reply_push(provider: str, number: str, code: str, sent_at: float) -> Any:
    """The provider's push of one reply SMS, in its documented form (``daemon.notify.inbound_sms``)."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sent_at))
    if provider == "aliyun":
        return [{"phone_number": number, "content": code, "send_time": when, "dest_code": "1234",
                 "sequence_id": int(sent_at * 1000), "sign_name": "某市环境应急"}]  # fmt: skip
    national = number.removeprefix("+86")
    return {"mobile": national, "nationcode": "86", "text": code, "sign": "某市环境应急", "time": int(sent_at),
            "extend": ""}  # fmt: skip


async def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--provider", choices=["aliyun", "tencent"], default="aliyun")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=0, help="background load, messages/s (0: none)")
    args = parser.parse_args()
    site = load_site(DEFAULT_SITE)
    chlorine = [d.id for d in site.devices if any(s.name == "cl2" for s in d.sensors)]
    workdir = Path(tempfile.mkdtemp(prefix="hazwatch-paging-"))
    broker, port = start_mosquitto(workdir)
    runners, urls = [], {}
    probe = StageProbe()
    apps = fake_apps(args.provider, probe)
    for name, (app, _) in apps.items():
        runner, url = await fake.serve(app)
        runners.append(runner)
        urls[name] = url
    voice_calls = apps["voice"][1].accepted
    assert isinstance(voice_calls, Stamped)
    patches = contextlib.ExitStack()
    patches.enter_context(installed(probe, AliyunVoiceChannel if args.provider == "aliyun" else TencentVoiceChannel))
    load = None
    if args.rate:
        load = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).parent / "latency.py"), "--load-only", str(port), "--rate",
            str(args.rate), "--seconds", str(30 + args.rounds * 15), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert load.stdout is not None
        await asyncio.wait_for(load.stdout.readline(), 30)
    to_provider: list[float] = []
    to_ack: list[float] = []
    acknowledged = missed = 0
    cpu_used = 0.0
    try:
        async with aiohttp.ClientSession() as http:
            for round_number in range(args.rounds):
                config = service_config(port, workdir / f"round-{round_number}.db", args.provider, urls, round_number)
                service = Service(config, site, environ=environment())
                await service.start()
                try:
                    service.writer.after_commit.insert(0, commit_hook(probe))
                    await asyncio.wait_for(service.wait_connected(), 15)
                    await asyncio.sleep(1.0)  # the service settles (and the load, if any, reaches its rate)
                    cpu_started = _cpu_seconds()
                    device = chlorine[round_number % len(chlorine)]
                    timed = await one_round(args.provider, port, site.site, device, service, http, voice_calls, probe)
                    cpu_used += _cpu_seconds() - cpu_started
                    if timed is None:
                        missed += 1
                        continue
                    to_provider.append(timed[0])
                    to_ack.append(timed[1])
                    acknowledged += await _acknowledged_rows(service)
                finally:
                    await service.stop()
    finally:
        if load is not None:
            if load.returncode is None:
                load.send_signal(signal.SIGTERM)
            await load.communicate()
        patches.close()
        for runner in runners:
            await runner.cleanup()
        broker.terminate()
        broker.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"provider: {args.provider} (local fake, signatures checked), background load {args.rate} msg/s")
    print(f"rounds: {len(to_provider)} paged, {missed} missed; {acknowledged} outbox rows acknowledged")
    for name, values in (
        ("publish -> provider request (voice call)", to_provider),
        ("reply push -> acknowledged", to_ack),
    ):
        if values:
            ms = np.array(values) * 1000
            p50, p95, p99 = np.percentile(ms, [50, 95, 99])
            print(f"{name} ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {ms.max():.1f}")
    print("where the time to the provider goes, per stage (see bench/latency_stages.py):")
    for line in probe.report():
        print(f"  {line}")
    print(f"CPU of this process in the rounds: {cpu_used:.2f} s for {args.rounds} rounds (service, fakes, client)")
    print(f"load average (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


def service_config(port: int, database: Path, provider: str, urls: dict[str, str], round_number: int) -> ServiceConfig:
    """The service of one round: its own database (a new incident, a new page), the providers at the fakes."""
    config = ServiceConfig()
    config.mqtt.broker = f"mqtt://127.0.0.1:{port}"
    config.mqtt.topic_prefix = "bench"
    config.mqtt.client_id = f"bench-paging-{port}-{round_number}"
    config.database.url = f"sqlite:///{database}"
    config.http.port = 0
    # The reading's device time is hours old (as bench/latency.py's): the batch window must not widen for late data
    # (ingest.batch_max_delay_late_s), which a live device's fresh readings never cause.
    config.ingest.batch_max_delay_late_s = config.ingest.batch_max_delay_s
    config.notify = NotifyConfig.model_validate(
        {"providers": providers(provider, urls), "inbound_sms_secret_env": "HAZWATCH_INBOUND_SMS"}
    )
    return config


async def one_round(
    provider: str,
    port: int,
    site: str,
    device: str,
    service: Service,
    http: aiohttp.ClientSession,
    voice_calls: Stamped,
    probe: StageProbe,
) -> tuple[float, float] | None:
    """Publish, wait for the call, push the reply: (to the provider, to the acknowledgement) in seconds."""
    topic, t = f"bench/{site}/{device}", time.time() - 4 * 3600
    reading = [{"bn": f"{device}:"}, {"n": "cl2", "v": 2.0, "u": "ppm", "t": t},
               {"n": "cl2", "v": 2.0, "u": "ppm", "t": t + 11}]  # fmt: skip
    while not voice_calls.arrivals.empty():  # calls of the round before
        voice_calls.arrivals.get_nowait()
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-paging-events-{port}") as client:
        probe.arm(topic)
        started = time.perf_counter()
        await client.publish(topic, json.dumps(reading).encode(), qos=1)
        try:
            arrived, request = await asyncio.wait_for(voice_calls.arrivals.get(), 10)
        except TimeoutError:
            print(f"{device}: no provider request in 10 s", flush=True)
            return None
    number, text = called(provider, request)
    code = REPLY_CODE.search(text)
    if code is None:
        raise SystemExit(f"no reply code in the call's text: {text!r}")
    callback = f"http://127.0.0.1:{service.http_port}/sms/inbound/{provider}/{INBOUND}"
    pushed = time.perf_counter()
    async with http.post(callback, json=reply_push(provider, number, code.group(1), time.time())) as answer:
        document = await answer.json()
    if not document.get("acknowledged"):
        raise SystemExit(f"the reply acknowledged nothing: {answer.status} {document}")
    return arrived - started, time.perf_counter() - pushed


async def _acknowledged_rows(service: Service) -> int:
    async with service.engine.connect() as connection:
        query = select(func.count()).where(notifications.c.acknowledged_at.is_not(None))
        return int((await connection.execute(query)).scalar_one())


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    asyncio.run(main())
