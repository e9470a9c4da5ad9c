"""Outbox: each message as an .eml file in a folder. The embedded default, for looking.

A message's file name is its ledger entry, written atomically (temporary file, then rename),
so after a crash the files on disk say exactly what was sent: never twice, never lost. Were
an entry ever sent twice, the second copy would be ``NNNNNNNNN.copy2.eml``, not an overwrite,
so tests counting files see it.
Messages outside the ledger (confirmations, notices to editors) get unique, time-ordered names.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from pipeline.deliver.message import Envelope, MessageTemplate
from pipeline.deliver.transports.base import Result


class OutboxTransport:
    name = "outbox"
    batch_size = 500
    uses_fence = False
    sequential = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, entry_id: int) -> Path:
        return self.folder / f"{entry_id:09d}.eml"

    def _notice_path(self) -> Path:
        return self.folder / f"notice-{datetime.now():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"

    def send(self, template: MessageTemplate, batch_id: str, envelopes: Sequence[Envelope],
             report: Callable[[Result], None] | None = None) -> list[Result]:
        results = []
        for envelope in envelopes:
            target = self._path(envelope.entry_id) if envelope.entry_id >= 0 \
                else self._notice_path()  # not a ledger entry
            copies = 1
            while target.exists():  # a second copy to the same reader stays visible
                copies += 1
                target = self._path(envelope.entry_id).with_suffix(f".copy{copies}.eml")
            temporary = target.with_suffix(".tmp")
            temporary.write_bytes(template.build(envelope))
            os.replace(temporary, target)
            results.append(Result(envelope.entry_id, True, target.name))
            if report:
                report(results[-1])
        return results

    def new_batch(self) -> str:
        return uuid.uuid4().hex

    def settle(self, batch_id: str, entry_ids: Sequence[int],
               since: datetime) -> dict[int, bool | None]:
        return {entry: self._path(entry).exists() for entry in entry_ids}

    def close(self) -> None:
        pass
