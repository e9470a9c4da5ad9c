"""docs/skribentguide.md cannot rot: every example in it is checked by `newsletter check`.

An example is a group of fenced blocks whose info string is ``<language> exempel:<name>/<file>``.
Its files go into an issue folder (issues/2027-2) of a copy of the project; a section-only
example borrows the guide's own issue.yaml (example ``grund``) listing its sections. Images it
names are made as real images. An example with a ``check`` block must print exactly those
lines (in Swedish, check's language); every other example must check clean: no error, no
warning, the klarspråk rules included.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from markdown_it import MarkdownIt
from PIL import Image

from pipeline.cli import main
from tests.conftest import ROOT
from tests.test_plain import _require_dictionary

GUIDE = ROOT / "docs" / "skribentguide.md"
FOLDER = "issues/2027-2"
_INFO = re.compile(r"^\w+ exempel:([\w-]+)/(\S+)$")


def examples() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for token in MarkdownIt("commonmark").parse(GUIDE.read_text(encoding="utf-8")):
        if token.type == "fence" and (match := _INFO.match(token.info.strip())):
            found.setdefault(match[1], {})[match[2]] = token.content
    return found


EXAMPLES = examples()


def test_the_guide_has_examples_of_every_kind() -> None:
    assert {"grund", "knapp", "fokus", "bild", "lank", "klarsprak"} <= set(EXAMPLES)
    assert sum("check" in files for files in EXAMPLES.values()) >= 5  # messages with fixes


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name in ("templates",):
        shutil.copytree(ROOT / name, tmp_path / name)
    for name in ("newsletter.toml", "ordlista.txt", "ord-att-undvika.txt"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, tmp_path / name)
    folder = tmp_path / FOLDER
    (folder / "images").mkdir(parents=True)
    base = EXAMPLES["grund"]
    sections = sorted(name for name in files if name.endswith(".md"))
    if "issue.yaml" not in files:
        meta = yaml.safe_load(base["issue.yaml"])
        listed = "".join(f"  - {name}\n" for name in sections)
        files = {"issue.yaml": base["issue.yaml"].replace("  - 01-ledare.md\n", listed),
                 **files}
        assert meta["sections"] == ["01-ledare.md"]
    else:  # the sections it lists but does not show: the guide's own first section
        for name in re.findall(r"^\s*-\s+(\S+\.md)\s*$", files["issue.yaml"], re.MULTILINE):
            files = {name: base["01-ledare.md"], **files}
    for name, text in files.items():
        if name != "check":
            (folder / name).write_text(text, encoding="utf-8")
    for image in set(re.findall(r"images/[\w.-]+\.(?:jpe?g|png|gif|webp)",
                                "\n".join(files.values()))):
        kind = {"jpg": "JPEG", "jpeg": "JPEG"}.get(image.rsplit(".", 1)[1],
                                                   image.rsplit(".", 1)[1].upper())
        Image.new("RGB", (800, 450), "purple").save(folder / image, kind)
    return tmp_path


@pytest.mark.parametrize("name", EXAMPLES, ids=list(EXAMPLES))
def test_every_example_in_the_guide_checks_as_it_says(name: str, tmp_path: Path,
                                                      monkeypatch) -> None:
    _require_dictionary()
    files = EXAMPLES[name]
    monkeypatch.chdir(_project(tmp_path, files))
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["check", FOLDER, "--lang", "sv"])
    lines = result.output.splitlines()
    assert lines[:-1] == files.get("check", "").splitlines(), result.output
    if "check" not in files:
        assert lines[-1].startswith(f"{FOLDER}: 0 fel, 0 varningar"), result.output
        assert result.exit_code == 0
