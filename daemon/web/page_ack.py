"""The acknowledgement page a page's short link opens, and the inbound-SMS callback that takes reply codes.

``GET /a/{token}`` shows what, where, tier and deadline with two buttons; ``POST /a/{token}`` answers
(``acknowledged`` or ``on_my_way``). ``POST /sms/inbound`` takes ``{"from": ..., "text": ...}`` from an SMS
gateway, signed like outgoing webhooks: ``X-Hazwatch-Signature: sha256=<hex HMAC-SHA256 of the body>``.
``POST /sms/inbound/aliyun/<secret>`` and ``/sms/inbound/tencent/<secret>`` take the cloud providers' own reply
pushes (``daemon.notify.inbound_sms``), which carry no signature: the secret in the URL authenticates them.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.clock import Clock
from daemon.metrics.instruments import Metrics
from daemon.notify.acknowledge import EngineAck, PageLinkError, PageView, acknowledge_code, acknowledge_link, view
from daemon.notify.inbound_sms import PROVIDERS, InboundFormatError, accepted_answer, parse_replies
from daemon.notify.render import TIER_NAME, local_time

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Hazwatch-Signature"
TIER_ZH = TIER_NAME["zh"]


@dataclass(frozen=True, slots=True)
class PageAckContext:
    """What the handlers need: the database, the link key, time, metrics and the engine-side acknowledgement."""

    engine: AsyncEngine
    link_key: bytes
    clock: Clock
    metrics: Metrics
    engine_ack: EngineAck
    inbound_secret: str | None
    utc_offset_h: float = 8.0
    environ: Mapping[str, str] = field(default_factory=dict)  # resolves the roster's ${VAR} numbers


PAGE_ACK: web.AppKey[PageAckContext] = web.AppKey("page_ack", PageAckContext)


def add_page_ack_routes(app: web.Application, context: PageAckContext) -> None:
    """Register the link page and the SMS callback on ``app``."""
    app[PAGE_ACK] = context
    app.router.add_get("/a/{token}", show_page)
    app.router.add_post("/a/{token}", answer_page)
    app.router.add_post("/sms/inbound", inbound_sms)
    app.router.add_post("/sms/inbound/{provider}/{secret}", inbound_provider_sms)


def _html(title: str, body: str, status: int = 200) -> web.Response:
    page = (
        '<!doctype html><html lang="zh"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:1em;font-size:18px}}"
        "button{display:block;width:100%;font-size:22px;padding:.8em;margin:.5em 0}</style></head>"
        f"<body>{body}</body></html>"
    )
    return web.Response(text=page, content_type="text/html", status=status)


def _page_body(page: PageView, token: str, utc_offset_h: float) -> str:
    tier = TIER_ZH.get(page.tier, page.tier)
    deadline = "" if page.deadline is None else local_time(float(page.deadline), utc_offset_h)
    action = html.escape(f"/a/{token}")
    return (
        f"<h1>【{html.escape(tier)}预警】{html.escape(page.subject)}</h1>"
        f"<p>地点 / where: {html.escape(page.site)}</p>"
        f"<p>预警 / tier: {html.escape(tier)} ({html.escape(page.tier)})</p>"
        f"<p>确认期限 / acknowledge by: {html.escape(deadline or '-')}</p>"
        f"<p>值班人 / for: {html.escape(page.person)}</p>"
        f'<form method="post" action="{action}"><input type="hidden" name="answer" value="acknowledged">'
        '<button type="submit" id="ack">我已收到 / acknowledge</button></form>'
        f'<form method="post" action="{action}"><input type="hidden" name="answer" value="on_my_way">'
        '<button type="submit" id="on-my-way">正在赶往 / on my way</button></form>'
    )


async def show_page(request: web.Request) -> web.Response:
    """The minimal mobile page of one person's page."""
    context = request.app[PAGE_ACK]
    token = request.match_info["token"]
    try:
        page = await view(context.engine, context.link_key, token, context.clock.now())
    except PageLinkError as exc:
        return _html("hazwatch", f"<p>{html.escape(str(exc))}</p>", exc.status)
    return _html("hazwatch page", _page_body(page, token, context.utc_offset_h))


async def answer_page(request: web.Request) -> web.Response:
    """Acknowledge (or "on my way") from the link, once."""
    context = request.app[PAGE_ACK]
    form = await request.post()
    try:
        page = await acknowledge_link(
            context.engine,
            context.link_key,
            request.match_info["token"],
            str(form.get("answer", "acknowledged")),
            context.clock.now(),
            context.engine_ack,
            context.metrics,
        )
    except PageLinkError as exc:
        return _html("hazwatch", f"<p>{html.escape(str(exc))}</p>", exc.status)
    return _html("hazwatch", f"<p id='done'>已确认 / acknowledged: {html.escape(page.subject)}</p>")


async def inbound_sms(request: web.Request) -> web.Response:
    """A reply SMS from the gateway; the signature is checked before anything else is read."""
    context = request.app[PAGE_ACK]
    body = await request.read()
    if not context.inbound_secret:
        return web.json_response({"error": "inbound SMS is not configured"}, status=404)
    expected = "sha256=" + hmac.new(context.inbound_secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), expected):
        return web.json_response({"error": "bad signature"}, status=401)
    try:
        message = json.loads(body)
        sender, text = str(message["from"]), str(message["text"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": 'expected {"from": ..., "text": ...}'}, status=400)
    try:
        page = await acknowledge_code(
            context.engine, sender, text, context.clock.now(), context.engine_ack, context.metrics, context.environ
        )
    except PageLinkError as exc:
        return web.json_response({"error": str(exc)}, status=exc.status)
    return web.json_response({"acknowledged": page.link["page_id"], "person": page.link["person_id"]})


async def inbound_provider_sms(request: web.Request) -> web.Response:
    """Reply SMS pushed by Alibaba Cloud (SmsUp) or Tencent Cloud (SMS reply callback), in their documented form.

    A reply that matches no open page is answered as taken (pushing it again cannot help) and logged; a database
    failure is a 500, so the provider pushes again later.
    """
    context = request.app[PAGE_ACK]
    provider = request.match_info["provider"]
    if not context.inbound_secret or provider not in PROVIDERS:
        return web.json_response({"error": "inbound SMS is not configured for this provider"}, status=404)
    if not hmac.compare_digest(request.match_info["secret"].encode(), context.inbound_secret.encode()):
        return web.json_response({"error": "bad callback secret"}, status=401)
    try:
        replies = parse_replies(provider, await request.read())
    except InboundFormatError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    acknowledged: list[str] = []
    unmatched: list[str] = []
    for reply in replies:
        try:
            page = await acknowledge_code(
                context.engine,
                reply.sender,
                reply.text,
                context.clock.now(),
                context.engine_ack,
                context.metrics,
                context.environ,
            )
        except PageLinkError as exc:
            log.warning("%s reply SMS acknowledged nothing: %s", provider, exc)
            unmatched.append(str(exc))
            continue
        acknowledged.append(str(page.link["page_id"]))
    return web.json_response({**accepted_answer(provider), "acknowledged": acknowledged, "unmatched": unmatched})
