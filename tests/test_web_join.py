"""The join form's checks and choices over real HTTP (uvicorn on 127.0.0.1), on both
databases: the organisation number with its check digit, one address per contact person, a
name without an address, the kind of organisation (asked, stored, shown, exported), and each
focus area described by its goal."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from pipeline.audience.models import Organisation, Subscriber
from pipeline.audience.store import Store
from pipeline.config import Config
from tests.test_web_account import join, person, preferences
from tests.webserver import csrf_of, outbox_mails, request

SALA = {"organisation": "Sala kommun", "org_number": "222000-0018",
        "contact_1_name": "Eva Sjö", "contact_1_email": "eva.sjo@sala.example",
        "focus": ["makt", "halsa"], "consent": "ja"}


def organisations(store: Store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Organisation)) or 0


def error_of(page: str, field: str) -> str | None:
    """The error message tied to ``field``, if the page has one."""
    found = re.search(rf'<[a-z]+ class="error" id="{re.escape(field)}-fel">([^<]*)<', page)
    return found.group(1) if found else None


def summary(page: str) -> list[str]:
    """The fields the error summary links to, in order."""
    start = page.index('class="problems"')
    return re.findall(r'<li><a href="#([^"]+)">', page[start:page.index("</ul>", start)])


def nothing_happened(store: Store, outbox: Path) -> None:
    assert organisations(store) == 3  # the example's
    assert not outbox.exists() or outbox_mails(outbox) == []


@pytest.mark.parametrize(("number", "message"), [
    ("212000-2099", "Kontrollera organisationsnumret. Den sista siffran stämmer inte med de "
                    "andra."),  # the tracker's: stored once, it fails its check digit
    ("2120002099", "Kontrollera organisationsnumret. Den sista siffran stämmer inte med de "
                   "andra."),
    ("21200-2099", "Skriv organisationsnumret med tio siffror, till exempel 212000-2080."),
    ("", "Skriv organisationsnumret med tio siffror, till exempel 212000-2080."),
])
def test_an_organisation_number_that_is_not_one_is_an_error_on_its_field(
        web, number: str, message: str) -> None:
    base, store, outbox = web
    status, page = join(base, **{**SALA, "org_number": number})
    assert status == 400
    assert error_of(page, "org_number") == message
    assert 'aria-invalid="true" aria-describedby="org_number-fel org_number-hint"' in page
    assert summary(page) == ["org_number"]
    assert f'id="org_number" name="org_number" type="text" autocomplete="off" maxlength="20" ' \
           f'value="{number}"' in page  # kept, to correct
    nothing_happened(store, outbox)


def test_the_same_contact_person_twice_is_an_error_on_the_later_address(web) -> None:
    base, store, outbox = web
    status, page = join(base, **SALA, contact_2_name="Eva igen",
                        contact_2_email="EVA.Sjo@Sala.example",
                        contact_3_email="eva.sjo@SALA.EXAMPLE")
    assert status == 400
    assert error_of(page, "contact-1-email") is None
    for n in (2, 3):
        assert error_of(page, f"contact-{n}-email") == (
            "Du har redan skrivit den här adressen för en annan kontaktperson. Skriv en annan "
            "adress eller lämna fältet tomt.")
        assert f'aria-invalid="true" aria-describedby="contact-{n}-email-fel"' in page
    assert summary(page) == ["contact-2-email", "contact-3-email"]
    assert 'value="EVA.Sjo@Sala.example"' in page
    nothing_happened(store, outbox)


def test_another_contact_with_a_name_and_no_address_is_an_error(web) -> None:
    base, store, outbox = web
    status, page = join(base, **SALA, contact_2_name="Bo Ek")
    assert status == 400
    assert error_of(page, "contact-2-email") == (
        "Skriv en e-postadress till kontaktpersonen, eller ta bort namnet.")
    assert 'value="Bo Ek"' in page
    nothing_happened(store, outbox)


def test_two_different_contacts_are_both_asked(web) -> None:
    base, _, outbox = web
    status, _ = join(base, **SALA, contact_2_email="bo.ek@sala.example")
    assert status == 200
    assert sorted(m["To"].addresses[0].addr_spec for m in outbox_mails(outbox)) == [
        "bo.ek@sala.example", "eva.sjo@sala.example"]


def test_the_kind_of_organisation_is_required(web) -> None:
    base, store, outbox = web
    for kind in (None, "", "bolag", "kommun\x00"):
        status, page = join(base, **SALA, kind=kind)
        assert status == 400, kind
        assert '<fieldset aria-describedby="kind-fel">' in page
        assert error_of(page, "kind") == "Välj vilken typ av organisation ni är."
        assert summary(page) == ["kind-kommun"]  # the first radio button
        assert page.count('name="kind" type="radio"') == 6
        assert page.count('type="radio" value="') == 6 and " checked" not in \
            page[page.index('name="kind"'):page.index("</fieldset>", page.index('name="kind"'))]
    nothing_happened(store, outbox)


def test_the_kind_is_offered_in_swedish_kept_on_errors_stored_and_shown(web) -> None:
    base, store, _ = web
    page = request(f"{base}/anslut")[2]
    assert "<legend>Vilken typ av organisation är ni?</legend>" in page
    labels = re.findall(r'<label for="kind-([a-z]+)">([^<]+)</label>', page)
    assert labels == [("kommun", "Kommun"), ("region", "Region"), ("myndighet", "Myndighet"),
                      ("foretag", "Företag"), ("forening", "Förening"), ("annan", "Annan")]
    status, page = join(base, **{**SALA, "consent": "", "kind": "myndighet"})
    assert status == 400 and 'id="kind-myndighet" name="kind" type="radio" value="myndighet" ' \
                             'checked' in page
    assert join(base, **{**SALA, "kind": "myndighet"})[0] == 200
    with store.session() as session:
        assert session.scalar(select(Organisation.kind).where(
            Organisation.name == "Sala kommun")) == "myndighet"


def test_preferences_show_the_organisation_with_its_kind_and_a_swedish_date(web) -> None:
    base, store, _ = web
    with store.engine.begin() as connection:
        connection.execute(update(Organisation).where(Organisation.name == "Köpings kommun")
                           .values(joined_on=date(2026, 3, 3)))
    url, page = preferences(base, store, "maria.nilsson@koping.example")
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", page))
    assert facts == {"Organisation": "Köpings kommun", "Organisationsnummer": "212000-2064",
                     "Typ av organisation": "Kommun", "Ansluten sedan": "3 mars 2026"}
    assert "<legend>Fokusområden för Köpings kommun (välj minst ett)</legend>" in page
    english = request(url, headers={"Accept-Language": "en"})[2]
    assert "<dt>Joined on</dt><dd>March 3, 2026</dd>" in english
    assert "<dd>Municipality</dd>" in english
    status, _, exported = request(f"{url}/export", {"csrf": csrf_of(page)})
    assert status == 200
    assert json.loads(exported)["organisation"]["typ av organisation"] == "Kommun"


def test_a_reader_without_an_organisation_sees_no_organisation(web) -> None:
    base, store, _ = web
    _, page = preferences(base, store, "sara.ek@example.se")
    assert "<dl" not in page and "Din organisation" not in page and 'name="focus"' not in page


@pytest.mark.parametrize("path", ["/anslut", "preferences"])
def test_each_focus_area_is_described_by_its_goal(web, config: Config, path: str) -> None:
    base, store, _ = web
    page = request(f"{base}/anslut")[2] if path == "/anslut" else \
        preferences(base, store, "ali.hassan@folkhogskola.example")[1]
    for area in config.focus_areas:
        box = re.search(rf'<input id="focus-{area.slug}" [^>]*>', page)
        assert box is not None and f'aria-describedby="focus-{area.slug}-hint"' in box.group(0)
        assert f'<label for="focus-{area.slug}">{area.name}</label>' \
               f'<span class="hint" id="focus-{area.slug}-hint">{area.goal}</span>' in page


def test_a_joined_contact_is_linked_to_an_organisation_with_its_kind(web) -> None:
    base, store, outbox = web
    assert join(base, **{**SALA, "kind": "kommun"})[0] == 200
    [mail] = outbox_mails(outbox)
    token = re.search(r"/bekrafta/(\S+)", mail.get_body(("plain",)).get_content())
    assert token is not None
    page = request(f"{base}/bekrafta/{token.group(1)}")[2]
    assert request(f"{base}/bekrafta/{token.group(1)}", {"csrf": csrf_of(page)})[0] == 200
    eva = person(store, "eva.sjo@sala.example")
    with store.session() as session:
        sala = session.get(Organisation, eva.organisation_id)
        assert sala is not None and sala.kind == "kommun" and sala.joined_on is not None
        assert session.scalar(select(func.count()).select_from(Subscriber).where(
            Subscriber.organisation_id == sala.id)) == 1
