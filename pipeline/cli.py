"""The ``newsletter`` command: a thin layer over the pipeline stages.

Every command loads the config, calls one stage and prints what happened. Expected failures are
``NewsletterError``s, which click prints as ``Error: …`` with exit status 1. Stages are imported
inside the commands so ``newsletter --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from pipeline.audience.store import Store
    from pipeline.config import Config

F = TypeVar("F", bound=Callable[..., Any])

issue_argument = click.argument(
    "issue", type=click.Path(file_okay=False, path_type=Path), metavar="ISSUE")


def config_option(func: F) -> F:
    return click.option(
        "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
        default=None, envvar="NEWSLETTER_CONFIG", show_envvar=True,
        help="Path to newsletter.toml (default: ./newsletter.toml).")(func)


def _config(path: Path | None) -> Config:
    from pipeline.config import load_config

    return load_config(path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="newsletter-pipeline")
def main() -> None:
    """Author, check and render the newsletter "Ett jämställt Västmanland".

    \b
    Example:
        newsletter check issues/2027-1
        newsletter render issues/2027-1 --out build/2027-1
        newsletter preview issues/2027-1
    """


@main.command()
@issue_argument
@config_option
def check(issue: Path, config_file: Path | None) -> None:
    """Validate ISSUE and lint every email it renders to.

    Prints every problem as path:line: key: message and exits 1 if any is an error.
    Warnings alone exit 0; newsletter.toml's [check.severity] sets which is which.

    \b
    Example:
        newsletter check issues/2027-1
    """
    from pipeline.lint import check_issue

    result = check_issue(issue, _config(config_file))
    for problem in result.problems:
        click.echo(str(problem))
    variants = len(result.rendered.variants) if result.rendered else 0
    summary = (f"{issue}: {len(result.errors)} error(s), {len(result.warnings)} warning(s), "
               f"{variants} variant(s) rendered")
    click.echo(summary)
    if result.errors:
        raise SystemExit(1)


@main.command()
@issue_argument
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: build/<year>-<number>).")
@click.option("--mjml", "keep_mjml", is_flag=True, help="Also write each variant's MJML source.")
@config_option
def render(issue: Path, out: Path | None, keep_mjml: bool, config_file: Path | None) -> None:
    """Render every variant of ISSUE into a folder.

    Writes per variant NAME.html, NAME.txt and NAME.eml (filled in for a sample reader),
    plus web.html, images/ and report.json. Exits 1 if the checks find errors.

    \b
    Example:
        newsletter render issues/2027-1 --out build/2027-1
    """
    from pipeline.output import write_render

    report = write_render(issue, _config(config_file), out, keep_mjml=keep_mjml)
    for problem in report.problems:
        click.echo(str(problem))
    click.echo(f"{len(report.files)} files for {len(report.variants)} variant(s) in {report.out}")
    if report.errors:
        raise SystemExit(1)


@main.command()
@issue_argument
@click.option("--port", default=8000, show_default=True, help="Port on 127.0.0.1 (0: any).")
@config_option
def preview(issue: Path, port: int, config_file: Path | None) -> None:
    """Serve ISSUE's variants on 127.0.0.1, reloading when a file changes.

    Each variant is shown at desktop and mobile width side by side with its text part.

    \b
    Example:
        newsletter preview issues/2027-1 --port 8000
    """
    from pipeline.preview import serve_preview

    serve_preview(issue, config_file, port)


@main.group()
def audience() -> None:
    """The register of subscribers and connected organisations.

    \b
    Example:
        newsletter audience import examples/audience/connected.csv --segment connected \\
            --basis public_task
        newsletter audience stats
    """


def _store(config: Config) -> Store:
    from pipeline.audience.store import Store

    return Store.open(config)


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

    config = _config(config_file)
    report = import_audience(_store(config), config, file, segment, LegalBasis(basis),
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

    config = _config(config_file)
    stats = stats_of(_store(config))
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

    config = _config(config_file)
    if everything == bool(email):
        raise click.UsageError("give either EMAIL or --all --csv")
    if everything and not as_csv:
        raise click.UsageError("--all exports CSV: add --csv")
    store = _store(config)
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

    config = _config(config_file)
    if not yes:
        click.confirm(f"Erase everything held about {email}?", abort=True)
    erase_person(_store(config), email)
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

    config = _config(config_file)
    pruned = prune_pending(_store(config), config)
    click.echo(f"Pruned {pruned} pending subscription(s) older than "
               f"{config.audience.pending_retention_days} days.")
