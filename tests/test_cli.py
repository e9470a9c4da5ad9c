"""The command line: exact output, files written, help and README for every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from pipeline.cli import main
from tests.conftest import EXAMPLE, ROOT

CONFIG = ["--config", str(ROOT / "newsletter.toml")]


def test_check_example_is_clean_and_says_each_audience_s_lix(config) -> None:
    from pipeline.issue import load_issue
    from pipeline.plain import segment_readability

    result = CliRunner().invoke(main, ["check", str(EXAMPLE), *CONFIG])
    lix = segment_readability(load_issue(EXAMPLE, config), config)
    assert result.output == (f"{EXAMPLE}: 0 error(s), 0 warning(s), 9 variant(s) rendered; "
                             f"LIX Anslutna aktörer {lix['connected'].lix:.0f}, "
                             f"Prenumeranter {lix['general'].lix:.0f}\n")
    assert 30 < lix["general"].lix < 50  # the example reads like a newspaper
    assert result.exit_code == 0


def test_warnings_alone_exit_zero(make_issue) -> None:
    folder = make_issue()
    long_subject = "Ett mycket långt ämne som inte får plats på en telefonskärm alls"
    (folder / "issue.yaml").write_text((folder / "issue.yaml").read_text().replace(
        "subject: Ett kort ämne", f"subject: {long_subject}"))
    result = CliRunner().invoke(main, ["check", str(folder), *CONFIG])
    assert [line.split("; LIX ")[0] for line in result.output.splitlines()] == [
        f"{folder}/issue.yaml:3: warning: subject: {len(long_subject)} characters; keep it "
        "within 60 so phones show all of it [subject-length]",
        f"{folder}: 0 error(s), 1 warning(s), 3 variant(s) rendered",
    ]
    assert result.exit_code == 0


def test_severity_is_configurable(make_issue, tmp_path: Path) -> None:
    folder = make_issue({"01-intro.md": "---\nheading: Inledning\n---\n[Läs mer](https://example.se/a)\n"})
    strict = (ROOT / "newsletter.toml").read_text().replace(
        'subject-length = "warning"', 'subject-length = "warning"\nlink-text = "off"')
    config = tmp_path / "newsletter.toml"
    config.write_text(strict.replace('templates_dir = "templates"',
                                     f'templates_dir = "{ROOT / "templates"}"'))
    result = CliRunner().invoke(main, ["check", str(folder), "--config", str(config)])
    assert result.exit_code == 0, result.output


def test_render_writes_every_variant(tmp_path: Path) -> None:
    out = tmp_path / "ut"
    result = CliRunner().invoke(main, ["render", str(EXAMPLE), "--out", str(out), *CONFIG])
    assert result.exit_code == 0, result.output
    assert result.output == f"29 files for 9 variant(s) in {out}\n"
    report = json.loads((out / "report.json").read_text())
    names = [v["name"] for v in report["variants"]]
    assert len(names) == 9 and "general" in names and "connected" in names
    for name in names:
        for suffix in (".html", ".txt", ".eml"):
            assert (out / f"{name}{suffix}").stat().st_size > 0
    general = next(v for v in report["variants"] if v["name"] == "general")
    assert general["html_bytes"] == (out / "general.html").stat().st_size
    assert general["html_bytes"] < report["html_budget_bytes"]
    assert report["warnings"] == [] and report["errors"] == []
    assert (out / "web.html").exists() and (out / "images" / "natverk.jpg").exists()
    for beside in ("style.css", "site.js", "material/logotyp.png", "material/favicon.png"):
        assert (out / beside).is_file(), beside  # what web.html loads
    health = next(v for v in report["variants"] if v["name"] == "connected+halsa-och-vald")
    assert ["halsa"] in health["focus_choices"] and ["halsa", "vald"] in health["focus_choices"]


def test_render_refuses_a_broken_issue(make_issue, tmp_path: Path) -> None:
    folder = make_issue({"issue.yaml": "number: 1\n"})
    result = CliRunner().invoke(main, ["render", str(folder), "--out", str(tmp_path / "o"),
                                       *CONFIG])
    assert result.exit_code == 1
    assert (f"\n{folder}/issue.yaml:1: title: the title is missing: add title: with the title "
            "readers see\n") in result.output
    assert "Error: " in result.output and not (tmp_path / "o").exists()


def test_bad_config_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "newsletter.toml"
    bad.write_text('name = "x"\n')
    result = CliRunner().invoke(main, ["check", str(EXAMPLE), "--config", str(bad)])
    assert result.exit_code == 1
    assert result.output.splitlines()[:2] == [
        f"Error: {bad}: 6 problem(s); fix them and run again",
        f"{bad}:1: archive_url: archive_url is missing; add it"]
    assert "Traceback" not in result.output


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in group.commands.items():
        out.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            out += _commands(command, f"{prefix}{name} ")
    return out


def test_every_command_has_help_an_example_and_a_readme_entry() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, _command in _commands(main):
        result = CliRunner().invoke(main, [*name.split(), "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.output, f"{name}: no example in its help"
        assert f"newsletter {name}" in readme, f"{name}: not documented in README.md"


def test_every_command_is_a_row_of_the_readme_commands_table() -> None:
    """Parsed as Markdown: a blank line inside the table would turn its rows into a
    paragraph, which a plain text search cannot see."""
    from markdown_it import MarkdownIt

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    tokens = MarkdownIt("commonmark").enable("table").parse(section)
    first_cells, column = [], 0
    for token in tokens:
        if token.type == "tr_open":
            column = 0
        elif token.type == "td_open":
            column += 1
        elif token.type == "inline" and column == 1:
            first_cells.append(token.content)
    first = " ".join(first_cells)
    groups = {name for name, command in _commands(main) if isinstance(command, click.Group)}
    for name, _command in _commands(main):
        if name not in groups:
            assert f"newsletter {name}" in first, f"{name}: no row in the Commands table"


def test_help_is_fast_because_stages_load_lazily() -> None:
    code = ("import sys, pipeline.cli; heavy = {'mjml', 'css_inline', 'markdown_it', 'nh3', "
            "'pydantic', 'PIL', 'jinja2', 'yaml'} & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"


def test_send_and_status_through_the_outbox(tmp_path: Path, monkeypatch) -> None:
    import shutil

    root = tmp_path / "project"
    shutil.copytree(ROOT / "templates", root / "templates")
    shutil.copytree(ROOT / "issues", root / "issues")
    shutil.copytree(ROOT / "examples", root / "examples")
    shutil.copy(ROOT / "newsletter.toml", root / "newsletter.toml")
    monkeypatch.chdir(root)
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "s" * 48)
    runner = CliRunner()
    for segment, basis in (("connected", "public_task"), ("general", "consent")):
        result = runner.invoke(main, ["audience", "import", f"examples/audience/{segment}.csv",
                                      "--segment", segment, "--basis", basis])
        assert result.exit_code == 0, result.output
    assert runner.invoke(main, ["status"]).output == "No deliveries yet.\n"
    result = runner.invoke(main, ["send", "issues/2027-1"])  # nobody approved it
    assert result.exit_code == 1 and "2027-1 is not approved" in result.output
    result = runner.invoke(main, ["approve", "issues/2027-1", "--by",
                                  "Redaktionen <vastmanland@lansstyrelsen.se>"])
    assert result.exit_code == 1 and "the issue's editor" in result.output  # four eyes
    result = runner.invoke(main, ["approve", "issues/2027-1", "--by",
                                  "Eva Granskare <eva@example.se>"])
    assert result.exit_code == 0, result.output
    short = result.output.split()[2]
    assert result.output.startswith(f"2027-1: edition {short} approved by Eva Granskare "
                                    "<eva@example.se>")
    result = runner.invoke(main, ["send", "issues/2027-1"])
    assert result.output.splitlines() == [
        f"Froze the audience of 2027-1: 6 recipient(s) (delivery 1, edition {short}, outbox).",
        f"Published 2027-1 (edition {short}).",
        "2027-1: delivery 1 is finished (6 sent); 6 sent now."]
    assert (root / "archive" / "2027" / "1" / "index.html").exists()  # published first
    result = runner.invoke(main, ["send", "issues/2027-1"])
    assert result.exit_code == 0
    assert result.output.startswith("Nothing to send: 2027-1 was already delivered")
    result = runner.invoke(main, ["status", "issues/2027-1"])
    assert result.output.splitlines()[0].startswith("2027-1: approved by Eva Granskare")
    assert result.output.splitlines()[1:] == [
        f"2027-1  delivery 1  finished  6/6 settled  (6 sent)  via outbox  edition {short}"]
    result = runner.invoke(main, ["cancel", "issues/2027-1"])
    assert result.exit_code == 1
    assert "delivery 1 of 2027-1 is finished; it cannot become cancelled" in result.output
