"""E-mail through an SMTP relay: plain text and HTML alternatives. stdlib smtplib, run in a worker thread."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from daemon.notify.channels.base import Delivery, DeliveryError, expand
from daemon.notify.config import SmtpConfig
from daemon.notify.render import html_body, render


def build_email(delivery: Delivery, sender: str, to: str, utc_offset_h: float) -> EmailMessage:
    """The multipart/alternative message for one delivery."""
    message = render(delivery.facts, delivery.language, utc_offset_h)
    email = EmailMessage()
    email["Subject"] = message.title
    email["From"] = sender
    email["To"] = to
    email["Date"] = formatdate(delivery.now)
    email["Message-ID"] = make_msgid(domain="hazwatch")
    email["X-Hazwatch-Idempotency-Key"] = delivery.idempotency_key
    email.set_content(message.text)
    email.add_alternative(html_body(delivery.facts, message), subtype="html")
    return email


class SmtpChannel:
    """Sends one e-mail per delivery."""

    def __init__(self, config: SmtpConfig, environ: Mapping[str, str], utc_offset_h: float) -> None:
        self._config = config
        self._environ = environ
        self._utc_offset_h = utc_offset_h

    async def send(self, delivery: Delivery) -> None:
        """Deliver one e-mail; any SMTP or socket error is a delivery error."""
        to = expand(delivery.target.address or "", self._environ)
        email = build_email(delivery, self._config.sender, to, self._utc_offset_h)
        try:
            await asyncio.to_thread(self._send_blocking, email)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"smtp {self._config.host}:{self._config.port}: {exc}") from exc

    def _send_blocking(self, email: EmailMessage) -> None:
        config = self._config
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as client:
            if config.starttls:
                client.starttls()
            if config.username is not None:
                password = self._environ.get(config.password_env or "", "")
                client.login(config.username, password)
            client.send_message(email)

    async def close(self) -> None:
        """Nothing kept open between messages."""
