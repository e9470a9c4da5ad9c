"""``newsletter send ISSUE --test-to``: test copies through the real command, on the outbox, a
real SMTP server (aiosmtpd) and SendGrid's schema (Prism in front of the recording stand-in).

Test copies need no NEWSLETTER_SECRET_KEY (their links are inert test links and no reader token
is made), say which variant they are in the subject, and carry their images inside the mail as
``cid:`` parts, since the archive does not have them before the issue is published.
"""

from __future__ import annotations

import email
import email.policy
import re
import shutil
from email.message import EmailMessage
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests.conftest import ROOT, cli_project

ISSUE = "issues/2027-1"
PAGE = "https://nyhetsbrev.lansstyrelsen.se/vastmanland/jamstalldhet/2027/1/"
ARCHIVE = "https://nyhetsbrev.lansstyrelsen.se/vastmanland/jamstalldhet"
SUBJECT = "Ett jämställt Västmanland nr 1 2027: konferens och nätverk"
DRAFT_LINES = [
    "[TEST · UTKAST · Anslutna aktörer · inget eget fokus]: sent to 1 of 1",
    "[TEST · UTKAST · Anslutna aktörer · hälsa, våld]: sent to 1 of 1",
    "[TEST · UTKAST · Anslutna aktörer · utbildning, omsorg, hälsa, våld]: sent to 1 of 1",
    "[TEST · UTKAST · Anslutna aktörer · makt, ekonomi]: sent to 1 of 1",
    "[TEST · UTKAST · Anslutna aktörer · makt, ekonomi, hälsa, våld]: sent to 1 of 1",
    "[TEST · UTKAST · Anslutna aktörer · makt, ekonomi, utbildning, omsorg, hälsa, våld]: "
    "sent to 1 of 1",
    "[TEST · UTKAST · Anslutna aktörer · makt, ekonomi, utbildning, omsorg]: sent to 1 of 1",
    "[TEST · UTKAST · Anslutna aktörer · utbildning, omsorg]: sent to 1 of 1",
    "[TEST · UTKAST · Prenumeranter]: sent to 1 of 1",
]
NOT_PUBLISHED = (f"Not published yet: the web version will be at {PAGE} when the issue is sent "
                 "(the test copies say so).")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example project with no NEWSLETTER_SECRET_KEY in the environment."""
    root = cli_project(tmp_path, monkeypatch, "unused")
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    shutil.copytree(ROOT / "issues", root / "issues")
    return root


def send(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["send", ISSUE, *args])
    return result.exit_code, result.output


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def outbox(root: Path) -> list[EmailMessage]:
    return [parse(p.read_bytes()) for p in sorted((root / "outbox").glob("*.eml"))]


def assert_test_copy(message: EmailMessage, raw: bytes) -> None:
    """Inert links, no reader token, and every image the HTML shows is a cid: part inside."""
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
    assert b"/avregistrera/" not in raw and b"/installningar/" not in raw  # no token links
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    markup, text = html_part.get_content(), text_part.get_content()
    for body in (markup, text):
        assert f"{ARCHIVE}/#testlank-avregistrera" in body
        assert f"{ARCHIVE}/#testlank-installningar" in body
        assert "test links: they do nothing" in body
    assert f"{PAGE}images/" not in markup and "/material/" not in markup  # nor does the logo
    body = markup[markup.index("<body"):]
    assert re.match(r"<body[^>]*><div style=display:none[^>]*>[^<]+</div><div role=\"note\"",
                    body)  # the preheader stays first, for the inbox row; then the box
    assert message.get_content_type() == "multipart/alternative"
    shown = set(re.findall(r'src="cid:([^"]+)"', markup))
    related = [p for p in message.walk() if p.get_content_type() == "multipart/related"]
    if not shown:
        assert not related
        return
    assert len(related) == 1 and related[0].get_param("type") == "text/html"
    assert next(related[0].iter_parts()).get_content_type() == "text/html"  # the root first
    parts = {str(p["Content-ID"]).strip("<>"): p for p in related[0].iter_parts()
             if p.get_content_maintype() == "image"}
    assert shown == set(parts)  # every reference resolves, no part unused
    published = processed_images() | {
        "logotyp.png": (ROOT / "templates" / "brand" / "logotyp.png").read_bytes()}
    for part in parts.values():
        name = part.get_filename()
        assert name is not None and part.get("Content-Disposition", "").startswith("inline")
        assert part.get_content() == published[name]


@cache
def processed_images() -> dict[str, bytes]:
    from pipeline.edition import process_images

    return process_images(ROOT / ISSUE)


def test_test_copies_need_no_secret_and_name_their_variant(project: Path) -> None:
    code, output = send("--test-to", "redaktionen@example.se")
    assert code == 0, output
    assert output.splitlines() == [
        "Test copies of the draft of 2027-1 (not approved) to redaktionen@example.se:",
        *DRAFT_LINES, NOT_PUBLISHED]
    files = sorted((project / "outbox").glob("*.eml"))
    assert len(files) == 9  # every variant, no ledger
    assert CliRunner().invoke(main, ["status"]).output == "No deliveries yet.\n"
    subjects = []
    images = 0
    for path in files:
        message = parse(path.read_bytes())
        assert_test_copy(message, path.read_bytes())
        subjects.append(str(message["Subject"]))
        images += len(re.findall(r"cid:", message.get_body(("html",)).get_content()))  # type: ignore[union-attr]
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "This is a draft: the issue is not approved" in text
        assert f"It will be at {PAGE} when the issue is sent." in text
    assert images >= 9  # every variant shows at least one of the issue's images
    assert sorted(subjects) == sorted(f"{line.split(':')[0]} {SUBJECT}" for line in DRAFT_LINES)


def test_an_approved_issue_sends_its_edition_and_says_where_it_is_published(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["approve", ISSUE, "--by", "Eva Granskare <eva@example.se>"])
    assert result.exit_code == 0, result.output
    short = result.output.split()[2]
    code, output = send("--test-to", "red@example.se")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == f"Test copies of 2027-1 (edition {short}) to red@example.se:"
    assert lines[1:] == [line.replace("UTKAST · ", "") for line in DRAFT_LINES] + [NOT_PUBLISHED]
    general = next(m for m in outbox(project) if "Prenumeranter" in str(m["Subject"]))
    assert str(general["Subject"]) == f"[TEST · Prenumeranter] {SUBJECT}"
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "s" * 48)  # the real send needs it
    CliRunner().invoke(main, ["audience", "import", "examples/audience/general.csv",
                              "--segment", "general", "--basis", "consent"])
    shutil.rmtree(project / "outbox")
    assert send()[0] == 0  # publishes the page first
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    code, output = send("--test-to", "red@example.se")
    assert code == 0 and NOT_PUBLISHED not in output
    copy = next(m for m in outbox(project) if "TEST · Prenumeranter" in str(m["Subject"]))
    assert f"The web version: {PAGE}" in copy.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_addresses_repeat_comma_lists_and_the_editors_group(project: Path) -> None:
    toml = project / "newsletter.toml"
    toml.write_text(toml.read_text().replace(
        "editors = []", 'editors = ["anna@example.se", "Bo@Example.SE"]'))
    code, output = send("--test-to", "c@example.se, anna@example.se", "--test-to", "editors")
    assert code == 0, output
    assert output.splitlines()[0] == ("Test copies of the draft of 2027-1 (not approved) to "
                                      "c@example.se, anna@example.se, Bo@example.se:")
    assert "[TEST · UTKAST · Prenumeranter]: sent to 3 of 3" in output.splitlines()
    received = sorted(str(m["To"]) for m in outbox(project))
    assert received == sorted(["c@example.se", "anna@example.se", "Bo@example.se"] * 9)


def test_editors_falls_back_to_the_issues_editor_in_the_order_given(project: Path) -> None:
    code, output = send("--test-to", "editors,anna@example.se")
    assert code == 0, output
    assert output.splitlines()[0].endswith("to vastmanland@lansstyrelsen.se, anna@example.se:")


def test_invalid_addresses_are_each_named_and_nothing_is_sent(project: Path) -> None:
    code, output = send("--test-to", "ok@example.se,redaktionen.example.se", "--test-to", "x@")
    assert code == 1
    assert output.splitlines() == [
        'Error: --test-to: "redaktionen.example.se" is not an email address. Write the whole '
        "address, for example redaktionen@lansstyrelsen.se, or editors for the test group.",
        '--test-to: "x@" is not an email address. Write the whole address, for example '
        "redaktionen@lansstyrelsen.se, or editors for the test group."]
    assert not (project / "outbox").exists()
    code, output = send("--test-to", " , ")
    assert code == 1 and "give at least one address" in output


def test_messages_speak_swedish(project: Path) -> None:
    result = CliRunner().invoke(main, ["send", ISSUE, "--lang", "sv", "--test-to", "nej"])
    assert result.exit_code == 1
    assert result.output.startswith("Fel: --test-to: ”nej” är ingen e-postadress.")
    result = CliRunner().invoke(main, ["send", ISSUE, "--lang", "sv", "--test-to", "a@example.se"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Testexemplar av 2027-1 (utkast, inte godkänt) till a@example.se:"
    assert lines[-2] == "[TEST · UTKAST · Prenumeranter]: skickat till 1 av 1"
    assert lines[-1] == (f"Inte publicerat än: webbversionen kommer att finnas på {PAGE} när "
                         "numret skickas (det står i testexemplaren).")
    text = outbox(project)[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    text = text.replace("\r\n", "\n")
    assert "Testexemplar: Anslutna aktörer · inget eget fokus.\nDet här är ett utkast." in text
    assert "De gör ingenting." in text


def test_smtp_delivers_test_copies_with_their_images_inside(project: Path, smtp_server) -> None:
    recorder, port = smtp_server
    toml = project / "newsletter.toml"
    toml.write_text(toml.read_text().replace("port = 587", f"port = {port}")
                    .replace('security = "starttls"', 'security = "none"'))
    code, output = send("--transport", "smtp", "--test-to", "a@example.se,b@example.se")
    assert code == 0, output
    assert "[TEST · UTKAST · Prenumeranter]: sent to 2 of 2" in output.splitlines()
    assert len(recorder.messages) == 18
    for recipients, raw in recorder.messages:
        message = parse(raw)
        assert recipients == [str(message["To"])]
        assert_test_copy(message, raw)
        assert "cid:" in message.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_sendgrid_carries_the_images_as_inline_attachments(
        project: Path, monkeypatch: pytest.MonkeyPatch, standin_behind_prism) -> None:
    standin, base = standin_behind_prism
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test")
    monkeypatch.setenv("SENDGRID_API_HOST", base)
    standin.keep_bodies, standin.bodies[:] = True, []
    try:
        code, output = send("--transport", "sendgrid", "--test-to", "a@example.se")
    finally:
        standin.keep_bodies = False
    assert code == 0, output  # Prism validated every request against SendGrid's schema
    assert len(standin.bodies) == 9
    for body in standin.bodies:
        assert "send_at" not in body and "batch_id" not in body  # sent now, no fence
        assert "headers" not in body["personalizations"][0]  # no List-Unsubscribe
        markup = next(c["value"] for c in body["content"] if c["type"] == "text/html")
        shown = set(re.findall(r'src="cid:([^"]+)"', markup))
        assert shown and shown == {a["content_id"] for a in body["attachments"]}
        assert all(a["disposition"] == "inline" for a in body["attachments"])
        assert body["subject"].startswith("[TEST · UTKAST · ")
