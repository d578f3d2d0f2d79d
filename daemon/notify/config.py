"""Config models for notifications: the people to reach, their channels, direct alarm routes, delivery tuning.

Secrets (HMAC keys, robot signing secrets, SMTP passwords) are never in the file: a field names the environment
variable that holds them. URLs and addresses may contain ``${VAR}`` placeholders resolved from the environment.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import AliasChoices, Field, model_validator

from daemon.notify.provider_config import ProvidersConfig
from rules.model import Priority
from rules.strict import StrictModel

Language = Literal["zh", "en"]


def channel_destination(channel_type: str) -> str:
    """Which field a channel type's destination is in (``url``, ``address`` or ``none``); raises for unknown types."""
    # Imported here: the registry builds senders from this config, so it cannot be imported at module level.
    from daemon.notify.channels.registry import CHANNEL_KINDS  # noqa: PLC0415

    if channel_type not in CHANNEL_KINDS:
        raise ValueError(f"unknown channel type {channel_type!r}; known: {', '.join(sorted(CHANNEL_KINDS))}")
    return CHANNEL_KINDS[channel_type].destination


class ChannelTarget(StrictModel):
    """One place to deliver to: a webhook URL, an Alertmanager, an e-mail address or a group robot."""

    type: str = Field(description="Channel type (daemon.notify.channels.registry lists them).")
    url: str | None = Field(
        None,
        description="Endpoint for webhook / wecom / dingtalk (the robot's full webhook URL) and the Alertmanager "
        "base URL (`http://host:9093`); `${VAR}` placeholders are read from the environment.",
    )
    address: str | None = Field(
        None,
        description="E-mail address, mobile number (sms/phone) or user id (wecom_user/dingtalk_user); "
        "`${VAR}` placeholders allowed.",
    )
    secret_env: str | None = Field(
        None,
        description="Environment variable holding the webhook HMAC-SHA256 key or the DingTalk signing secret.",
    )
    idempotent: bool = Field(
        False,
        description="The receiver drops a repeated `Idempotency-Key` (like PagerDuty's `dedup_key`): a page whose "
        "sending was cut by a crash is sent again; otherwise it is marked `outcome_unknown` for the operator.",
    )

    def key(self) -> tuple[str, str]:
        """What identifies the destination: the type and the URL or address, as configured."""
        return self.type, self.url or self.address or ""

    @model_validator(mode="after")
    def _has_destination(self) -> Self:
        destination = channel_destination(self.type)
        if destination == "url" and not self.url:
            raise ValueError(f"a {self.type} target needs `url`")
        if destination == "address" and not self.address:
            raise ValueError(f"a {self.type} target needs `address`")
        return self


class SystemTarget(StrictModel):
    """A system alarm routes notify (a webhook, an Alertmanager, a group robot, an e-mail list): every channel at once.

    People are not listed here: the duty roster is the one list of people, and the plan pages them down their
    channel chains.
    """

    name: str = Field(description="Unique name; routes refer to it.", min_length=1, max_length=100)
    language: Language = Field("zh", description="Language of the messages this target gets.")
    channels: list[ChannelTarget] = Field(min_length=1, description="Where to deliver; every channel gets a copy.")


class AlarmRoute(StrictModel):
    """Direct alarm route (until the plan engine pages by role): matching alarms notify these recipients."""

    name: str = Field(description="Route name, for logs.")
    min_priority: Priority = Field(Priority.LOW, description="Lowest alarm priority that matches.")
    kinds: list[str] = Field(default_factory=list, description="Sensor kinds that match; empty matches all.")
    zones: list[str] = Field(default_factory=list, description="Zone ids that match; empty matches all.")
    recipients: list[str] = Field(min_length=1, description="Target names from `notify.targets`.")
    drill: bool = Field(
        False, description="A drill route: receives only drill notifications (live ones never go to drill routes)."
    )
    send_resolved: bool = Field(True, description="Also notify when the alarm returns to normal.")


class SmtpConfig(StrictModel):
    """The SMTP relay for the email channel."""

    host: str = Field("127.0.0.1", description="SMTP server host.")
    port: int = Field(25, ge=1, le=65535, description="SMTP server port.")
    sender: str = Field("hazwatch@localhost", description="From address.")
    username: str | None = Field(None, description="Login user, if the relay needs one.")
    password_env: str | None = Field(None, description="Environment variable holding the SMTP password.")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS.")
    timeout_s: float = Field(10.0, gt=0, description="Connect and command timeout.")


class NotifyConfig(StrictModel):
    """Notification delivery: system targets and their routes, channel providers and retry policy."""

    enabled: bool = Field(True, description="Run the delivery worker.")
    console_url: str = Field("http://127.0.0.1:8080/", description="Link to the duty console put in every message.")
    utc_offset_h: float = Field(8.0, description="Offset of the local time shown in messages (China: +8).")
    targets: list[SystemTarget] = Field(
        default_factory=list,
        # `people` is the name this list had before the roster became the one list of people; old files still load.
        validation_alias=AliasChoices("targets", "people"),
        description="Systems the alarm routes notify (older files call this list `people`).",
    )
    routes: list[AlarmRoute] = Field(default_factory=list, description="Direct alarm routes.")
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    storm_window_s: float = Field(
        30.0,
        ge=0,
        description="Pages to one person and channel within this window go out as one message (0: never grouped); "
        "the first page of a red tier in a window always goes out at once.",
    )
    ack_link_key_env: str = Field(
        "HAZWATCH_ACK_LINK_KEY", description="Environment variable holding the key that signs acknowledgement links."
    )
    inbound_sms_secret_env: str | None = Field(
        None, description="Environment variable holding the HMAC key the inbound-SMS callback checks; none: off."
    )
    providers: ProvidersConfig = Field(
        default_factory=ProvidersConfig, description="SMS, voice and work-notification senders for people."
    )
    poll_interval_s: float = Field(1.0, gt=0, description="How often the worker looks for due rows when not woken.")
    batch_size: int = Field(50, ge=1, le=1000, description="Rows delivered concurrently per pass.")
    request_timeout_s: float = Field(10.0, gt=0, description="Time limit of one delivery attempt.")
    retry_initial_s: float = Field(1.0, gt=0, description="First retry back-off.")
    retry_max_s: float = Field(300.0, gt=0, description="Back-off cap: a recovered channel is retried within this.")
    retry_factor: float = Field(2.0, ge=1.0, description="Back-off growth per failed attempt.")
    give_up_after_s: float = Field(
        7 * 86400.0, gt=0, description="A row still undelivered this long after creation is marked given_up."
    )
    channel_failing_alarm_s: float = Field(
        300.0, gt=0, description="A channel failing this long raises a `notify.channel_failing` alarm."
    )
    memory_delivery_after_s: float = Field(
        2.0,
        gt=0,
        description="An urgent page whose outbox row is not committed this long after it was queued (the database "
        "is down or slow) is sent from memory; its outcome is stored once the database takes the row.",
    )
    memory_delivery_tiers: list[str] = Field(
        default_factory=lambda: ["orange", "red"],
        description="Warning tiers sent from memory during a database outage (empty: pages wait for the database).",
    )
    alertmanager_resend_s: float = Field(
        60.0, gt=0, description="Firing alerts are re-sent to Alertmanager this often (keep below its resolve_timeout)."
    )

    @model_validator(mode="after")
    def _routes_name_people(self) -> Self:
        names = [target.name for target in self.targets]
        if len(set(names)) != len(names):
            raise ValueError("notify.targets names must be unique")
        for route in self.routes:
            unknown = sorted(set(route.recipients) - set(names))
            if unknown:
                raise ValueError(f"route {route.name!r} names unknown recipients {unknown}")
        shared = sorted(self.drill_targets() & self.live_route_targets())
        if shared:
            # The delivery worker refuses a live page to a drill target and a drill page to anything else, so a
            # destination on both kinds of route would lose live pages, or drills would reach a live destination.
            raise ValueError(
                "a destination is on a drill route and on a live route; give drills their own: "
                + ", ".join(f"{kind} {where}" for kind, where in shared)
            )
        return self

    def drill_routes(self) -> list[AlarmRoute]:
        """The routes drills notify."""
        return [route for route in self.routes if route.drill]

    def drill_targets(self) -> frozenset[tuple[str, str]]:
        """Every destination of a drill route's recipients (``ChannelTarget.key``)."""
        return self._targets(drill=True)

    def live_route_targets(self) -> frozenset[tuple[str, str]]:
        """Every destination of a live route's recipients."""
        return self._targets(drill=False)

    def _targets(self, *, drill: bool) -> frozenset[tuple[str, str]]:
        names = {name for route in self.routes if route.drill == drill for name in route.recipients}
        return frozenset(channel.key() for name in names for channel in self.target(name).channels)

    def target(self, name: str) -> SystemTarget:
        """A system target by name."""
        return next(target for target in self.targets if target.name == name)
