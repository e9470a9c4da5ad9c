"""``newsletter new``, ``schedule`` and ``unschedule``: planning the four sends a year."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from pipeline.cli import main
from pipeline.cli.common import config_option, load, open_store
from pipeline.i18n import _


@main.command()
@config_option
def new(config_file: Path | None) -> None:
    """Create the next quarter's issue folder, with a proposed send time.

    The time follows [schedule] in newsletter.toml (months, weekday, week of the month,
    time) and avoids weekends and Swedish holidays.

    \b
    Example:
        newsletter new
    """
    from pipeline.errors import NewsletterError
    from pipeline.planning import new_issue

    config = load(config_file)
    try:
        folder, send_at = new_issue(config, date.today())
    except FileExistsError as exc:
        raise NewsletterError(str(exc)) from None
    click.echo(_("Created %(folder)s: planned for %(time)s (%(zone)s). Write it, then "
                 "`newsletter check %(folder)s`.") % {
                     "folder": folder, "time": f"{send_at:%Y-%m-%d %H:%M}",
                     "zone": config.timezone})


@main.command()
@click.argument("issue", type=click.Path(file_okay=False, path_type=Path), required=False)
@config_option
def schedule(issue: Path | None, config_file: Path | None) -> None:
    """List every planned send; with ISSUE, mark that issue's delivery scheduled.

    Scheduling needs `newsletter check` without errors and a send time in the future;
    check's warnings are printed first.

    \b
    Example:
        newsletter schedule
        newsletter schedule issues/2027-1
    """
    from pipeline.planning import planned_sends, schedule_issue

    config = load(config_file)
    store = open_store(config)
    if issue is not None:
        click.echo(schedule_issue(store, config, issue))
        return
    local, slug, status = (_("local time (%(zone)s)") % {"zone": config.timezone},
                           _("issue"), _("status"))
    click.echo(f"{slug:<8} {local:<30} {'UTC':<17} {status}")
    for row in planned_sends(store, config):
        click.echo(f"{row.slug:<8} {row.local:<30} {row.utc:<17} {row.status}")


@main.command()
@click.argument("issue", type=click.Path(file_okay=False, path_type=Path))
@config_option
def unschedule(issue: Path, config_file: Path | None) -> None:
    """Take ISSUE's delivery out of the schedule (back to draft).

    \b
    Example:
        newsletter unschedule issues/2027-1
    """
    from pipeline.planning import unschedule_issue

    config = load(config_file)
    click.echo(unschedule_issue(open_store(config), Path(issue).name))


@main.command()
@config_option
def scheduler(config_file: Path | None) -> None:
    """Run the scheduler: send each scheduled issue at its planned time (SIGTERM stops it).

    Only one scheduler may run against a database. A send missed while it was down runs
    once on start if it is less than [schedule] grace_hours late. Logs one line per decision.

    \b
    Example:
        newsletter scheduler
    """
    import logging

    from pipeline.config import config_path
    from pipeline.schedule import run_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    run_scheduler(config_path(config_file).resolve())
