"""``newsletter serve``: the reader-facing web service."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli import main
from pipeline.cli.common import config_option, load, open_store


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8002, show_default=True)
@click.option("--dev", is_flag=True,
              help="Allow a throwaway secret when NEWSLETTER_SECRET_KEY is not set.")
@config_option
def serve(host: str, port: int, dev: bool, config_file: Path | None) -> None:
    """Serve the reader-facing service with uvicorn: subscribe, join, confirm,
    unsubscribe, preferences and SendGrid's signed event webhook.

    Refuses to start without NEWSLETTER_SECRET_KEY unless --dev. No access log: the
    paths hold readers' personal links. Behind a reverse proxy on this host, the client
    address for rate limits comes from X-Forwarded-For.

    \b
    Example:
        newsletter serve --port 8002
    """
    import secrets

    import uvicorn

    from pipeline.audience.tokens import secret_from_env
    from pipeline.errors import NewsletterError
    from pipeline.web.app import create_app

    config = load(config_file)
    try:
        secret = secret_from_env()
    except NewsletterError:
        if not dev:
            raise
        secret = secrets.token_urlsafe(48).encode()
        click.echo("--dev: using a throwaway secret; links from real emails will not work.")
    app = create_app(config, open_store(config), secret)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                server_header=False, proxy_headers=True, forwarded_allow_ips="127.0.0.1")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Answer other machines too (needs NEWSLETTER_STUDIO_PASSWORD).")
@click.option("--port", default=0, help="0: any free port.")
@click.option("--no-browser", is_flag=True, help="Only print the address to open.")
@config_option
def studio(host: str, port: int, no_browser: bool, config_file: Path | None) -> None:
    """Redaktionen: write, check, preview, test and approve issues in the browser.

    Opens the browser at a local address with a one-time secret in it; only that browser
    can use the studio.

    \b
    Example:
        newsletter studio
        newsletter studio --no-browser
    """
    from pipeline.config import config_path
    from pipeline.studio import serve_studio

    serve_studio(config_path(config_file), host, port, not no_browser, click.echo)
