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


def config_option(func: F) -> F:
    return click.option(
        "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
        default=None, envvar="NEWSLETTER_CONFIG", show_envvar=True,
        help="Path to newsletter.toml (default: ./newsletter.toml).")(func)


def load(path: Path | None) -> Config:
    from pipeline.config import load_config

    return load_config(path)


def open_store(config: Config) -> Store:
    """The register, closed (its connections returned) when the command ends."""
    from pipeline.audience.store import Store

    store = Store.open(config)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(store.close)
    return store
