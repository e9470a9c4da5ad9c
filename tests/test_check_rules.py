"""`check` against the skeleton of `newsletter new`: placeholder text left as written
(`unedited`) and Markdown files that `sections:` does not list (`unlisted-section`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests.conftest import EXAMPLE, ROOT

CONFIG = ["--config", str(ROOT / "newsletter.toml")]
UNEDITED = "still the placeholder text from `newsletter new`; write the issue's own text [unedited]"
LEDARE = "issues/2027-2/01-ledare.md"
META = "issues/2027-2/issue.yaml"
PLACEHOLDERS = [
    f"{LEDARE}:4: body: {UNEDITED}",
    f"{META}:4: title: {UNEDITED}",
    f"{META}:5: subject: {UNEDITED}",
    f"{META}:6: preheader: {UNEDITED}",
]
# What an editor writes instead of each placeholder: (file, placeholder, own text).
EDITS = {
    "body": ("01-ledare.md", "Skriv numrets inledning här. Varje avsnitt är en egen "
             "Markdown-fil som listas under\n`sections` i issue.yaml.",
             "Välkommen till vårens nummer om jämställdhet i länet."),
    "title": ("issue.yaml", "title: Ett jämställt Västmanland nummer 2 2027",
              "title: Vårens nummer om jämställdhet"),
    "subject": ("issue.yaml", 'subject: "Ett jämställt Västmanland nr 2 2027"',
                "subject: Nytt om jämställdhet i Västmanland"),
    "preheader": ("issue.yaml", "preheader: Nyheter och aktiviteter om jämställdhet i "
                  "Västmanlands län.", "preheader: Konferensen i maj och nya nätverk."),
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project with the example issue, run from its folder."""
    for name in ("templates", "issues"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "newsletter.toml", tmp_path / "newsletter.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    return tmp_path


def _new_issue() -> Path:
    result = CliRunner().invoke(main, ["new"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Created issues/2027-2: planned")
    return Path("issues/2027-2")


def _edit(folder: Path, what: str) -> None:
    name, old, new = EDITS[what]
    text = (folder / name).read_text(encoding="utf-8")
    assert old in text, (what, text)
    (folder / name).write_text(text.replace(old, new), encoding="utf-8")


def _check(folder: Path | str, *options: str) -> tuple[list[str], int]:
    result = CliRunner().invoke(main, ["check", str(folder), *options])
    return [line.split("; LIX ")[0] for line in result.output.splitlines()], result.exit_code


def test_a_new_issue_reports_every_placeholder_at_its_line(project: Path) -> None:
    folder = _new_issue()
    assert _check(folder) == ([
        *PLACEHOLDERS, f"{folder}: 4 error(s), 0 warning(s), 2 variant(s) rendered"], 1)


@pytest.mark.parametrize("what", list(EDITS))
def test_writing_one_placeholder_silences_only_that_one(project: Path, what: str) -> None:
    folder = _new_issue()
    _edit(folder, what)
    lines, code = _check(folder)
    assert lines[:-1] == [p for p in PLACEHOLDERS if f": {what}: " not in p]
    assert code == 1


def test_a_written_issue_is_clean(project: Path) -> None:
    folder = _new_issue()
    for what in EDITS:
        _edit(folder, what)
    assert _check(folder) == ([f"{folder}: 0 error(s), 0 warning(s), 2 variant(s) rendered"], 0)


def test_a_rewrapped_placeholder_is_found_among_own_paragraphs(project: Path) -> None:
    folder = _new_issue()
    for what in ("title", "subject", "preheader"):
        _edit(folder, what)
    (folder / "01-ledare.md").write_text(
        "---\nheading: Ledare\n---\nVälkommen till vårens nummer.\n\n\n"
        "  Skriv numrets   inledning här.\nVarje avsnitt är en egen Markdown-fil som listas "
        "under `sections`\n  i issue.yaml.\n\nMed vänliga hälsningar\n", encoding="utf-8")
    assert _check(folder)[0][:-1] == [f"{LEDARE}:7: body: {UNEDITED}"]


def test_a_boards_own_skeleton_is_the_reference(project: Path) -> None:
    folder = _new_issue()
    for what in EDITS:
        _edit(folder, what)
    skeleton = project / "templates" / "new-issue"
    (skeleton / "01-ledare.md").write_text(
        "Välkommen till vårens nummer om jämställdhet i länet.\n", encoding="utf-8")
    template = (skeleton / "issue.yaml.j2").read_text(encoding="utf-8")
    old_title = "title: {{ newsletter.name }} nummer {{ number }} {{ year }}\n"
    assert old_title in template
    (skeleton / "issue.yaml.j2").write_text(template.replace(
        old_title, "title: Vårens nummer om jämställdhet\n"), encoding="utf-8")
    assert _check(folder)[0][:-1] == [f"{LEDARE}:4: body: {UNEDITED}",
                                      f"{META}:4: title: {UNEDITED}"]
    shutil.rmtree(skeleton)  # no skeleton: nothing to compare with
    assert _check(folder) == ([f"{folder}: 0 error(s), 0 warning(s), 2 variant(s) rendered"], 0)


def test_a_stray_markdown_file_is_one_warning(make_issue) -> None:
    folder = make_issue({"99-extra.md": "Ett utkast.\n", "utkast/anteckningar.md": "x\n",
                         "noter.txt": "x\n"})  # (images/ may hold only images: all is published)
    assert _check(folder, *CONFIG) == ([
        f"{folder}/issue.yaml:9: warning: sections: '99-extra.md' is in the issue folder but "
        "not listed; add it to sections: or remove it [unlisted-section]",
        f"{folder}: 0 error(s), 1 warning(s), 3 variant(s) rendered"], 0)


def test_both_rules_work_when_the_issue_only_partly_loads(make_issue) -> None:
    skeleton = (ROOT / "templates" / "new-issue" / "01-ledare.md").read_text(encoding="utf-8")
    folder = make_issue({"01-intro.md": skeleton, "99-extra.md": "Ett utkast.\n",
                         "images/a.png": None})
    assert _check(folder, *CONFIG) == ([
        f"{folder}/01-intro.md:4: body: {UNEDITED}",
        f"{folder}/02-bild.md:4: image.src: 'images/a.png' not found in {folder}",
        f"{folder}/issue.yaml:9: warning: sections: '99-extra.md' is in the issue folder but "
        "not listed; add it to sections: or remove it [unlisted-section]",
        f"{folder}: 2 error(s), 1 warning(s), 0 variant(s) rendered"], 1)


def test_the_example_issue_is_clean_of_both_rules() -> None:
    assert (ROOT / "templates" / "new-issue" / "01-ledare.md").is_file()
    lines, code = _check(EXAMPLE, *CONFIG)
    assert (lines, code) == ([f"{EXAMPLE}: 0 error(s), 0 warning(s), 9 variant(s) rendered"], 0)


def test_schedule_prints_the_warnings_first(project: Path) -> None:
    folder = Path("issues/2027-1")
    meta = folder / "issue.yaml"
    meta.write_text(meta.read_text(encoding="utf-8").replace(
        "2027-02-16 09:00", "2099-02-17 09:00"),
        encoding="utf-8")
    for section in folder.glob("*.md"):  # the notices must not have ended by then
        section.write_text(section.read_text(encoding="utf-8").replace(
            "until: 2027", "until: 2099"), encoding="utf-8")
    (folder / "99-extra.md").write_text("Ett utkast.\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["schedule", str(folder)])
    assert result.output.splitlines() == [
        f"{meta}:12: warning: sections: '99-extra.md' is in the issue folder but not listed; "
        "add it to sections: or remove it [unlisted-section]",
        "2027-1 is scheduled for 2099-02-17 09:00 Europe/Stockholm (2099-02-17 08:00 UTC); "
        "not approved."]
    assert result.exit_code == 0


def test_check_and_schedule_count_the_same_problems(project: Path) -> None:
    """A schema error stops the loading; both still count the sections' problems too."""
    folder = _new_issue()
    meta = folder / "issue.yaml"
    meta.write_text(meta.read_text(encoding="utf-8") + "titel: Glömd\n", encoding="utf-8")
    ledare = folder / "01-ledare.md"
    ledare.write_text(ledare.read_text(encoding="utf-8") + "\n[Klicka här](https://x.se/a)\n",
                      encoding="utf-8")
    checked = CliRunner().invoke(main, ["check", str(folder)]).output.splitlines()[-1]
    counts = checked.split(": ", 1)[1].rsplit(",", 1)[0]
    assert counts == "3 error(s), 0 warning(s)"  # titel; unedited and the link in 01-ledare
    listed = CliRunner().invoke(main, ["schedule"]).output
    assert f"invalid ({counts}: newsletter check)" in listed


def test_new_from_copies_the_recurring_sections_with_their_images(project: Path) -> None:
    calendar = Path("issues/2027-1/08-kalender.md")
    calendar.write_text(calendar.read_text(encoding="utf-8").rstrip("\n")
                        + "\n\n![Karta över Västerås centrum](images/symbol.png)\n",
                        encoding="utf-8")
    result = CliRunner().invoke(main, ["new", "--from", "2027-1"])
    assert result.exit_code == 0, result.output
    folder = Path("issues/2027-2")
    assert result.output.splitlines()[-1] == (
        "Copied from 2027-1: 08-kalender.md, 09-delmalen.md. Update what has changed.")
    assert (folder / "08-kalender.md").read_text(encoding="utf-8") == \
        calendar.read_text(encoding="utf-8")
    assert (folder / "images" / "symbol.png").read_bytes() == \
        Path("issues/2027-1/images/symbol.png").read_bytes()
    assert not (folder / "images" / "natverk.jpg").exists()  # only what the copies show
    text = (folder / "issue.yaml").read_text(encoding="utf-8")
    assert text.endswith("sections:\n  - 01-ledare.md\n  - 08-kalender.md\n"
                         "  - 09-delmalen.md\n")
    # the copies check clean; only the skeleton's placeholders are left to write
    lines, code = _check(folder)
    assert code == 1  # the placeholders are errors
    assert lines[:-1] == [line.replace("issues/2027-2", str(folder)) for line in PLACEHOLDERS]
