"""``newsletter report ISSUE`` and ``newsletter report strategy``: the reports for the editors
and the board, in the terminal, as CSV files and as an HTML page with charts."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli import main
from pipeline.cli.common import config_option, load, open_store


@main.command()
@click.argument("subject", metavar="ISSUE|strategy")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Also write one CSV file per table into this folder.")
@click.option("--html", "html_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Also write index.html with charts (SVG) into this folder.")
@config_option
def report(subject: str, csv_dir: Path | None, html_dir: Path | None,
           config_file: Path | None) -> None:
    """Report on an issue's send, or on the strategy (organisations, focus areas, readers).

    Counts only: a count of 1 to 4 people is shown as "fewer than 5", and the newsletter has
    no open or click tracking, so there are no opens or clicks to report.

    \b
    Example:
        newsletter report 2027-1
        newsletter report strategy --html rapport/ --csv rapport/
    """
    from rich.console import Console
    from rich.table import Table as RichTable

    from pipeline.audience.store import now
    from pipeline.i18n import _
    from pipeline.report.issue import issue_report, issue_slug
    from pipeline.report.output import write_csv, write_html
    from pipeline.report.strategy import strategy_report

    config = load(config_file)
    store = open_store(config)
    at = now()
    made = strategy_report(store, config, at) if subject == "strategy" else \
        issue_report(store, config, issue_slug(subject))
    console = Console(highlight=False, soft_wrap=False)
    console.print(made.title, style="bold")
    for paragraph in made.lead:
        console.print(paragraph)
    for table in made.tables:
        shown = RichTable(title=table.title, title_justify="left", caption=table.note or None,
                          caption_justify="left")
        for n, heading in enumerate(table.columns):
            shown.add_column(heading, justify="left" if n == 0 else "right")
        for row in table.cells():
            shown.add_row(*row)
        console.print()
        console.print(shown)
    for folder, files in ((csv_dir, write_csv(made, csv_dir) if csv_dir else []),
                          (html_dir, write_html(made, html_dir, at, config.zone)
                           if html_dir else [])):
        if folder is not None:
            click.echo(_("%(count)d file(s) written to %(folder)s") % {
                "count": len(files), "folder": folder})
