"""Batching invariants, over generated audiences: ≤ 1000 per request, no address twice."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from pipeline.audience.importer import SUBSCRIBERS, SUBSCRIPTIONS
from pipeline.audience.store import Store, now
from pipeline.config import Config
from pipeline.deliver.engine import Engine
from pipeline.deliver.transports import TemporaryError
from pipeline.deliver.transports.sendgrid import SendGridTransport
from tests.conftest import start_delivery


class CapturingSendGrid(SendGridTransport):
    """The real request bodies, kept instead of posted (Prism checks the real traffic in
    test_sendgrid.py); no suppression sync."""

    suppressions = None  # type: ignore[assignment]

    def __init__(self, config: Config) -> None:
        super().__init__("SG.test", "http://127.0.0.1:9", config.delivery.sendgrid, config, 900)
        self.bodies: list[dict[str, Any]] = []

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if path == "mail/batch":
            return type("Response", (), {"body": b'{"batch_id": "b"}', "headers": {}})()
        assert body is not None
        self.bodies.append(body)
        return type("Response", (), {"body": b"", "headers": {}})()


@settings(max_examples=12, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(size=st.integers(min_value=0, max_value=2600), doubles=st.integers(0, 3))
def test_requests_hold_at_most_1000_and_no_address_twice(size: int, doubles: int,
                                                         config: Config, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / f'p{size}-{doubles}.db'}"
    store = Store.open(config, url)
    moment = now()
    with store.engine.begin() as connection:
        if size:
            connection.execute(insert(SUBSCRIBERS), [{
                "id": i, "email": f"r{i}@example.se", "email_key": f"r{i}@example.se",
                "email_hash": f"{i:064x}", "name": None, "organisation_id": None,
                "language": "sv", "created_at": moment, "updated_at": moment}
                for i in range(1, size + 1)])
            connection.execute(insert(SUBSCRIPTIONS), [{  # some in both segments
                "subscriber_id": i, "segment": segment, "status": "confirmed",
                "legal_basis": "consent", "source": "t", "privacy_notice": "1",
                "created_at": moment, "confirmed_at": moment, "status_changed_at": moment}
                for i in range(1, size + 1)
                for segment in (["general", "connected"] if i % 4 < doubles else ["general"])])
    transport = CapturingSendGrid(config)
    delivery_id, frozen, edition = start_delivery(store, config, transport="sendgrid")
    Engine(store, config, edition, transport, b"k" * 48, sleep=lambda s: None).run(delivery_id)
    seen: list[str] = []
    for body in transport.bodies:
        personalizations = body["personalizations"]
        recipients = [to["email"] for p in personalizations for to in p["to"]]
        assert 1 <= len(personalizations) <= 1000 and len(recipients) <= 1000
        assert len(recipients) == len(set(recipients))
        seen += recipients
    assert len(seen) == len(set(seen)) == frozen == size
    store.close()


class FlakyBatchIds(CapturingSendGrid):
    """Batch ids numbered in order; asking for the ``fail``-th one raises a 429 instead."""

    def __init__(self, config: Config, fail: int) -> None:
        super().__init__(config)
        self.asked, self.fail, self.given = 0, fail, []
        self.asked_at_send: list[int] = []

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        self.asked_at_send.append(self.asked)
        return super()._call(method, path, body)

    def new_batch(self) -> str:
        self.asked += 1
        if self.asked == self.fail:
            raise TemporaryError("SendGrid: too many requests (429)", retry_after=7)
        self.given.append(f"batch-{self.asked}")
        return self.given[-1]


@settings(max_examples=6, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(fail=st.integers(1, 5))
def test_a_batch_id_asked_for_ahead_that_failed_is_asked_for_again(
        fail: int, config: Config, tmp_path: Path) -> None:
    """The next batch's id is asked for while this batch is prepared; when that answer is an
    error, the engine waits as that error says and asks again itself: every reader once, each
    request under its own id."""
    url = f"sqlite:///{tmp_path / f'f{fail}-{uuid.uuid4().hex}.db'}"  # examples may repeat
    store = Store.open(config, url)
    moment = now()
    with store.engine.begin() as connection:
        connection.execute(insert(SUBSCRIBERS), [{
            "id": i, "email": f"r{i}@example.se", "email_key": f"r{i}@example.se",
            "email_hash": f"{i:064x}", "name": None, "organisation_id": None,
            "language": "sv", "created_at": moment, "updated_at": moment}
            for i in range(1, 3501)])
        connection.execute(insert(SUBSCRIPTIONS), [{
            "subscriber_id": i, "segment": "general", "status": "confirmed",
            "legal_basis": "consent", "source": "t", "privacy_notice": "1",
            "created_at": moment, "confirmed_at": moment, "status_changed_at": moment}
            for i in range(1, 3501)])
    transport = FlakyBatchIds(config, fail)
    delivery_id, frozen, edition = start_delivery(store, config, transport="sendgrid")
    waits: list[float] = []
    report = Engine(store, config, edition, transport, b"k" * 48,
                    sleep=waits.append).run(delivery_id)
    assert report.state.value == "finished"
    assert waits == [7]  # the 429's Retry-After, waited once, whichever thread asked
    ids = [body["batch_id"] for body in transport.bodies]
    assert len(ids) == 4 == len(set(ids)) and set(ids) <= set(transport.given)
    seen = [to["email"] for body in transport.bodies for p in body["personalizations"]
            for to in p["to"]]
    assert len(seen) == len(set(seen)) == frozen == 3500
    # each batch's request went out after the next batch's id was asked for
    assert all(asked >= k + 2 for k, asked in enumerate(transport.asked_at_send))
    store.close()
