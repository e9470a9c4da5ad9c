"""A corpus of malformed audience files: each rejected with its exact lines, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text

from pipeline.audience.models import Subscriber
from pipeline.cli import main
from tests.conftest import ROOT

HEAD = "email;name;organisation;focus\n"
CONSENT = "email;consent_source;consented_at;privacy_notice\n"

# name → (file name, content, segment, basis, expected lines after "Error: …")
CASES: dict[str, tuple[str, bytes, str, str, list[str]]] = {
    "empty file": ("a.csv", b"", "general", "consent", [
        "{f}:1: (file): is empty; expected a header row such as 'email;name;organisation;focus'"]),
    "only blank lines": ("a.csv", b"\n\n  \n", "general", "consent", [
        "{f}:1: (file): is empty; expected a header row such as 'email;name;organisation;focus'"]),
    "header without rows": ("a.csv", HEAD.encode(), "connected", "public_task", [
        "{f}:1: (file): has no rows to import"]),
    "latin-1 from an old spreadsheet": ("a.csv", (HEAD + "å@example.se;Åsa;Org;makt\n")
                                        .encode("latin-1"), "connected", "public_task", [
        "{f}:2: (file): not UTF-8 text; in the spreadsheet choose 'Save as: CSV UTF-8'"]),
    "utf-16": ("a.csv", HEAD.encode("utf-16"), "connected", "public_task", [
        "{f}:1: (file): not UTF-8 text; in the spreadsheet choose 'Save as: CSV UTF-8'"]),
    "binary with NUL bytes": ("a.csv", b"email\nx\0y\n", "general", "consent", [
        "{f}:2: (file): contains NUL bytes: not a text file"]),
    "missing columns": ("a.csv", b"email;name\na@example.se;A\n", "connected", "public_task", [
        "{f}:1: focus: missing column; the file needs email, organisation, focus",
        "{f}:1: organisation: missing column; the file needs email, organisation, focus"]),
    "consent evidence missing": ("a.csv", b"email\na@example.se\n", "general", "consent", [
        "{f}:1: consent_source: missing column; the file needs email, consent_source, "
        "consented_at, privacy_notice",
        "{f}:1: consented_at: missing column; the file needs email, consent_source, "
        "consented_at, privacy_notice",
        "{f}:1: privacy_notice: missing column; the file needs email, consent_source, "
        "consented_at, privacy_notice"]),
    "unknown column": ("a.csv", b"email;telefon\na@example.se;070\n", "general", "consent", [
        "{f}:1: telefon: unknown column; known columns: email, name, organisation, org_number, "
        "kind, focus, legal_basis, consent_source, consented_at, confirmed_at, privacy_notice, "
        "language"]),
    "bad email": ("a.csv", (HEAD + "anna.example.se;Anna;Org;makt\n").encode(), "connected",
                  "public_task", ["{f}:2: email: An email address must have an @-sign."]),
    "two at-signs": ("a.csv", (HEAD + "a@b@example.se;A;Org;makt\n").encode(), "connected",
                     "public_task", [
        "{f}:2: email: The part after the @-sign contains invalid characters: '@'."]),
    "empty email": ("a.csv", (HEAD + ";Anna;Org;makt\n").encode(), "connected", "public_task", [
        "{f}:2: email: required"]),
    "unknown focus area": ("a.csv", (HEAD + "a@example.se;A;Org;makt|miljo\n").encode(),
                           "connected", "public_task", [
        "{f}:2: focus: 'miljo' is not a focus area; use ekonomi, halsa, makt, omsorg, "
        "utbildning, vald"]),
    "connected without organisation or focus": ("a.csv", (HEAD + "a@example.se;A;;\n")
                                                .encode(), "connected", "public_task", [
        "{f}:2: focus: required", "{f}:2: organisation: required"]),
    "formula in name": ("a.csv", (HEAD + 'a@example.se;=HYPERLINK("https://x");Org;makt\n')
                        .encode(), "connected", "public_task", [
        "{f}:2: name: starts with '=', which spreadsheets run as a formula; remove it"]),
    "formula in organisation": ("a.csv", (HEAD + "a@example.se;A;@SUM(A1);makt\n").encode(),
                                "connected", "public_task", [
        "{f}:2: organisation: starts with '@', which spreadsheets run as a formula; remove it"]),
    "duplicate address": ("a.csv", (HEAD + "a@example.se;A;Org;makt\nA@EXAMPLE.se;B;Org;makt\n")
                          .encode(), "connected", "public_task", [
        "{f}:3: email: duplicate of row 2"]),
    "organisation number fails its check digit": (
        "a.csv", b"email;organisation;org_number;focus\na@example.se;Org;212000-2081;makt\n",
        "connected", "public_task", [
            "{f}:2: org_number: '212000-2081' is not a Swedish organisation number "
            "(NNNNNN-NNNN)"]),
    "unknown kind of organisation": (
        "a.csv", b"email;organisation;kind;focus\na@example.se;Org;kommun;makt\n"
        b"b@example.se;Bolaget;aktiebolag;makt\n", "connected", "public_task", [
            "{f}:3: kind: 'aktiebolag' is not a kind of organisation; use kommun, region, "
            "myndighet, foretag, forening, annan"]),
    "kind without an organisation": (
        "a.csv", b"email;organisation;kind\na@example.se;;kommun\n", "general",
        "public_task", ["{f}:2: kind: a kind needs the organisation on the same row"]),
    "same organisation, different kind": (
        "a.csv", "email;organisation;typ;focus\na@example.se;Org;kommun;makt\n"
        "b@example.se;org;Förening;makt\n".encode(), "connected", "public_task", [
            "{f}:3: kind: differs from row 2 for the same organisation"]),
    "same organisation, different focus": ("a.csv", (HEAD + "a@example.se;A;Org;makt\n"
                                                     "b@example.se;B;org;halsa\n").encode(),
                                           "connected", "public_task", [
        "{f}:3: focus: differs from row 2 for the same organisation"]),
    "consent date is not a date": ("a.csv", (CONSENT + "a@example.se;formulär;igår;1\n")
                                   .encode(), "general", "consent", [
        "{f}:2: consented_at: 'igår' is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)"]),
    "consent in the future": ("a.csv", (CONSENT + "a@example.se;formulär;2999-01-01;1\n")
                              .encode(), "general", "consent", [
        "{f}:2: consented_at: '2999-01-01' is in the future"]),
    "unknown legal basis": ("a.csv", b"email;legal_basis;consent_source;consented_at;"
                            b"privacy_notice\na@example.se;samtycke;f;2026-01-01;1\n",
                            "general", "consent", [
        "{f}:2: legal_basis: 'samtycke' is not one of consent, public_task"]),
    "bad language code": ("a.csv", b"email;organisation;focus;language\n"
                          b"a@example.se;Org;makt;svenska\n", "connected", "public_task", [
        "{f}:2: language: 'svenska' is not a two-letter language code"]),
    "control characters": ("a.csv", (HEAD + "a@example.se;A\x07nna;Org;makt\n").encode(),
                           "connected", "public_task", [
        "{f}:2: name: contains control characters"]),
    "more cells than columns": ("a.csv", (HEAD + "a@example.se;A;Org, AB;makt;extra\n")
                                .encode(), "connected", "public_task", [
        "{f}:2: (row): 5 cells but the header has 4; check the separator and quoting"]),
    "unclosed quote": ("a.csv", (HEAD + 'a@example.se;"Anna;Org;makt\n').encode(),
                       "connected", "public_task", [
        "{f}:2: (file): not readable as CSV: unexpected end of data"]),
    "10 MB in one cell": ("a.csv", HEAD.encode() + b"a@example.se;" + b"x" * 10_000_000 +
                          b";Org;makt\n", "connected", "public_task", [
        "{f}:2: (file): not readable as CSV: field larger than field limit (131072)"]),
    "invalid JSON": ("a.json", b'[{"email": "a@example.se",}]', "general", "consent", [
        "{f}:1: (file): invalid JSON: Expecting property name enclosed in double quotes"]),
    "JSON that is not a list": ("a.json", b'{"email": "a@example.se"}', "general", "consent", [
        "{f}:1: (file): JSON must be a list of objects"]),
    "JSON row with a bad address": ("a.json", json.dumps([
        {"email": "a@example.se", "organisation": "Org", "focus": "makt"},
        {"email": "nej", "organisation": "Org", "focus": "makt"}]).encode(), "connected",
        "public_task", ["{f}:2: email: An email address must have an @-sign."]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_malformed_file_is_rejected_with_exact_lines(case: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    name, content, segment, basis, expected = CASES[case]
    database = tmp_path / "register.db"
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{database}")
    path = tmp_path / name
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["audience", "import", str(path), "--segment", segment,
                                       "--basis", basis, "--config",
                                       str(ROOT / "newsletter.toml")])
    lines = result.output.splitlines()
    assert result.exit_code == 1, result.output
    assert lines[0].startswith(f"Error: {path}: ") and "nothing was imported" in lines[0]
    assert lines[1:] == [line.format(f=path) for line in expected]
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Subscriber)) == 0
        assert connection.scalar(text("SELECT count(*) FROM import_batches")) == 0
    engine.dispose()
