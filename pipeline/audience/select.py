"""Who gets an issue: one row per address, with the variant that reader gets.

Only confirmed subscriptions (exempt legal bases are confirmed on import), never an address on
the suppression list for that segment or for all, never an erased one. A reader in several
segments gets the issue once, for the first segment in ``[audience] precedence`` (then by
name). ``audience`` is that as one SQL query, so ``freeze`` copies it into the ledger inside
the database; ``select_recipients`` streams the same rows, in order of subscriber, so memory
stays flat however large the register.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, case, exists, func, literal, or_, select
from sqlalchemy.orm import aliased

from pipeline.audience.models import (
    ALL_SEGMENTS,
    Organisation,
    OrganisationFocus,
    Status,
    Subscriber,
    Subscription,
    Suppression,
)
from pipeline.audience.store import Store
from pipeline.config import Config

Chooser = Callable[[str, frozenset[str]], str]
"""(segment, the reader's focus areas) → the name of the variant they get (the edition's)."""


class Recipient(NamedTuple):  # one per reader of a delivery: three times cheaper to make
    subscriber_id: int
    email: str
    name: str | None
    segment: str
    focus: frozenset[str]
    variant: str


_NONE: frozenset[str] = frozenset()


def audience(store: Store, config: Config, choose: Chooser,
             segments: list[str] | None = None) -> Select[Any]:
    """The query of the audience: (subscriber id, email, name, segment, variant, organisation
    id), one row per reader, unordered. The variant is chosen per segment and organisation
    beforehand (organisations number in the hundreds), so the query needs no Python per row."""
    return _audience(config, choose, organisation_focus(store), segments)


def _audience(config: Config, choose: Chooser, focus: dict[int, frozenset[str]],
              segments: list[str] | None) -> Select[Any]:
    wanted = segments or [s.slug for s in config.segments]
    rank = {slug: i for i, slug in enumerate(config.audience.precedence)}
    other = aliased(Subscription)

    def eligible(subscription: Any) -> Any:
        return and_(subscription.segment.in_(wanted), subscription.status == Status.CONFIRMED,
                    ~exists().where(Suppression.hash == Subscriber.email_hash, or_(
                        Suppression.scope == ALL_SEGMENTS,
                        Suppression.scope == subscription.segment)).correlate_except(Suppression))

    def ranked(subscription: Any) -> Any:
        return case(rank, value=subscription.segment, else_=len(rank)) if rank else literal(0)

    preferred = exists().where(  # a subscription of the same reader that comes first
        other.subscriber_id == Subscriber.id, eligible(other),
        or_(ranked(other) < ranked(Subscription),
            and_(ranked(other) == ranked(Subscription), other.segment < Subscription.segment)))
    return (select(Subscriber.id, Subscriber.email, Subscriber.name, Subscription.segment,
                   _variant(config, choose, focus, wanted), Subscriber.organisation_id)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(Subscriber.email.is_not(None), eligible(Subscription), ~preferred))


def _variant(config: Config, choose: Chooser, focus: dict[int, frozenset[str]],
             wanted: list[str]) -> Any:
    """The variant column: by segment, and for a focus segment by the reader's organisation's
    areas (a reader without an organisation, or whose organisation chose none, gets the
    segment's general variant)."""
    by_focus = _by_focus(config)
    whens: list[tuple[Any, str]] = []
    for slug in wanted:
        general = choose(slug, _NONE)
        if by_focus.get(slug, False):
            groups: dict[str, list[int]] = {}
            for org, areas in sorted(focus.items()):
                groups.setdefault(choose(slug, areas), []).append(org)
            whens += [(and_(Subscription.segment == slug,
                            Subscriber.organisation_id.in_(  # written inline: no bound
                                bindparam(None, orgs, expanding=True,  # parameter per org
                                          literal_execute=True))), variant)
                      for variant, orgs in groups.items() if variant != general]
        whens.append((Subscription.segment == slug, general))
    return case(*whens).label("variant")


def select_recipients(store: Store, config: Config, choose: Chooser,
                      segments: list[str] | None = None, batch: int = 5000
                      ) -> Iterator[Recipient]:
    """The audience's rows in order of subscriber, streamed ``batch`` at a time."""
    focus, by_focus = organisation_focus(store), _by_focus(config)
    query = _audience(config, choose, focus, segments).order_by(Subscriber.id)
    with store.engine.connect() as connection:
        for sid, email, name, segment, variant, org in connection.execution_options(
                yield_per=batch).execute(query):
            areas = focus.get(org, _NONE) if org is not None and by_focus.get(segment) \
                else _NONE
            yield Recipient(sid, str(email), name, segment, areas, variant)


def _by_focus(config: Config) -> dict[str, bool]:
    """Segment → whether its readers get variants by their organisation's focus areas."""
    return {s.slug: bool(s.focus) for s in config.segments}


def organisation_focus(store: Store) -> dict[int, frozenset[str]]:
    """Organisation id → its focus areas (organisations number in the hundreds)."""
    out: dict[int, set[str]] = {}
    with store.session() as session:
        for org, slug in session.execute(select(OrganisationFocus.organisation_id,
                                                OrganisationFocus.focus)):
            out.setdefault(org, set()).add(slug)
    return {org: frozenset(slugs) for org, slugs in out.items()}


@dataclass(frozen=True)
class AudienceStats:
    by_segment_status: dict[tuple[str, str], int]
    by_focus: dict[str, int]
    organisations: int
    suppressions: int


def audience_stats(store: Store) -> AudienceStats:
    with store.session() as session:
        by_status = {(segment, status): count for segment, status, count in session.execute(
            select(Subscription.segment, Subscription.status, func.count())
            .group_by(Subscription.segment, Subscription.status))}
        by_focus = {slug: count for slug, count in session.execute(
            select(OrganisationFocus.focus, func.count(func.distinct(Subscriber.id)))
            .join(Subscriber, Subscriber.organisation_id == OrganisationFocus.organisation_id)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(Subscription.status == Status.CONFIRMED)
            .group_by(OrganisationFocus.focus))}
        organisations = session.scalar(select(func.count()).select_from(Organisation)) or 0
        suppressions = session.scalar(select(func.count()).select_from(Suppression)) or 0
    return AudienceStats(by_status, by_focus, organisations, suppressions)
