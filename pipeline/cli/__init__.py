"""The ``newsletter`` command: a thin layer over the pipeline stages.

Every command loads the config, calls one stage and prints what happened. Expected failures are
``NewsletterError``s, which click prints as ``Error: …`` with exit status 1. Stages are imported
inside the commands so ``newsletter --help`` stays fast. Commands live by topic: this module
(issues: check, render, preview), ``audience.py`` and ``delivery.py``.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import config_option, issue_argument, load


class _Group(click.Group):
    """Turns a database error into one line without the statement's values (a reader's
    address or name must never reach the terminal); it is still a bug, said so."""

    def invoke(self, ctx: click.Context) -> object:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return super().invoke(ctx)
        except SQLAlchemyError as exc:
            from pipeline.errors import NewsletterError, database_error

            raise NewsletterError(database_error(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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
    from pipeline.i18n import _, ngettext
    from pipeline.lint import check_issue

    config = load(config_file)
    result = check_issue(issue, config)
    for problem in result.problems:
        click.echo(str(problem))
    variants = len(result.rendered.variants) if result.rendered else 0
    summary = _("%(issue)s: %(counts)s, %(variants)s") % {
        "issue": issue, "counts": result.counts(),
        "variants": ngettext("%(count)d variant(s) rendered", "%(count)d variant(s) rendered",
                             variants) % {"count": variants}}
    if result.rendered is not None:  # how hard each audience's text is to read
        from pipeline.plain import segment_readability

        values = segment_readability(result.rendered.issue, config)
        summary += "; LIX " + ", ".join(
            f"{segment.name} {values[segment.slug].lix:.0f}" for segment in config.segments
            if values[segment.slug].words)
    click.echo(summary)
    if result.errors:
        raise SystemExit(1)


@main.command()
@issue_argument
@click.option("--by", "by", required=True, metavar='"NAMN <ADRESS>"',
              help="Who approves: name and address (not the issue's editor, by default).")
@config_option
def approve(issue: Path, by: str, config_file: Path | None) -> None:
    """Approve ISSUE: check it, render it once and store that edition as what is sent.

    Any check error refuses. Editing the issue, a template or newsletter.toml's output
    settings afterwards voids the approval: approve again (a new edition; the old one is
    kept). [approval] in newsletter.toml sets whether sending needs it and who may approve.

    \b
    Example:
        newsletter approve issues/2027-1 --by "Anna Berg <anna.berg@lansstyrelsen.se>"
    """
    from pipeline.approval import approve_issue
    from pipeline.cli.common import open_store
    from pipeline.i18n import _

    config = load(config_file)
    edition = approve_issue(open_store(config), config, Path(issue), by)
    when = f"{edition.approved_at:%Y-%m-%d %H:%M}" if edition.approved_at else ""
    click.echo(_("%(issue)s: edition %(edition)s approved by %(who)s %(when)s UTC (%(count)d "
                 "variants). It is sent and archived exactly as it is; if the issue changes "
                 "after this, it needs approving again.") % {
                     "issue": edition.issue, "edition": edition.short,
                     "who": edition.approved_by, "when": when,
                     "count": len(edition.variants)})


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
    from pipeline.i18n import _
    from pipeline.output import write_render

    report = write_render(issue, load(config_file), out, keep_mjml=keep_mjml)
    for problem in report.problems:
        click.echo(str(problem))
    click.echo(_("%(files)d files for %(variants)d variant(s) in %(out)s") % {
        "files": len(report.files), "variants": len(report.variants), "out": report.out})
    if report.errors:
        raise SystemExit(1)


@main.command()
@issue_argument
@click.option("--port", default=8000, show_default=True, help="Port on 127.0.0.1 (0: any).")
@config_option
def preview(issue: Path, port: int, config_file: Path | None) -> None:
    """Serve ISSUE's variants on 127.0.0.1, updating the open page when a file changes.

    Each variant is shown as an inbox row, at desktop and mobile width side by side, with
    its text part, its problems and a button that sends test copies.

    \b
    Example:
        newsletter preview issues/2027-1 --port 8000
    """
    import contextlib

    from pipeline.errors import NewsletterError
    from pipeline.preview import serve_preview

    with contextlib.suppress(NewsletterError):  # a broken newsletter.toml shows in the page
        load(config_file)  # the page's messages speak newsletter.toml's language
    serve_preview(issue, config_file, port)



from pipeline.cli import archive as _archive  # noqa: E402  (registers the commands)
from pipeline.cli import audience as _audience  # noqa: E402
from pipeline.cli import delivery as _delivery  # noqa: E402
from pipeline.cli import report as _report  # noqa: E402
from pipeline.cli import schedule as _schedule  # noqa: E402
from pipeline.cli import web as _web  # noqa: E402

__all__ = ["_archive", "_audience", "_delivery", "_report", "_schedule", "_web", "main"]
