"""Alerts: what an operator must hear about, once per cause, through channels that do not
depend on the mail path (which may be what is down).

A cause is a string naming one occurrence of a problem (``paused:12:…``, ``missed:2027-1:…``):
raising the same cause again changes nothing, so the scheduler may look every minute. Each
alert is stored first, then handed to every channel: a webhook (a JSON POST whose ``text``
Slack, Microsoft Teams and Matrix (hookshot) incoming webhooks all show; its URL, which holds
the token, comes from ``NEWSLETTER_ALERT_WEBHOOK``) and a command (``[alerts] command``, the
alert as JSON on stdin). An alert no channel has taken yet is *pending*: it is tried again at
the next look, and ``newsletter health`` reports it. The editors are also mailed, once, when
the alert is raised.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from pipeline.audience.store import Store, now
from pipeline.config import Config
from pipeline.deliver.models import Alert

log = logging.getLogger("newsletter.alerts")
WEBHOOK_ENV = "NEWSLETTER_ALERT_WEBHOOK"
Mailer = Callable[[str | None, str, str], None]  # (issue, subject, text): tell the editors


@dataclass(frozen=True)
class Raised:
    """One alert to raise: ``severity`` is warning, critical or resolved."""

    cause: str
    kind: str
    message: str
    severity: str = "critical"
    issue: str | None = None


def raise_alert(store: Store, raised: Raised, mail: Mailer | None = None) -> bool:
    """Store the alert unless its cause was raised before; True when it is new."""
    with store.session() as session:
        try:
            with session.begin():
                session.add(Alert(cause=raised.cause[:200], kind=raised.kind,
                                  issue=raised.issue, severity=raised.severity,
                                  message=raised.message[:1000], raised_at=now(), attempts=0))
        except IntegrityError:
            return False  # raised before (perhaps by another process at the same moment)
    log.warning("alert=%s severity=%s %s", raised.kind, raised.severity, raised.message)
    if mail is not None:
        mail(raised.issue, _headline(raised.severity, raised.issue), raised.message)
    return True


def pending(store: Store) -> int:
    """How many alerts no channel has taken yet."""
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Alert).where(
            Alert.sent_at.is_(None))) or 0


def dispatch(store: Store, config: Config) -> int:
    """Hand every pending alert to the channels; returns how many are still pending.

    Each alert is taken first (``handling_until``), in one conditional update: another
    dispatcher at the same moment (the scheduler's look, a send job, another process) leaves
    it alone, so it is posted once. One that died holding it frees it when the time is up."""
    webhook = os.environ.get(WEBHOOK_ENV, "").strip()
    with store.session() as session:
        alerts = list(session.scalars(select(Alert).where(Alert.sent_at.is_(None))
                                      .order_by(Alert.id)))
    # the webhook's connect and answer, then the command, each up to the timeout
    hold = timedelta(seconds=3 * config.alerts.timeout_seconds + 60)
    left = 0
    for alert in alerts:
        until = _take(store, alert.id, hold)
        if until is None:
            left += 1  # in another dispatcher's hands
            continue
        errors: list[str] = []
        handed = False
        try:
            payload = _payload(alert)
            if webhook:
                errors += _post(webhook, payload, config.alerts.timeout_seconds)
            if config.alerts.command:
                errors += _run(config.alerts.command, payload, config)
            handed = True
        finally:  # an error no channel foresaw frees it for the next look at once
            _settle(store, alert.id, until, errors if handed else ["interrupted"])
        if errors:
            left += 1
            from pipeline.schedule import say

            say(f"alert:{alert.id}", logging.ERROR, "alert=%s action=not-delivered reason=%s",
                alert.kind, "; ".join(errors))
    return left


def _take(store: Store, alert_id: int, hold: timedelta) -> datetime | None:
    """Until when the alert is this dispatcher's to hand over; None: it was sent, or another
    dispatcher holds it."""
    moment = now()
    until = moment + hold
    with store.session() as session, session.begin():
        taken = session.execute(update(Alert).where(
            Alert.id == alert_id, Alert.sent_at.is_(None),
            or_(Alert.handling_until.is_(None), Alert.handling_until < moment))
            .values(handling_until=until))
        return until if getattr(taken, "rowcount", 0) else None


def _settle(store: Store, alert_id: int, until: datetime, errors: list[str]) -> None:
    """Handed over: sent (whoever else also holds it now). Not handed over: freed for the next
    look, only if it is still this dispatcher's (its hold may have run out meanwhile)."""
    with store.session() as session, session.begin():
        if errors:
            session.execute(update(Alert).where(
                Alert.id == alert_id, Alert.handling_until == until).values(
                attempts=Alert.attempts + 1, last_error="; ".join(errors)[:500],
                handling_until=None))
        else:
            session.execute(update(Alert).where(Alert.id == alert_id).values(
                attempts=Alert.attempts + 1, last_error=None, handling_until=None,
                sent_at=func.coalesce(Alert.sent_at, now())))


def _headline(severity: str, issue: str | None) -> str:
    from pipeline.i18n import _

    what = {"critical": _("Needs attention"), "warning": _("Warning"),
            "resolved": _("Resolved")}.get(severity, severity)
    newsletter = _("Newsletter %(issue)s") % {"issue": issue} if issue else _("Newsletter")
    return f"{what}: {newsletter}"


def _payload(alert: Alert) -> dict[str, object]:
    raised: datetime = alert.raised_at
    return {
        "text": f"{_headline(alert.severity, alert.issue)}: {alert.message}",
        "kind": alert.kind, "severity": alert.severity, "issue": alert.issue,
        "cause": alert.cause, "message": alert.message,
        "raised_at": raised.isoformat(), "host": socket.gethostname(),
    }


def _post(url: str, payload: dict[str, object], timeout: float) -> list[str]:
    """POST the alert; an error says what went wrong and never the URL (it holds the token)."""
    try:
        request = urllib.request.Request(
            url, data=json.dumps(payload, ensure_ascii=False).encode(), method="POST",
            headers={"Content-Type": "application/json; charset=utf-8",
                     "User-Agent": "newsletter-alerts"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        return [f"webhook: HTTP {exc.code}"]
    except urllib.error.URLError as exc:
        reason = exc.reason
        return [f"webhook: {reason.strerror or reason if isinstance(reason, OSError) else reason}"]
    except OSError as exc:  # a timeout while reading the answer
        return [f"webhook: {exc.strerror or exc}"]
    except (ValueError, http.client.HTTPException) as exc:  # their texts may quote the URL
        return [f"webhook: {type(exc).__name__}: {WEBHOOK_ENV} must be the webhook's whole "
                "URL, https:// included, of a server that answers HTTP"]
    return []


def _run(command: list[str], payload: dict[str, object], config: Config) -> list[str]:
    env = {**os.environ, "NEWSLETTER_ALERT_KIND": str(payload["kind"]),
           "NEWSLETTER_ALERT_SEVERITY": str(payload["severity"]),
           "NEWSLETTER_ALERT_ISSUE": str(payload["issue"] or ""),
           "NEWSLETTER_ALERT_TEXT": str(payload["text"])}
    try:
        done = subprocess.run(command, input=json.dumps(payload, ensure_ascii=False).encode(),
                              capture_output=True, timeout=config.alerts.timeout_seconds,
                              cwd=config.root, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [f"command: {exc}"]
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return [f"command: exit {done.returncode} {tail[0]}".strip()]
    return []
