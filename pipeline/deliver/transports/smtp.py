"""SMTP: one message per recipient over a reused connection (STARTTLS, SSL or plain).

The password comes from ``NEWSLETTER_SMTP_PASSWORD`` only. A recipient the server refuses is
a failed result; a connection lost while a message is on the wire is an unknown outcome for
that one message (the engine records every message as it goes, so nothing else is in doubt).
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import ssl
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from pipeline.config import Config
from pipeline.deliver.message import Envelope, MessageTemplate, ascii_address
from pipeline.deliver.transports.base import (
    PermanentError,
    Result,
    TemporaryError,
    UnknownOutcome,
)


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


class SmtpTransport:
    name = "smtp"
    batch_size = 100
    uses_fence = False
    sequential = True

    def __init__(self, host: str, port: int, security: str, username: str | None,
                 password: str | None, timeout: float, envelope_from: str) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password = username, password
        self.timeout = timeout
        self.envelope_from = envelope_from
        self._connection: smtplib.SMTP | None = None

    @classmethod
    def from_config(cls, config: Config) -> SmtpTransport:
        smtp = config.delivery.smtp
        return cls(smtp.host, smtp.port, smtp.security, smtp.username,
                   os.environ.get("NEWSLETTER_SMTP_PASSWORD"), smtp.timeout_seconds,
                   config.sender.email)

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        try:
            if self.security == "ssl":
                connection: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout,
                    context=ssl.create_default_context())
            else:
                connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    connection.starttls(context=ssl.create_default_context())
            if self.username:
                connection.login(self.username, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentError(f"SMTP login refused by {self.host}: {exc.smtp_code} "
                                 f"{_text(exc.smtp_error)}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryError(f"cannot connect to {self.host}:{self.port}: {exc}",
                                 retry_after=5) from None
        self._connection = connection
        return connection

    def send(self, template: MessageTemplate, batch_id: str, envelopes: Sequence[Envelope],
             report: Callable[[Result], None] | None = None) -> list[Result]:
        results: list[Result] = []
        for envelope in envelopes:
            if results and report:
                report(results[-1])
            data = template.build(envelope)
            connection = self._connect()
            try:
                connection.sendmail(self.envelope_from, [ascii_address(envelope.email)], data)
            except smtplib.SMTPSenderRefused as exc:
                raise PermanentError(f"SMTP server refuses the sender {self.envelope_from}: "
                                     f"{exc.smtp_code} "
                                     f"{_text(exc.smtp_error)}") from None
            except smtplib.SMTPRecipientsRefused as exc:
                code, reason = next(iter(exc.recipients.values()))
                results.append(Result(envelope.entry_id, False,
                                      error=f"{code} {_text(reason)}"))
            except smtplib.SMTPResponseException as exc:
                if 400 <= exc.smtp_code < 500:
                    self.close()
                    raise TemporaryError(f"SMTP {exc.smtp_code}: "
                                         f"{_text(exc.smtp_error)}",
                                         retry_after=30) from None
                results.append(Result(envelope.entry_id, False, error=f"{exc.smtp_code} "
                                      f"{_text(exc.smtp_error)}"))
            except (OSError, smtplib.SMTPServerDisconnected) as exc:
                self._connection = None
                raise UnknownOutcome(f"connection to {self.host} lost while sending: {exc}",
                                     [envelope.entry_id]) from None
            else:
                results.append(Result(envelope.entry_id, True, envelope.message_id))
        if results and report:
            report(results[-1])
        return results

    def new_batch(self) -> str:
        return uuid.uuid4().hex

    def settle(self, batch_id: str, entry_ids: Sequence[int],
               since: datetime) -> dict[int, bool | None]:
        """Messages go out in ledger order and each is recorded as it is accepted, so of a
        batch's unrecorded rows only the first can have been on the wire."""
        ordered = sorted(entry_ids)
        return {entry: (None if entry == ordered[0] else False) for entry in ordered}

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._connection.quit()
            self._connection = None
