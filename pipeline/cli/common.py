"""Options and helpers shared by the commands."""

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


def _language(context: click.Context, _: click.Parameter, value: str | None) -> str | None:
    from pipeline.i18n import use_language

    if value:  # before newsletter.toml is read, so its own errors speak this language too
        use_language(value)
    context.meta["newsletter.language"] = value
    return value


def config_option(func: F) -> F:
    func = click.option(
        "--lang", type=click.Choice(["sv", "en"]), default=None, expose_value=False,
        envvar="NEWSLETTER_LANG", show_envvar=True, callback=_language, is_eager=True,
        help="Language of the messages (default: newsletter.toml's language, Swedish).")(func)
    return click.option(
        "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
        default=None, envvar="NEWSLETTER_CONFIG", show_envvar=True,
        help="Path to newsletter.toml (default: ./newsletter.toml).")(func)


def load(path: Path | None) -> Config:
    """newsletter.toml; messages from here on speak its language unless --lang said one."""
    from pipeline.config import load_config
    from pipeline.i18n import use_language

    context = click.get_current_context(silent=True)
    chosen = context.meta.get("newsletter.language") if context else None
    if not chosen:
        use_language("sv")
    config = load_config(path)
    if not chosen:
        use_language(config.language)
    return config


def open_store(config: Config) -> Store:
    """The register, closed (its connections returned) when the command ends."""
    from pipeline.audience.store import Store

    store = Store.open(config)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(store.close)
    return store
