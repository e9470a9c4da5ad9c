"""The rules on what a communicator writes that the renderer would pass on silently:
pasted HTML (`raw-html`), alt text that says nothing (`alt-text`) and focus areas no
section is tagged with (`empty-focus`), through `newsletter check`."""

from __future__ import annotations

import email
import email.policy
import shutil
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import main
from tests.conftest import BASE_ISSUE, ROOT, visible

CONFIG = ["--config", str(ROOT / "newsletter.toml")]
PICTURE = str(BASE_ISSUE["02-bild.md"])


def check(folder: Path, *options: str) -> list[str]:
    result = CliRunner().invoke(main, ["check", str(folder), *(options or CONFIG)])
    return result.output.splitlines()[:-1]


def test_pasted_html_is_named_at_its_line(make_issue) -> None:
    folder = make_issue({"01-intro.md": "---\nheading: Inledning\n---\nFörsta raden.\n"
                         "Det här är <b>viktigt</b> att veta.\n\n<div class=\"x\">\nText\n"
                         "</div>\n\nKoden `<b>` är inte HTML.\n"})
    assert check(folder) == [
        f"{folder}/01-intro.md:5: body: HTML code (</b>) shows as text in the email; write "
        "it in Markdown instead: **bold**, *italics*, [link text](https://…) [raw-html]",
        f"{folder}/01-intro.md:5: body: HTML code (<b>) shows as text in the email; write it "
        "in Markdown instead: **bold**, *italics*, [link text](https://…) [raw-html]",
        f"{folder}/01-intro.md:7: body: HTML code (<div class=\"x\">) shows as text in the "
        "email; write it in Markdown instead: **bold**, *italics*, [link text](https://…) "
        "[raw-html]",
    ]


def test_alt_text_that_says_nothing(make_issue) -> None:
    folder = make_issue({
        "01-intro.md": "---\nheading: Inledning\n---\nSe ![Bild](images/a.png) och\n"
                       "![a.png](images/a.png) men ![En lila rektangel](images/a.png).\n",
        "02-bild.md": PICTURE.replace("alt: En lila rektangel", "alt: x")})
    message = ("does not say what the image shows; describe it in a short sentence, as to "
               "someone who cannot see it [alt-text]")
    assert check(folder) == [
        f"{folder}/01-intro.md:4: image: the alt text 'Bild' {message}",
        f"{folder}/01-intro.md:5: image: the alt text 'a.png' {message}",
        f"{folder}/02-bild.md:5: image.alt: the alt text 'x' {message}",
    ]


def test_focus_areas_no_section_covers_warn_without_an_explanatory_line(
        make_issue, tmp_path: Path) -> None:
    folder = make_issue()
    toml = (ROOT / "newsletter.toml").read_text(encoding="utf-8")
    bare = tmp_path / "newsletter.toml"
    bare.write_text("\n".join(line for line in toml.splitlines()
                              if not line.startswith("empty_focus")), encoding="utf-8")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    assert check(folder, "--config", str(bare)) == [
        f"{folder}/issue.yaml:9: warning: sections: no section is tagged with makt, ekonomi, "
        "utbildning, omsorg, våld: readers who chose only these get no 'Ert fokus' block. Tag "
        "a section with one of them (focus: […]), or write empty_focus for the segment in "
        "newsletter.toml, a line that explains it in the email [empty-focus]"]
    assert check(folder) == []  # the shipped newsletter.toml explains it in the email


def test_the_explanatory_line_is_what_those_readers_see(make_issue, tmp_path: Path) -> None:
    folder = make_issue()
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", str(folder), "--out", str(out), *CONFIG])
    assert result.exit_code == 0, result.output
    line = "Det här numret har ingen artikel om just de fokusområden ni har valt."
    nothing = email.message_from_bytes((out / "connected.eml").read_bytes(),
                                       policy=email.policy.default)
    html = visible(nothing.get_body(("html",)).get_content())  # type: ignore[union-attr]
    text = nothing.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Ert fokus" in html and line in html and "ERT FOKUS" in text and line in text
    focused = visible((out / "connected+bild.html").read_text(encoding="utf-8"))
    assert "Ert fokus" in focused and line not in focused
    assert "Ert fokus" not in (out / "general.html").read_text(encoding="utf-8")
