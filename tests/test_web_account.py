"""Joining the strategy, and a reader's own pages (preferences, export, erase, per-list
unsubscribe), over real HTTP on uvicorn, on both databases."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import select

from pipeline.audience.models import ALL_SEGMENTS, Organisation, Status, Subscriber, Suppression
from pipeline.audience.select import select_recipients
from pipeline.audience.store import Store
from pipeline.audience.tokens import Purpose, make_token
from pipeline.config import Config
from pipeline.issue import load_issue
from pipeline.render.variants import chooser
from tests.conftest import EXAMPLE
from tests.webserver import SECRET, csrf_of, local, outbox_mails, request, served, text_of


def person(store: Store, address: str) -> Subscriber:
    with store.session() as session:
        found = session.scalar(select(Subscriber).where(Subscriber.email_key == address))
        assert found is not None
        session.expunge(found)
        return found


def statuses(store: Store, address: str) -> dict[str, str]:
    return {s.segment: s.status for s in person(store, address).subscriptions}


def join(base: str, **fields: str | list[str] | None) -> tuple[int, str]:
    """Fill in and send the join form; the kind of organisation is kommun unless given
    (None leaves it out)."""
    status, _, page = request(f"{base}/anslut")
    assert status == 200
    data = [("csrf", csrf_of(page))]
    for key, value in {"kind": "kommun", **fields}.items():
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            data.append((key.replace("_", "-") if key.startswith("contact_") else key, item))
    status, _, answer = request(f"{base}/anslut", data)
    return status, answer


def test_an_organisation_joins_confirms_and_gets_the_welcome_package(web, config: Config
                                                                     ) -> None:
    base, store, outbox = web
    status, page = join(base, organisation="  Sala   kommun ", org_number="222000-0018",
                        contact_1_name="Eva Sjö",
                        contact_1_email="eva.sjo@sala.example", contact_2_name="Bo Ek",
                        contact_2_email="bo.ek@sala.example", focus=["makt", "halsa"],
                        consent="ja")
    assert status == 200 and "<h1>Bekräfta anslutningen via e-post</h1>" in page
    asks = outbox_mails(outbox)
    assert sorted(m["To"].addresses[0].addr_spec for m in asks) == [
        "bo.ek@sala.example", "eva.sjo@sala.example"]
    assert all("Sala" not in m["Subject"] + text_of(m) for m in asks)  # nothing typed
    with store.session() as session:
        sala = session.scalar(select(Organisation).where(Organisation.name == "Sala kommun"))
        assert sala is not None and sala.joined_on is None  # not until someone confirms
        assert sorted(f.focus for f in sala.focus) == ["halsa", "makt"]
    assert statuses(store, "eva.sjo@sala.example") == {"connected": Status.PENDING}

    eva = next(m for m in asks if m["To"].addresses[0].addr_spec == "eva.sjo@sala.example")
    link = re.search(r"/bekrafta/(\S+)", text_of(eva))
    assert link is not None
    status, _, confirm = request(f"{base}/bekrafta/{link.group(1)}")
    assert "bekräfta att du är kontaktperson för organisationen" in confirm
    status, _, done = request(f"{base}/bekrafta/{link.group(1)}", {"csrf": csrf_of(confirm)})
    assert status == 200 and "Tack!" in done
    assert "<p>Sala kommun är nu ansluten till länsstrategin för jämställdhetsintegrering.</p>" \
        in done and "Du prenumererar nu" not in done
    assert "Ett mejl med välkomstpaketet är på väg till dig." in done
    assert statuses(store, "eva.sjo@sala.example") == {"connected": Status.CONFIRMED}
    with store.session() as session:
        sala = session.scalar(select(Organisation).where(Organisation.name == "Sala kommun"))
        assert sala is not None and sala.joined_on is not None
    [welcome] = outbox_mails(outbox)[2:]
    assert welcome["To"].addresses[0].addr_spec == "eva.sjo@sala.example"
    body = text_of(welcome)
    assert "Sala kommun har anslutit sig" in body
    for item in config.web.package:
        assert item.text in body
    again = request(f"{base}/bekrafta/{link.group(1)}", {"csrf": csrf_of(confirm)})[2]
    assert len(outbox_mails(outbox)) == 3  # no second welcome, and the page says none
    assert "Sala kommun är nu ansluten" in again and "välkomstpaketet är på väg" not in again
    issue = load_issue(EXAMPLE, config)
    [eva_gets] = [r for r in select_recipients(store, config, chooser(issue, config))
                  if r.email == "eva.sjo@sala.example"]
    assert eva_gets.segment == "connected" and set(eva_gets.focus) == {"makt", "halsa"}


def test_joining_without_a_focus_area_is_an_error_on_that_field(web) -> None:
    base, store, outbox = web
    status, page = join(base, organisation="Arboga kommun", contact_1_email="kim@arboga.example",
                        consent="ja")
    assert status == 400
    assert '<fieldset aria-describedby="focus-fel">' in page
    assert '<p class="error" id="focus-fel">Välj minst ett område' in page
    assert '<a href="#focus-makt">' in page  # the summary leads to the first box
    assert 'value="Arboga kommun"' in page and 'value="kim@arboga.example"' in page
    with store.session() as session:
        assert session.scalar(select(Organisation).where(
            Organisation.name == "Arboga kommun")) is None
    assert not outbox_mails(outbox) if outbox.exists() else True


def test_a_stranger_cannot_rewrite_an_existing_organisations_focus(web) -> None:
    base, store, _ = web
    status, _ = join(base, organisation="västerås STAD", org_number="212000-2080",
                     contact_1_email="x@elsewhere.example",
                     focus=["vald"], consent="ja")
    assert status == 200
    with store.session() as session:
        vasteras = session.scalar(select(Organisation).where(
            Organisation.name == "Västerås stad"))
        assert vasteras is not None
        assert sorted(f.focus for f in vasteras.focus) == ["ekonomi", "makt"]


def preferences(base: str, store: Store, address: str) -> tuple[str, str]:
    token = make_token(SECRET, Purpose.PREFERENCES, person(store, address).id)
    status, _, page = request(f"{base}/installningar/{token}")
    assert status == 200
    return f"{base}/installningar/{token}", page


def test_preferences_change_the_name_and_lists_and_can_come_back(web, config: Config) -> None:
    base, store, _ = web
    url, page = preferences(base, store, "sara.ek@example.se")
    assert 'value="Sara Ek"' in page and 'id="list-general"' in page
    assert 'id="list-connected"' not in page  # joining goes through the join form
    status, _, saved = request(url, {"csrf": csrf_of(page), "name": "Sara Ekholm"})
    assert status == 200 and "Ändringarna är sparade." in saved
    sara = person(store, "sara.ek@example.se")
    assert sara.name == "Sara Ekholm"
    assert statuses(store, "sara.ek@example.se") == {"general": Status.UNSUBSCRIBED}
    issue = load_issue(EXAMPLE, config)
    assert "sara.ek@example.se" not in {r.email for r in select_recipients(
        store, config, chooser(issue, config))}

    request(url, [("csrf", csrf_of(page)), ("name", "Sara Ekholm"), ("list", "general")])
    assert statuses(store, "sara.ek@example.se") == {"general": Status.CONFIRMED}
    assert "sara.ek@example.se" in {r.email for r in select_recipients(
        store, config, chooser(issue, config))}
    with store.session() as session:  # fresh consent evidence from this page
        subscription = person(store, "sara.ek@example.se").subscriptions[0]
        assert subscription.source.endswith("/installningar")
        assert subscription.privacy_notice == config.audience.privacy_notice
        assert not session.scalars(select(Suppression).where(
            Suppression.hash == sara.email_hash)).all()


def test_a_contact_changes_the_focus_areas_but_not_to_none(web, config: Config) -> None:
    base, store, _ = web
    url, page = preferences(base, store, "ali.hassan@folkhogskola.example")
    assert 'id="focus-utbildning" name="focus" type="checkbox" value="utbildning" checked' \
        in page
    form = [("csrf", csrf_of(page)), ("name", "Ali Hassan"), ("list", "connected")]
    status, _, error = request(url, form)
    assert status == 400 and 'aria-describedby="focus-fel"' in error
    status, _, _ = request(url, [*form, ("focus", "utbildning"), ("focus", "ekonomi")])
    assert status == 200
    with store.session() as session:
        school = session.scalar(select(Organisation).where(
            Organisation.name == "Västmanlands folkhögskola"))
        assert school is not None and sorted(f.focus for f in school.focus) == [
            "ekonomi", "utbildning"]
    assert statuses(store, "ali.hassan@folkhogskola.example") == {
        "connected": Status.CONFIRMED}


def test_a_bounced_reader_cannot_turn_the_list_back_on(web) -> None:
    base, store, _ = web
    from pipeline.audience.gdpr import unsubscribe

    unsubscribe(store, person(store, "per.holm@example.se").id, ALL_SEGMENTS, Status.BOUNCED)
    url, page = preferences(base, store, "per.holm@example.se")
    status, _, answer = request(url, [("csrf", csrf_of(page)), ("list", "general")])
    assert status == 200 and "vi kan inte skicka nyhetsbrevet till din adress" in answer
    assert statuses(store, "per.holm@example.se") == {"general": Status.BOUNCED}


def test_export_then_erase_after_a_confirmation(web) -> None:
    base, store, _ = web
    url, page = preferences(base, store, "maria.nilsson@koping.example")
    status, headers, exported = request(f"{url}/export", {"csrf": csrf_of(page)})
    assert status == 200 and headers["content-type"] == "application/json"
    assert "attachment" in headers["content-disposition"]
    data = json.loads(exported)  # the register's export, in words a reader understands
    assert data["e-postadress"] == "maria.nilsson@koping.example"
    assert {s["målgrupp"] for s in data["prenumerationer"]} == {"Anslutna aktörer",
                                                               "Prenumeranter"}
    assert {s["rättslig grund"] for s in data["prenumerationer"]} == {
        "ditt samtycke (artikel 6.1 a i dataskyddsförordningen)",
        "en uppgift av allmänt intresse (artikel 6.1 e i dataskyddsförordningen)"}
    assert data["organisation"]["namn"] == "Köpings kommun"
    assert data["organisation"]["fokusområden"] == [
        "Jämställd hälsa", "En jämn fördelning av det obetalda hem- och omsorgsarbetet",
        "Mäns våld mot kvinnor ska upphöra"]
    assert "pending" not in exported and "public_task" not in exported  # no codes

    status, _, ask = request(f"{url}/radera", {"csrf": csrf_of(page)})
    assert status == 200 and "Vill du radera dina uppgifter?" in ask
    assert person(store, "maria.nilsson@koping.example").email is not None  # not yet
    status, _, done = request(f"{url}/radera", {"csrf": csrf_of(ask), "scope": "ja"})
    assert status == 200 and "Dina uppgifter är raderade" in done
    with store.session() as session:
        assert session.scalar(select(Subscriber).where(
            Subscriber.email_key == "maria.nilsson@koping.example")) is None
    status, _, after = request(url)
    assert status == 200 and "Inga uppgifter om dig" in after


def test_account_forms_need_their_csrf_token(web) -> None:
    base, store, _ = web
    url, _ = preferences(base, store, "sara.ek@example.se")
    for path, data in (("", {"name": "X"}), ("/export", {}), ("/radera", {"scope": "ja"}),
                       ("/radera", {"List-Unsubscribe": "One-Click", "scope": "ja"})):
        assert request(f"{url}{path}", data)[0] == 403, path
    assert person(store, "sara.ek@example.se").name == "Sara Ek"
    assert person(store, "sara.ek@example.se").email is not None


def test_unsubscribe_one_list_or_everything(web) -> None:
    base, store, _ = web
    token = make_token(SECRET, Purpose.UNSUBSCRIBE, person(store, "maria.nilsson@koping.example")
                       .id)
    page = request(f"{base}/avregistrera/{token}")[2]
    assert 'value="general">Avregistrera mig som prenumerant' in page
    assert 'value="connected">Avregistrera mig som kontaktperson för Köpings kommun' in page
    assert 'value="*">Avregistrera mig från nyhetsbrevet' in page
    request(f"{base}/avregistrera/{token}", {"csrf": csrf_of(page), "scope": "general"})
    assert statuses(store, "maria.nilsson@koping.example") == {
        "connected": Status.CONFIRMED, "general": Status.UNSUBSCRIBED}
    request(f"{base}/avregistrera/{token}", {"csrf": csrf_of(page), "scope": "*"})
    assert set(statuses(store, "maria.nilsson@koping.example").values()) == {
        Status.UNSUBSCRIBED}


def test_oversized_forms_are_refused_before_parsing(web) -> None:
    base, _, _ = web
    status, _, page = request(f"{base}/prenumerera", {"csrf": "x", "name": "a" * 20_000})
    assert status == 413 and "För mycket text" in page


def test_rate_limits_per_address_and_per_client_are_configurable(store: Store, config: Config,
                                                                 tmp_path: Path) -> None:
    from pipeline.settings import WebSettings

    web = WebSettings(**{**config.web.model_dump(), "requests_per_address_per_hour": 2,
                         "requests_per_client_per_hour": 4})
    strict = local(config, tmp_path).model_copy(update={"web": web})

    def subscribe(base: str, address: str) -> int:
        page = request(f"{base}/prenumerera")[2]
        return request(f"{base}/prenumerera", {"csrf": csrf_of(page), "email": address,
                                                "consent": "ja"})[0]

    with served(strict, store) as base:
        assert [subscribe(base, "same@example.se") for _ in range(3)] == [200, 200, 429]
        # the client has used 3 of its 4; one more address passes, then nothing does
        assert [subscribe(base, f"other{n}@example.se") for n in range(2)] == [200, 429]
        assert join(base, organisation="Org", org_number="556677-8899",
                    contact_1_email="new@org.example",
                    focus="makt", consent="ja")[0] == 429
    assert len(outbox_mails(tmp_path / "outbox")) == 3  # 2 for the same address, 1 other
