"""Adversarial corpus, authoring side: hostile or careless issue folders and files.

Each test runs an attack from issue 12 through the real entry point (the CLI in-process, or
the preview's HTTP server) and asserts that it is refused with ``path:line`` problems, never
a traceback, and that nothing leaks into the output or the archive.
"""

from __future__ import annotations

import email
import email.policy
import gzip
import json
import shutil
import time
import urllib.request
from email.header import decode_header, make_header
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pipeline.cli import main
from tests.conftest import BASE_ISSUE, ROOT, cli_project, png

CONFIG = str(ROOT / "newsletter.toml")
SECRET = "s" * 48
APPROVER = "Eva Granskare <eva@example.se>"
INTRO = str(BASE_ISSUE["01-intro.md"])
PICTURE = str(BASE_ISSUE["02-bild.md"])
META = str(BASE_ISSUE["issue.yaml"])


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result


def check(folder: Path) -> Result:
    return run("check", str(folder), "--config", CONFIG)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project (templates, newsletter.toml, SQLite register, archive) the CLI runs in."""
    return cli_project(tmp_path, monkeypatch, SECRET)


def write_issue(root: Path, changes: dict[str, str | bytes | None] | None = None) -> Path:
    folder = root / "issues" / "2027-1"
    for name, content in {**BASE_ISSUE, **(changes or {})}.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            continue
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


class _Attributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events += [(tag, name) for name, _ in attrs if name.startswith("on")]


def event_attributes(html: str) -> list[tuple[str, str]]:
    parser = _Attributes()
    parser.feed(html)
    return parser.events


# 2. Symlinks in an issue folder -------------------------------------------------------------

def test_a_symlinked_section_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "environ"
    secret.write_text("NEWSLETTER_SECRET_KEY=hemlig-nyckel\n")
    folder = write_issue(tmp_path, {"01-intro.md": None})
    (folder / "01-intro.md").symlink_to(secret)
    result = check(folder)
    assert result.exit_code == 1
    assert f"{folder}/issue.yaml:10: sections[0]: '01-intro.md' is a symbolic link; put the " \
        "file itself in the issue folder" in result.output
    assert "hemlig" not in result.output
    result = run("render", str(folder), "--out", str(tmp_path / "out"), "--config", CONFIG)
    assert result.exit_code == 1 and "hemlig" not in result.output


def test_a_section_through_a_symlinked_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "01-intro.md").write_text(INTRO)
    folder = write_issue(tmp_path, {"issue.yaml": META.replace("- 01-intro.md",
                                                               "- sub/01-intro.md")})
    (folder / "sub").symlink_to(outside)
    result = check(folder)
    assert result.exit_code == 1
    assert f"{folder}/issue.yaml:10: sections[0]: 'sub/01-intro.md' is a symbolic link; " \
        in result.output


def test_symlinked_images_are_refused_and_not_copied(tmp_path: Path, project: Path) -> None:
    outside = tmp_path / "leak.png"
    outside.write_bytes(png("red"))
    folder = write_issue(project, {"images/a.png": None})
    (folder / "images" / "a.png").symlink_to(outside)
    (folder / "images" / "b.png").symlink_to(outside)
    result = check(folder)
    assert result.exit_code == 1
    assert f"{folder}/02-bild.md:4: image.src: 'images/a.png' is a symbolic link; put the " \
        "file itself in the issue folder" in result.output
    assert f"{folder}/images/b.png:1: image: a symbolic link; put the file itself in the " \
        "issue folder" in result.output
    out = project / "build"
    assert run("render", str(folder), "--out", str(out)).exit_code == 1
    assert not (out / "images").exists()
    assert run("approve", "issues/2027-1", "--by", APPROVER).exit_code == 1
    assert not (project / "archive").exists()


def test_a_symlinked_images_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "pictures"
    outside.mkdir()
    (outside / "a.png").write_bytes(png())
    folder = write_issue(tmp_path, {"images/a.png": None})
    (folder / "images").rmdir()
    (folder / "images").symlink_to(outside)
    result = check(folder)
    assert result.exit_code == 1
    assert f"{folder}/02-bild.md:4: image.src: 'images/a.png' is a symbolic link; " \
        in result.output


# 5. Attribute injection into the email's HTML -----------------------------------------------

def test_quotes_in_alt_and_subject_stay_inside_their_attributes(tmp_path: Path) -> None:
    folder = write_issue(tmp_path, {
        "02-bild.md": PICTURE.replace("alt: En lila rektangel",
                                      "alt: 'A\" onload=\"alert(1)'"),
        "issue.yaml": META.replace("subject: Ett kort ämne",
                                   "subject: 'Hej\" onmouseover=\"alert(2)'")})
    out = tmp_path / "out"
    result = run("render", str(folder), "--out", str(out), "--config", CONFIG)
    assert result.exit_code == 0, result.output
    for page in out.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert event_attributes(html) == [], page.name
    html = (out / "general.html").read_text(encoding="utf-8")
    assert """alt='A" onload="alert(1)'""" in html  # the text, whole, inside alt
    assert """aria-label='Hej" onmouseover="alert(2)'""" in html


def test_quotes_and_angle_brackets_in_a_cta_url_are_refused(tmp_path: Path) -> None:
    front = ("heading: Inledning\ncta:\n  text: Till anmälan\n"
             "  url: 'https://example.se/\" onclick=\"alert(1)'\n")
    folder = write_issue(tmp_path, {"01-intro.md": f"---\n{front}---\nText.\n"})
    result = check(folder)
    assert result.exit_code == 1
    assert f"{folder}/01-intro.md:5: cta.url: 'https://example.se/\" onclick=\"alert(1)' must " \
        "not contain quotes, angle brackets or spaces; percent-encode them" in result.output


def test_check_refuses_event_attributes_in_the_compiled_html(project: Path) -> None:
    template = project / "templates" / "email.mjml.j2"
    text = template.read_text(encoding="utf-8")
    template.write_text(text.replace(
        "</mj-body>", '<mj-raw><img src="x.png" alt="" onerror="alert(1)"></mj-raw></mj-body>'),
        encoding="utf-8")
    folder = write_issue(project)
    result = run("check", str(folder))
    assert result.exit_code == 1
    assert f"{folder}/issue.yaml:1: variant general: <img onerror> runs script in the " \
        "reader's mail program; remove it from the template [script]" in result.output


def _fetch(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers.get("Content-Security-Policy", ""), response.read().decode()


def test_preview_pages_carry_a_strict_csp(tmp_path: Path) -> None:
    from pipeline.preview import start_preview

    folder = write_issue(tmp_path, {"02-bild.md": PICTURE.replace(
        "alt: En lila rektangel", "alt: 'A\" onload=\"alert(1)'")})
    server, _state, stop = start_preview(folder, Path(CONFIG), 0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for path in ("/", "/variant/general", "/web"):
            policy, page = _fetch(base + path)
            assert "script-src 'self'" in policy and "default-src 'none'" in policy, path
            assert "unsafe-inline" not in policy.split("style-src")[0], path
            assert "<script>" not in page and "<style>" not in page, path
        policy, page = _fetch(base + "/email/general")
        assert "script-src 'none'" in policy and "sandbox" in policy
        assert event_attributes(page) == []
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


# 7. Archive privacy ---------------------------------------------------------------------------

SVG = (b'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/installningar/")</script>'
       b"</svg>")


def test_only_re_encoded_raster_images_reach_the_archive(project: Path) -> None:
    folder = write_issue(project, {"images/x.svg": SVG,
                                   "images/prenumeranter.csv": "email\nanna@example.se\n",
                                   "images/sida.html": "<script>alert(1)</script>"})
    result = check(folder)
    assert result.exit_code == 1
    for name in ("prenumeranter.csv", "sida.html", "x.svg"):
        assert f"{folder}/images/{name}:1: image: not a JPEG, PNG, GIF or WebP image; " \
            "export it as one of those, or remove it from images/" in result.output
    assert run("approve", "issues/2027-1", "--by", APPROVER).exit_code == 1
    for name in ("prenumeranter.csv", "sida.html", "x.svg"):
        (folder / "images" / name).unlink()
    (folder / "images" / "a.png").write_bytes(png() + b"tEXtComment\0anna@example.se")
    assert run("approve", "issues/2027-1", "--by", APPROVER).exit_code == 0
    assert run("publish", "issues/2027-1").exit_code == 0
    published = project / "archive" / "2027" / "1" / "images"
    assert sorted(p.name for p in published.iterdir()) == ["a.png"]
    assert b"anna@example.se" not in (published / "a.png").read_bytes()  # re-encoded


def _search_text(archive: Path) -> str:
    out = []
    for file in (archive / "pagefind").rglob("*.pf_fragment"):
        out.append(gzip.decompress(file.read_bytes()).decode("utf-8", "replace"))
    return "\n".join(out)


def test_publish_force_leaves_no_old_text_in_the_search_index(project: Path) -> None:
    folder = write_issue(project, {"01-intro.md": INTRO.replace(
        "Hej och välkommen.", "Hej och välkommen. Ordet hemligtstrykord ska bort.")})
    assert run("approve", "issues/2027-1", "--by", APPROVER).exit_code == 0
    assert run("publish", "issues/2027-1").exit_code == 0
    assert "hemligtstrykord" in _search_text(project / "archive")
    (folder / "01-intro.md").write_text(INTRO)
    assert run("approve", "issues/2027-1", "--by", APPROVER).exit_code == 0
    assert run("publish", "issues/2027-1", "--force").exit_code == 0
    assert "hemligtstrykord" not in _search_text(project / "archive")
    assert "välkommen" in _search_text(project / "archive")


PERSONAL = {
    "kalle@straße.example": "an email address (kalle@straße.example) other than the board's",
    "[sidan](https://x.se/%2Favregistrera%2FeyJ0b2tlbiI6MX0abc)": "a personal link token",
    "[sidan](https://x.se/bekrafta/eyJ0b2tlbiI6MX0abc)": "a personal link token",
    "anna%40example.se": "an email address (anna@example.se) other than the board's",
    "19121212-1212": "a personnummer (19121212-1212)",
    "121212-1212": "a personnummer (121212-1212)",
    "070-123 45 67": "a phone number (070-123 45 67) other than the board's",
    "+46 70 123 45 67": "a phone number (+46 70 123 45 67) other than the board's",
}


@pytest.mark.parametrize("text", list(PERSONAL))
def test_check_decodes_and_finds_personal_data(project: Path, text: str) -> None:
    """What publish would refuse is found by check (so approve refuses it), decoded, at the
    section's line; nothing reaches the archive."""
    write_issue(project, {"01-intro.md": INTRO + f"\nSe {text} och ring växeln "
                          "010-224 90 00 eller 020-50 50 50.\n"})
    result = run("approve", "issues/2027-1", "--by", APPROVER)
    assert result.exit_code == 1
    problems = [line for line in result.output.splitlines() if ": privacy: " in line]
    assert [p.split(": privacy: ")[1].split(": the archive is public")[0]
            for p in problems] == [PERSONAL[text]], problems
    assert problems[0].startswith("issues/2027-1/01-intro.md:6: ")
    assert run("publish", "issues/2027-1").exit_code == 1  # not approved: nothing published
    assert not (project / "archive" / "2027").exists()


def test_a_personnummer_with_a_wrong_check_digit_and_the_switchboard_pass(
        project: Path) -> None:
    write_issue(project, {"01-intro.md": INTRO + "\nÄrende 19121212-1213, ring 010-224 90 00."})
    assert run("approve", "issues/2027-1", "--by", APPROVER).exit_code == 0
    result = run("publish", "issues/2027-1")
    assert result.exit_code == 0, result.output


def test_archive_build_checks_every_file_not_only_pages(project: Path) -> None:
    write_issue(project)
    assert run("approve", "issues/2027-1", "--by", APPROVER).exit_code == 0
    assert run("publish", "issues/2027-1").exit_code == 0
    issue = project / "archive" / "2027" / "1"
    (issue / "anteckningar.txt").write_text("Ring Anna på 070-123 45 67\n")
    (issue / "images" / "x.svg").write_bytes(SVG)
    page = issue / "index.html"
    page.write_text(page.read_text() + "\n<p>anna&#64;example.se</p>\n")
    result = run("archive", "build")
    assert result.exit_code == 1
    assert "personal data in the archive; nothing was written" in result.output
    assert "archive/2027/1/anteckningar.txt:1: privacy: a phone number (070-123 45 67) other " \
        "than the board's" in result.output
    assert "archive/2027/1/images/x.svg:1: privacy: not a JPEG, PNG, GIF or WebP image" \
        in result.output
    assert "privacy: an email address (anna@example.se) other than the board's" \
        in result.output


# 8. YAML alias bombs, deep nesting, size -----------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n"
    for i in range(8))


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    folder = write_issue(tmp_path, {"issue.yaml": META + BOMB})
    started = time.monotonic()
    result = check(folder)
    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    assert f"{folder}/issue.yaml:12: yaml: an anchor (&a); anchors and aliases are not " \
        "allowed, write the value out" in result.output


def test_an_alias_in_front_matter_is_refused(tmp_path: Path) -> None:
    folder = write_issue(tmp_path, {"01-intro.md": "---\nheading: &h Inledning\n"
                                    "focus: [*h]\n---\nText.\n"})
    result = check(folder)
    assert result.exit_code == 1
    assert f"{folder}/01-intro.md:2: yaml: an anchor (&h); anchors and aliases are not " \
        "allowed, write the value out" in result.output


def test_deeply_nested_and_oversized_yaml_is_refused(tmp_path: Path) -> None:
    folder = write_issue(tmp_path, {"issue.yaml": META + "x: " + "[" * 50_000 + "]" * 50_000})
    result = check(folder)
    assert result.exit_code == 1
    assert f"{folder}/issue.yaml:12: yaml: nested more than 20 levels deep" in result.output
    folder = write_issue(tmp_path, {"issue.yaml": META + "# " + "x" * 300_000 + "\n"})
    result = check(folder)
    assert result.exit_code == 1
    assert f"{folder}/issue.yaml:1: yaml: 293.2 KB is over the 256 KB limit for YAML" \
        in result.output


# 12. Header values: one rule for check and send ---------------------------------------------

@pytest.mark.parametrize("char", ["\x85", "\x0b", "\x0c", "\x1b", "\x7f", "\x9b", "\x07"])
def test_control_characters_in_header_values_fail_check(tmp_path: Path, char: str) -> None:
    escaped = f"\\u{ord(char):04x}"  # as YAML writes it; most are refused raw by YAML
    folder = write_issue(tmp_path, {"issue.yaml": META.replace(
        "subject: Ett kort ämne", f'subject: "Ett kort{escaped}ämne"').replace(
        "name: Redaktionen", f'name: "Redak{escaped}tionen"')})
    result = check(folder)
    assert result.exit_code == 1
    code = f"U+{ord(char):04X}"
    assert f"{folder}/issue.yaml:3: subject: a control character ({code}) cannot be sent in " \
        "a mail header; remove it [header]" in result.output
    assert f"{folder}/issue.yaml:7: editor.name: a control character ({code}) cannot be sent " \
        "in a mail header; remove it [header]" in result.output


def test_long_subject_and_to_lines_are_folded(project: Path) -> None:
    subject = "Ämne " + "ord " * 150 + "x" * 1200
    write_issue(project, {"issue.yaml": META.replace("subject: Ett kort ämne",
                                                     f"subject: {subject}")})
    audience = project / "people.csv"
    name = "Anna " + "Långnamn" * 120
    consent = ("https://www.lansstyrelsen.se/vastmanland/prenumerera;2026-09-01 10:15;"
               "2026-09-01 10:17;2026-1")
    audience.write_text("email;name;consent_source;consented_at;confirmed_at;privacy_notice\n"
                        f"anna@example.se;{name};{consent}\nbo@example.se;{'B' * 990};{consent}\n")
    result = run("audience", "import", str(audience), "--segment", "general",
                 "--basis", "consent")
    assert result.exit_code == 0, result.output
    assert run("approve", "issues/2027-1", "--by", APPROVER).exit_code == 0
    result = run("send", "issues/2027-1")
    assert result.exit_code == 0, result.output
    sent = sorted((project / "outbox").glob("*.eml"))
    assert len(sent) == 2
    for file in sent:
        data = file.read_bytes()
        assert max(len(line) for line in data.split(b"\r\n")) <= 998, file.name
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert message["Subject"] == subject
        # RFC 2047 decoding (the policy's address parser puts a space between encoded words)
        raw = email.message_from_bytes(data)["To"]
        assert str(make_header(decode_header(raw))) in (f"{name} <anna@example.se>",
                                                       f"{'B' * 990} <bo@example.se>")
    out = project / "build"
    assert run("render", "issues/2027-1", "--out", str(out)).exit_code == 0
    data = (out / "general.eml").read_bytes()
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


# 16. Author-input robustness ------------------------------------------------------------------

@pytest.mark.parametrize("name,content", [
    ("images/a.png", b"not an image at all"),
    ("images/a.png", SVG),
    ("images/a.png", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64),
])
def test_an_image_that_is_not_a_raster_is_a_clear_error(tmp_path: Path, name: str,
                                                         content: bytes) -> None:
    folder = write_issue(tmp_path, {name: content})
    result = check(folder)
    assert result.exit_code == 1
    assert f"{folder}/02-bild.md:4: image.src: 'images/a.png' is not a JPEG, PNG, GIF or " \
        "WebP image; export it as one of those" in result.output
    result = run("render", str(folder), "--out", str(tmp_path / "out"), "--config", CONFIG)
    assert result.exit_code == 1 and "is not a JPEG, PNG, GIF or WebP image" in result.output


def test_preview_shows_a_bad_image_as_a_problem(tmp_path: Path) -> None:
    from pipeline.preview import start_preview

    folder = write_issue(tmp_path, {"images/a.png": SVG})
    server, state, stop = start_preview(folder, Path(CONFIG), 0)
    try:
        assert any("is not a JPEG, PNG, GIF or WebP image" in str(p) for p in state.problems)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def test_deeply_nested_import_json_is_refused(project: Path) -> None:
    deep = project / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = run("audience", "import", str(deep), "--segment", "general", "--basis", "consent")
    assert result.exit_code == 1
    assert f"{deep}:1: (file): JSON nested more than 20 levels deep" in result.output
    nested = project / "flat.json"
    nested.write_text(json.dumps([{"email": "a@example.se", "name": "A"}]))
    result = run("audience", "import", str(nested), "--segment", "general", "--basis", "consent")
    assert "levels deep" not in result.output and "consent_source: required" in result.output


def test_a_five_megabyte_section_checks_in_seconds(tmp_path: Path) -> None:
    paragraph = "Ett stycke om jämställdhet med lite **fetstil** och *kursiv* text.\n\n"
    table = "| a | b |\n|---|---|\n| 1 | 2 |\n\n### Rubrik\n\n"
    body = (paragraph * 40 + table) * (5_000_000 // len(paragraph * 40 + table))
    folder = write_issue(tmp_path, {"01-intro.md": "---\nheading: Inledning\n---\n" + body})
    started = time.monotonic()
    result = check(folder)
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert f"{folder}/01-intro.md:1: (file): 5022 KB; a section may be at most 256 KB (mail " \
        "programs clip an email of about 100 KB): shorten or split it" in result.output
    assert elapsed < 10, f"{elapsed:.0f} s"


def test_a_long_section_renders_in_linear_time() -> None:
    from pipeline.render.markdown import render_markdown

    unit = ("Ett stycke med **fetstil**.\n\n" * 40 + "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
            "### Rubrik\n\n")
    timings = []
    for count in (150, 600):
        started = time.monotonic()
        render_markdown(unit * count)
        timings.append(time.monotonic() - started)
    assert timings[1] < timings[0] * 8, timings  # 4 × the text: about 4 × the time, not 16 ×


def test_check_and_approve_name_personal_data_at_its_line(tmp_path: Path, make_issue,
                                                          monkeypatch) -> None:
    """The archive would refuse it at send time; the author hears of it at check time, at
    the line, and a number the board lists as public passes."""

    from pipeline.cli import main as cli_main
    from tests.conftest import ROOT

    folder = make_issue({"01-intro.md": "---\nheading: Inledning\n---\nHej.\n\n"
                         "Ring Kim på 070-123 45 67 eller 021-39 00 00.\n"})
    shutil.copy(ROOT / "newsletter.toml", tmp_path / "newsletter.toml")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    result = CliRunner().invoke(cli_main, ["check", str(folder)])
    assert result.exit_code == 1
    assert f"{folder / '01-intro.md'}:6: privacy: a phone number (070-123 45 67) other than " \
           "the board's: the archive is public" in result.output
    assert "021-39 00 00" in result.output
    result = CliRunner().invoke(cli_main, ["approve", str(folder), "--by", "E <e@example.se>"])
    assert result.exit_code == 1 and "privacy" in result.output
    toml = tmp_path / "newsletter.toml"
    toml.write_text(toml.read_text().replace("public_phone_numbers = []",
                                             'public_phone_numbers = ["021-39 00 00"]'))
    result = CliRunner().invoke(cli_main, ["check", str(folder)])
    assert "070-123 45 67" in result.output and "021-39 00 00" not in result.output
