"""Config of the senders that reach a person: SMS and voice providers, WeCom/DingTalk work notifications.

Keys and secrets are never in the file: every ``*_env`` field names the environment variable that holds one.
Template fields (``{{text}}``, ``{{link}}``, ``{{code}}``, ...) are listed in ``daemon.notify.channels.page_text``.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from rules.strict import StrictModel


class AliyunSmsConfig(StrictModel):
    """Alibaba Cloud SMS (Dysmsapi 2017-05-25, SendSms, RPC signature v1)."""

    endpoint: str = Field("https://dysmsapi.aliyuncs.com/", description="API endpoint (a local server in tests).")
    region_id: str = Field("cn-hangzhou", description="RegionId parameter.")
    access_key_id_env: str = Field(description="Environment variable holding the AccessKey ID.")
    access_key_secret_env: str = Field(description="Environment variable holding the AccessKey secret.")
    sign_name: str = Field(description="Approved SMS signature (签名), e.g. 某市环境应急.")
    template_code: str = Field(description="Approved template code, e.g. SMS_123456789.")
    template_params: dict[str, str] = Field(
        default_factory=lambda: {"text": "{{text}}"},
        description="Template variable -> value template over the page fields, sent as TemplateParam JSON.",
    )


class TencentCredentials(StrictModel):
    """Where Tencent Cloud API 3.0 keys come from, and the region."""

    secret_id_env: str = Field(description="Environment variable holding the SecretId.")
    secret_key_env: str = Field(description="Environment variable holding the SecretKey.")
    region: str = Field("ap-guangzhou", description="X-TC-Region.")


class TencentSmsConfig(TencentCredentials):
    """Tencent Cloud SMS (sms 2021-01-11, SendSms, TC3-HMAC-SHA256)."""

    endpoint: str = Field("https://sms.tencentcloudapi.com/", description="API endpoint (a local server in tests).")
    sms_sdk_app_id: str = Field(description="SmsSdkAppId of the SMS application.")
    sign_name: str = Field(description="Approved SMS signature (签名).")
    template_id: str = Field(description="Approved template id.")
    template_params: list[str] = Field(
        default_factory=lambda: ["{{text}}"], description="TemplateParamSet, in order, as templates over page fields."
    )


class TencentVoiceConfig(TencentCredentials):
    """Tencent Cloud voice messages (vms 2020-09-02, SendTtsVoice, TC3-HMAC-SHA256)."""

    endpoint: str = Field("https://vms.tencentcloudapi.com/", description="API endpoint (a local server in tests).")
    voice_sdk_app_id: str = Field(description="VoiceSdkAppid of the voice application.")
    template_id: str = Field(description="Approved text-to-speech template id.")
    template_params: list[str] = Field(
        default_factory=lambda: ["{{voice}}"], description="TemplateParamSet, in order (at most 350 characters)."
    )
    play_times: int = Field(2, ge=1, le=3, description="How often the text is read (the API allows 1 to 3).")


class AliyunVoiceConfig(StrictModel):
    """Alibaba Cloud voice messages (Dyvmsapi 2017-05-25, SingleCallByTts, RPC signature v1)."""

    endpoint: str = Field("https://dyvmsapi.aliyuncs.com/", description="API endpoint (a local server in tests).")
    region_id: str = Field("cn-hangzhou", description="RegionId parameter.")
    access_key_id_env: str = Field(description="Environment variable holding the AccessKey ID.")
    access_key_secret_env: str = Field(description="Environment variable holding the AccessKey secret.")
    called_show_number: str | None = Field(
        None,
        description="CalledShowNumber: the number or service instance the call shows (dedicated mode); none: the "
        "public number pool (public mode). The TTS template must be of the same mode.",
    )
    tts_code: str = Field(description="TtsCode: the approved text-to-speech template id, e.g. TTS_100000001.")
    tts_params: dict[str, str] = Field(
        default_factory=lambda: {"text": "{{voice}}"},
        description="Template variable -> value template over the page fields, sent as TtsParam JSON (all values "
        "together under 250 characters, no links).",
    )
    play_times: int = Field(2, ge=1, le=3, description="PlayTimes: how often the text is read (1 to 3).")
    volume: int = Field(100, ge=0, le=100, description="Volume (0 to 100).")
    speed: int = Field(0, ge=-500, le=500, description="Speed of the speech (-500 to 500).")


class HttpTemplateConfig(StrictModel):
    """A generic HTTP request: an on-premises SMS gateway, a GSM modem server or a call server."""

    url: str = Field(
        description="URL template; `${VAR}` placeholders come from the environment, `{{field}}` from the page."
    )
    method: Literal["POST", "PUT", "GET"] = Field("POST", description="HTTP method.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Header templates (`${VAR}` for tokens, never a literal secret)."
    )
    body: str = Field("", description="Body template; values are escaped by `body_encoding`.")
    body_encoding: Literal["json", "form", "raw"] = Field(
        "json", description="How page fields are escaped in the body."
    )
    success_status: list[int] = Field(default_factory=lambda: [200], description="HTTP statuses that may mean success.")
    success_json_path: str | None = Field(
        None, description="Dotted path into the JSON answer (e.g. `result.code`) that must equal `success_value`."
    )
    success_value: str | None = Field(None, description="Expected value at `success_json_path`, compared as text.")
    permanent_values: list[str] = Field(
        default_factory=list,
        description="Values at `success_json_path` meaning this number can never be reached (no retry here).",
    )

    @model_validator(mode="after")
    def _path_and_value(self) -> Self:
        if (self.success_json_path is None) != (self.success_value is None):
            raise ValueError("success_json_path and success_value go together")
        return self


class WecomAppConfig(StrictModel):
    """WeCom (企业微信) application messages to a person by user id (message/send with an access token)."""

    api_base: str = Field("https://qyapi.weixin.qq.com", description="API base URL.")
    corp_id: str = Field(description="Corp id (企业ID).")
    corp_secret_env: str = Field(description="Environment variable holding the application's secret.")
    agent_id: int = Field(description="Application AgentId.")


class DingtalkAppConfig(StrictModel):
    """DingTalk (钉钉) work notification to a person by user id (asyncsend_v2 with an access token)."""

    api_base: str = Field("https://oapi.dingtalk.com", description="API base URL.")
    app_key: str = Field(description="AppKey of the internal application.")
    app_secret_env: str = Field(description="Environment variable holding the AppSecret.")
    agent_id: int = Field(description="AgentId of the application.")


class ProvidersConfig(StrictModel):
    """Which sender delivers the person channels `sms`, `phone`, `wecom_user` and `dingtalk_user`."""

    sms: Literal["aliyun", "tencent", "http"] | None = Field(
        None, description="SMS sender; none: SMS is undeliverable."
    )
    voice: Literal["aliyun", "tencent", "http"] | None = Field(
        None, description="Voice-call sender; none: calls are undeliverable."
    )
    aliyun_sms: AliyunSmsConfig | None = None
    tencent_sms: TencentSmsConfig | None = None
    http_sms: HttpTemplateConfig | None = None
    aliyun_voice: AliyunVoiceConfig | None = None
    tencent_voice: TencentVoiceConfig | None = None
    http_voice: HttpTemplateConfig | None = None
    wecom_app: WecomAppConfig | None = None
    dingtalk_app: DingtalkAppConfig | None = None

    @model_validator(mode="after")
    def _chosen_sender_is_configured(self) -> Self:
        if self.sms is not None and getattr(self, f"{self.sms}_sms") is None:
            raise ValueError(f"providers.sms is {self.sms!r} but providers.{self.sms}_sms is missing")
        if self.voice is not None and getattr(self, f"{self.voice}_voice") is None:
            raise ValueError(f"providers.voice is {self.voice!r} but providers.{self.voice}_voice is missing")
        return self

    def secret_variables(self) -> list[str]:
        """Every environment variable a configured sender reads (for check-config)."""
        names: list[str] = []
        sections = (
            self.aliyun_sms,
            self.tencent_sms,
            self.aliyun_voice,
            self.tencent_voice,
            self.wecom_app,
            self.dingtalk_app,
        )
        for section in sections:
            if section is None:
                continue
            names += [str(v) for k, v in section.model_dump().items() if k.endswith("_env")]
        return names
