"""Adversarial corpus, delivery side (issue 12): what a reader's data or a careless setting can
do to a send. Each test drives the real CLI and failed on the code before its fix."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from pipeline.audience.importer import SUBSCRIBERS, SUBSCRIPTIONS
from pipeline.audience.store import Store, now
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.deliver.models import LedgerEntry
from tests.test_crash import fill
from tests.test_editions import APPROVE, project  # noqa: F401  (the fixture)


def reader(store: Store, number: int, address: str, name: str | None) -> None:
    moment = now()
    with store.engine.begin() as connection:
        connection.execute(insert(SUBSCRIBERS), [{
            "id": number, "email": address, "email_key": address.lower(),
            "email_hash": f"{number:064x}", "name": name, "organisation_id": None,
            "language": "sv", "created_at": moment, "updated_at": moment}])
        connection.execute(insert(SUBSCRIPTIONS), [{
            "subscriber_id": number, "segment": "general", "status": "confirmed",
            "legal_basis": "consent", "source": "test", "privacy_notice": "1",
            "created_at": moment, "confirmed_at": moment, "status_changed_at": moment}])


def smtp_project(root: Path, port: int) -> Path:
    toml = root / "newsletter.toml"
    toml.write_text(toml.read_text().replace("port = 587", f"port = {port}")
                    .replace('security = "starttls"', 'security = "none"')
                    .replace('transport = "outbox"', 'transport = "smtp"'))
    return toml


@pytest.mark.parametrize("transport", ["outbox", "smtp"])
@pytest.mark.parametrize(("address", "name"), [
    ("per@poison.example", "Per\r\nX-Injected: yes"),   # a header of its own
    ("eva@poison.example", "Eva\x00"),
    ("asa@poison.example", "Åsa\x07 Berg"),               # not ASCII: its control character
    ("ake@poison.example", "Åke Lind\u2028"),             # was hidden by the encoded word
    ("kim@-bindestreck-.example", "Kim"),               # not a valid IDNA domain
    ("kåre@poison.example", "Kåre"),                    # needs SMTPUTF8
])
def test_one_readers_poisoned_data_fails_that_row_and_the_rest_goes_out(
        project: Path, smtp_server, transport: str, address: str,  # noqa: F811
        name: str) -> None:
    recorder, port = smtp_server
    toml = smtp_project(project, port) if transport == "smtp" else project / "newsletter.toml"
    store = Store.open(load_config(toml))
    fill(store, 30, "poison.example")
    reader(store, 31, address, name)
    assert CliRunner().invoke(main, APPROVE).exit_code == 0
    result = CliRunner().invoke(main, ["send", "issues/2027-1"])
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "delivery 1 is finished (30 sent, 1 failed)" in result.output
    with store.session() as session:
        row = session.scalar(select(LedgerEntry).where(LedgerEntry.subscriber_id == 31))
    assert row is not None and row.state == "failed"
    assert (row.last_error or "").startswith("the message could not be built for this reader")
    sent = (len(recorder.messages) if transport == "smtp"
            else len(list((project / "outbox").glob("*.eml"))))
    assert sent == 30
    assert b"X-Injected" not in b"".join(m for _, m in recorder.messages)
    store.close()


def test_idn_addresses_are_mailed_to_their_own_domain(project: Path,  # noqa: F811
                                                      smtp_server) -> None:
    recorder, port = smtp_server
    store = Store.open(load_config(smtp_project(project, port)))
    reader(store, 1, "kalle@straße.example", "Kalle")
    reader(store, 2, "bo@bücher.example", "Bo")
    assert CliRunner().invoke(main, APPROVE).exit_code == 0
    result = CliRunner().invoke(main, ["send", "issues/2027-1"])
    assert result.exit_code == 0, result.output
    envelopes = sorted(rcpt for rcpts, _ in recorder.messages for rcpt in rcpts)
    assert envelopes == ["bo@xn--bcher-kva.example", "kalle@xn--strae-oqa.example"]
    for _, data in recorder.messages:  # the To: header names the same domain
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert "strasse" not in str(message["To"])
        assert message["To"].addresses[0].domain in ("xn--strae-oqa.example",
                                                     "xn--bcher-kva.example")
    store.close()


def test_sendgrid_requests_carry_the_idna_2008_domain() -> None:
    from pipeline.deliver.message import ascii_address

    # what the SendGrid transport writes into personalizations[].to[].email, and SMTP's RCPT
    assert ascii_address("kalle@straße.example") == "kalle@xn--strae-oqa.example"
    with pytest.raises(ValueError, match="not ASCII"):
        ascii_address("kålle@example.se")


@pytest.mark.parametrize(("host", "refused"), [("smtp.lansstyrelsen.se", True),
                                               ("10.0.0.5", True), ("127.0.0.1", False),
                                               ("localhost", False), ("::1", False)])
def test_a_password_is_never_sent_over_plain_smtp_to_another_host(
        project: Path, host: str, refused: bool) -> None:  # noqa: F811
    toml = project / "newsletter.toml"
    toml.write_text(toml.read_text().replace('host = "127.0.0.1"', f'host = "{host}"')
                    .replace('security = "starttls"',
                             'security = "none"\nusername = "nyhetsbrev"'))
    result = CliRunner().invoke(main, ["status"])
    if refused:
        assert result.exit_code == 1
        line = next(n for n, text in enumerate(toml.read_text().splitlines(), start=1)
                if text.startswith('username = "nyhetsbrev"'))
        assert f"newsletter.toml:{line}: delivery.smtp.username: with security = \"none\" " \
               f"the password would cross the network to {host} unencrypted" in result.output
    else:
        assert result.exit_code == 0, result.output


def test_sendgrid_notices_advertise_no_one_click(config) -> None:
    """Confirmations and notices have no list to leave: no List-Unsubscribe(-Post) through
    SendGrid either (the SMTP and outbox side is tested over HTTP in test_hostile_web)."""
    from pipeline.deliver.message import Envelope, MessageTemplate
    from pipeline.deliver.transports.sendgrid import SendGridTransport
    from pipeline.edition import Mail
    from pipeline.render.personalise import Reader

    sendgrid = SendGridTransport("SG.test", "http://127.0.0.1:9", config.delivery.sendgrid,
                                 config, 0)
    envelope = Envelope(-1, "ny@example.se", None, "notice", "<1@x>",
                        Reader("", "https://x/", "https://x/"), "notice")
    for list_headers in (True, False):
        template = MessageTemplate(Mail("Bekräfta", "", "<p>x</p>", "x"), config,
                                   config.list_id, list_headers=list_headers)
        [personalization] = sendgrid.body(template, None, [envelope])["personalizations"]
        assert ("headers" in personalization) is list_headers


@pytest.mark.parametrize("host", ["a..b", "x" * 64 + ".example"])
def test_a_host_that_is_no_host_name_is_refused_before_anything_is_frozen(
        project: Path, host: str) -> None:  # noqa: F811
    """It once passed `check`, froze the audience, then ended `send` in a traceback with one
    reader "uncertain" though nothing could have gone out."""
    toml = smtp_project(project, 2525)
    toml.write_text(toml.read_text().replace('host = "127.0.0.1"', f'host = "{host}"'))
    line = next(n for n, text in enumerate(toml.read_text().splitlines(), start=1)
                if text.startswith(f'host = "{host}"'))
    assert CliRunner().invoke(main, APPROVE).exit_code == 1  # the settings are read first
    result = CliRunner().invoke(main, ["send", "issues/2027-1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"newsletter.toml:{line}: delivery.smtp.host: '{host}' is not a host name" \
        in result.output, result.output


def test_a_sendgrid_key_with_a_line_break_is_read_without_it_and_never_printed(
        project: Path, prism_mock: str, monkeypatch) -> None:  # noqa: F811
    """A key pasted from an env file with its line break went into the Authorization header;
    the HTTP library's error quoted the header, and the pause reason carried the key on to
    status, health and the alert webhook."""
    store = Store.open(load_config(project / "newsletter.toml"))
    fill(store, 5, "key.example")
    assert CliRunner().invoke(main, APPROVE).exit_code == 0
    monkeypatch.setenv("SENDGRID_API_HOST", prism_mock)
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.SEC\x01RETKEY")  # inside: refused, not echoed
    result = CliRunner().invoke(main, ["send", "issues/2027-1", "--transport", "sendgrid"])
    assert result.exit_code == 1 and "SENDGRID_API_KEY holds a character" in result.output
    assert "RETKEY" not in result.output and "Traceback" not in result.output
    assert "Froze" not in result.output  # refused before anything was frozen or published
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.SECRETKEY\r\n")  # around it: stripped
    result = CliRunner().invoke(main, ["send", "issues/2027-1", "--transport", "sendgrid"])
    assert result.exit_code == 0, result.output
    assert "is finished (5 sent)" in result.output and "SECRETKEY" not in result.output
    store.close()


def test_a_mail_server_that_refuses_is_named_in_the_pause(project: Path) -> None:  # noqa: F811
    """`[delivery.smtp] port = 1`: the send paused with "the provider kept failing" and
    nothing said which server, or what it answered."""
    from tests.conftest import _free_port

    port = _free_port()  # nothing listens there
    toml = smtp_project(project, port)
    toml.write_text(toml.read_text().replace("tries = 6 ", "tries = 1 "))
    store = Store.open(load_config(toml))
    fill(store, 3, "refused.example")
    assert CliRunner().invoke(main, APPROVE).exit_code == 0
    result = CliRunner().invoke(main, ["send", "issues/2027-1"])
    assert "Traceback" not in result.output
    assert f"cannot connect to 127.0.0.1:{port}" in result.output, result.output
    status = CliRunner().invoke(main, ["status"])
    assert f"cannot connect to 127.0.0.1:{port}" in status.output, status.output
    store.close()


@pytest.mark.parametrize(("setting", "value", "said"), [
    ("outbox_dir", '"out\\u0000"', "delivery.outbox_dir:"),
    ("messages_per_second", "1e-300", "delivery.messages_per_second:"),
])
def test_a_setting_no_send_could_use_is_refused_with_its_line(
        project: Path, setting: str, value: str, said: str) -> None:  # noqa: F811
    """`outbox_dir` with a NUL ended `send` in "embedded null byte"; a pace of 1e-300
    messages a second overflowed the wait between batches."""
    toml = project / "newsletter.toml"
    text = toml.read_text()
    old = next(line for line in text.splitlines() if line.startswith(f"{setting} ="))
    toml.write_text(text.replace(old, f"{setting} = {value}"))
    line = text.splitlines().index(old) + 1
    result = CliRunner().invoke(main, ["send", "issues/2027-1"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"newsletter.toml:{line}: {said}" in result.output, result.output


def test_a_config_path_that_cannot_be_read_is_one_line(project: Path, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setenv("NEWSLETTER_CONFIG", "x" * 300)  # longer than a file name may be
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "NEWSLETTER_CONFIG" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("host", ["127.0.0.1:4010", "ftp://127.0.0.1", "http://", "http://a b",
                                  "http://127.0.0.1:99999", "https://127.0.0.1/v3"])
def test_a_sendgrid_host_that_is_no_api_address_is_named(
        project: Path, monkeypatch, host: str) -> None:  # noqa: F811
    """Each was one line, but one that did not say which setting to fix (or, with a path,
    silently ignored the path)."""
    store = Store.open(load_config(project / "newsletter.toml"))
    fill(store, 2, "host.example")
    assert CliRunner().invoke(main, APPROVE).exit_code == 0
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test")
    monkeypatch.setenv("SENDGRID_API_HOST", host)
    result = CliRunner().invoke(main, ["send", "issues/2027-1", "--transport", "sendgrid"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "SENDGRID_API_HOST" in result.output and "Froze" not in result.output, \
        result.output
    store.close()
