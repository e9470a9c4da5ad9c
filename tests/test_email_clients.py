"""The emails against caniemail.com's data (npm @jsx-email/doiuse-email, tests/caniemail.cjs):
for Outlook for Windows, Gmail (web and apps), Apple Mail and Outlook.com, what each client does
not support is reported (test-artifacts/email/caniemail.md), and every unsupported feature must
be one we know leaves the layout intact, with the reason written down here. A feature not listed
fails the test, so a template change that relies on something a client lacks is caught in CI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import ROOT, require

CLIENTS = {
    "outlook.windows": "Outlook for Windows", "outlook.windows-mail": "Windows Mail",
    "outlook.outlook-com": "Outlook.com",
    "gmail.desktop-webmail": "Gmail web", "gmail.ios": "Gmail iOS",
    "gmail.android": "Gmail Android", "gmail.mobile-webmail": "Gmail mobile web (other accounts)",
    "apple-mail.macos": "Apple Mail macOS", "apple-mail.ios": "Apple Mail iOS",
}
# Unsupported somewhere, and why the layout survives it.
HARMLESS = {
    "@media": "MJML's layout is fluid-hybrid: one column, inline widths and Outlook's "
              "conditional tables; media queries only refine headings on phones",
    "Chaining selectors": "the <style> rules that matter are inlined by MJML (css-inline)",
    "Class selector": "Gmail's mobile webmail for other accounts drops <style>; styles are "
                      "inlined",
    "Descendant combinator": "as above: inlined",
    "ID selector": "as above: inlined (MJML's '#outlook a' reset)",
    "Type selector": "as above: inlined",
    "display:none": "the hidden preheader is also max-height:0, overflow:hidden, opacity:0",
    "opacity": "only the hidden preheader uses it",
    "overflow": "only the hidden preheader uses it",
    "border-radius": "square corners on buttons in Outlook: cosmetic",
    "border-spacing": "tables are border-collapse; cosmetic",
    "outline": "MJML's image reset; cosmetic",
    "word-spacing": "MJML's body reset; cosmetic",
    "word-break": "MJML's text reset; long words still wrap",
    "hyphens": "an enhancement: the soft hyphens pipeline/typography.py puts in long words "
               "work in every program",
    "white-space": "nowrap keeps a time, date or phone number on one line; where it is "
                   "ignored the number may wrap, and nothing gets wider",
    "target attribute": "links open in a new tab anyway",
    "role attribute": "accessibility only: the client ignores it",
    "aria-label attribute": "accessibility only",
    "aria-labelledby attribute": "doiuse-email matches it on 'aria-label'; accessibility only",
    "HTML5 semantics": "doiuse-email matches tag names by substring; the emails use no "
                       "HTML5 sectioning element (checked below)",
    "<link> element": "doiuse-email matches <li> by substring; the emails have no <link> "
                      "(checked below)",
}


@pytest.fixture(scope="module")
def emails(mails: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """name → the file doiuse-email reads."""
    require(shutil.which("node") is not None, "node is not installed")
    require((ROOT / "node_modules" / "@jsx-email" / "doiuse-email").is_dir(),
            "@jsx-email/doiuse-email is not installed: run `npm ci` in the project folder")
    folder = tmp_path_factory.mktemp("caniemail")
    for name, content in mails.items():
        (folder / f"{name}.html").write_text(content, encoding="utf-8")
    return {name: str(folder / f"{name}.html") for name in mails}


@pytest.mark.node
def test_no_client_lacks_a_feature_the_layout_needs(emails: dict[str, str]) -> None:
    files = emails
    answer = subprocess.run(
        ["node", str(ROOT / "tests" / "caniemail.cjs")], cwd=ROOT, check=True, timeout=300,
        input=json.dumps({"clients": list(CLIENTS), "files": list(files.values())}),
        capture_output=True, text=True)
    results = json.loads(answer.stdout)
    unsupported: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for name, path in files.items():
        for error in results[path]["errors"]:
            match = re.fullmatch(r"`(.+)` is not supported by `(.+)`", error)
            assert match, error
            unsupported[match.group(1)][match.group(2)].add(name)
    _report(unsupported)
    unknown = {feature: sorted(clients) for feature, clients in unsupported.items()
               if feature not in HARMLESS}
    assert unknown == {}, "unsupported features that may change the layout (see " \
                          "test-artifacts/email/caniemail.md)"
    assert unsupported, "the check found nothing at all: is doiuse-email working?"
    for path in files.values():  # the substring false positives above really are false
        html = Path(path).read_text(encoding="utf-8")
        assert not re.search(r"<(link|section|article|header|footer|nav|main|aside)\b", html)
        assert 'href="#' not in html and "href=#" not in html  # in-page anchors: Gmail apps


def _report(unsupported: dict[str, dict[str, set[str]]]) -> None:
    lines = ["# What the mail programs do not support (caniemail.com via doiuse-email)", "",
             "| Feature | Programs | Why the layout survives |", "|---|---|---|"]
    for feature, clients in sorted(unsupported.items()):
        names = ", ".join(CLIENTS.get(c, c) for c in sorted(clients))
        lines.append(f"| {feature} | {names} | {HARMLESS.get(feature, '**unknown: review**')} |")
    lines += ["", "## By program", ""]
    for client, label in CLIENTS.items():
        lacking = sorted(f for f, clients in unsupported.items() if client in clients)
        lines.append(f"- **{label}**: {', '.join(lacking) or 'everything used is supported'}")
    out = ROOT / "test-artifacts" / "email" / "caniemail.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
