"""SendGrid's signed event webhook over real HTTP: a key pair made here, signed as SendGrid
signs (ECDSA P-256 over timestamp + body), verified as SendGrid's library verifies."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select, update

from pipeline.audience.models import Status, Subscriber, Suppression
from pipeline.audience.store import Store
from pipeline.cli import main
from pipeline.config import Config
from pipeline.deliver.events import apply_events
from pipeline.deliver.models import EntryState, LedgerEntry, ProviderEvent
from pipeline.deliver.transports.outbox import OutboxTransport
from pipeline.settings import WebSettings
from tests.conftest import ROOT
from tests.test_deliver import populate, run
from tests.webserver import request, served

Key = ec.EllipticCurvePrivateKey


def public_b64(key: Key) -> str:
    """The verification key as SendGrid's settings show it: base64 of the DER public key."""
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def signed(key: Key, body: bytes, stamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if stamp is None else stamp
    signature = key.sign(str(stamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": str(stamp)}


@pytest.fixture(scope="module")
def key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def with_key(config: Config, key: Key) -> Config:
    web = WebSettings(**{**config.web.model_dump(), "sendgrid_webhook_key": public_b64(key)})
    return config.model_copy(update={"web": web})


def sent(store: Store, config: Config, folder: Path, extra: int) -> None:
    folder.mkdir(exist_ok=True)
    populate(store, config, folder, extra=extra)
    run(store, config, OutboxTransport(folder / "outbox"))


def entries(store: Store) -> list[tuple[int, int, str]]:
    with store.session() as session:
        return [(e.id, e.delivery_id, e.email or "") for e in
                session.scalars(select(LedgerEntry).order_by(LedgerEntry.id))]


def snapshot(store: Store) -> dict[str, Any]:
    """Everything the events may change, keyed by address (salts differ between stores)."""
    def aware(moment: datetime | None) -> str | None:
        return None if moment is None else moment.replace(tzinfo=UTC).isoformat()

    with store.session() as session:
        people = list(session.scalars(select(Subscriber)))
        owner = {p.email_hash: p.email for p in people}
        return {
            "subscriptions": sorted((p.email or "", s.segment, s.status)
                                    for p in people for s in p.subscriptions),
            "suppressions": sorted((owner.get(s.hash) or "?", s.scope, s.reason)
                                   for s in session.scalars(select(Suppression))),
            "ledger": [(e.id, e.state, e.outcome, aware(e.outcome_at)) for e in session.scalars(
                select(LedgerEntry).order_by(LedgerEntry.id))],
            "events": session.scalar(select(func.count()).select_from(ProviderEvent)),
        }


STORIES: list[list[Any]] = [
    ["delivered"], ["delivered"], ["delivered", "open"], ["deferred", "delivered"], ["bounce"],
    [("bounce", {"type": "blocked"})], [("dropped", {"reason": "Bounced Address"})],
    [("dropped", {"reason": "Spam Content"})], ["delivered", "spamreport"],
    ["delivered", "unsubscribe"], ["deferred"]]


def make_events(ledger: list[tuple[int, int, str]], seed: int) -> list[dict[str, Any]]:
    """What SendGrid would post about one delivery: mostly processed + delivered, some
    deferrals, bounces, blocks, drops, spam reports, unsubscribes, opens; a few without ids."""
    rng = random.Random(seed)
    start = int(time.time()) - 3600
    events: list[dict[str, Any]] = []
    for n, (entry, delivery, address) in enumerate(ledger):
        args = {"email": address, "delivery": str(delivery), "entry": str(entry)}
        kinds = ["processed", *rng.choice(STORIES)]
        for step, kind in enumerate(kinds):
            extra = {}
            if isinstance(kind, tuple):
                kind, extra = kind
            event = {**args, "event": kind, "timestamp": start + step * 60 + n % 7, **extra}
            if (n + step) % 50:
                event["sg_event_id"] = f"ev-{entry}-{step}"
            events.append(event)
    return events


def test_a_replay_with_duplicates_leaves_the_state_of_one_copy(store: Store, config: Config,
                                                               tmp_path: Path, key: Key) -> None:
    sent(store, config, tmp_path / "a", extra=700)
    with store.engine.begin() as connection:  # a crash left a few uncertain
        connection.execute(update(LedgerEntry).where(LedgerEntry.id % 10 == 3)
                           .values(state=EntryState.UNCERTAIN))
    reference = Store.open(config, f"sqlite:///{tmp_path / 'reference.db'}")
    sent(reference, config, tmp_path / "b", extra=700)
    with reference.engine.begin() as connection:
        connection.execute(update(LedgerEntry).where(LedgerEntry.id % 10 == 3)
                           .values(state=EntryState.UNCERTAIN))
    assert entries(store) == entries(reference)
    before = snapshot(store)

    events = make_events(entries(store), seed=6)
    apply_events(reference, events)  # one copy of each, in order
    rng = random.Random(7)
    replay = events + [rng.choice(events) for _ in range(10_000 - len(events))]
    rng.shuffle(replay)
    assert len(replay) == 10_000 and len(events) > 1_500
    with served(with_key(config, key), store) as base:
        for start in range(0, len(replay), 1000):
            body = json.dumps(replay[start:start + 1000]).encode()
            status, _, answer = request(f"{base}/sendgrid/events", body, signed(key, body))
            assert status == 204, answer
    after, expected = snapshot(store), snapshot(reference)
    reference.close()
    assert after == expected
    assert after != before
    ledger = {entry: (state, outcome) for entry, state, outcome, _ in after["ledger"]}
    assert {outcome for _, outcome in ledger.values()} >= {
        "delivered", "deferred", "bounce", "blocked", "dropped", "spamreport"}
    assert EntryState.UNCERTAIN not in {state for state, _ in ledger.values()}
    statuses = {status for _, _, status in after["subscriptions"]}
    assert {Status.BOUNCED, Status.COMPLAINED, Status.UNSUBSCRIBED, Status.CONFIRMED} <= statuses
    # a drop for the content, not the address, suppresses no one
    content_drops = {e["email"] for e in events if e.get("reason") == "Spam Content"}
    suppressed = {address for address, _, _ in after["suppressions"]}
    assert content_drops and not content_drops & suppressed

    counted: dict[str, int] = {}
    for _, outcome in ledger.values():
        if outcome:
            counted[outcome] = counted.get(outcome, 0) + 1
    url = store.engine.url.render_as_string(hide_password=False)
    shown = CliRunner(env={"NEWSLETTER_DATABASE_URL": url}).invoke(
        main, ["status", "--config", str(ROOT / "newsletter.toml")]).output
    line = next(x for x in shown.splitlines() if x.startswith("  provider events: "))
    assert dict((o, int(n)) for n, o in (part.split(" ") for part in
                line.removeprefix("  provider events: ").split(", "))) == counted


@pytest.fixture
def hook(store: Store, config: Config, tmp_path: Path, key: Key) -> Iterator[tuple[str, Store]]:
    sent(store, config, tmp_path, extra=0)
    with served(with_key(config, key), store) as base:
        yield f"{base}/sendgrid/events", store


def bounce_of(store: Store) -> bytes:
    [(entry, delivery, address), *_] = entries(store)
    return json.dumps([{"email": address, "event": "bounce", "timestamp": int(time.time()),
                        "sg_event_id": "b-1", "delivery": str(delivery),
                        "entry": str(entry)}]).encode()


def test_unsigned_tampered_foreign_and_old_requests_change_nothing(hook, key: Key) -> None:
    url, store = hook
    body = bounce_of(store)
    before = snapshot(store)
    stranger = ec.generate_private_key(ec.SECP256R1())
    headers = signed(key, body)
    tampered = body.replace(b'"bounce"', b'"bounce" ')
    attempts = {
        "unsigned": (body, {"Content-Type": "application/json"}),
        "tampered body": (tampered, headers),
        "tampered timestamp": (body, {**headers, "X-Twilio-Email-Event-Webhook-Timestamp":
                                      str(int(headers["X-Twilio-Email-Event-Webhook-"
                                                      "Timestamp"]) + 1)}),
        "another key": (body, signed(stranger, body)),
        "garbage signature": (body, {**headers,
                                     "X-Twilio-Email-Event-Webhook-Signature": "bm9wZQ=="}),
        "too old": (body, signed(key, body, int(time.time()) - 3600)),
        "from the future": (body, signed(key, body, int(time.time()) + 3600)),
    }
    for name, (data, sent_headers) in attempts.items():
        status, _, _ = request(url, data, sent_headers)
        assert status == 401, name
    assert snapshot(store) == before
    status, _, _ = request(url, body, signed(key, body))
    assert status == 204
    assert snapshot(store) != before


def test_signed_nonsense_is_a_400_and_no_key_refuses_everything(hook, key: Key,
                                                               config: Config) -> None:
    url, store = hook
    for body in (b"not json", b'{"event": "bounce"}', b"[1, 2]"):
        assert request(url, body, signed(key, body))[0] == 400
    body = bounce_of(store)
    with served(config, store) as base:  # no verification key configured
        assert request(f"{base}/sendgrid/events", body, signed(key, body))[0] == 503


def test_events_about_a_message_they_do_not_match_are_ignored(hook, key: Key) -> None:
    url, store = hook
    [(entry, delivery, address), *_] = entries(store)
    lies = [{"email": "someone.else@example.se", "event": "delivered", "sg_event_id": "x1",
             "timestamp": int(time.time()), "delivery": str(delivery), "entry": str(entry)},
            {"email": address, "event": "delivered", "sg_event_id": "x2",
             "timestamp": int(time.time()), "delivery": str(delivery + 99),
             "entry": str(entry)}]
    body = json.dumps(lies).encode()
    assert request(url, body, signed(key, body))[0] == 204
    with store.session() as session:
        row = session.get(LedgerEntry, entry)
        assert row is not None and row.outcome is None


def test_a_malformed_verification_key_stops_the_service_from_starting(
        store: Store, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.errors import NewsletterError
    from pipeline.web.app import create_app

    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", "not a key")
    with pytest.raises(NewsletterError, match="SENDGRID_WEBHOOK_PUBLIC_KEY"):
        create_app(config, store, b"w" * 48)
