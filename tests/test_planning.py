"""Planning: DST gaps and folds refused, the send window, Swedish holidays, new issues, the
schedule list and the scheduled state."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.audience.store import Store
from pipeline.cli import main
from pipeline.config import Config
from pipeline.deliver import deliveries
from pipeline.deliver.models import DeliveryState
from pipeline.errors import NewsletterError, Severity
from pipeline.lint import check_issue
from pipeline.planning import new_issue, planned_sends, schedule_issue, unschedule_issue
from pipeline.sendtime import dst_problem, non_working_days, propose
from pipeline.settings import Rule
from tests.conftest import ROOT

CONFIG = ["--config", str(ROOT / "newsletter.toml")]


@pytest.mark.parametrize(("when", "expected"), [
    ("2027-03-28 02:30", "2027-03-28 02:30 does not exist in Europe/Stockholm: the clocks "
                         "jump forward that night; choose another time"),
    ("2027-10-31 02:15", "2027-10-31 02:15 happens twice in Europe/Stockholm: the clocks go "
                         "back that night; choose another time"),
])
def test_dst_gap_and_fold_are_errors_at_their_line(make_issue, when: str, expected: str) -> None:
    from tests.test_check_errors import meta

    folder = make_issue(meta("2027-02-16 09:00", when))
    result = CliRunner().invoke(main, ["check", str(folder), *CONFIG])
    assert f"{folder}/issue.yaml:5: send_at: {expected}" in result.output.splitlines()
    assert result.output.splitlines()[-1].startswith(f"{folder}: 1 error(s)")
    assert result.exit_code == 1


def test_weekend_holiday_and_window_are_send_time_warnings(make_issue, config: Config) -> None:
    from tests.test_check_errors import meta

    folder = make_issue(meta("2027-02-16 09:00", "2027-06-25 18:30"))
    result = check_issue(folder, config)
    assert [(p.severity, p.message) for p in result.problems] == [
        (Severity.WARNING, "18:30 is outside the send window 08:00–17:00 [send-time]"),
        (Severity.WARNING, "2027-06-25 is Midsommarafton, a day off in Sweden [send-time]")]
    strict = config.model_copy(update={"check": config.check.model_copy(
        update={"severity": {Rule.SEND_TIME: Severity.ERROR}})})
    assert len(check_issue(folder, strict).errors) == 2
    folder2 = make_issue(meta("2027-02-16 09:00", "2027-02-20 10:00"), folder="2027-2")
    assert "2027-02-20 is a Saturday [send-time]" in [
        p.message for p in check_issue(folder2, config).problems]


def test_non_working_days_include_the_eves() -> None:
    days = non_working_days(2027)
    assert days[date(2027, 6, 25)] == "Midsommarafton"
    assert days[date(2027, 12, 24)] == "Julafton" and days[date(2027, 3, 26)] == "Långfredagen"
    assert date(2027, 2, 16) not in days


def test_proposals_follow_the_cadence_and_avoid_days_off(config: Config) -> None:
    assert propose(config, date(2026, 11, 26)) == datetime(2027, 2, 9, 9, 0)
    assert propose(config, date(2027, 2, 9)) == datetime(2027, 5, 11, 9, 0)
    eve = config.model_copy(update={"schedule": config.schedule.model_copy(
        update={"months": [12], "weekday": "friday", "week_of_month": 4})})
    assert propose(eve, date(2027, 1, 1)) == datetime(2028, 1, 7, 9, 0)  # not 24 or 31 Dec
    assert dst_problem(datetime(2027, 5, 11, 9, 0), config.zone) is None


def test_new_creates_the_next_issue_with_a_proposed_time(config: Config, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copytree(ROOT / "issues", tmp_path / "issues")
    site = config.model_copy(update={"root": tmp_path})
    folder, send_at = new_issue(site, date(2026, 11, 26))
    assert folder == tmp_path / "issues" / "2027-2"
    assert send_at == datetime(2027, 5, 11, 9, 0)
    assert "send_at: 2027-05-11 09:00" in (folder / "issue.yaml").read_text(encoding="utf-8")
    # a fresh issue is valid, but still the skeleton's text: `unedited` until it is written
    assert [(Path(p.path).name, p.line, p.key) for p in check_issue(folder, site).problems] == [
        ("01-ledare.md", 4, "body"), ("issue.yaml", 4, "title"),
        ("issue.yaml", 5, "subject"), ("issue.yaml", 6, "preheader")]
    assert new_issue(site, date(2026, 11, 26))[0].name == "2027-3"


def test_the_first_issue_is_named_after_its_send_time(config: Config, tmp_path: Path) -> None:
    """With no issue yet, late in a year: the next send is in February, so 2027-1."""
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    site = config.model_copy(update={"root": tmp_path})
    folder, send_at = new_issue(site, date(2026, 11, 30))
    assert (folder.name, send_at) == ("2027-1", datetime(2027, 2, 9, 9, 0))
    assert new_issue(site, date(2026, 11, 30))[0].name == "2027-2"


def test_schedule_lists_marks_and_unmarks(store: Store, config: Config, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copytree(ROOT / "issues", tmp_path / "issues")
    site = config.model_copy(update={"root": tmp_path})
    [row] = planned_sends(store, site)
    assert (row.slug, row.local, row.utc, row.status) == (
        "2027-1", "2027-02-16 09:00 (Tuesday)", "2027-02-16 08:00",
        "not scheduled; not approved")
    folder = tmp_path / "issues" / "2027-1"
    message = schedule_issue(store, site, folder, now=datetime(2026, 11, 26, tzinfo=UTC))
    assert message == ("2027-1 is scheduled for 2027-02-16 09:00 Europe/Stockholm "
                       "(2027-02-16 08:00 UTC); not approved.")
    assert planned_sends(store, site)[0].status == "scheduled; not approved"
    with pytest.raises(NewsletterError, match="has passed"):
        schedule_issue(store, site, folder, now=datetime(2027, 3, 1, tzinfo=UTC))
    assert unschedule_issue(store, "2027-1") == "2027-1 is no longer scheduled (draft)."
    delivery = deliveries.current_delivery(store, "2027-1")
    assert delivery is not None and delivery.state == DeliveryState.DRAFT
    assert delivery.frozen_at is None  # the audience is frozen when the send starts


def test_schedule_and_new_commands(tmp_path: Path, monkeypatch) -> None:
    for name in ("templates", "issues"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "newsletter.toml", tmp_path / "newsletter.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(main, ["schedule"])
    assert result.output.splitlines() == [
        "issue    local time (Europe/Stockholm)  UTC               status",
        "2027-1   2027-02-16 09:00 (Tuesday)     2027-02-16 08:00  not scheduled; "
        "not approved"]
    result = runner.invoke(main, ["new"])
    assert result.exit_code == 0 and result.output.startswith("Created issues/2027-2: planned")
