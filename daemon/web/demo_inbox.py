"""``/demo/inbox``: the SMS and call texts the demo people received, with the acknowledgement link to follow."""

from __future__ import annotations

import html

from aiohttp import web

from daemon.notify.channels.demo_inbox import DemoInbox
from daemon.notify.render import local_time

DEMO_INBOX: web.AppKey[DemoInbox] = web.AppKey("demo_inbox", DemoInbox)


def add_demo_inbox_route(app: web.Application, inbox: DemoInbox) -> None:
    """Serve the inbox page (only with --demo)."""
    app[DEMO_INBOX] = inbox
    app.router.add_get("/demo/inbox", demo_inbox_page)


async def demo_inbox_page(request: web.Request) -> web.Response:
    """Newest first; refreshes itself every 5 s."""
    inbox = request.app[DEMO_INBOX]
    items = "".join(
        f'<li class="message"><b>{html.escape(m.person)}</b> {html.escape(local_time(m.time, 8.0))}'
        f'<p class="sms">短信 / SMS: {html.escape(m.sms)}</p>'
        f'<p class="call">电话 / call: {html.escape(m.call)}</p>'
        f'<p><a class="ack" href="{html.escape(m.link)}">打开确认页 / open to acknowledge</a> '
        f"(回复码 / reply code {html.escape(m.code)})</p></li>"
        for m in inbox.messages
    )
    body = (
        '<!doctype html><html lang="zh"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>demo inbox</title></head>'
        "<body><h1>演示收件箱 / demo inbox</h1>"
        "<p>What the duty officers' phones would show: every page, as SMS and as a call.</p>"
        f"<ul>{items or '<li>no pages yet</li>'}</ul></body></html>"
    )
    return web.Response(text=body, content_type="text/html")
