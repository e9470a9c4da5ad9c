"""A corpus of broken issues: `newsletter check` names every problem exactly, exits 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests.conftest import BASE_ISSUE, ROOT

META = str(BASE_ISSUE["issue.yaml"])
INTRO = str(BASE_ISSUE["01-intro.md"])
PICTURE = str(BASE_ISSUE["02-bild.md"])


def meta(old: str, new: str) -> dict[str, str | bytes | None]:
    assert old in META, old
    return {"issue.yaml": META.replace(old, new)}


def intro(body: str, front: str = "heading: Inledning\n") -> dict[str, str | bytes | None]:
    return {"01-intro.md": f"---\n{front}---\n{body}"}


def picture(old: str, new: str) -> dict[str, str | bytes | None]:
    assert old in PICTURE, old
    return {"02-bild.md": PICTURE.replace(old, new)}


Y = "{d}/issue.yaml"
I = "{d}/01-intro.md"  # noqa: E741
P = "{d}/02-bild.md"

CASES: dict[str, tuple[dict[str, str | bytes | None], list[str]]] = {
    "yaml syntax": (meta("title: Testnummer", "title: [Testnummer"), [
        f"{Y}:2: yaml: a [ that is never closed: end a list with ], title: [Testnummer], or "
        'put text that starts with [ in quotes, title: "[Testnummer"',
    ]),
    "tab indentation": (meta("  name: Redaktionen", "\tname: Redaktionen"), [
        f"{Y}:7: yaml: a tab character; indent with spaces, not tabs",
    ]),
    "colon in a title": (meta("title: Testnummer", "title: Våren 2027: nätverk"), [
        f'{Y}:2: yaml: text with a colon (:) must be in quotes: title: "Våren 2027: nätverk"',
    ]),
    "list item without a dash": (meta("  - 02-bild.md\n", "  02-bild.md\n"), [
        f"{Y}:11: yaml: a list item without a dash; write it as: - 02-bild.md",
    ]),
    "quotation mark never closed": (meta("title: Testnummer", 'title: "Testnummer'), [
        f"{Y}:2: yaml: a quotation mark that is never closed; end the text with the same "
        "quotation mark on this line",
    ]),
    "unknown key with suggestion": (meta("title:", "titel:"), [
        f"{Y}:1: title: the title is missing: add title: with the title readers see",
        f"{Y}:2: titel: unknown key; did you mean 'title'?",
    ]),
    "missing subject": (meta("subject: Ett kort ämne\n", ""), [
        f"{Y}:1: subject: the subject line is missing: add subject: with what the inbox shows",
    ]),
    "number not a number": (meta("number: 1", "number: första"), [
        f"{Y}:1: number: write a whole number, such as 1",
    ]),
    "number out of range": (meta("number: 1", "number: 0"), [
        f"{Y}:1: number: must be 1 or more",
    ]),
    "number does not match folder": (meta("number: 1", "number: 2"), [
        f"{Y}:1: number: 2 does not match the folder name '2027-1'",
    ]),
    "impossible date": (meta("2027-02-16 09:00", "2027-02-30 09:00"), [
        f"{Y}:5: send_at: '2027-02-30 09:00' is not a date and time; write it as "
        "'YYYY-MM-DD HH:MM' in Swedish local time",
    ]),
    "date in words": (meta("2027-02-16 09:00", "nästa tisdag"), [
        f"{Y}:5: send_at: 'nästa tisdag' is not a date and time; write it as "
        "'YYYY-MM-DD HH:MM' in Swedish local time",
    ]),
    "empty issue.yaml": ({"issue.yaml": ""}, [
        f"{Y}:1: (file): is empty; docs/skribentguide.md shows the keys it needs",
    ]),
    "issue.yaml is a list": ({"issue.yaml": "- number: 1\n"}, [
        f"{Y}:1: (file): must be a mapping of keys to values, not a list",
    ]),
    "duplicate key": (meta("subject: Ett kort ämne\n", "subject: A\nsubject: B\n"), [
        f"{Y}:4: subject: duplicate key (first on line 3)",
    ]),
    "no sections": (meta("sections:\n  - 01-intro.md\n  - 02-bild.md\n", "sections: []\n"), [
        f"{Y}:9: sections: add at least 1, one per line starting with '- '",
    ]),
    "section file missing": (meta("02-bild.md", "03-saknas.md"), [
        f"{Y}:11: sections[1]: '03-saknas.md' not found in {{d}}",
    ]),
    "section listed twice": (meta("  - 02-bild.md\n", "  - 02-bild.md\n  - 01-intro.md\n"), [
        f"{Y}:12: sections[2]: '01-intro.md' is listed twice",
    ]),
    "section not markdown": (meta("02-bild.md", "02-bild.txt"), [
        f"{Y}:11: sections[1]: '02-bild.txt' must be a Markdown file (.md)",
    ]),
    "section outside the folder": (meta("02-bild.md", "../02-bild.md"), [
        f"{Y}:11: sections[1]: '../02-bild.md' must be a path inside the issue "
        "folder",
    ]),
    "editor email invalid": (meta("red@example.se", "redaktionen"), [
        f"{Y}:8: editor.email: 'redaktionen' is not an email address",
    ]),
    "subject with a line break": (meta("subject: Ett kort ämne", 'subject: "Rad 1\\nBcc: x"'), [
        f"{Y}:3: subject: must be a single line",
    ]),
    "front matter never closed": ({"01-intro.md": "---\nheading: Inledning\nText\n"}, [
        f"{I}:1: front matter: starts with '---' but has no closing '---' line",
    ]),
    "front matter bad yaml": (intro("Text.\n", "heading: Inledning\nfocus: [halsa\n"), [
        f"{I}:3: yaml: a [ that is never closed: end a list with ], focus: [halsa], or put "
        'text that starts with [ in quotes, focus: "[halsa"',
    ]),
    "front matter unknown key": (intro("Text.\n", "rubrik: Inledning\n"), [
        f"{I}:2: rubrik: unknown key; allowed keys: heading, kind, until, image, cta, "
        "audience, focus, recurring",
    ]),
    "image without alt": (picture("  alt: En lila rektangel\n", ""), [
        f"{P}:3: image.alt: the image has no alt text: describe what the image shows (alt: …)",
    ]),
    "image file missing": (picture("images/a.png", "images/b.png"), [
        f"{P}:4: image.src: 'images/b.png' not found in {{d}}",
    ]),
    "unknown focus area": (picture("focus: [halsa]", "focus: [halsa, miljo]"), [
        f"{P}:6: focus[1]: 'miljo' is not a focus area; use one of ekonomi, halsa, makt, "
        "omsorg, utbildning, vald",
    ]),
    "focus area written with å, ä or ö": (picture("focus: [halsa]", "focus: [hälsa]"), [
        f"{P}:6: focus[0]: 'hälsa' is not a focus area; did you mean 'halsa'? Focus areas are "
        "written without å, ä and ö: ekonomi, halsa, makt, omsorg, utbildning, vald",
    ]),
    "image name in other capitals": (picture("images/a.png", "images/A.png"), [
        f"{P}:4: image.src: 'images/A.png' not found, but images/a.png is: write the name "
        "exactly as the file is named (the web server tells capital letters apart, even if "
        "your computer does not)",
    ]),
    "unknown audience": (intro("Text.\n", "heading: Inledning\naudience: alla\n"), [
        f"{I}:3: audience: 'alla' is not 'all' or a segment (connected, general)",
    ]),
    "until on an article": (intro("Text.\n", "heading: Inledning\nuntil: 2027-03-01\n"), [
        f"{I}:3: until: only applies to sections with kind: notice",
    ]),
    "call to action over http": (
        intro("Text.\n", "heading: Inledning\ncta:\n  text: Anmäl dig\n"
                         "  url: http://example.se/anmalan\n"), [
        f"{I}:5: cta.url: 'http://example.se/anmalan' must be an absolute "
        "https:// URL",
    ]),
    "section not utf-8": ({"01-intro.md": "Hälsning".encode("latin-1")}, [
        f"{I}:1: encoding: not UTF-8 text; save the file as UTF-8",
    ]),
    "empty section": (intro("\n", "kind: article\n"), [
        f"{I}:4: body: section is empty; write Markdown or remove it from issue.yaml",
    ]),
    # Problems only visible once the Markdown is read or the email rendered:
    "markdown image without alt": (intro("Se ![](images/a.png) här.\n"), [
        f"{I}:4: image: images/a.png has no alt text; write ![what the image shows]"
        "(images/a.png) [image]",
    ]),
    "markdown image missing": (intro("Se ![Karta över länet](images/karta.png).\n"), [
        f"{I}:4: image: images/karta.png not found in {{d}} [image]",
    ]),
    "link on a later line of its paragraph": (
        intro("Första raden.\nAndra raden.\nSe [klicka här](https://example.se/k).\n"), [
            f"{I}:6: link: 'klicka här' does not say where the link goes; describe the target "
            "[link-text]",
        ]),
    "markdown image name in other capitals": (intro("Se ![Karta](images/A.PNG).\n"), [
        f"{I}:4: image: images/A.PNG not found, but images/a.png is: write the name exactly "
        "as the file is named (the web server tells capital letters apart, even if your "
        "computer does not) [image]",
    ]),
    "vague link text": (intro("Om konferensen: [klicka här](https://example.se/k).\n"), [
        f"{I}:4: link: 'klicka här' does not say where the link goes; describe the target "
        "[link-text]",
    ]),
    "läs mer": (intro("Strategin.\n\n[Läs mer](https://example.se/s)\n"), [
        f"{I}:6: link: 'Läs mer' does not say where the link goes; describe the target "
        "[link-text]",
    ]),
    "http link": (intro("Se [kalendern](http://example.se/kalender).\n"), [
        f"{I}:4: link: 'http://example.se/kalender' must be an absolute https:// or mailto: "
        "link [link-scheme]",
    ]),
    "relative link": (intro("Se [kalendern](kalender.html).\n"), [
        f"{I}:4: link: 'kalender.html' must be an absolute https:// or mailto: link "
        "[link-scheme]",
    ]),
    "bare url": (intro("Mer finns på https://example.se/strategi i dag.\n"), [
        f"{I}:4: link: bare URL https://example.se/strategi; write [descriptive text]"
        "(https://example.se/strategi) [link-text]",
    ]),
    "url as link text": (intro("Se <https://example.se/strategi>.\n"), [
        f"{I}:4: link: link text is a bare URL; describe https://example.se/strategi in "
        "words [link-text]",
    ]),
    "heading above the section heading": (intro("# Stor rubrik\n\nText.\n"), [
        f"{I}:4: heading: '# Stor rubrik' is above the section heading; use ### for "
        "subheadings [heading-order]",
    ]),
    "heading skips a level": (intro("### Del\n\nText.\n\n##### Detalj\n\nMer.\n"), [
        f"{I}:8: heading: '##### Detalj' skips a level; use #### [heading-order]",
    ]),
    "reserved placeholder in text": (intro("Avregistrera: {{unsubscribe_url}}\n"), [
        I + ":4: body: {{{{unsubscribe_url}}}} is filled in per reader by the template; "
        "remove it from the text [placeholder]",
    ]),
    "unknown placeholder": (intro("Hej {{ namn }}!\n"), [
        Y + ":1: variant connected: unresolved placeholder {{{{ namn }}}} [placeholder]",
        Y + ":1: variant connected+bild: unresolved placeholder {{{{ namn }}}} [placeholder]",
        Y + ":1: variant general: unresolved placeholder {{{{ namn }}}} [placeholder]",
    ]),
    "no preheader": (meta("preheader: En förhandstext\n", ""), [
        f"{Y}:1: preheader: missing; write the line inboxes show after the subject "
        "[preheader]",
    ]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_check_reports_every_problem_exactly(case: str, make_issue) -> None:
    changes, expected = CASES[case]
    folder = make_issue(changes)
    result = CliRunner().invoke(main, ["check", str(folder), "--config",
                                       str(ROOT / "newsletter.toml")])
    lines = result.output.splitlines()
    assert lines[:-1] == [line.format(d=folder) for line in expected]
    assert lines[-1].startswith(f"{folder}: {len(expected)} error(s)")
    assert result.exit_code == 1


def test_missing_folder_is_one_clear_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(tmp_path / "2027-9"), "--config",
                                       str(ROOT / "newsletter.toml")])
    assert result.output.splitlines()[0] == (
        f"{tmp_path}/2027-9:1: issue: {tmp_path}/2027-9/issue.yaml: not found (no such "
        "folder); an issue is a folder such as issues/2026-1 holding issue.yaml")
    assert result.exit_code == 1


def test_misnamed_folder(make_issue) -> None:
    folder = make_issue(folder="nummer-ett")
    result = CliRunner().invoke(main, ["check", str(folder), "--config",
                                       str(ROOT / "newsletter.toml")])
    assert result.output.splitlines()[0] == (
        f"{folder}/issue.yaml:1: folder: folder 'nummer-ett' must be named <year>-<number>, "
        "e.g. 2026-1")
    assert result.exit_code == 1


def test_all_problems_are_reported_at_once(make_issue) -> None:
    """Schema problems do not hide content problems in the sections that did load."""
    folder = make_issue({**meta("subject: Ett kort ämne", "subject: " + "Långt ämne " * 7),
                         "02-bild.md": PICTURE.replace("focus: [halsa]", "focus: [miljo]")
                         .replace("Text om hälsa.", "[Klicka här](https://example.se/x)"),
                         "01-intro.md": "---\nrubrik: x\n---\nText\n"})
    result = CliRunner().invoke(main, ["check", str(folder), "--config",
                                       str(ROOT / "newsletter.toml")])
    assert [line.split(": ", 2)[1] for line in result.output.splitlines()[:-1]] == [
        "rubrik", "focus[0]", "link", "warning"]
    assert "'Klicka här' does not say where the link goes" in result.output
    assert f"subject: {len(('Långt ämne ' * 7).strip())} characters" in result.output
    assert result.output.splitlines()[-1] == (
        f"{folder}: 3 error(s), 1 warning(s), 0 variant(s) rendered")
    assert result.exit_code == 1


def test_a_broken_issue_yaml_hides_no_problem_in_the_sections(make_issue) -> None:
    folder = make_issue({**meta("title: Testnummer", "title: Våren 2027: nätverk"),
                         **intro("Se [klicka här](https://example.se/k).\n")})
    result = CliRunner().invoke(main, ["check", str(folder), "--config",
                                       str(ROOT / "newsletter.toml")])
    assert result.output.splitlines()[:-1] == [
        f'{folder}/01-intro.md:4: link: \'klicka här\' does not say where the link goes; '
        "describe the target [link-text]",
        f'{folder}/issue.yaml:2: yaml: text with a colon (:) must be in quotes: '
        'title: "Våren 2027: nätverk"']
