"""Each person channel against a local provider that checks the request as documented and answers like the provider."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from daemon.notify.channels.base import Channel, Delivery, DeliveryError, HttpPoster
from daemon.notify.channels.registry import CHANNEL_KINDS, SenderContext, build_senders, undeliverable_reason
from daemon.notify.config import ChannelTarget, NotifyConfig
from daemon.notify.provider_config import ProvidersConfig
from tests.notify.notify_support import sample_facts
from tests.notify.providers import fake_providers as fake
from tests.notify.providers.fake_providers import (
    BROKE_NUMBER,
    INVALID_NUMBER,
    OK_NUMBER,
    SLOW_NUMBER,
    THROTTLED_NUMBER,
    Seen,
)

ENVIRON = {
    "ALIYUN_ID": "LTAI-test-id",
    "ALIYUN_SECRET": "aliyun-secret",
    "TC_ID": "AKID-test",
    "TC_KEY": "tencent-key",
    "GATEWAY_TOKEN": "gw-token",
    "WECOM_SECRET": "wecom-secret",
    "DING_SECRET": "ding-secret",
}
NOW = 1_700_000_100.0
GATEWAY_AUTH = {"Authorization": "Bearer ${GATEWAY_TOKEN}"}


def delivery(channel: str, to: str, **extra: Any) -> Delivery:
    """A page of the sample chlorine alarm to ``to`` over ``channel``, with an ack link and reply code."""
    extra = {"ack_url": "http://127.0.0.1:8080/a/Xy12", "ack_code": "4711", **extra}
    return Delivery(9, "page:9/zhang-wei/0", "opened", "zhang-wei", "zh", ChannelTarget(type=channel, address=to),
                    sample_facts(), extra, NOW)  # fmt: skip


@pytest.fixture
async def poster() -> AsyncIterator[HttpPoster]:
    """A shared session; generous, so a loaded machine does not turn a provider's answer into a time-out."""
    shared = HttpPoster(5.0)
    yield shared
    await shared.close()


@pytest.fixture
async def servers() -> AsyncIterator[dict[str, tuple[str, Seen]]]:
    """Every fake provider, by name: (base URL, what it saw)."""
    made: dict[str, tuple[str, Seen]] = {}
    runners: list[web.AppRunner] = []
    apps: dict[str, Callable[[Seen], web.Application]] = {
        "aliyun": lambda seen: fake.aliyun_sms("LTAI-test-id", "aliyun-secret", seen),
        "aliyun_vms": lambda seen: fake.aliyun_vms("LTAI-test-id", "aliyun-secret", seen),
        "tencent_sms": lambda seen: fake.tencent("AKID-test", "tencent-key", "SendSms", "2021-01-11", seen),
        "tencent_vms": lambda seen: fake.tencent("AKID-test", "tencent-key", "SendTtsVoice", "2020-09-02", seen),
        "gateway": lambda seen: fake.sms_gateway("gw-token", seen),
        "wecom": lambda seen: fake.work_notice("wecom", "corp-1", "wecom-secret", seen),
        "dingtalk": lambda seen: fake.work_notice("dingtalk", "ding-key", "ding-secret", seen),
    }
    for name, build in apps.items():
        seen = Seen()
        runner, url = await fake.serve(build(seen))
        runners.append(runner)
        made[name] = (url, seen)
    yield made
    for runner in runners:
        await runner.cleanup()


def providers(servers: dict[str, tuple[str, Seen]], sms: str, voice: str = "tencent") -> ProvidersConfig:
    """A providers section pointing every sender at its fake."""
    return ProvidersConfig.model_validate(
        {
            "sms": sms,
            "voice": voice,
            "aliyun_sms": {"endpoint": servers["aliyun"][0] + "/", "access_key_id_env": "ALIYUN_ID",
                           "access_key_secret_env": "ALIYUN_SECRET", "sign_name": "某市环境应急",
                           "template_code": "SMS_100001", "template_params": {"msg": "{{text}}"}},
            "tencent_sms": {"endpoint": servers["tencent_sms"][0] + "/", "secret_id_env": "TC_ID",
                            "secret_key_env": "TC_KEY", "sms_sdk_app_id": "1400000001", "sign_name": "某市环境应急",
                            "template_id": "2000001", "template_params": ["{{tier}}", "{{site}}", "{{code}}"]},
            "aliyun_voice": {"endpoint": servers["aliyun_vms"][0] + "/", "access_key_id_env": "ALIYUN_ID",
                             "access_key_secret_env": "ALIYUN_SECRET", "tts_code": "TTS_100000001",
                             "called_show_number": "057100000000"},
            "tencent_voice": {"endpoint": servers["tencent_vms"][0] + "/", "secret_id_env": "TC_ID",
                              "secret_key_env": "TC_KEY", "voice_sdk_app_id": "1400000002", "template_id": "3000001"},
            "http_sms": {"url": servers["gateway"][0] + "/send", "headers": GATEWAY_AUTH,
                         "body": '{"to": "{{to}}", "text": "{{text}}"}', "success_json_path": "result.code",
                         "success_value": "0", "permanent_values": ["2"]},
            "http_voice": {"url": servers["gateway"][0] + "/send", "headers": GATEWAY_AUTH,
                           "body": '{"to": "{{to}}", "text": "{{voice}}"}', "success_json_path": "result.code",
                           "success_value": "0"},
            "wecom_app": {"api_base": servers["wecom"][0], "corp_id": "corp-1", "corp_secret_env": "WECOM_SECRET",
                          "agent_id": 1000002},
            "dingtalk_app": {"api_base": servers["dingtalk"][0], "app_key": "ding-key",
                             "app_secret_env": "DING_SECRET", "agent_id": 2000003},
        }
    )  # fmt: skip


def senders(
    poster: HttpPoster, servers: dict[str, tuple[str, Seen]], sms: str, voice: str = "tencent"
) -> dict[str, Channel]:
    """The registry's senders for this providers section."""
    config = NotifyConfig(providers=providers(servers, sms, voice))
    return build_senders(SenderContext(poster, ENVIRON, config))


@pytest.mark.parametrize(("sms", "server"), [("aliyun", "aliyun"), ("tencent", "tencent_sms"), ("http", "gateway")])
async def test_sms_provider_accepts_a_correctly_signed_page_and_reports_its_errors(
    poster: HttpPoster, servers: dict[str, tuple[str, Seen]], sms: str, server: str
) -> None:
    channel = senders(poster, servers, sms)["sms"]
    await channel.send(delivery("sms", OK_NUMBER))
    seen = servers[server][1]
    assert len(seen.accepted) == 1
    assert seen.rejected_signatures == 0
    sent = json.dumps(seen.accepted[0], ensure_ascii=False)
    assert "4711" in sent  # the reply code travels in the text or template parameters
    with pytest.raises(DeliveryError) as throttled:
        await channel.send(delivery("sms", THROTTLED_NUMBER))
    assert not throttled.value.permanent  # throttling passes: retry later on the same channel
    with pytest.raises(DeliveryError) as invalid:
        await channel.send(delivery("sms", INVALID_NUMBER))
    assert invalid.value.permanent  # a wrong number stays wrong: go to the next channel now
    if sms != "http":
        with pytest.raises(DeliveryError, match=r"(?i)amount|balance") as broke:
            await channel.send(delivery("sms", BROKE_NUMBER))
        assert broke.value.permanent
    impatient = HttpPoster(0.3)  # the silent provider times this sender out quickly
    try:
        with pytest.raises(DeliveryError, match="TimeoutError") as slow:
            await senders(impatient, servers, sms)["sms"].send(delivery("sms", SLOW_NUMBER))
    finally:
        await impatient.close()
    assert not slow.value.permanent


async def test_aliyun_sends_the_documented_parameters(poster: HttpPoster, servers: dict[str, tuple[str, Seen]]) -> None:
    await senders(poster, servers, "aliyun")["sms"].send(delivery("sms", OK_NUMBER))
    form = servers["aliyun"][1].accepted[0]
    assert form["SignName"] == "某市环境应急"
    assert form["TemplateCode"] == "SMS_100001"
    assert form["Timestamp"] == "2023-11-14T22:15:00Z"  # the attempt's time, in UTC
    text = json.loads(form["TemplateParam"])["msg"]
    assert text.startswith("【橙色预警】Demo chemical park")
    assert "http://127.0.0.1:8080/a/Xy12" in text


async def test_tencent_sms_sends_e164_numbers_and_template_parameters(
    poster: HttpPoster, servers: dict[str, tuple[str, Seen]]
) -> None:
    await senders(poster, servers, "tencent")["sms"].send(delivery("sms", OK_NUMBER))
    document = servers["tencent_sms"][1].accepted[0]
    assert document["PhoneNumberSet"] == ["+8613800000000"]
    assert document["SmsSdkAppId"] == "1400000001"
    assert document["TemplateParamSet"] == ["橙色", "Demo chemical park", "4711"]


async def test_a_wrong_key_is_refused_by_the_provider_and_is_permanent(
    poster: HttpPoster, servers: dict[str, tuple[str, Seen]]
) -> None:
    config = NotifyConfig(providers=providers(servers, "tencent"))
    wrong = build_senders(SenderContext(poster, {**ENVIRON, "TC_KEY": "wrong", "ALIYUN_SECRET": "wrong"}, config))
    with pytest.raises(DeliveryError, match="AuthFailure") as refused:
        await wrong["sms"].send(delivery("sms", OK_NUMBER))
    assert refused.value.permanent
    assert servers["tencent_sms"][1].rejected_signatures == 1


async def test_a_missing_secret_fails_at_once_naming_the_variable(
    poster: HttpPoster, servers: dict[str, tuple[str, Seen]]
) -> None:
    config = NotifyConfig(providers=providers(servers, "aliyun"))
    channel = build_senders(SenderContext(poster, {}, config))["sms"]
    with pytest.raises(DeliveryError, match=r"ALIYUN_(ID|SECRET) is not set") as missing:
        await channel.send(delivery("sms", OK_NUMBER))
    assert missing.value.permanent


@pytest.mark.parametrize(
    ("voice", "server"), [("aliyun", "aliyun_vms"), ("tencent", "tencent_vms"), ("http", "gateway")]
)
async def test_voice_call_reads_a_short_text_that_says_how_to_acknowledge(
    poster: HttpPoster, servers: dict[str, tuple[str, Seen]], voice: str, server: str
) -> None:
    channel = senders(poster, servers, "aliyun", voice)["phone"]
    await channel.send(delivery("phone", OK_NUMBER))
    document = servers[server][1].accepted[0]
    assert servers[server][1].rejected_signatures == 0
    text = {
        "aliyun": lambda: json.loads(document["TtsParam"])["text"],
        "tencent": lambda: document["TemplateParamSet"][0],
        "http": lambda: document["text"],
    }[voice]()
    assert "橙色预警" in text
    assert "4711" in text  # the reply code is read out
    assert len(text) <= 350
    if voice == "aliyun":
        assert document["CalledNumber"] == OK_NUMBER  # mainland numbers go without the country code
        assert document["CalledShowNumber"] == "057100000000"
        assert document["TtsCode"] == "TTS_100000001"
        assert document["PlayTimes"] == "2"
        assert document["OutId"] == "9"
    if voice == "tencent":
        assert document["CalledNumber"] == "+8613800000000"
        assert document["PlayTimes"] == 2
    if voice != "http":
        for number, permanent in ((THROTTLED_NUMBER, False), (INVALID_NUMBER, True), (BROKE_NUMBER, True)):
            with pytest.raises(DeliveryError) as error:
                await channel.send(delivery("phone", number))
            assert error.value.permanent == permanent, number


@pytest.mark.parametrize(("voice", "limit"), [("aliyun", 249), ("tencent", 350)])
async def test_a_long_voice_text_is_cut_in_the_middle_and_still_reads_the_reply_code(
    poster: HttpPoster, servers: dict[str, tuple[str, Seen]], voice: str, limit: int
) -> None:
    """SingleCallByTts refuses variables of 250 characters or more, SendTtsVoice takes at most 350: a long summary is
    cut in the middle, so the end of the text (how to acknowledge, with the reply code) is still read out."""
    channel = senders(poster, servers, "aliyun", voice)["phone"]
    long = delivery("phone", OK_NUMBER)
    long = dataclasses.replace(long, facts=dataclasses.replace(long.facts, summary="氯气浓度持续上升" * 60))
    await channel.send(long)
    if voice == "aliyun":
        text = json.loads(servers["aliyun_vms"][1].accepted[0]["TtsParam"])["text"]
    else:
        text = servers["tencent_vms"][1].accepted[0]["TemplateParamSet"][0]
    assert len(text) <= limit
    assert text.endswith("回复短信 4711。")


async def test_aliyun_voice_with_a_wrong_secret_is_refused_and_permanent(
    poster: HttpPoster, servers: dict[str, tuple[str, Seen]]
) -> None:
    config = NotifyConfig(providers=providers(servers, "aliyun", "aliyun"))
    wrong = build_senders(SenderContext(poster, {**ENVIRON, "ALIYUN_SECRET": "wrong"}, config))
    with pytest.raises(DeliveryError, match="SignatureDoesNotMatch") as refused:
        await wrong["phone"].send(delivery("phone", OK_NUMBER))
    assert refused.value.permanent
    assert servers["aliyun_vms"][1].rejected_signatures == 1
    assert servers["aliyun_vms"][1].accepted == []


@pytest.mark.parametrize("flavour", ["wecom", "dingtalk"])
async def test_work_notice_reaches_the_user_and_renews_an_expired_token(
    poster: HttpPoster, servers: dict[str, tuple[str, Seen]], flavour: str
) -> None:
    channel = senders(poster, servers, "aliyun")[f"{flavour}_user"]
    await channel.send(delivery(f"{flavour}_user", "zhangwei"))
    await channel.send(delivery(f"{flavour}_user", "zhangwei"))  # the first token was revoked meanwhile
    accepted = servers[flavour][1].accepted
    assert len(accepted) == 2
    if flavour == "wecom":
        assert accepted[0]["touser"] == "zhangwei"
        assert accepted[0]["agentid"] == 1000002
        assert "4711" in accepted[0]["text"]["content"]
    else:
        assert accepted[0]["userid_list"] == "zhangwei"
        assert accepted[0]["agent_id"] == 2000003
        assert "4711" in accepted[0]["msg"]["text"]["content"]
    with pytest.raises(DeliveryError):
        await channel.send(delivery(f"{flavour}_user", "nobody"))


def test_every_channel_type_is_in_the_one_registry_and_unconfigured_ones_say_why() -> None:
    assert {"sms", "phone", "wecom_user", "dingtalk_user", "webhook", "email", "console"} <= set(CHANNEL_KINDS)
    none: dict[str, Channel] = {}
    assert undeliverable_reason("sms", none) == "no SMS sender configured (notify.providers.sms)"
    assert undeliverable_reason("phone", none) == "no voice-call sender configured (notify.providers.voice)"
    assert undeliverable_reason("wecom_user", none) == "no wecom_user sender configured (notify.providers.wecom_app)"
    assert undeliverable_reason("console", none) is None
    assert undeliverable_reason("pager", none) == "unknown channel type 'pager'"
    with pytest.raises(ValueError, match="unknown channel type 'pager'"):
        ChannelTarget(type="pager", address="x")
    with pytest.raises(ValueError, match=r"providers\.tencent_sms is missing"):
        ProvidersConfig(sms="tencent")
