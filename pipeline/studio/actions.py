"""The studio's actions beyond saving: test copies, approval by a second person, and
versions in git (``versions.py``) with the changes shown as text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.errors import NewsletterError


@dataclass(frozen=True)
class Result:
    ok: bool
    title: str
    message: str = ""
    lines: list[str] = field(default_factory=list)


def _text(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def test_send(config: Config, folder: Path, form: Mapping[str, Any]) -> Result:
    """Test copies of every variant to the addresses given (``editors``: the test group)."""
    from pipeline.deliver.testsend import send_test

    addresses = [a for a in _text(form, "addresses").replace(";", ",").split(",") if a.strip()]
    if not addresses:
        return Result(False, "Inga testkopior skickades",
                      "Skriv minst en e-postadress, eller editors för testgruppen.")
    store = Store.open(config)
    try:
        lines = send_test(folder, config, None, addresses, store)
    except NewsletterError as exc:
        return Result(False, "Inga testkopior skickades", exc.format_message())
    finally:
        store.close()
    return Result(True, "Testkopior skickade", lines=lines)


def approve(config: Config, folder: Path, form: Mapping[str, Any]) -> Result:
    """Approve exactly what is rendered now, as a second person (``approval.py``)."""
    from pipeline.approval import approve_issue

    name, address = _text(form, "name"), _text(form, "email")
    if not name or not address:
        return Result(False, "Inte godkänt",
                      "Skriv ditt namn och din e-postadress: de sparas med godkännandet.")
    store = Store.open(config)
    try:
        edition = approve_issue(store, config, folder, f"{name} <{address}>")
    except NewsletterError as exc:
        return Result(False, "Inte godkänt", exc.format_message())
    finally:
        store.close()
    return Result(True, "Godkänt", f"{folder.name} är godkänt av {name} (utgåva "
                  f"{edition.short}). Ändras något i numret gäller godkännandet inte längre.")


def changes_view(config: Config, folder: Path) -> dict[str, Any]:
    from pipeline.studio import versions

    root = config.root
    if not versions.is_repository(root):
        return {"slug": folder.name, "repository": False, "diffs": [], "remote": False}
    return {"slug": folder.name, "repository": True, "remote": versions.has_remote(root),
            "diffs": versions.readable_diff(root, folder, {
                **{s.slug: s.name for s in config.segments},
                **{f.slug: f.name for f in config.focus_areas}}),
            "changed": versions.changed_files(root, folder)}


def save_version(config: Config, folder: Path, form: Mapping[str, Any]) -> Result:
    from pipeline.studio import versions

    editor = config.sender
    try:
        commit = versions.save_version(config.root, folder, _text(form, "message"),
                                       _text(form, "name") or editor.name,
                                       _text(form, "email") or editor.email)
    except NewsletterError as exc:
        return Result(False, "Ingen version sparades", exc.message)
    return Result(True, "Version sparad", f"Ändringarna i {folder.name} är sparade som en "
                  f"version ({commit}).")


def send_for_review(config: Config, slug: str) -> Result:
    from pipeline.studio import versions

    try:
        branch = versions.send_for_review(config.root, slug)
    except NewsletterError as exc:
        return Result(False, "Inte skickat till granskning", exc.message)
    return Result(True, "Skickat till granskning", f"Den senaste versionen finns nu på "
                  f"grenen {branch}, där en kollega kan granska den.")
