"""``newsletter audience …``: the register of subscribers and connected organisations."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli import main
from pipeline.cli.common import config_option, load, open_store


@main.group()
def audience() -> None:
    """The register of subscribers and connected organisations.

    \b
    Example:
        newsletter audience import examples/audience/connected.csv --segment connected \\
            --basis public_task
        newsletter audience stats
    """


@audience.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--segment", required=True, help="Segment the rows join: connected or general.")
@click.option("--basis", type=click.Choice(["consent", "public_task"]), default="consent",
              show_default=True,
              help="Legal basis of the rows. consent: rows need consent_source, consented_at "
                   "and privacy_notice, and stay pending until confirmed_at. public_task: "
                   "contact people of connected organisations, confirmed on import.")
@click.option("--skip-invalid", is_flag=True,
              help="Import the good rows and write the rejects to FILE.rejects.csv.")
@config_option
def audience_import(file: Path, segment: str, basis: str, skip_invalid: bool,
                    config_file: Path | None) -> None:
    """Import subscribers from a CSV (; or , separated, UTF-8) or JSON file.

    The whole file is checked first; any bad row rejects it with one line per problem
    (file:row: column: message) and nothing is written. Importing the same file again
    changes nothing, and never re-adds an address that unsubscribed or was erased.

    \b
    Example:
        newsletter audience import examples/audience/general.csv --segment general
    """
    from pipeline.audience.importer import import_audience
    from pipeline.audience.models import LegalBasis

    config = load(config_file)
    report = import_audience(open_store(config), config, file, segment, LegalBasis(basis),
                             skip_invalid)
    for problem in report.rejected:
        click.echo(str(problem))
    click.echo(f"{file}: {report.rows} row(s): {report.added} added, {report.updated} "
               f"confirmed, {report.unchanged} unchanged, {len(report.suppressed)} suppressed "
               f"(not imported), {len({p.line for p in report.rejected})} rejected")
    if report.rejects_file:
        click.echo(f"Rejected rows written to {report.rejects_file}")


@audience.command("stats")
@config_option
def audience_stats(config_file: Path | None) -> None:
    """Count subscriptions per segment and status, and readers per focus area.

    \b
    Example:
        newsletter audience stats
    """
    from pipeline.audience.select import audience_stats as stats_of

    config = load(config_file)
    stats = stats_of(open_store(config))
    click.echo("segment      status        count")
    for (segment, status), count in sorted(stats.by_segment_status.items()):
        click.echo(f"{segment:<12} {status:<13} {count:>5}")
    click.echo(f"organisations: {stats.organisations}, suppressed addresses: "
               f"{stats.suppressions}")
    click.echo("focus area (confirmed readers)")
    for area in config.focus_areas:
        click.echo(f"  {area.slug:<11} {stats.by_focus.get(area.slug, 0):>5}  {area.name}")


@audience.command("export")
@click.argument("email", required=False)
@click.option("--all", "everything", is_flag=True, help="Every subscription, as CSV.")
@click.option("--csv", "as_csv", is_flag=True, help="With --all: CSV (the only format).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output.")
@config_option
def audience_export(email: str | None, everything: bool, as_csv: bool, out: Path | None,
                    config_file: Path | None) -> None:
    """Export what the register holds about EMAIL (JSON), or everything (--all --csv).

    CSV cells that a spreadsheet would run as a formula (= + - @) are prefixed with '.

    \b
    Example:
        newsletter audience export anna@example.se --out anna.json
        newsletter audience export --all --csv --out register.csv
    """
    import json
    import sys

    from pipeline.audience import gdpr

    config = load(config_file)
    if everything == bool(email):
        raise click.UsageError("give either EMAIL or --all --csv")
    if everything and not as_csv:
        raise click.UsageError("--all exports CSV: add --csv")
    store = open_store(config)
    if email:
        text = json.dumps(gdpr.export_person(store, email), ensure_ascii=False, indent=2)
        if out:
            out.write_text(text + "\n", encoding="utf-8")
        else:
            click.echo(text)
    elif out:
        with out.open("w", encoding="utf-8", newline="") as target:
            rows = gdpr.export_all_csv(store, target)
        click.echo(f"{rows} subscription(s) written to {out}")
    else:
        gdpr.export_all_csv(store, sys.stdout)


@audience.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
def audience_erase(email: str, yes: bool, config_file: Path | None) -> None:
    """Erase EMAIL's personal data; keep a hashed tombstone so it is never mailed again.

    \b
    Example:
        newsletter audience erase anna@example.se --yes
    """
    from pipeline.audience.gdpr import erase_person

    config = load(config_file)
    if not yes:
        click.confirm(f"Erase everything held about {email}?", abort=True)
    erase_person(open_store(config), email)
    click.echo(f"Erased {email}; the address stays on the suppression list.")


@audience.command("prune")
@config_option
def audience_prune(config_file: Path | None) -> None:
    """Delete pending subscriptions older than [audience] pending_retention_days.

    \b
    Example:
        newsletter audience prune
    """
    from pipeline.audience.gdpr import prune_pending

    config = load(config_file)
    pruned = prune_pending(open_store(config), config)
    click.echo(f"Pruned {pruned} pending subscription(s) older than "
               f"{config.audience.pending_retention_days} days.")
