"""``import_audience``: validated rows → the register, all or nothing, idempotent.

The whole file is validated first. With any bad row nothing is written, unless
``skip_invalid``, which writes the good rows and the rejects to a CSV beside the report.
Addresses on the suppression list (unsubscribed from this segment or everything, erased,
bounced, complained) are skipped, never re-added. Re-importing a file changes nothing;
an import never resubscribes someone who left.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from pipeline.audience.models import (
    ALL_SEGMENTS,
    EXEMPT_BASES,
    ImportBatch,
    LegalBasis,
    Organisation,
    OrganisationFocus,
    Status,
    Subscriber,
    Subscription,
    Suppression,
)
from pipeline.audience.rows import (
    COLUMNS,
    AudienceRow,
    FileProblem,
    Record,
    read_records,
    validate_records,
)
from pipeline.audience.store import Store, now
from pipeline.config import Config
from pipeline.errors import NewsletterError, Problem

CHUNK = 2000
T = TypeVar("T")
SUBSCRIBERS = cast(Table, Subscriber.__table__)
SUBSCRIPTIONS = cast(Table, Subscription.__table__)


class ImportError_(NewsletterError):
    """An audience file was rejected; nothing was written."""


@dataclass
class ImportReport:
    file: Path
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    suppressed: list[int] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)
    rejects_file: Path | None = None


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def import_audience(store: Store, config: Config, path: Path, segment: str,
                    basis: LegalBasis, skip_invalid: bool = False,
                    max_bytes: int = 50_000_000) -> ImportReport:
    if segment not in {s.slug for s in config.segments}:
        raise ImportError_(f"unknown segment '{segment}'; use "
                           f"{', '.join(s.slug for s in config.segments)}")
    try:
        if path.suffix.lower() == ".json" and path.is_file() and \
                path.stat().st_size <= max_bytes:
            _refuse_deep_json(path)
        records = read_records(path, max_bytes)
    except FileProblem as exc:
        raise ImportError_(f"{path}: rejected; nothing was imported", [exc.problem]) from None
    rows, problems = validate_records(records, path, config, segment, basis)
    problems += _organisation_conflicts(rows, path)
    if problems and not skip_invalid:
        raise ImportError_(f"{path}: {len(problems)} problem(s) in "
                           f"{len({p.line for p in problems})} row(s); nothing was imported. "
                           "Fix them, or import the good rows with --skip-invalid", problems)
    bad_rows = {p.line for p in problems}
    rows = [r for r in rows if r.row not in bad_rows]
    report = ImportReport(path, rows=len(records.items), rejected=problems)
    if problems:
        report.rejects_file = _write_rejects(path, records.items, problems)
    with store.session() as session, session.begin():
        batch = ImportBatch(file_name=path.name, sha256=hashlib.sha256(path.read_bytes())
                            .hexdigest(), segment=segment, basis=basis.value, rows=0,
                            created_at=now())
        session.add(batch)
        session.flush()
        rows = _drop_suppressed(session, store, rows, segment, report)
        organisations = _upsert_organisations(session, rows)
        for chunk in _chunks(rows):
            _write_chunk(session, store, chunk, segment, organisations, batch.id, report)
        batch.rows = len(rows)
    return report


MAX_JSON_DEPTH = 20
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _refuse_deep_json(path: Path) -> None:
    """An import file is a list of flat objects; refuse nesting that would exhaust the stack
    of ``json.loads`` (RecursionError) before it is parsed. Linear in the file's size."""
    depth = 0
    for line, text in enumerate(_JSON_STRING.sub(b'""', path.read_bytes()).split(b"\n"), 1):
        for byte in text:
            if byte in b"[{":
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    raise FileProblem(Problem(str(path), line, "(file)", "JSON nested more "
                                              f"than {MAX_JSON_DEPTH} levels deep; an import "
                                              "is a list of objects"))
            elif byte in b"]}":
                depth -= 1


def _organisation_conflicts(rows: list[AudienceRow], path: Path) -> list[Problem]:
    first: dict[str, AudienceRow] = {}
    problems = []
    for row in rows:
        if not row.organisation:
            continue
        earlier = first.setdefault(row.organisation.casefold(), row)
        if earlier is not row and set(earlier.focus) != set(row.focus):
            problems.append(Problem(str(path), row.row, "focus",
                                    f"differs from row {earlier.row} for the same organisation"))
        if earlier is not row and earlier.kind and row.kind and earlier.kind != row.kind:
            problems.append(Problem(str(path), row.row, "kind",
                                    f"differs from row {earlier.row} for the same organisation"))
    return problems


def _write_rejects(path: Path, records: list[Record],
                   problems: list[Problem]) -> Path:
    """The rejected rows, as read, with the reason: fix and import this file again."""
    reasons: dict[int, list[str]] = {}
    for problem in problems:
        reasons.setdefault(problem.line, []).append(f"{problem.key}: {problem.message}")
    target = path.with_name(f"{path.stem}.rejects.csv")
    columns = sorted({k for _, record in records for k in record}, key=_column_order)
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["row", *columns, "problem"])
        for number, record in records:
            if number in reasons:
                cells = [neutralise(str(record.get(c) or "")) for c in columns]
                writer.writerow([number, *cells, neutralise("; ".join(reasons[number]))])
    return target


def _column_order(column: str) -> tuple[int, str]:
    return (COLUMNS.index(column) if column in COLUMNS else len(COLUMNS), column)


def neutralise(cell: str) -> str:
    """Make a spreadsheet show a cell as text, never run it as a formula."""
    return "'" + cell if cell.startswith(("=", "+", "-", "@", "\t", "\r")) else cell


def _drop_suppressed(session: Session, store: Store, rows: list[AudienceRow], segment: str,
                     report: ImportReport) -> list[AudienceRow]:
    hashes = {store.email_hash(r.email_key): r for r in rows}
    blocked: set[str] = set()
    for chunk in _chunks(list(hashes)):
        blocked |= set(session.scalars(select(Suppression.hash).where(
            Suppression.hash.in_(chunk), Suppression.scope.in_([segment, ALL_SEGMENTS]))))
    report.suppressed = sorted(hashes[h].row for h in blocked)
    return [r for h, r in hashes.items() if h not in blocked]


def _upsert_organisations(session: Session, rows: list[AudienceRow]) -> dict[str, int]:
    """Organisation name (case-insensitive) → id; focus areas set from the file, and the
    number and kind where the file gives them."""
    wanted = {r.organisation.casefold(): r for r in rows if r.organisation}
    kinds = {r.organisation.casefold(): r.kind for r in rows if r.organisation and r.kind}
    ids: dict[str, int] = {}
    for key, row in wanted.items():
        assert row.organisation is not None
        organisation = session.scalar(select(Organisation).where(Organisation.name_key == key))
        if organisation is None:
            organisation = Organisation(name=row.organisation, name_key=key,
                                        org_number=row.org_number, kind=kinds.get(key),
                                        joined_on=now().date(), created_at=now())
            session.add(organisation)
        else:
            organisation.org_number = row.org_number or organisation.org_number
            organisation.kind = kinds.get(key) or organisation.kind
        if {f.focus for f in organisation.focus} != set(row.focus):
            organisation.focus = [OrganisationFocus(focus=slug) for slug in row.focus]
        session.flush()
        ids[key] = organisation.id
    return ids


def _write_chunk(session: Session, store: Store, rows: Sequence[AudienceRow], segment: str,
                 organisations: dict[str, int], batch_id: int, report: ImportReport) -> None:
    moment = now()
    connection = session.connection()
    keys = [r.email_key for r in rows]
    existing = dict(session.execute(select(Subscriber.email_key, Subscriber.id)
                                    .where(Subscriber.email_key.in_(keys))).all())
    new = [r for r in rows if r.email_key not in existing]
    if new:
        connection.execute(insert(SUBSCRIBERS), [{
            "email": r.email, "email_key": r.email_key,
            "email_hash": store.email_hash(r.email_key), "name": r.name,
            "organisation_id": organisations.get((r.organisation or "").casefold()),
            "language": r.language, "created_at": moment, "updated_at": moment,
        } for r in new])
    known = [r for r in rows if r.email_key in existing]
    if known:
        table = SUBSCRIBERS  # keep what the file leaves empty (a general row has no organisation)
        connection.execute(update(table).where(table.c.id == bindparam("sid")).values(
            name=func.coalesce(bindparam("new_name"), table.c.name),
            organisation_id=func.coalesce(bindparam("org"), table.c.organisation_id),
            language=bindparam("lang"), updated_at=moment), [{
                "sid": existing[r.email_key], "new_name": r.name,
                "org": organisations.get((r.organisation or "").casefold()),
                "lang": r.language} for r in known])
    ids = dict(session.execute(select(Subscriber.email_key, Subscriber.id)
                               .where(Subscriber.email_key.in_(keys))).all())
    current = dict(session.execute(
        select(Subscription.subscriber_id, Subscription.status).where(
            Subscription.subscriber_id.in_(ids.values()), Subscription.segment == segment)
    ).all())
    inserts, confirms = [], []
    for row in rows:
        sid = ids[row.email_key]
        confirmed = row.basis in EXEMPT_BASES or row.confirmed_at is not None
        if sid not in current:
            inserts.append({
                "subscriber_id": sid, "segment": segment,
                "status": Status.CONFIRMED if confirmed else Status.PENDING,
                "legal_basis": row.basis.value,
                "source": row.consent_source or f"import:{report.file.name}",
                "privacy_notice": row.privacy_notice, "import_batch_id": batch_id,
                "created_at": row.consented_at or moment,
                "confirmed_at": (row.confirmed_at or moment) if confirmed else None,
                "status_changed_at": moment,
            })
            report.added += 1
        elif current[sid] == Status.PENDING and confirmed:
            confirms.append({"sid": sid, "when": row.confirmed_at or moment})
            report.updated += 1
        else:
            report.unchanged += 1
    if inserts:
        connection.execute(insert(SUBSCRIPTIONS), inserts)
    if confirms:
        table = SUBSCRIPTIONS
        connection.execute(update(table).where(
            table.c.subscriber_id == bindparam("sid"), table.c.segment == segment
        ).values(status=Status.CONFIRMED, confirmed_at=bindparam("when"),
                 status_changed_at=moment), confirms)
