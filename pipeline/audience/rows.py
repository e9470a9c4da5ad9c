"""Read and validate an audience file (CSV or JSON) into ``AudienceRow``s, without writing.

CSV: UTF-8 with or without BOM, separated by ``;``, ``,`` or tab (as Swedish spreadsheet tools
export), a header row naming the columns. JSON: a list of objects with the same keys. Every
problem is a ``Problem`` ``file:row: column: message``; row 1 of a CSV is its header.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email

from pipeline.audience.models import EXEMPT_BASES, LegalBasis, OrganisationKind
from pipeline.audience.organisation import org_number, organisation_kind
from pipeline.config import Config
from pipeline.errors import Problem

COLUMNS = ("email", "name", "organisation", "org_number", "kind", "focus", "legal_basis",
           "consent_source", "consented_at", "confirmed_at", "privacy_notice", "language")
ALIASES = {"e-post": "email", "epost": "email", "e-mail": "email", "namn": "name",
           "organisationsnummer": "org_number", "fokusområden": "focus", "fokus": "focus",
           "typ": "kind", "organisationstyp": "kind", "språk": "language"}
FORMULA = ("=", "+", "-", "@", "\t", "\r")
MAX_FIELD = 1000
_SPLIT = re.compile(r"[|,;\s]+")


class FileProblem(Exception):
    """The file as a whole cannot be read; carries its Problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


Record = tuple[int, dict[str, Any]]  # (row number, raw cells by column)


@dataclass(frozen=True)
class Records:
    columns: tuple[str, ...] | None  # a CSV's header; None for JSON
    items: list[Record]


@dataclass(frozen=True)
class AudienceRow:
    row: int
    email: str
    email_key: str
    name: str | None
    organisation: str | None
    org_number: str | None
    kind: OrganisationKind | None
    focus: tuple[str, ...]
    basis: LegalBasis
    consent_source: str | None
    consented_at: datetime | None
    confirmed_at: datetime | None
    privacy_notice: str | None
    language: str


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_LOCAL = re.compile(rf"^{_ATEXT}(?:\.{_ATEXT})*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalise_email(value: str) -> str:
    """Trimmed, domain lower-cased (IDNA-normalised) address; raises ValueError.

    email-validator decides; its domain checks (the slow part) run once per domain, and a
    plain ASCII local part is accepted as it would accept it.
    """
    value = value.strip()
    local, at, domain = value.rpartition("@")
    if at and len(local) <= 64 and _PLAIN_LOCAL.match(local):
        normalised_domain = _domain(domain)
        if normalised_domain and len(local) + 1 + len(normalised_domain) <= 254:
            return f"{local}@{normalised_domain}"
    return _full(value)


def _full(value: str) -> str:
    try:
        return str(validate_email(value, check_deliverability=False,
                                  allow_smtputf8=False).normalized)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


@lru_cache(maxsize=4096)
def _domain(domain: str) -> str | None:
    """The normalised domain if email-validator accepts it, else None (full check follows)."""
    try:
        return _full(f"a@{domain}").split("@", 1)[1]
    except ValueError:
        return None


def email_key(email: str) -> str:
    """What makes two addresses the same subscriber: case-insensitive."""
    return email.lower()


def read_records(path: Path, max_bytes: int) -> Records:
    """(row number, raw record) for every record; raises FileProblem."""
    name = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FileProblem(Problem(name, 1, "(file)", "not found")) from None
    if size > max_bytes:
        raise FileProblem(Problem(name, 1, "(file)", f"{size / 1e6:.1f} MB is over the "
                                  f"{max_bytes / 1e6:.0f} MB limit; split the file"))
    data = path.read_bytes()
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileProblem(Problem(name, line, "(file)", "not UTF-8 text; in the spreadsheet "
                                  "choose 'Save as: CSV UTF-8'")) from None
    if not text.strip():
        raise FileProblem(Problem(name, 1, "(file)", "is empty; expected a header row such as "
                                  "'email;name;organisation;focus'"))
    if "\0" in text:
        raise FileProblem(Problem(name, text[: text.index("\0")].count("\n") + 1, "(file)",
                                  "contains NUL bytes: not a text file"))
    if path.suffix.lower() == ".json":
        return _json_records(text, name)
    return _csv_records(text, name)


def _json_records(text: str, name: str) -> Records:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileProblem(Problem(name, exc.lineno, "(file)", f"invalid JSON: {exc.msg}")
                          ) from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise FileProblem(Problem(name, 1, "(file)", "JSON must be a list of objects"))
    return Records(None, [(index, {str(k).strip().lower(): v for k, v in item.items()})
                          for index, item in enumerate(data, start=1)])


def _csv_records(text: str, name: str) -> Records:
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in next(reader)]
        records = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header):
                raise FileProblem(Problem(name, reader.line_num, "(row)",
                                          f"{len(values)} cells but the header has "
                                          f"{len(header)}; check the separator and quoting"))
            records.append((reader.line_num, dict(zip(header, values, strict=False))))
    except csv.Error as exc:
        raise FileProblem(Problem(name, reader.line_num or 1, "(file)",
                                  f"not readable as CSV: {exc}")) from None
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise FileProblem(Problem(name, 1, unknown[0], f"unknown column; known columns: "
                                  f"{', '.join(COLUMNS)}"))
    return Records(tuple(header), records)


def required_columns(config: Config, segment: str, basis: LegalBasis) -> list[str]:
    columns = ["email"]
    if config.segment(segment).focus:
        columns += ["organisation", "focus"]
    if basis is LegalBasis.CONSENT:
        columns += ["consent_source", "consented_at", "privacy_notice"]
    return columns


def validate_records(records: Records, path: Path, config: Config,
                     segment: str, basis: LegalBasis) -> tuple[list[AudienceRow], list[Problem]]:
    """Every row checked; duplicates of an earlier row are problems too."""
    name = str(path)
    focus_segment = config.segment(segment).focus
    areas = {f.slug for f in config.focus_areas}
    zone = config.zone
    rows: list[AudienceRow] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    if records.columns is not None:
        needed = required_columns(config, segment, basis)
        missing = [c for c in needed if c not in records.columns]
        if missing:
            return [], [Problem(name, 1, column, f"missing column; the file needs "
                                f"{', '.join(needed)}") for column in missing]
    if not records.items:
        return [], [Problem(name, 1, "(file)", "has no rows to import")]
    for number, record in records.items:
        cells = _Cells(record)
        errors = cells.errors
        text = cells.text
        email = text("email", required=True)
        normalised = None
        if email:
            try:
                normalised = normalise_email(email)
            except ValueError as exc:
                errors.append(("email", str(exc)))
        row_basis = basis
        if raw_basis := text("legal_basis"):
            try:
                row_basis = LegalBasis(raw_basis)
            except ValueError:
                errors.append(("legal_basis", f"'{raw_basis}' is not one of "
                               f"{', '.join(b.value for b in LegalBasis)}"))
            if row_basis in EXEMPT_BASES and row_basis != basis:
                errors.append(("legal_basis", f"{row_basis} needs --basis {row_basis} on the "
                               "command line, to import such rows on purpose"))
        organisation = text("organisation", required=focus_segment)
        org_number = _org_number(text("org_number"), errors)
        kind = _kind(text("kind"), organisation, errors)
        focus: tuple[str, ...] = ()
        if raw_focus := text("focus", required=focus_segment):
            focus = tuple(dict.fromkeys(s for s in _SPLIT.split(raw_focus.lower()) if s))
            for slug in focus:
                if slug not in areas:
                    errors.append(("focus", f"'{slug}' is not a focus area; use "
                                   f"{', '.join(sorted(areas))}"))
        consent = row_basis is LegalBasis.CONSENT
        source = text("consent_source", required=consent)
        consented = _when(text("consented_at", required=consent), "consented_at", zone, errors)
        confirmed = _when(text("confirmed_at"), "confirmed_at", zone, errors)
        notice = text("privacy_notice", required=consent)
        language = (text("language") or "sv").lower()
        if not re.fullmatch(r"[a-z]{2}", language):
            errors.append(("language", f"'{language}' is not a two-letter language code"))
        person = text("name")
        if normalised:
            key = email_key(normalised)
            if key in seen:
                errors.append(("email", f"duplicate of row {seen[key]}"))
            else:
                seen[key] = number
        problems += [Problem(name, number, column, message) for column, message in errors]
        if not errors and normalised:
            rows.append(AudienceRow(number, normalised, email_key(normalised), person,
                                    organisation, org_number, kind, focus, row_basis, source,
                                    consented, confirmed, notice, language))
    return rows, problems


class _Cells:
    """One record's cells, read as trimmed text with the checks every text cell gets."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.errors: list[tuple[str, str]] = []

    def text(self, column: str, required: bool = False) -> str | None:
        raw = self.record.get(column)
        value = "" if raw is None else str(raw).strip()
        if not value:
            if required:
                self.errors.append((column, "required"))
            return None
        if len(value) > MAX_FIELD:
            self.errors.append((column, f"longer than {MAX_FIELD} characters"))
        elif value.startswith(FORMULA):
            self.errors.append((column, f"starts with '{value[0]}', which spreadsheets run as "
                                "a formula; remove it"))
        elif _CONTROL.search(value):
            self.errors.append((column, "contains control characters"))
        return value


def _kind(value: str | None, organisation: str | None, errors: list[tuple[str, str]]
          ) -> OrganisationKind | None:
    if value is None:
        return None
    kind = organisation_kind(value)
    if kind is None:
        errors.append(("kind", f"'{value}' is not a kind of organisation; use "
                       f"{', '.join(OrganisationKind)}"))
    elif organisation is None:
        errors.append(("kind", "a kind needs the organisation on the same row"))
    return kind


def _org_number(value: str | None, errors: list[tuple[str, str]]) -> str | None:
    if value is None:
        return None
    number = org_number(value)
    if number is None:
        errors.append(("org_number", f"'{value}' is not a Swedish organisation number "
                       "(NNNNNN-NNNN)"))
    return number


def _when(value: str | None, column: str, zone: tzinfo, errors: list[tuple[str, str]]
          ) -> datetime | None:
    """A timestamp; without an offset it is local time in the newsletter's time zone."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        errors.append((column, f"'{value}' is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)"))
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    moment = moment.astimezone(UTC)  # stored as UTC: SQLite keeps no offset
    if moment > datetime.now(UTC):
        errors.append((column, f"'{value}' is in the future"))
    return moment
