"""Invariants of the register, over generated populations, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from pipeline.audience.gdpr import suppress
from pipeline.audience.models import (
    ALL_SEGMENTS,
    Organisation,
    OrganisationFocus,
    Status,
    Subscriber,
    Subscription,
    Suppression,
)
from pipeline.audience.rows import _full, email_key, normalise_email
from pipeline.audience.select import audience, select_recipients
from pipeline.audience.store import Store, now
from pipeline.config import Config
from pipeline.deliver import deliveries, ledger
from pipeline.deliver.ledger import LEDGER
from pipeline.issue import load_issue
from pipeline.render import variant_key
from pipeline.render.variants import chooser
from tests.conftest import BACKENDS, EXAMPLE, fresh_database_url

LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-",
                min_size=1, max_size=12).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s)
DOMAIN = st.sampled_from(["example.se", "EXAMPLE.se", "Koping.Example", "xn--smland-jua.se",
                          "småland.se"])


@given(LOCAL, DOMAIN, st.sampled_from(["", " ", "\t"]))
def test_normalisation_is_idempotent(local: str, domain: str, pad: str) -> None:
    once = normalise_email(f"{pad}{local}@{domain}{pad}")
    assert normalise_email(once) == once
    assert once.split("@")[1] == once.split("@")[1].lower()
    assert email_key(once) == email_key(normalise_email(once.upper()))


@given(st.text(alphabet="aZ0.+_-'@ ", min_size=1, max_size=20), DOMAIN)
def test_fast_path_agrees_with_email_validator(local: str, domain: str) -> None:
    """normalise_email skips repeated domain checks; it must decide as email-validator does."""
    address = f"{local}@{domain}"
    try:
        expected: str | None = _full(address.strip())
    except ValueError:
        expected = None
    try:
        got: str | None = normalise_email(address)
    except ValueError:
        got = None
    assert got == expected


PERSON = st.fixed_dictionaries({
    "local": st.sampled_from(["anna", "bo", "cia", "dan", "eva", "fia", "gus", "hans"]),
    "segments": st.dictionaries(st.sampled_from(["connected", "general"]),
                                st.sampled_from(list(Status)[:5]), min_size=1),
    "org": st.none() | st.sampled_from([0, 1]),
    "suppressed": st.none() | st.sampled_from([ALL_SEGMENTS, "connected", "general"]),
})
FOCUS = [frozenset({"halsa"}), frozenset({"makt", "utbildning"})]


@pytest.fixture(scope="module", params=BACKENDS)
def shared_store(request: pytest.FixtureRequest, config: Config,
                 tmp_path_factory: pytest.TempPathFactory):
    store = Store.open(config, fresh_database_url(request.param,
                                                  tmp_path_factory.mktemp("prop")))
    yield store
    store.close()


def _populate(store: Store, people: list[dict]) -> dict[str, dict]:
    moment = now()
    with store.session() as session, session.begin():
        for model in (Suppression, Subscription, Subscriber, OrganisationFocus, Organisation):
            session.execute(delete(model))
        orgs = []
        for index, areas in enumerate(FOCUS):
            org = Organisation(name=f"Org {index}", name_key=f"org {index}", created_at=moment,
                               focus=[OrganisationFocus(focus=a) for a in sorted(areas)])
            session.add(org)
            orgs.append(org)
        session.flush()
        by_key: dict[str, dict] = {}
        for person in people:
            key = f"{person['local']}@example.se"
            if key in by_key:
                continue  # one row per address, as the unique index demands
            by_key[key] = person
            subscriber = Subscriber(
                email=key, email_key=key, email_hash=store.email_hash(key),
                organisation_id=None if person["org"] is None else orgs[person["org"]].id,
                created_at=moment, updated_at=moment, subscriptions=[
                    Subscription(segment=seg, status=status, legal_basis="consent",
                                 source="test", created_at=moment, status_changed_at=moment)
                    for seg, status in person["segments"].items()])
            session.add(subscriber)
            if person["suppressed"]:
                suppress(session, store.email_hash(key), person["suppressed"], "unsubscribed")
    return by_key


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(PERSON, max_size=12))
def test_selection_never_yields_unconfirmed_suppressed_or_twice(
        shared_store: Store, config: Config, people: list[dict]) -> None:
    by_key = _populate(shared_store, people)
    issue = load_issue(EXAMPLE, config)
    choose = chooser(issue, config)
    recipients = list(select_recipients(shared_store, config, choose, batch=3))
    emails = [r.email for r in recipients]
    assert len(emails) == len(set(emails))
    expected = {}
    for key, person in by_key.items():
        allowed = [seg for seg, status in person["segments"].items()
                   if status == Status.CONFIRMED
                   and person["suppressed"] not in (ALL_SEGMENTS, seg)]
        if allowed:
            expected[key] = min(allowed, key=config.audience.precedence.index)
    assert {r.email: r.segment for r in recipients} == expected
    for recipient in recipients:
        person = by_key[recipient.email]
        areas = FOCUS[person["org"]] if person["org"] is not None else frozenset()
        assert recipient.variant == variant_key(issue, config, recipient.segment, areas).name
    # the ledger's freeze copies the same audience inside the database, in subscriber order
    first = _delivery(shared_store)
    assert ledger.freeze(shared_store, first, audience(shared_store, config, choose)) == len(
        recipients)
    assert _frozen(shared_store, first) == [
        (r.subscriber_id, r.email, r.segment, r.variant) for r in recipients]
    again = _delivery(shared_store, parent=first)  # --new-subscribers: nobody is new
    assert ledger.freeze(shared_store, again, audience(shared_store, config, choose),
                         exclude_delivered_of=first) == 0


def _delivery(store: Store, parent: int | None = None) -> int:
    delivery, _ = deliveries.create_delivery(store, uuid.uuid4().hex[:12], "outbox", parent=parent)
    return delivery.id


def _frozen(store: Store, delivery_id: int) -> list[tuple]:
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            select(LEDGER.c.subscriber_id, LEDGER.c.email, LEDGER.c.segment, LEDGER.c.variant)
            .where(LEDGER.c.delivery_id == delivery_id).order_by(LEDGER.c.id))]


def test_population_fixture_is_not_vacuous(shared_store: Store, config: Config) -> None:
    people = [{"local": "anna", "segments": {"general": Status.CONFIRMED}, "org": None,
               "suppressed": None},
              {"local": "bo", "segments": {"general": Status.CONFIRMED}, "org": None,
               "suppressed": ALL_SEGMENTS}]
    _populate(shared_store, people)
    issue = load_issue(EXAMPLE, config)
    assert [r.email for r in select_recipients(shared_store, config, chooser(issue, config))] == [
        "anna@example.se"]


