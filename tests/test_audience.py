"""The audience register on real SQLite and real PostgreSQL: import, select, GDPR."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from pipeline.audience import gdpr
from pipeline.audience.importer import ImportError_, import_audience
from pipeline.audience.models import LegalBasis, Status, Subscriber, Subscription
from pipeline.audience.select import audience_stats, select_recipients
from pipeline.audience.store import Store
from pipeline.cli import main
from pipeline.config import Config
from pipeline.issue import load_issue
from pipeline.render.variants import chooser
from tests.conftest import EXAMPLE, ROOT

CONNECTED = ROOT / "examples" / "audience" / "connected.csv"
GENERAL = ROOT / "examples" / "audience" / "general.csv"


def _count(store: Store, model: type) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _write(tmp_path: Path, text: str, name: str = "lista.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _import_examples(store: Store, config: Config) -> None:
    import_audience(store, config, CONNECTED, "connected", LegalBasis.PUBLIC_TASK)
    import_audience(store, config, GENERAL, "general", LegalBasis.CONSENT)


def test_import_examples_and_reimport_changes_nothing(store: Store, config: Config) -> None:
    first = import_audience(store, config, CONNECTED, "connected", LegalBasis.PUBLIC_TASK)
    assert (first.rows, first.added, first.unchanged) == (4, 4, 0)
    general = import_audience(store, config, GENERAL, "general", LegalBasis.CONSENT)
    assert (general.added, general.unchanged) == (3, 0)
    before = audience_stats(store)
    again = import_audience(store, config, CONNECTED, "connected", LegalBasis.PUBLIC_TASK)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    import_audience(store, config, GENERAL, "general", LegalBasis.CONSENT)
    assert audience_stats(store) == before
    assert before.by_segment_status == {("connected", "confirmed"): 4,
                                        ("general", "confirmed"): 2, ("general", "pending"): 1}
    assert before.organisations == 3
    assert _count(store, Subscriber) == 6  # Maria is in both segments: one subscriber


def test_addresses_are_normalised_and_unique_case_insensitively(store: Store, config: Config,
                                                               tmp_path: Path) -> None:
    import_audience(store, config, CONNECTED, "connected", LegalBasis.PUBLIC_TASK)
    import_audience(store, config, GENERAL, "general", LegalBasis.CONSENT)
    with store.session() as session:
        maria = session.scalars(select(Subscriber).where(
            Subscriber.email_key == "maria.nilsson@koping.example")).one()
        assert maria.email == "maria.nilsson@koping.example"
        assert sorted(s.segment for s in maria.subscriptions) == ["connected", "general"]
        assert maria.organisation is not None and maria.organisation.name == "Köpings kommun"
    path = _write(tmp_path, "email;consent_source;consented_at;privacy_notice\n"
                            "  Ny.Person@EXAMPLE.se ;formulär;2026-01-01;2026-1\n")
    import_audience(store, config, path, "general", LegalBasis.CONSENT)
    with store.session() as session:
        assert session.scalar(select(Subscriber.email).where(
            Subscriber.email_key == "ny.person@example.se")) == "Ny.Person@example.se"


def test_a_bad_file_writes_nothing(store: Store, config: Config, tmp_path: Path) -> None:
    path = _write(tmp_path, "email;name;organisation;focus\n"
                            "a@example.se;A;Org;makt\n"
                            "inte-en-adress;B;Org;makt\n")
    with pytest.raises(ImportError_) as caught:
        import_audience(store, config, path, "connected", LegalBasis.PUBLIC_TASK)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:3: email: An email address must have an @-sign."]
    assert _count(store, Subscriber) == 0


def test_skip_invalid_imports_good_rows_and_writes_rejects(store: Store, config: Config,
                                                           tmp_path: Path) -> None:
    path = _write(tmp_path, "email;name;organisation;focus\n"
                            "a@example.se;A;Org;makt\n"
                            "b@example.se;=CMD();Org;makt\n"
                            "c@example.se;C;Org;miljo\n")
    report = import_audience(store, config, path, "connected", LegalBasis.PUBLIC_TASK,
                             skip_invalid=True)
    assert report.added == 1 and _count(store, Subscriber) == 1
    assert report.rejects_file == tmp_path / "lista.rejects.csv"
    rejects = list(csv.reader(io.StringIO(report.rejects_file.read_text("utf-8")), delimiter=";"))
    assert rejects[0] == ["row", "email", "name", "organisation", "focus", "problem"]
    assert rejects[1][:3] == ["3", "b@example.se", "'=CMD()"]  # neutralised, not run
    assert rejects[2][0] == "4" and "'miljo' is not a focus area" in rejects[2][-1]


def test_consent_rows_stay_pending_until_confirmed(store: Store, config: Config,
                                                   tmp_path: Path) -> None:
    import_audience(store, config, GENERAL, "general", LegalBasis.CONSENT)
    with store.session() as session:
        statuses = dict(session.execute(select(Subscriber.email_key, Subscription.status)
                                        .join(Subscription)).all())
    assert statuses["maria.nilsson@koping.example"] == Status.PENDING
    assert statuses["sara.ek@example.se"] == Status.CONFIRMED
    path = _write(tmp_path, GENERAL.read_text().replace("2026-03-18 09:00;;",
                                                        "2026-03-18 09:00;2026-03-19 10:00;"))
    report = import_audience(store, config, path, "general", LegalBasis.CONSENT)
    assert (report.updated, report.unchanged) == (1, 2)


def test_exempt_basis_must_be_named_on_the_command_line(store: Store, config: Config,
                                                        tmp_path: Path) -> None:
    path = _write(tmp_path, "email;legal_basis;consent_source;consented_at;privacy_notice\n"
                            "a@example.se;public_task;;;\n")
    with pytest.raises(ImportError_) as caught:
        import_audience(store, config, path, "general", LegalBasis.CONSENT)
    assert [p.message for p in caught.value.problems] == [
        "public_task needs --basis public_task on the command line, to import such rows on "
        "purpose"]


def test_unsubscribed_and_erased_addresses_stay_out(store: Store, config: Config) -> None:
    _import_examples(store, config)
    with store.session() as session:
        ids = dict(session.execute(select(Subscriber.email_key, Subscriber.id)).all())
    gdpr.unsubscribe(store, ids["sara.ek@example.se"], "general")
    gdpr.erase_person(store, "Per.Holm@example.se")
    report = import_audience(store, config, GENERAL, "general", LegalBasis.CONSENT)
    assert report.suppressed == [2, 3]  # rows of Sara and Per
    assert report.added == 0
    with store.session() as session:
        erased = session.get(Subscriber, ids["per.holm@example.se"])
        assert erased is not None and erased.email is None and erased.name is None
        assert erased.subscriptions == []
    with pytest.raises(gdpr.NotFound):
        gdpr.export_person(store, "per.holm@example.se")


def test_selection_one_per_address_with_precedence_and_variant(store: Store, config: Config
                                                               ) -> None:
    _import_examples(store, config)
    issue = load_issue(EXAMPLE, config)
    recipients = {r.email: r for r in select_recipients(store, config, chooser(issue, config))}
    assert sorted(recipients) == [
        "ali.hassan@folkhogskola.example", "anna.lindqvist@vasteras.example",
        "jonas.berg@vasteras.example", "maria.nilsson@koping.example",
        "per.holm@example.se", "sara.ek@example.se"]
    maria = recipients["maria.nilsson@koping.example"]
    assert maria.segment == "connected"  # in both: the connected variant wins
    assert maria.variant == "connected+halsa-och-vald+utbildning-och-omsorg"
    assert recipients["anna.lindqvist@vasteras.example"].variant == "connected+makt-och-ekonomi"
    assert recipients["sara.ek@example.se"].variant == "general"
    general_only = {r.email for r in select_recipients(store, config, chooser(issue, config),
                                                       ["general"])}
    assert general_only == {"per.holm@example.se", "sara.ek@example.se"}  # Maria is pending
    reverse = config.model_copy(update={"audience": config.audience.model_copy(
        update={"precedence": ["general", "connected"]})})
    gdpr_confirm_maria(store)
    assert {r.email: r.segment for r in select_recipients(store, reverse, chooser(issue, reverse))}[
        "maria.nilsson@koping.example"] == "general"


def gdpr_confirm_maria(store: Store) -> None:
    with store.session() as session, session.begin():
        subscription = session.scalars(select(Subscription).join(Subscriber).where(
            Subscriber.email_key == "maria.nilsson@koping.example",
            Subscription.segment == "general")).one()
        subscription.status = Status.CONFIRMED


def test_selection_skips_suppressed(store: Store, config: Config) -> None:
    _import_examples(store, config)
    with store.session() as session:
        anna = session.scalar(select(Subscriber.id).where(
            Subscriber.email_key == "anna.lindqvist@vasteras.example"))
    assert anna is not None
    gdpr.unsubscribe(store, anna)
    issue = load_issue(EXAMPLE, config)
    assert "anna.lindqvist@vasteras.example" not in {
        r.email for r in select_recipients(store, config, chooser(issue, config))}


def test_export_person_holds_everything(store: Store, config: Config) -> None:
    _import_examples(store, config)
    data = gdpr.export_person(store, "MARIA.NILSSON@koping.example")
    assert data["email"] == "maria.nilsson@koping.example"
    assert data["organisation"]["focus"] == ["halsa", "omsorg", "vald"]
    assert data["organisation"]["kind"] == "kommun"
    assert [s["segment"] for s in data["subscriptions"]] == ["connected", "general"]
    general = data["subscriptions"][1]
    assert general["legal_basis"] == "consent" and general["privacy_notice"] == "2026-1"
    assert general["created_at"] == "2026-03-18T08:00:00+00:00"  # 09:00 Stockholm time
    assert general["source"] == "Spridningskonferensen 2026, anmälningsformulär"
    json.dumps(data)


def test_the_kind_of_organisation_is_imported_kept_and_exported(store: Store, config: Config,
                                                               tmp_path: Path) -> None:
    from pipeline.audience.models import Organisation

    path = _write(tmp_path, "e-post;organisation;organisationstyp;fokus\n"
                            "a@bolaget.example;Bolaget AB;Företag;makt\n"
                            "b@bolaget.example;Bolaget AB;;makt\n"
                            "c@forening.example;Föreningen;;vald\n")
    import_audience(store, config, path, "connected", LegalBasis.PUBLIC_TASK)
    again = _write(tmp_path, "email;organisation;focus\na@bolaget.example;Bolaget AB;makt\n",
                   "igen.csv")
    import_audience(store, config, again, "connected", LegalBasis.PUBLIC_TASK)  # no kind
    with store.session() as session:
        kinds = dict(session.execute(select(Organisation.name, Organisation.kind)).all())
    assert kinds == {"Bolaget AB": "foretag", "Föreningen": None}
    assert gdpr.export_person(store, "b@bolaget.example")["organisation"]["kind"] == "foretag"
    out = io.StringIO()
    gdpr.export_all_csv(store, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue()), delimiter=";"))
    assert {r["email"]: r["kind"] for r in rows} == {
        "a@bolaget.example": "foretag", "b@bolaget.example": "foretag",
        "c@forening.example": ""}


def test_export_all_csv_neutralises_formulas(store: Store, config: Config) -> None:
    _import_examples(store, config)
    with store.session() as session, session.begin():
        person = session.scalars(select(Subscriber).where(
            Subscriber.email_key == "sara.ek@example.se")).one()
        person.name = '=HYPERLINK("https://evil.example","klicka")'
    out = io.StringIO()
    assert gdpr.export_all_csv(store, out) == 7
    rows = list(csv.reader(io.StringIO(out.getvalue()), delimiter=";"))
    sara = next(r for r in rows if r[0] == "sara.ek@example.se")
    assert sara[1] == "'=HYPERLINK(\"https://evil.example\",\"klicka\")"
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_prune_deletes_old_pending_only(store: Store, config: Config, tmp_path: Path) -> None:
    _import_examples(store, config)  # Maria's general consent is from March: pending too long
    fresh = _write(tmp_path, "email;consent_source;consented_at;privacy_notice\n"
                             "ny@example.se;formulär;2026-11-20;2026-1\n")
    import_audience(store, config, fresh, "general", LegalBasis.CONSENT)
    assert gdpr.prune_pending(store, config) == 1
    stats = audience_stats(store)
    assert stats.by_segment_status[("general", "pending")] == 1  # the fresh one
    assert _count(store, Subscriber) == 7  # Maria keeps her connected subscription


def test_prune_drops_organisations_whose_joining_nobody_confirmed(store: Store,
                                                                  config: Config) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from pipeline.audience.models import Organisation
    from pipeline.audience.signup import Contact, request_membership
    from pipeline.audience.store import now

    _import_examples(store, config)
    for name, address in (("Glömda föreningen", "k@glomda.example"),
                          ("Nya föreningen", "k@nya.example")):
        request_membership(store, name, None, [Contact(address, None)], ["makt"], "connected",
                           "https://x.example/anslut", "2026-1")
    old = now() - timedelta(days=config.audience.pending_retention_days + 1)
    with store.engine.begin() as connection:
        forgotten = select(Organisation.id).where(Organisation.name == "Glömda föreningen")
        connection.execute(update(Organisation).where(Organisation.id.in_(forgotten))
                           .values(created_at=old))
        connection.execute(update(Subscription).where(
            Subscription.subscriber_id.in_(select(Subscriber.id).where(
                Subscriber.organisation_id.in_(forgotten)))).values(created_at=old))
    gdpr.prune_pending(store, config)
    with store.session() as session:
        names = set(session.scalars(select(Organisation.name)))
    assert "Glömda föreningen" not in names
    assert {"Nya föreningen", "Västerås stad", "Köpings kommun"} <= names


def test_cli_import_stats_export_erase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    config = ["--config", str(ROOT / "newsletter.toml")]
    runner = CliRunner()
    result = runner.invoke(main, ["audience", "import", str(CONNECTED), "--segment",
                                  "connected", "--basis", "public_task", *config])
    assert result.output == (f"{CONNECTED}: 4 row(s): 4 added, 0 confirmed, 0 unchanged, "
                             "0 suppressed (not imported), 0 rejected\n")
    result = runner.invoke(main, ["audience", "stats", *config])
    assert result.output.splitlines()[:3] == [
        "segment      status        count", "connected    confirmed         4",
        "organisations: 3, suppressed addresses: 0"]
    result = runner.invoke(main, ["audience", "export", "ali.hassan@folkhogskola.example",
                                  *config])
    assert json.loads(result.output)["organisation"]["name"] == "Västmanlands folkhögskola"
    result = runner.invoke(main, ["audience", "erase", "ali.hassan@folkhogskola.example",
                                  "--yes", *config])
    assert result.output == ("Erased ali.hassan@folkhogskola.example; the address stays on "
                             "the suppression list.\n")
    result = runner.invoke(main, ["audience", "export", "ali.hassan@folkhogskola.example",
                                  *config])
    assert result.exit_code == 1
    assert result.output == ("Error: no subscriber with the address "
                             "ali.hassan@folkhogskola.example\n")
    result = runner.invoke(main, ["audience", "export", *config])
    assert result.exit_code == 2 and "give either EMAIL or --all --csv" in result.output


def test_sqlite_file_is_created_on_first_use_beside_the_config(tmp_path: Path,
                                                               monkeypatch) -> None:
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    shutil.copy(ROOT / "newsletter.toml", tmp_path / "newsletter.toml")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")  # the brand files
    result = CliRunner().invoke(main, ["audience", "stats", "--config",
                                       str(tmp_path / "newsletter.toml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "newsletter.db").exists()
