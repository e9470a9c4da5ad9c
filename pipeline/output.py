"""Write a rendered issue to a folder: what ``newsletter render`` produces.

    build/2027-1/
      general.html  general.txt  general.eml       one set per variant
      connected+….html …
      web.html  images/                            the web version and its images
      report.json                                  variants, sizes, the focus choices behind
                                                   each variant, LIX per variant, segment and
                                                   section (``readability``), warnings, errors
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import Config
from pipeline.edition import process_images
from pipeline.errors import IssueError, Problem, Severity
from pipeline.i18n import _
from pipeline.lint import check_issue
from pipeline.plain import issue_readability, section_readability, segment_readability
from pipeline.render.mime import build_message
from pipeline.render.personalise import SAMPLE_READER
from pipeline.settings import Mailbox

SAMPLE_RECIPIENT = Mailbox(name="Förnamn Efternamn", email="mottagare@example.invalid")
_OUTPUTS = ("*.html", "*.txt", "*.eml", "*.mjml", "report.json")


@dataclass
class RenderReport:
    out: Path
    variants: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]


def write_render(folder: Path, config: Config, out: Path | None = None,
                 keep_mjml: bool = False) -> RenderReport:
    result = check_issue(folder, config)
    rendered = result.rendered
    if rendered is None:
        raise IssueError(_("%(folder)s: not rendered; fix the problems above") % {
            "folder": folder}, result.problems)
    issue = rendered.issue
    out = out or Path("build") / issue.slug
    out.mkdir(parents=True, exist_ok=True)
    if (out / "report.json").exists():  # a previous render: drop variants that are gone
        for pattern in _OUTPUTS:
            for stale in out.glob(pattern):
                stale.unlink()
    report = RenderReport(out, problems=result.problems)

    def write(name: str, content: str | bytes) -> None:
        path = out / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        report.files.append(path)

    sections = section_readability(issue, config)
    segments = segment_readability(issue, config, sections)
    variants = []
    for key, email in rendered.variants.items():
        message = build_message(email, config, SAMPLE_READER, SAMPLE_RECIPIENT)
        eml = message.as_bytes()
        write(f"{key.name}.html", email.html)
        write(f"{key.name}.txt", email.text)
        write(f"{key.name}.eml", eml)
        if keep_mjml:
            write(f"{key.name}.mjml", email.mjml)
        report.variants.append(key.name)
        variants.append({
            "name": key.name, "segment": key.segment,
            "focus_sections": list(key.focus_sections),
            "focus_choices": [sorted(c) for c in rendered.choices.get(key, [])],
            "html_bytes": email.html_bytes, "text_bytes": len(email.text.encode()),
            "eml_bytes": len(eml), "lix": segments[key.segment].as_dict()["lix"],
        })
    write("web.html", rendered.web_html)
    shutil.copy2(config.templates / "archive" / "style.css", out / "style.css")
    shutil.copy2(config.templates / "archive" / "site.js", out / "site.js")
    for name, path in config.material_paths().items():  # web.html shows the logotype
        (out / "material").mkdir(exist_ok=True)
        shutil.copyfile(path, out / "material" / name)
    images = process_images(issue.folder)  # as the archive gets them: no links followed
    if images:
        (out / "images").mkdir(exist_ok=True)
    for name, data in images.items():
        (out / "images" / name).write_bytes(data)
    write("report.json", json.dumps({
        "issue": issue.slug, "subject": issue.meta.subject,
        "send_at": issue.meta.send_at.isoformat(), "archive_url": issue.archive_url(config),
        "html_budget_bytes": config.check.html_budget_kb * 1024,
        "variants": variants,
        "readability": {  # LIX: 30–40 newspaper text, above 50 hard
            "issue": issue_readability(sections).as_dict(),
            "segments": {slug: r.as_dict() for slug, r in segments.items()},
            "sections": [{"section": s.section, "file": s.path.name,
                          "segments": list(s.segments), **s.readability.as_dict()}
                         for s in sections],
        },
        "warnings": [str(p) for p in result.warnings],
        "errors": [str(p) for p in result.errors],
    }, ensure_ascii=False, indent=2) + "\n")
    return report
