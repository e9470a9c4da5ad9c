"""Redaktionen over HTTP, as the process `newsletter studio` starts: who may use it (the launch
secret, a session, the origin, CSRF, the Host), and what its forms write (files as a person
writes them, a conflict instead of lost work)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipeline.config import load_config
from pipeline.lint import check_issue
from tests.studio_client import Studio, project, start


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    running = start(project(tmp_path / "site"))
    yield running
    running.stop()


def test_nothing_without_the_launch_secret(studio: Studio) -> None:
    assert studio.request("/").status == 403
    assert studio.request("/nummer/2027-1").status == 403
    assert studio.request("/?token=wrong").status == 403
    first = studio.request(studio.url, follow=False)  # the secret becomes a session cookie
    assert first.status == 303 and first.headers["location"] == "/"
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    page = studio.request("/")
    assert page.status == 200 and "2027-1" in page.body
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style")[0]


def test_a_post_needs_our_origin_and_the_csrf_token(studio: Studio) -> None:
    csrf = studio.login()
    before = (studio.root / "issues" / "2027-1" / "issue.yaml").read_text()
    for headers, data in (
            ({}, {"title": "Utan nyckel"}),                                  # no CSRF
            ({}, {"title": "Fel nyckel", "csrf": "0" * 64}),                 # wrong CSRF
            ({"Origin": "https://evil.example"}, {"title": "Annan sajt", "csrf": csrf}),
    ):
        answer = studio.request("/nummer/2027-1", data, headers)
        assert answer.status == 403, answer
    answer = studio.request("/nummer/2027-1", {"csrf": csrf}, {"Host": "evil.example"})
    assert answer.status == 421  # a name rebound to 127.0.0.1 gets nothing
    assert (studio.root / "issues" / "2027-1" / "issue.yaml").read_text() == before


def test_the_issue_form_writes_issue_yaml_as_a_person_would(studio: Studio) -> None:
    csrf = studio.login()
    folder = studio.root / "issues" / "2027-1"
    page = studio.request("/nummer/2027-1").body
    base = page.split('name="base" value="')[1].split('"')[0]
    answer = studio.request("/nummer/2027-1", {
        "csrf": csrf, "base": base, "title": "Vår: konferens och nätverk",
        "subject": "Konferens i mars och nytt nätverk", "preheader": "Anmäl dig nu",
        "summary": "", "send_date": "2027-02-17", "send_time": "09:30",
        "editor_name": "Redaktionen, Social hållbarhet",
        "editor_email": "vastmanland@lansstyrelsen.se"})
    assert answer.status == 200 and "Sparat." in answer.body
    text = (folder / "issue.yaml").read_text()
    assert text.startswith("# Ett jämställt Västmanland, nummer 1 2027.\n")  # comment kept
    assert 'title: "Vår: konferens och nätverk"' in text  # quoted only where YAML needs it
    assert "subject: Konferens i mars och nytt nätverk\n" in text
    assert "send_at: 2027-02-17 09:30\n" in text and "summary" not in text
    assert "sections:\n  - 01-ledare.md\n" in text
    meta = yaml.safe_load(text)
    assert meta["title"] == "Vår: konferens och nätverk" and meta["number"] == 1
    config = load_config(studio.root / "newsletter.toml")
    assert check_issue(folder, config).errors == []


def test_a_file_changed_on_disk_is_a_conflict_not_lost_work(studio: Studio) -> None:
    csrf = studio.login()
    section = studio.root / "issues" / "2027-1" / "01-ledare.md"
    page = studio.request("/nummer/2027-1/avsnitt/01-ledare.md").body
    base = page.split('name="base" value="')[1].split('"')[0]
    by_hand = section.read_text() + "\nEn rad som skrevs i en texteditor.\n"
    section.write_text(by_hand)  # someone edits the file while the studio has it open
    mine = {"csrf": csrf, "base": base, "heading": "Ledare", "kind": "article",
            "audience": "all", "body": "Min nya text."}
    answer = studio.request("/nummer/2027-1/avsnitt/01-ledare.md", mine)
    assert answer.status == 409
    assert "En rad som skrevs i en texteditor." in answer.body  # shown, to compare
    assert "Min nya text." in answer.body
    assert section.read_text() == by_hand  # nothing overwritten
    json_answer = studio.request("/nummer/2027-1/avsnitt/01-ledare.md", mine,
                                 {"Accept": "application/json"})
    assert json_answer.status == 409 and "texteditor" in json_answer.body
    theirs = json_answer.body.split('"theirs_base":"')[1].split('"')[0]
    kept = studio.request("/nummer/2027-1/avsnitt/01-ledare.md",
                          {**mine, "base": theirs, "overwrite": "1"})
    assert kept.status == 200
    assert section.read_text() == "---\nheading: Ledare\n---\nMin nya text.\n"


def test_sections_are_added_and_reordered(studio: Studio) -> None:
    csrf = studio.login()
    folder = studio.root / "issues" / "2027-1"
    answer = studio.request("/nummer/2027-1/avsnitt", {"csrf": csrf, "heading": "Nytt om "
                                                       "våld i nära relationer"})
    assert answer.status == 200
    assert (folder / "10-nytt-om-vald-i-nara-relationer.md").read_text() == (
        "---\nheading: Nytt om våld i nära relationer\n---\n")
    names = yaml.safe_load((folder / "issue.yaml").read_text())["sections"]
    assert names[-1] == "10-nytt-om-vald-i-nara-relationer.md"
    page = studio.request("/nummer/2027-1").body
    base = page.split('name="base" value="')[1].split('"')[0]
    studio.request("/nummer/2027-1/ordning", {"csrf": csrf, "base": base, "direction": "up",
                                              "move": "10-nytt-om-vald-i-nara-relationer.md"})
    names = yaml.safe_load((folder / "issue.yaml").read_text())["sections"]
    assert names[-2:] == ["10-nytt-om-vald-i-nara-relationer.md", "09-delmalen.md"]


def test_other_hosts_only_with_a_password(tmp_path: Path) -> None:
    root = project(tmp_path / "site")
    refused = subprocess.run([sys.executable, "-m", "pipeline", "studio", "--no-browser",
                              "--host", "0.0.0.0", "--config", str(root / "newsletter.toml")],
                             capture_output=True, text=True, timeout=60, cwd=root,
                             env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert refused.returncode != 0
    assert "NEWSLETTER_STUDIO_PASSWORD" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr


def test_an_approval_is_shown_and_voided_the_moment_a_file_changes(studio: Studio) -> None:
    import json

    csrf = studio.login()
    answer = studio.request("/nummer/2027-1/godkann", {
        "csrf": csrf, "name": "Granskare Testsson", "email": "granskare@example.se"})
    assert answer.status == 200 and "Godkänt" in answer.body, answer.body[-800:]
    status = json.loads(studio.request("/nummer/2027-1/status").body)
    assert status["approval"].startswith("godkänt av Granskare Testsson")
    page = studio.request("/nummer/2027-1/avsnitt/01-ledare.md").body
    base = page.split('name="base" value="')[1].split('"')[0]
    saved = studio.request("/nummer/2027-1/avsnitt/01-ledare.md", {
        "csrf": csrf, "base": base, "heading": "Ett nytt år för jämställdhet i Västmanland",
        "body": "En ny inledning."}, {"Accept": "application/json"})
    assert saved.status == 200
    assert "01-ledare.md" in json.loads(saved.body)["approval"]  # void: that file changed
    assert "godkänt av" not in json.loads(saved.body)["approval"]


def _base(studio: Studio, path: str) -> str:
    return studio.request(path).body.split('name="base" value="')[1].split('"')[0]


def test_a_file_the_studio_cannot_read_is_shown_never_rewritten(studio: Studio) -> None:
    """A merge conflict or a typo in issue.yaml, or a date that does not exist in a section:
    the studio says where to fix it and writes nothing (it used to rebuild the file from an
    empty guess, losing the send time, the editor and every section)."""
    csrf = studio.login()
    folder = studio.root / "issues" / "2027-1"
    meta = folder / "issue.yaml"
    broken = meta.read_text() + "<<<<<<< HEAD\n  bad: [\n"
    meta.write_text(broken)
    page = studio.request("/nummer/2027-1")
    assert page.status == 422 and "issue.yaml, rad" in page.body and "Traceback" not in page.body
    for path, data in (("/nummer/2027-1", {"title": "T", "subject": "S"}),
                       ("/nummer/2027-1/avsnitt", {"heading": "Nytt"}),
                       ("/nummer/2027-1/ordning", {"move": "01-ledare.md", "direction": "down"})):
        answer = studio.request(path, {"csrf": csrf, **data})
        assert answer.status == 422, (path, answer.status)
    assert meta.read_text() == broken
    assert studio.request("/").status == 200  # the list still opens
    section = folder / "08-kalender.md"
    section.write_text(section.read_text().replace("---\n", "---\nuntil: 2027-02-30\n", 1))
    page = studio.request("/nummer/2027-1/avsnitt/08-kalender.md")
    assert page.status == 422 and "08-kalender.md" in page.body


def test_what_is_typed_reads_back_as_typed_and_nothing_grows(studio: Studio) -> None:
    csrf = studio.login()
    section = studio.root / "issues" / "2027-1" / "03-strategin.md"
    path = "/nummer/2027-1/avsnitt/03-strategin.md"
    for _ in range(2):  # no heading, defaults only: the front matter must not pile up
        answer = studio.request(path, {"csrf": csrf, "base": _base(studio, path),
                                       "heading": "", "body": "Text.\n\n---\n\nMer."})
        assert answer.status == 200
    assert section.read_text() == "---\n---\nText.\n\n---\n\nMer.\n"
    answer = studio.request(path, {"csrf": csrf, "base": _base(studio, path),
                                   "heading": "a\x7fb\x85c", "focus": ["halsa", "x]"],
                                   "body": "Text."})
    assert answer.status == 200
    front = yaml.safe_load(section.read_text().split("---\n")[1])
    assert front == {"heading": "a\x7fb\x85c", "focus": ["halsa"]}  # as typed; no injection
    answer = studio.request(path, {"csrf": csrf, "base": _base(studio, path), "heading": "H",
                                   "kind": "notice", "until": "2027-13-45", "body": "x"})
    assert answer.status == 422 and "2027-03-05" in answer.body  # says how to write it
    answer = studio.request("/nummer/2027-1", {"csrf": csrf, "base": _base(
        studio, "/nummer/2027-1"), "title": "a\x7fb", "subject": "S"})
    assert answer.status in (200, 422) and "Internal" not in answer.body


def test_keeping_ones_version_conflicts_again_with_a_later_edit(studio: Studio) -> None:
    csrf = studio.login()
    section = studio.root / "issues" / "2027-1" / "01-ledare.md"
    path = "/nummer/2027-1/avsnitt/01-ledare.md"
    base = _base(studio, path)
    section.write_text(section.read_text() + "\nFörsta ändringen för hand.\n")
    mine = {"csrf": csrf, "base": base, "heading": "Ledare", "body": "Min text."}
    page = studio.request(path, mine)
    assert page.status == 409
    seen = page.body.split('name="base" value="')[-1].split('"')[0]  # "keep mine" carries it
    section.write_text(section.read_text() + "\nAndra ändringen för hand.\n")
    again = studio.request(path, {**mine, "base": seen})
    assert again.status == 409 and "Andra ändringen" in section.read_text()


def test_odd_requests_get_answers_not_errors(studio: Studio) -> None:
    assert studio.request("/?token=%C3%A5").status == 403
    studio.login()
    assert studio.request("/nummer/2027-1/status?since=%C2%B2").status == 200
    missing = studio.request("/finns-inte")
    assert missing.status == 404 and "Sidan finns inte." in missing.body
    redirect = studio.request("//evil.example/?token=" + studio.url.split("token=")[1],
                              follow=False)
    assert not redirect.headers.get("location", "/").startswith("//")


def test_the_calendar_turns_to_other_months(studio: Studio) -> None:
    """The send-date calendar starts at the issue's month and its links show the months
    around it (midsummer marked); an address typed by hand never fails."""
    studio.request(studio.url)
    page = studio.request("/nummer/2027-1").body
    assert "februari 2027:" in page  # 2027-1 is sent in February
    assert 'href="?manad=2027-03#send_date">mars 2027 →' in page
    june = studio.request("/nummer/2027-1?manad=2027-06")
    assert june.status == 200 and "juni 2027:" in june.body
    assert "Midsommarafton" in june.body and 'href="?manad=2027-07#send_date"' in june.body
    for typed in ("2027-13", "0001-01", "9999-12", "x" * 300, ""):
        other = studio.request(f"/nummer/2027-1?manad={typed}")
        assert other.status == 200 and "februari 2027:" in other.body, typed


def test_what_changed_names_focus_areas_as_the_board_does(studio: Studio) -> None:
    studio.request(studio.url)
    section = studio.root / "issues" / "2027-1" / "05-makt-och-ekonomi.md"
    section.write_text(section.read_text().replace("focus: [makt, ekonomi]", "focus: [makt]"))
    page = studio.request("/nummer/2027-1/andringar")
    assert page.status == 200
    config = load_config(studio.root / "newsletter.toml")
    names = {f.slug: f.name for f in config.focus_areas}
    assert f"Fokusområden: {names['makt']}, {names['ekonomi']}" in page.body  # before
    assert f"Fokusområden: {names['makt']}<" in page.body or \
        f"Fokusområden: {names['makt']}\n" in page.body  # after


def test_an_ipv6_host_prints_a_link_that_opens(tmp_path: Path) -> None:
    """`--host ::1` printed http://::1:PORT/…, which no browser opens."""
    import base64
    import urllib.request

    root = project(tmp_path / "site")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "studio", "--no-browser", "--host", "::1",
         "--config", str(root / "newsletter.toml")], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, cwd=root,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1",
             "NEWSLETTER_STUDIO_PASSWORD": "lösen-ord-1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the first line: where it is open
        url = line[line.index("http://"):].strip()
        assert url.startswith("http://[::1]:"), line
        login = base64.b64encode("redaktion:lösen-ord-1".encode()).decode()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        opener.addheaders = [("Authorization", f"Basic {login}")]
        with opener.open(url, timeout=60) as answer:  # the key for a cookie, then the page
            assert answer.status == 200 and answer.url.startswith("http://[::1]:")
    finally:
        process.terminate()
        process.communicate(timeout=60)  # its pipe closed too
