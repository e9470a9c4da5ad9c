"""Transports: one small interface, one module per backend. ``open_transport`` picks by name."""

from __future__ import annotations

from pipeline.config import Config
from pipeline.deliver.transports.base import (
    Overlapping,
    PermanentError,
    Result,
    TemporaryError,
    Transport,
    TransportError,
    UnknownOutcome,
)

NAMES = ("outbox", "smtp", "sendgrid")


def open_transport(name: str, config: Config, fence: bool = True) -> Transport:
    if name == "outbox":
        from pipeline.deliver.transports.outbox import OutboxTransport

        return OutboxTransport(config.root / config.delivery.outbox_dir)
    if name == "smtp":
        from pipeline.deliver.transports.smtp import SmtpTransport

        return SmtpTransport.from_config(config)
    if name == "sendgrid":
        from pipeline.deliver.transports.sendgrid import SendGridTransport

        return SendGridTransport.from_config(config, fence)
    raise TransportError(f"unknown transport '{name}'; use one of {', '.join(NAMES)}")


__all__ = ["NAMES", "Overlapping", "PermanentError", "Result", "TemporaryError", "Transport",
           "TransportError", "UnknownOutcome", "open_transport"]
