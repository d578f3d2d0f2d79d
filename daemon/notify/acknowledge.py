"""Acknowledging a page from its link or an SMS reply: check the link, use it once, stop the page everywhere.

The incident engine is told first (its escalation for the page stops and its timeline says who); then every row of
the page stops (delivered -> acknowledged, held/pending -> superseded), and the incident timeline records who, when,
from which channel and how (link or SMS reply).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from daemon.errors import HazwatchError
from daemon.metrics.instruments import Metrics
from daemon.notify.chains import stop_page
from daemon.notify.channels.base import DeliveryError, expand
from daemon.notify.outbox import RowPayload
from daemon.notify.page_links import signature_matches, token_hash
from daemon.store.schema import incident_events, notifications, page_links

ANSWERS = ("acknowledged", "on_my_way")
EngineAck = Callable[[int, str, float], Awaitable[Any]]  # (notification row id, actor, now): stops the escalation


class PageLinkError(HazwatchError):
    """The link or code cannot acknowledge: unknown, forged, expired or already used (the text says which)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class PageView:
    """What the mobile page shows."""

    link: dict[str, Any]
    subject: str
    site: str
    tier: str
    deadline: float | None
    person: str
    channel: str


async def view(engine: AsyncEngine, key: bytes, token: str, now: float) -> PageView:
    """The page a valid link shows; raises PageLinkError for a bad, expired or used link."""
    link = await _link_by_token(engine, key, token)
    if link["used_at"] is not None:
        raise PageLinkError(f"already answered ({link['answer']}) via {link['used_via']}", 410)
    if now > link["expires_at"]:
        raise PageLinkError("this link has expired", 410)
    return await _view_of(engine, link)


async def acknowledge_link(
    engine: AsyncEngine, key: bytes, token: str, answer: str, now: float, engine_ack: EngineAck, metrics: Metrics
) -> PageView:
    """Use the link once to acknowledge its page."""
    if answer not in ANSWERS:
        raise PageLinkError(f"answer must be one of {', '.join(ANSWERS)}", 400)
    page = await view(engine, key, token, now)
    await _acknowledge(engine, page, answer, "link", now, engine_ack, metrics)
    return page


async def acknowledge_code(
    engine: AsyncEngine,
    sender: str,
    text: str,
    now: float,
    engine_ack: EngineAck,
    metrics: Metrics,
    environ: Mapping[str, str],
) -> PageView:
    """An SMS reply: the code in the text, from the number the page was sent to, acknowledges it."""
    code = "".join(ch for ch in text if ch.isdigit())
    number = _national(sender)
    async with engine.connect() as connection:
        candidates = (
            (
                await connection.execute(
                    select(page_links).where(
                        page_links.c.code == code, page_links.c.used_at.is_(None), page_links.c.expires_at >= now
                    )
                )
            )
            .mappings()
            .all()
        )
        for link in candidates:
            addresses = (
                (
                    await connection.execute(
                        select(notifications.c.recipient).where(notifications.c.chain_key == link["chain_key"])
                    )
                )
                .scalars()
                .all()
            )
            if any(_national(_resolved(str(a), environ)) == number for a in addresses):
                page = await _view_of(engine, dict(link))
                await _acknowledge(engine, page, "acknowledged", "sms_reply", now, engine_ack, metrics)
                return page
    raise PageLinkError(f"no open page with code {code!r} for this number", 404)


def _national(number: str) -> str:
    """A mainland number without its country code, in any form the providers write it: +86, 0086, 86 or none
    (Alibaba's SendSms reference lists all four); other countries keep theirs."""
    digits = number.strip().replace(" ", "").replace("-", "")
    for prefix in ("+86", "0086", "86"):
        rest = digits.removeprefix(prefix)
        if rest != digits and len(rest) == 11 and rest.startswith("1"):
            return rest
    return digits


def _resolved(address: str, environ: Mapping[str, str]) -> str:
    """The roster address with its ``${VAR}`` placeholders filled in ("" when one is unset)."""
    try:
        return expand(address, environ)
    except DeliveryError:
        return ""


async def _link_by_token(engine: AsyncEngine, key: bytes, token: str) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (
            (await connection.execute(select(page_links).where(page_links.c.token_hash == token_hash(token))))
            .mappings()
            .first()
        )
    if row is None:
        raise PageLinkError("unknown link", 404)
    link = dict(row)
    if not signature_matches(key, token, link["page_id"], link["person_id"], link["expires_at"]):
        raise PageLinkError("link signature does not match", 403)
    return link


async def _view_of(engine: AsyncEngine, link: dict[str, Any]) -> PageView:
    async with engine.connect() as connection:
        rows = (
            (
                await connection.execute(
                    select(notifications)
                    .where(notifications.c.chain_key == link["chain_key"])
                    .order_by(notifications.c.chain_step)
                )
            )
            .mappings()
            .all()
        )
    if not rows:
        raise PageLinkError("the page of this link is gone", 404)
    payload: RowPayload = json.loads(rows[0]["payload"])
    reached = [r for r in rows if r["delivered_at"] is not None]
    channel = str((reached[-1] if reached else rows[0])["channel"])
    facts = payload["facts"]
    return PageView(
        link=link,
        subject=payload["subject"],
        site=str(facts["site_name"] or facts["site"]),
        tier=payload["tier"] or "",  # rows stored before the one payload form may have none
        deadline=payload["ack_deadline"],
        person=str(payload["extra"].get("person") or link["person_id"]),
        channel=channel,
    )


async def _acknowledge(
    engine: AsyncEngine, page: PageView, answer: str, via: str, now: float, engine_ack: EngineAck, metrics: Metrics
) -> None:
    link = page.link
    async with engine.begin() as connection:
        used = await connection.execute(
            update(page_links)
            .where(page_links.c.id == link["id"], page_links.c.used_at.is_(None))
            .values(used_at=now, used_via=via, answer=answer)
        )
        if used.rowcount != 1:
            raise PageLinkError("already answered", 410)  # a second click racing the first
        first = (
            await connection.execute(
                select(notifications.c.id, notifications.c.created_at)
                .where(notifications.c.chain_key == link["chain_key"])
                .order_by(notifications.c.chain_step)
                .limit(1)
            )
        ).one()
    actor = str(link["person_id"])
    await engine_ack(int(first.id), actor, now)  # stops the escalation; the engine's timeline says who
    async with engine.begin() as connection:
        await stop_page(connection, str(link["page_id"]), actor, now)
        if link["incident_id"] is not None:
            detail = {"person": page.person, "channel": page.channel, "via": via, "answer": answer}
            await connection.execute(
                insert(incident_events).values(
                    incident_id=link["incident_id"],
                    time=now,
                    type="page_answer",
                    actor=actor,
                    detail=json.dumps(detail, ensure_ascii=False),
                    drill=link["drill"],
                )
            )
    metrics.page_ack_seconds.observe(max(now - float(first.created_at), 0.0))
