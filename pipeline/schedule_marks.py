"""What the scheduler remembers between its looks, in the register's settings: that an
issue's pre-send check ran for a planned time, and that its send was refused (no valid
approval). Each mark holds a digest of the issue's files, so an edit (or a new approval)
makes the scheduler try again, and nothing else does: not every minute."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from pipeline.audience.models import Setting
from pipeline.audience.store import Store
from pipeline.config import Config

PRECHECK_OK = "test copies sent"


def sources_digest(folder: Path, config: Config) -> str:
    """One digest of the issue's files."""
    from pipeline.edition import source_hashes

    return hashlib.sha256(repr(sorted(source_hashes(folder, config).items())).encode()
                          ).hexdigest()[:16]


def _key(kind: str, slug: str, planned: datetime) -> str:
    return f"{kind}:{slug}:{planned:%Y%m%d%H%M}"


def _get(store: Store, key: str) -> str | None:
    with store.session() as session:
        row = session.get(Setting, key)
    return row.value if row is not None else None


def _set(store: Store, key: str, value: str) -> None:
    with store.session() as session, session.begin():
        session.merge(Setting(key=key, value=value))


def prechecked(store: Store, config: Config, folder: Path, planned: datetime) -> bool:
    """The pre-send check sent its test copies, or found errors the files still have."""
    value = _get(store, _key("checked", folder.name, planned))
    if value is None:
        return False
    outcome, _sep, digest = value.partition("|")
    return outcome == PRECHECK_OK or digest == sources_digest(folder, config)


def mark_prechecked(store: Store, config: Config, folder: Path, planned: datetime,
                    outcome: str) -> None:
    _set(store, _key("checked", folder.name, planned),
         f"{outcome}|{sources_digest(folder, config)}")


def _refusal(store: Store, config: Config, folder: Path) -> str:
    from pipeline.edition import latest_approved

    approved = latest_approved(store, folder.name)
    return f"{approved.id if approved else 0}|{sources_digest(folder, config)}"


def refused(store: Store, config: Config, folder: Path, planned: datetime) -> bool:
    """The send job was refused and nothing changed since (no new approval, no edit)."""
    value = _get(store, _key("refused", folder.name, planned))
    return value is not None and value == _refusal(store, config, folder)


def mark_refused(store: Store, config: Config, folder: Path, planned: datetime | None) -> None:
    if planned is not None:  # else the plan cannot read the issue: not planned again anyway
        _set(store, _key("refused", folder.name, planned), _refusal(store, config, folder))
