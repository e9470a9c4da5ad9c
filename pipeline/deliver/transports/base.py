"""The transport interface, and what can go wrong.

    TransportError          base
    ├── TemporaryError      nothing was sent; try again after ``retry_after`` seconds (429,
    │                       connection refused before anything was handed over)
    ├── UnknownOutcome      the request may or may not have been accepted (timeout, 5xx,
    │                       connection lost mid-message): the engine's recovery decides
    └── PermanentError      the provider refuses the request itself (400/401/403/413): the
                            delivery pauses with this message, nothing is retried

A transport sends one batch of envelopes of one variant and returns one ``Result`` per envelope;
a refused recipient (e.g. SMTP 550) is a failed Result, not an exception. A transport that
says ``overlaps = True`` (one that mostly waits on the network) also has ``start``: it builds
the batch's request on the engine's thread and returns the wire part, which the engine runs on
a background thread while it claims and prepares the next batch. Only waiting happens there:
Python work on both threads would make each wait for the other's turn at the interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

from pipeline.deliver.message import Envelope, MessageTemplate
from pipeline.errors import NewsletterError


class TransportError(NewsletterError):
    """A transport could not do what was asked."""


class TemporaryError(TransportError):
    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnknownOutcome(TransportError):
    """The batch may have been accepted: all of it, or only ``entries`` (a sequential
    transport knows which messages were on the wire: one per connection; the others of the
    batch were never tried, or settled and reported)."""

    def __init__(self, message: str, entries: list[int] | None = None) -> None:
        super().__init__(message)
        self.entries = entries


class PermanentError(TransportError):
    """The provider refused the request; retrying the same request cannot help."""


class Result(NamedTuple):  # one per message: a NamedTuple is three times cheaper to make
    entry_id: int
    accepted: bool
    provider_id: str | None = None
    error: str | None = None


class Transport(Protocol):
    name: str
    batch_size: int          # envelopes per send() call
    uses_fence: bool         # accepted batches can still be cancelled for a while
    sequential: bool         # sends one envelope at a time (per connection), reporting each

    def new_batch(self) -> str:
        """An id for the next batch, recorded in the ledger before the batch is sent."""
        ...

    def send(self, template: MessageTemplate, batch_id: str, envelopes: Sequence[Envelope],
             report: Callable[[Result], None] | None = None) -> list[Result]:
        """Send; a sequential transport calls ``report`` as each envelope is settled, always
        on the caller's thread."""
        ...

    def settle(self, batch_id: str, entry_ids: Sequence[int],
               since: datetime) -> dict[int, bool | None]:
        """For a batch in flight since ``since`` whose answer was lost: per entry True (sent),
        False (certainly not sent, safe to send again) or None (unknown)."""
        ...

    def close(self) -> None: ...


class Overlapping(Transport, Protocol):
    """A transport whose batch is built on the engine's thread and sent on another."""

    overlaps: bool

    def start(self, template: MessageTemplate, batch_id: str, envelopes: Sequence[Envelope]
              ) -> Callable[[], list[Result]]: ...
