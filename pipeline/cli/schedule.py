"""``newsletter new``, ``schedule`` and ``unschedule``: planning the four sends a year."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from pipeline.cli import main
from pipeline.cli.common import config_option, load, open_store
from pipeline.i18n import _


@main.command()
@click.option("--from", "source", type=click.Path(file_okay=False, path_type=Path),
              default=None, metavar="ISSUE",
              help="Copy ISSUE's recurring sections (recurring: true) and their images.")
@config_option
def new(source: Path | None, config_file: Path | None) -> None:
    """Create the next quarter's issue folder, with a proposed send time.

    The time follows [schedule] in newsletter.toml (months, weekday, week of the month,
    time) and avoids weekends and Swedish holidays. With --from, the sections of an earlier
    issue marked recurring: true (the calendar, the six sub-goals) come along.

    \b
    Example:
        newsletter new
        newsletter new --from 2027-1
    """
    from pipeline.errors import NewsletterError
    from pipeline.issue import load_issue
    from pipeline.planning import new_issue, recurring_sections

    config = load(config_file)
    recurring = []
    if source is not None:
        if not source.is_dir() and (config.root / config.issues_dir / source).is_dir():
            source = config.root / config.issues_dir / source
        recurring = recurring_sections(load_issue(source, config))
    try:
        folder, send_at = new_issue(config, date.today(), recurring)
    except FileExistsError as exc:
        raise NewsletterError(_("%(folder)s already exists") % {
            "folder": exc.args[0] if exc.args else ""}) from None
    click.echo(_("Created %(folder)s: planned for %(time)s (%(zone)s). Write it, then "
                 "`newsletter check %(folder)s`.") % {
                     "folder": folder, "time": f"{send_at:%Y-%m-%d %H:%M}",
                     "zone": config.timezone})
    if source is not None:
        copied = [s.path.name for s in recurring if (folder / s.path.name).is_file()]
        click.echo(_("Copied from %(source)s: %(sections)s. Update what has changed.") % {
            "source": source.name, "sections": ", ".join(copied) or _("nothing (no section "
                                                                       "is recurring: true)")})


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
@click.option("--verbose", is_flag=True,
              help="Also log the database migrations' and the job runner's own messages.")
def scheduler(config_file: Path | None, verbose: bool) -> None:
    """Run the scheduler: send each scheduled issue at its planned time (SIGTERM stops it).

    Only one scheduler may run against a database. A send missed while it was down runs
    once on start if it is less than [schedule] grace_hours late. Logs one line per decision
    or change of state, and nothing while nothing changes.

    \b
    Example:
        newsletter scheduler
    """
    import logging

    from pipeline.config import config_path
    from pipeline.scheduler import run_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not verbose:  # Alembic announces its context on every open of the register
        for chatty in ("apscheduler", "alembic"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    run_scheduler(config_path(config_file).resolve())


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The findings as JSON.")
@config_option
def health(as_json: bool, config_file: Path | None) -> None:
    """Whether the unattended pipeline is well: exit 0 ok, 1 warning, 2 critical.

    Looks at the scheduler's heartbeat, the next send and its approval, and paused
    deliveries or recipients in doubt; prints one line (or JSON) for a monitoring system.

    \b
    Example:
        newsletter health || systemctl start newsletter-alert
    """
    import json

    from sqlalchemy.exc import SQLAlchemyError

    from pipeline.audience.store import StoreError, database_reason
    from pipeline.health import Finding, Health, Level, check_health

    config = load(config_file)
    try:  # a register that cannot be read is critical, in the same form as any finding
        store = open_store(config)
        try:
            found = check_health(store, config)
        finally:
            store.close()
    except (StoreError, SQLAlchemyError) as exc:
        why = exc.message if isinstance(exc, StoreError) else database_reason(exc)
        found = Health([Finding(Level.CRITICAL, _("the register cannot be read: %(why)s") % {
            "why": why}, "register-unreadable")])
    click.echo(json.dumps(found.as_dict(), ensure_ascii=False) if as_json else found.summary())
    raise SystemExit(int(found.level))
