"""``newsletter publish`` and ``newsletter archive build|serve``: the public archive."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from pipeline.cli import main
from pipeline.cli.common import config_option, issue_argument, load


@main.command()
@issue_argument
@click.option("--force", is_flag=True,
              help="Replace an already published page (it is the record of what was sent).")
@config_option
def publish(issue: Path, force: bool, config_file: Path | None) -> None:
    """Write ISSUE's approved edition's page into archive/<year>/<number>/ and rebuild.

    The page is the edition's, byte for byte (meta.json names the edition). `send` and the
    scheduler publish before the first email goes out, so this is only needed by hand.

    \b
    Example:
        newsletter publish issues/2027-1
    """
    from pipeline.approval import edition_for_send
    from pipeline.archive import build_archive, publish_edition
    from pipeline.cli.common import open_store

    config = load(config_file)
    edition = edition_for_send(open_store(config), config, Path(issue))
    result = publish_edition(edition, config, force=force)
    click.echo(f"{result.folder}: {result.status}")
    for line in result.changes[:40]:
        click.echo(f"  {line[:160]}")
    files = build_archive(config)
    click.echo(f"Archive rebuilt: {len(files)} file(s) around the published issues.")


@main.group()
def archive() -> None:
    """The public archive of published issues (a static site in archive/).

    \b
    Example:
        newsletter archive build
        newsletter archive serve --port 8001
    """


@archive.command("build")
@config_option
def archive_build(config_file: Path | None) -> None:
    """Regenerate the start page, year pages, feeds, sitemap and accessibility statement.

    \b
    Example:
        newsletter archive build
    """
    from pipeline.archive import build_archive

    files = build_archive(load(config_file))
    click.echo(f"Archive rebuilt: {len(files)} file(s).")


@archive.command("serve")
@click.option("--port", default=8001, show_default=True, help="Port on 127.0.0.1.")
@config_option
def archive_serve(port: int, config_file: Path | None) -> None:
    """Serve archive/ on 127.0.0.1 for a look (Ctrl+C stops).

    \b
    Example:
        newsletter archive serve --port 8001
    """
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from pipeline.archive import archive_root

    folder = archive_root(load(config_file))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        click.echo(f"Serving {folder} on http://127.0.0.1:{server.server_address[1]}/")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
