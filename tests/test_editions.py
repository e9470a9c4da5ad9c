"""Editions: what was approved is what every reader gets and what the archive shows.

Through the real entry points: `newsletter` as a process (killed mid-send at a progress
point), and the CLI in-process for approve, send, resume, status and schedule.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from pipeline.audience.importer import SUBSCRIBERS
from pipeline.audience.models import Subscriber
from pipeline.audience.store import Store, now
from pipeline.audience.tokens import Purpose, read_token
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.deliver import deliveries
from pipeline.deliver.models import DeliveryState, LedgerEntry
from pipeline.edition import load_edition
from pipeline.errors import database_error
from pipeline.render.personalise import Reader, address_as, personalise
from tests.conftest import ROOT, cli_project, fresh_database_url, start_delivery
from tests.test_crash import fill

SECRET = "s" * 48
APPROVE = ["approve", "issues/2027-1", "--by", "Eva Granskare <eva@example.se>"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project copy with the example issue; the CLI runs in it."""
    root = cli_project(tmp_path, monkeypatch, SECRET)
    shutil.copytree(ROOT / "issues" / "2027-1", root / "issues" / "2027-1")
    return root


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def parts(data: bytes) -> tuple[str, str]:
    message = email.message_from_bytes(data, policy=email.policy.default)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return html, text


def test_a_killed_send_resumes_with_the_approved_bytes_after_edits(project: Path) -> None:
    config = load_config(project / "newsletter.toml")
    store = Store.open(config)
    fill(store, 3000, "frozen.example")
    code, out = cli(*APPROVE)
    assert code == 0, out
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-m", "pipeline", "send", "issues/2027-1"],
                             cwd=project, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    outbox = project / "outbox"
    assert child.stdout is not None
    for line in child.stdout:  # progress signal: the audience is frozen, sending starts
        if line.startswith(b"Published"):
            break
    while not any(outbox.glob("*.eml")):  # the first message is written: kill it now
        assert child.poll() is None, "the send finished before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    sent_before = len(list(outbox.glob("*.eml")))
    assert 0 < sent_before < 3000

    section = project / "issues" / "2027-1" / "01-ledare.md"
    section.write_text(section.read_text().replace("Trevlig läsning!", "Ha det gott!"))
    template = project / "templates" / "email.mjml.j2"
    assert "#ffffff" in template.read_text()
    template.write_text(template.read_text().replace("#ffffff", "#fefefe"))
    code, out = cli("status", "issues/2027-1")
    assert "the approval no longer holds" in out.splitlines()[0]
    assert "issues/2027-1/01-ledare.md" in out and "templates/email.mjml.j2" in out
    code, out = cli("send", "issues/2027-1")  # the started delivery goes on as approved
    assert code == 0, out
    assert "goes on with the approved edition" in out
    assert "is finished (3000 sent)" in out

    delivery = deliveries.current_delivery(store, "2027-1")
    assert delivery is not None and delivery.state == DeliveryState.FINISHED
    assert delivery.edition_id is not None
    edition = load_edition(store, delivery.edition_id)
    config = edition.config(config)
    with store.session() as session:
        rows = {e.email: e for e in session.scalars(select(LedgerEntry))}
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 3000
    for file in files:
        message = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
        row = rows[message["To"].addresses[0].addr_spec]
        html, text = parts(file.read_bytes())
        unsubscribe = str(message["List-Unsubscribe"]).split(">")[0].lstrip("<")
        preferences = re.findall(r"https://[^\s\"<>]+/installningar/[\w.-]+", html)[0]
        for url, purpose in ((unsubscribe, Purpose.UNSUBSCRIBE),
                             (preferences, Purpose.PREFERENCES)):  # this reader's own links
            token = url.rsplit("/", 1)[1]
            assert read_token(SECRET.encode(), token, purpose).subscriber_id == \
                row.subscriber_id
        reader = Reader(address_as(row.name, config.audience.greeting), unsubscribe,
                        preferences)
        mail = edition.mail(row.variant)
        # byte for byte, apart from the placeholders (and CRLF, the wire's line ends)
        assert html.replace("\r\n", "\n") == personalise(mail.html, reader, is_html=True)
        assert text.replace("\r\n", "\n") == personalise(mail.text, reader, is_html=False)
        assert "Ha det gott!" not in html and "#fefefe" not in html
    page = project / "archive" / "2027" / "1" / "index.html"
    assert page.read_text(encoding="utf-8") == edition.web_page
    assert "Ha det gott!" not in edition.web_page and "Trevlig läsning!" in edition.web_page
    store.close()


def test_status_schedule_and_publish_show_a_voided_approval(project: Path) -> None:
    assert cli(*APPROVE)[0] == 0
    assert "approved by Eva Granskare <eva@example.se>" in cli("status", "issues/2027-1")[1]
    service = project / "templates" / "service" / "page.html.j2"  # no edition is made from it
    service.write_text(service.read_text() + "\n")
    assert "approved by Eva Granskare <eva@example.se>" in cli("status", "issues/2027-1")[1]
    meta = project / "issues" / "2027-1" / "issue.yaml"
    meta.write_text(meta.read_text().replace("2027-02-16 09:00", "2027-02-23 09:00"))
    void = "the approval no longer holds (changed: issues/2027-1/issue.yaml)"
    code, out = cli("status", "issues/2027-1")
    assert out.splitlines()[0] == f"2027-1: {void}"
    assert out.splitlines()[-1] == "No deliveries yet."
    code, out = cli("schedule")
    assert out.splitlines()[1].endswith(f"not scheduled; {void}")
    code, out = cli("send", "issues/2027-1")
    assert code == 1 and "the approval no longer holds" in out
    assert "issues/2027-1/issue.yaml:1: approval: changed since 2027-1 was approved" in out
    code, out = cli("publish", "issues/2027-1")
    assert code == 1 and "the approval no longer holds" in out
    assert not (project / "archive" / "2027").exists()
    code, out = cli("approve", "issues/2027-1", "--by", "Eva Granskare <eva@example.se>")
    assert code == 0, out
    code, out = cli("status", "issues/2027-1")
    assert out.splitlines()[0].startswith("2027-1: approved by Eva Granskare")


def test_approval_refuses_check_errors_and_strangers(project: Path) -> None:
    toml = project / "newsletter.toml"
    toml.write_text(toml.read_text() + '\n[approval]\napprovers = ["eva@example.se"]\n')
    code, out = cli("approve", "issues/2027-1", "--by", "Kim <kim@example.se>")
    assert code == 1 and "kim@example.se may not approve" in out
    code, out = cli("approve", "issues/2027-1", "--by", "nobody")
    assert code == 1 and "write the approver's name and email address" in out
    section = project / "issues" / "2027-1" / "06-halsa-och-vald.md"
    section.write_text(section.read_text().replace("[halsa, vald]", "[halsa, miljo]"))
    code, out = cli(*APPROVE)
    assert code == 1 and "'miljo' is not a focus area" in out
    code, out = cli("send", "issues/2027-1")
    assert code == 1 and "2027-1 is not approved" in out


def test_resume_keeps_the_deliverys_transport_unless_switched(project: Path,
                                                              smtp_server) -> None:
    recorder, port = smtp_server
    toml = project / "newsletter.toml"
    toml.write_text(toml.read_text().replace("port = 587", f"port = {port}")
                    .replace('security = "starttls"', 'security = "none"'))
    config = load_config(toml)
    store = Store.open(config)
    fill(store, 40, "switch.example")
    delivery_id, frozen, _ = start_delivery(store, config, project / "issues" / "2027-1",
                                            transport="smtp")  # started, then interrupted
    assert frozen == 40
    code, out = cli("resume", "issues/2027-1", "--transport", "outbox")
    assert code == 1 and "was started with smtp" in out and "--switch-transport" in out
    code, out = cli("resume", "issues/2027-1")  # no --transport: the delivery's own, SMTP
    assert code == 0, out
    assert len(recorder.messages) == 40 and not (project / "outbox").exists()

    # a second delivery (the first is finished), started on SMTP, resumed on the outbox
    delivery_id, _, _ = start_delivery(store, config, project / "issues" / "2027-1",
                                       transport="smtp")
    code, out = cli("resume", "issues/2027-1", "--transport", "outbox", "--switch-transport")
    assert code == 0, out
    assert f"Delivery {delivery_id} now sends with outbox (was smtp)." in out
    assert len(list((project / "outbox").glob("*.eml"))) == 40 and len(recorder.messages) == 40
    code, out = cli("status", "issues/2027-1")
    assert "  transport switched: smtp→outbox" in out
    store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_database_errors_never_show_a_readers_address(project: Path, backend: str,
                                                      tmp_path: Path) -> None:
    config = load_config(project / "newsletter.toml")
    store = Store.open(config, fresh_database_url(backend, tmp_path))
    row = {"email": "anna.hemlig@example.se", "email_key": "anna.hemlig@example.se",
           "email_hash": "0" * 64, "name": "Anna Hemlig", "organisation_id": None,
           "language": "sv", "created_at": now(), "updated_at": now()}
    with store.engine.begin() as connection:
        connection.execute(insert(SUBSCRIBERS), [row])
    with pytest.raises(IntegrityError) as caught, store.engine.begin() as connection:
        connection.execute(insert(SUBSCRIBERS), [row])
    shown = database_error(caught.value)  # what the CLI prints instead of a traceback
    assert "IntegrityError" in shown and "unique" in shown.lower()
    assert "anna.hemlig" not in shown and "Anna Hemlig" not in shown
    assert "Anna Hemlig" not in str(caught.value)  # hide_parameters: not even in a log
    with store.session() as session:
        assert session.scalar(select(Subscriber.name)) == "Anna Hemlig"
    store.close()
