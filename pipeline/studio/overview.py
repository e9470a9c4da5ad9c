"""The studio's list of issues: each with its state in words and its send time in Swedish.

The state is the furthest the issue has come: sent, scheduled, approved (and still valid),
check problems, or draft. Check runs only for issues not yet sent, and only again when the
issue's files change (a digest of them is remembered), so the list stays quick.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.errors import NewsletterError

_CHECKED: dict[tuple[str, str], int] = {}  # (folder, sources digest) → errors found


def _errors(config: Config, folder: Path) -> int:
    from pipeline.lint import check_issue
    from pipeline.schedule_marks import sources_digest

    key = (str(folder), sources_digest(folder, config))
    if key not in _CHECKED:
        _CHECKED[key] = len(check_issue(folder, config).errors)
    return _CHECKED[key]


def issue_state(config: Config, folder: Path) -> dict[str, str]:
    """{"key": sent|scheduled|approved|problems|draft, "label": Swedish words}."""
    from pipeline.approval import approval_state
    from pipeline.deliver import deliveries

    store = Store.open(config)
    try:
        delivery = deliveries.current_delivery(store, folder.name)
        state = delivery.state if delivery is not None else None
        if state in ("finished", "running", "paused"):
            labels = {"finished": "Skickat", "running": "Skickas nu", "paused": "Pausat"}
            return {"key": "sent", "label": labels[str(state)]}
        approved = approval_state(store, config, folder)
    finally:
        store.close()
    problems = _errors(config, folder)
    if problems:
        return {"key": "problems", "label": f"{problems} fel att rätta"}
    if state == "scheduled":
        word = "godkänt" if approved.valid else "inte godkänt"
        return {"key": "scheduled", "label": f"Schemalagt, {word}"}
    if approved.valid:
        return {"key": "approved", "label": "Godkänt"}
    if approved.edition is not None:
        return {"key": "draft", "label": "Ändrat efter godkännandet"}
    return {"key": "draft", "label": "Utkast"}


def issue_rows(config: Config) -> list[dict[str, Any]]:
    from pipeline.studio.files import read, split_meta
    from pipeline.studio.pages import swedish_date

    rows = []
    folders = sorted((config.root / config.issues_dir).glob("20*-*"),
                     key=lambda f: [int(p) for p in f.name.split("-") if p.isdigit()],
                     reverse=True)
    for folder in folders:
        if not (folder / "issue.yaml").is_file():
            continue
        try:
            meta, _comment = split_meta(read(folder / "issue.yaml"))
        except NewsletterError:
            meta = {}
        when = str(meta.get("send_at") or "")
        try:
            moment = datetime.strptime(when, "%Y-%m-%d %H:%M")
            shown = f"{swedish_date(moment.date())} kl. {moment:%H.%M}"
        except ValueError:
            shown = when or "ingen tid satt"
        try:
            state = issue_state(config, folder)
        except NewsletterError as exc:
            state = {"key": "problems", "label": exc.message}
        rows.append({"slug": folder.name, "title": str(meta.get("title") or folder.name),
                     "when": shown, "state": state})
    return rows
