"""The SendGrid transport against SendGrid's own OpenAPI description (Stoplight Prism).

Every request is validated by Prism. Where state is needed (which batches were accepted or
cancelled), the recording stand-in answers behind ``prism proxy``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.models import DeliveryState, EntryState
from pipeline.deliver.transports.sendgrid import SendGridTransport
from tests.test_deliver import populate, run


class WithoutSync(SendGridTransport):
    """For fault tests whose Prefer header would also fail the suppression sync (tested
    on its own below)."""

    suppressions = None  # type: ignore[assignment]


def transport(config: Config, host: str, fence: bool = True,
              prefer: str | None = None) -> SendGridTransport:
    kind = WithoutSync if prefer else SendGridTransport
    sendgrid = kind("SG.test", host, config.delivery.sendgrid, config,
                    config.delivery.fence_minutes * 60 if fence else 0)
    if prefer:  # Prism answers every request with this status
        sendgrid.client.client.request_headers["Prefer"] = prefer
    return sendgrid


def test_every_request_passes_sendgrids_schema(store: Store, config: Config, tmp_path: Path,
                                               prism_mock: str) -> None:
    populate(store, config, tmp_path, extra=1500)
    report, frozen = run(store, config, transport(config, prism_mock))
    assert report.state is DeliveryState.FINISHED, report.reason
    assert report.counts[EntryState.SENT] == frozen == 1506


def test_request_body_follows_the_rules_prism_does_not_check(config: Config, tmp_path: Path,
                                                             store: Store) -> None:
    from pipeline.deliver.engine import Engine
    from pipeline.deliver.message import Envelope
    from pipeline.edition import build_edition
    from pipeline.issue import load_issue
    from pipeline.render.personalise import Reader
    from tests.conftest import EXAMPLE

    sendgrid = transport(config, "http://127.0.0.1:9")
    edition = build_edition(load_issue(EXAMPLE, config), config)
    engine = Engine(store, config, edition, sendgrid, b"k" * 48)
    envelopes = [Envelope(i, f"r{i}@example.se", "Å & B", "general", f"<{i}@x>",
                          Reader("Å & B", f"https://u/{i}", "https://p"), str(i), "7")
                 for i in range(1000)]
    body = sendgrid.body(engine.envelopes.template("general"), "batch-1", envelopes)
    assert len(body["personalizations"]) == 1000
    addresses = [to["email"] for p in body["personalizations"] for to in p["to"]]
    assert len(addresses) == len(set(addresses)) == 1000
    first = body["personalizations"][0]
    assert first["substitutions"]["{{reader_greeting}}"] == "Hej Å & B!"
    assert first["substitutions"]["{{reader_greeting:html}}"] == "Hej Å &amp; B!"
    assert first["custom_args"] == {"delivery": "7", "entry": "0"}
    assert "@" not in str(first["custom_args"])
    assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["tracking_settings"]["open_tracking"] == {"enable": False}
    assert body["tracking_settings"]["click_tracking"]["enable"] is False
    assert body["batch_id"] == "batch-1" and body["send_at"] > 0
    assert "{{reader_greeting:html}}" in body["content"][1]["value"]
    assert all(len(str(p["substitutions"]).encode()) < 10_000 for p in body["personalizations"])


def test_400_pauses_with_sendgrids_message(store: Store, config: Config, tmp_path: Path,
                                           prism_mock: str) -> None:
    populate(store, config, tmp_path)
    report, _ = run(store, config, transport(config, prism_mock, fence=False,
                                             prefer="code=400"))
    assert report.state is DeliveryState.PAUSED
    assert report.reason == ("SendGrid refused the request: 400 field_name: error message")
    assert report.counts[EntryState.PENDING] == 6  # nothing lost, nothing half-sent
    delivery = deliveries.get_delivery(store, report.delivery_id)
    assert delivery.retry_at is None and delivery.fault_since is None  # a person, not a retry


def test_429_waits_for_the_reset_then_pauses(store: Store, config: Config, tmp_path: Path,
                                             prism_mock: str) -> None:
    populate(store, config, tmp_path)
    sleeps: list[float] = []
    from pipeline.deliver.engine import Engine
    from tests.conftest import start_delivery

    sendgrid = transport(config, prism_mock, fence=False, prefer="code=429")
    delivery_id, _, edition = start_delivery(store, config, transport="sendgrid")
    report = Engine(store, config, edition, sendgrid, b"k" * 48, sleep=sleeps.append
                    ).run(delivery_id)
    assert report.state is DeliveryState.PAUSED
    # X-RateLimit-Reset lies in the past: the minimum wait, between the six tries (none after
    # the last: the delivery pauses, and the scheduler resumes it later)
    assert sleeps == [1.0] * 5
    assert report.counts[EntryState.PENDING] == 6
    delivery = deliveries.get_delivery(store, delivery_id)  # temporary: the scheduler resumes it
    assert delivery.retry_at is not None and delivery.fault_since is not None
    assert delivery.retries == 1
    assert (delivery.retry_at - delivery.fault_since).total_seconds() == pytest.approx(60, abs=2)


def test_lost_answers_are_cancelled_and_resent_exactly_once(store: Store, config: Config,
                                                             tmp_path: Path,
                                                             standin_behind_prism) -> None:
    standin, base = standin_behind_prism
    populate(store, config, tmp_path, extra=2500)
    before = standin.delivered()
    standin.drop_after_accept = 1   # accepted, but the answer is lost
    standin.faults = [500, 429]     # then a server error and a rate limit
    report, frozen = run(store, config, transport(config, base))
    assert report.state is DeliveryState.FINISHED, report.reason
    assert report.counts[EntryState.SENT] == frozen
    delivered = standin.delivered() - before
    assert len(delivered) == frozen and set(delivered.values()) == {1}
    assert standin.cancelled  # the batch whose answer was lost was cancelled


def test_without_the_fence_a_lost_answer_is_uncertain(store: Store, config: Config,
                                                      tmp_path: Path,
                                                      standin_behind_prism) -> None:
    standin, base = standin_behind_prism
    populate(store, config, tmp_path, extra=10)
    standin.drop_after_accept = 1
    report, frozen = run(store, config, transport(config, base, fence=False))
    assert report.state is DeliveryState.PAUSED
    uncertain = report.counts[EntryState.UNCERTAIN]
    assert 0 < uncertain < frozen  # exactly the one request whose answer was lost
    assert uncertain + report.counts[EntryState.SENT] == frozen
    assert "newsletter status --recipients uncertain" in (report.reason or "")


@pytest.mark.parametrize("missing", ["SENDGRID_API_KEY"])
def test_api_key_only_from_the_environment(config: Config, monkeypatch, missing: str) -> None:
    from pipeline.deliver.transports import TransportError

    monkeypatch.delenv(missing, raising=False)
    with pytest.raises(TransportError, match="SENDGRID_API_KEY is not set"):
        SendGridTransport.from_config(config)


def test_suppressions_are_read_from_sendgrid_before_sending(store: Store, config: Config,
                                                            tmp_path: Path,
                                                            standin_behind_prism) -> None:
    standin, base = standin_behind_prism
    populate(store, config, tmp_path, extra=5)
    standin.suppressed = ["reader3@org3.example"]
    before = standin.delivered()
    try:
        report, frozen = run(store, config, transport(config, base))
    finally:
        standin.suppressed = []
    assert report.state is DeliveryState.FINISHED
    skipped = ledger.entries(store, report.delivery_id, EntryState.SKIPPED)
    assert [e.email for e in skipped] == ["reader3@org3.example"]
    sent = standin.delivered() - before
    assert "reader3@org3.example" not in sent and len(sent) == frozen - 1


def test_prism_example_suppressions_reach_the_register(store: Store, config: Config,
                                                       prism_mock: str) -> None:
    from pipeline.audience.models import Suppression
    from pipeline.deliver.suppressions import sync_suppressions

    count = sync_suppressions(store, transport(config, prism_mock))
    assert count >= 5  # SendGrid's documented examples for each list
    with store.session() as session:
        hashes = {s.hash: s.reason for s in session.query(Suppression)}
    assert hashes[store.email_hash("example@example.com")] == "bounced"
    assert hashes[store.email_hash("user1@example.com")] in {"complained", "bounced",
                                                             "unsubscribed"}


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The engine's waits between tries, recorded instead of slept: the faults and the
    client's timeouts stay real, the waits are the engine's arithmetic (a run took 27 s
    with them, 6 s without)."""
    from pipeline.deliver import run as sending
    from pipeline.deliver.engine import Engine

    waited: list[float] = []

    class Recorded(Engine):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **{**kwargs, "sleep": waited.append})

    monkeypatch.setattr(sending, "Engine", Recorded)
    return waited


def test_rate_limits_outages_and_timeouts_still_deliver_exactly_once(
        store: Store, config: Config, tmp_path: Path, standin_behind_prism,
        waits: list[float]) -> None:
    import random

    standin, base = standin_behind_prism
    populate(store, config, tmp_path, extra=6000)
    chance = random.Random(7)
    # 30 % rate-limited, some server errors, two timeouts; None: answered normally
    standin.faults = [429 if chance.random() < 0.3 else 500 if chance.random() < 0.1 else None
                      for _ in range(30)]
    standin.faults[3] = standin.faults[12] = 0
    scripted = list(standin.faults)
    before = standin.delivered()
    sendgrid = transport(config, base)
    sendgrid.client.client.timeout = 1.5  # the stand-in hangs longer on a timeout fault
    standin.hang_seconds = 4.0
    try:
        report, frozen = run(store, config, sendgrid)
        answered = scripted[:len(scripted) - len(standin.faults)]  # the faults it met
    finally:
        standin.faults, standin.hang_seconds = [], 3.0
    assert report.state is DeliveryState.FINISHED, report.reason
    delivered = standin.delivered() - before
    assert len(delivered) == frozen and set(delivered.values()) == {1}
    # each 429 waited what its Retry-After said; each 5xx or timeout backed off first
    assert answered.count(429) >= 5 and waits.count(1.0) == answered.count(429)
    assert len(waits) >= sum(1 for fault in answered if fault is not None)


def test_a_refusal_while_the_next_batch_waits_sends_that_batch_later_exactly_once(
        store: Store, config: Config, tmp_path: Path, standin_behind_prism) -> None:
    """Batch N is on the wire while batch N+1 is claimed and prepared: when N is refused,
    N+1 goes back to pending unsent, and the resumed delivery sends every reader once."""
    standin, base = standin_behind_prism
    populate(store, config, tmp_path, extra=2500)  # three batches of up to 1,000
    before = standin.delivered()
    standin.faults = [None, 400]  # the first batch accepted, the second refused
    report, frozen = run(store, config, transport(config, base))
    assert report.state is DeliveryState.PAUSED, report.reason
    assert report.counts[EntryState.SENT] == 1000
    assert report.counts[EntryState.PENDING] == frozen - 1000  # the third was never sent
    assert not report.counts[EntryState.IN_FLIGHT]
    assert sum((standin.delivered() - before).values()) == 1000
    resumed = run(store, config, transport(config, base))[0]
    assert resumed.state is DeliveryState.FINISHED, resumed.reason
    delivered = standin.delivered() - before
    assert len(delivered) == frozen and set(delivered.values()) == {1}
