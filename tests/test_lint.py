"""Checks on the rendered result: size budget, lang, layout tables, severities."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from pipeline.errors import Severity
from pipeline.lint import check_issue
from pipeline.settings import Rule
from tests.conftest import EXAMPLE, ROOT


def _config_with(tmp_path: Path, edits: dict[str, str] | None = None,
                 template_edit: tuple[str, str, str] | None = None) -> Config:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    if template_edit:
        name, old, new = template_edit
        source = (templates / name).read_text()
        assert old in source
        (templates / name).write_text(source.replace(old, new))
    text = (ROOT / "newsletter.toml").read_text()
    for old, new in (edits or {}).items():
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "newsletter.toml").write_text(text)
    return load_config(tmp_path / "newsletter.toml")


def _messages(config: Config, rule: Rule) -> list[str]:
    result = check_issue(EXAMPLE, config)
    return [f"{p.key}: {p.message}" for p in result.problems if p.message.endswith(f"[{rule}]")]


def test_example_passes_every_rule(config: Config) -> None:
    assert check_issue(EXAMPLE, config).problems == []


def test_html_over_budget_names_each_variant(tmp_path: Path) -> None:
    config = _config_with(tmp_path, {"html_budget_kb = 80": "html_budget_kb = 20"})
    found = _messages(config, Rule.HTML_SIZE)
    assert len(found) == 9
    assert found[-1].startswith("variant general: HTML is ")
    assert "over the 20 KB budget (Gmail clips at about 102 KB)" in found[-1]


def test_wrong_language_is_reported(tmp_path: Path) -> None:
    config = _config_with(tmp_path, template_edit=("archive/base.html.j2", '<html lang="sv">',
                                                   '<html lang="en">'))
    assert _messages(config, Rule.LANG) == [
        'web version: <html lang="en"> must be lang="sv" [lang]']


@pytest.mark.parametrize("script", ['<script src="https://cdn.example/site.js"></script>',
                                    '<script src="{{ root }}tracker.js"></script>',
                                    "<script>alert(1)</script>"])
def test_the_web_version_runs_no_script_but_the_archives_own(tmp_path: Path, script: str
                                                             ) -> None:
    config = _config_with(tmp_path, template_edit=("archive/base.html.j2", "</footer>",
                                                   f"</footer>{script}"))
    assert _messages(config, Rule.SCRIPT) == [
        "web version: <script> runs script in the reader's mail program; remove it from the "
        "template [script]"]


def test_layout_table_without_role_is_reported(tmp_path: Path) -> None:
    config = _config_with(tmp_path, template_edit=(
        "partials/footer.mjml.j2", "<p>{{ footer_reason }}</p>",
        "<table><tr><td>{{ footer_reason }}</td></tr></table>"))
    found = _messages(config, Rule.LAYOUT_TABLE)
    assert len(found) == 9
    assert found[0].endswith('1 layout table(s) lack role="presentation" [layout-table]')


def test_template_that_drops_a_placeholder_is_reported(tmp_path: Path) -> None:
    config = _config_with(tmp_path, template_edit=(
        "email.mjml.j2", '("Ändra dina inställningar", preferences_url)',
        '("Ändra dina inställningar", "https://x.se")'))
    assert "variant general: template lost the {{preferences_url}} placeholder [placeholder]" \
        in _messages(config, Rule.PLACEHOLDER)


@pytest.mark.parametrize("level", ["error", "warning", "off"])
def test_severity_setting(tmp_path: Path, level: str) -> None:
    config = _config_with(tmp_path, {
        "html_budget_kb = 80": "html_budget_kb = 20",
        'notice-expired = "warning"': f'notice-expired = "warning"\nhtml-size = "{level}"'})
    assert config.check.level(Rule.HTML_SIZE) is Severity(level)
    result = check_issue(EXAMPLE, config)
    assert len(result.errors) == (9 if level == "error" else 0)
    assert len(result.warnings) == (9 if level == "warning" else 0)
