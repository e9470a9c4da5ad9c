"""newsletter.toml → typed ``Config``, with every problem reported at once by line.

The config names the newsletter, its sender, the archive address, the audience segments and the
six focus areas (the national gender-equality sub-goals); its other sections (how strict
``newsletter check`` is, the register, delivery, the schedule, the web service, the brand) are
the models in ``pipeline.settings``.
"""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    Field,
    model_validator,
)

from pipeline.errors import ConfigError, Problem
from pipeline.i18n import _, ngettext
from pipeline.settings import (
    MATERIAL_TEXT,
    AlertSettings,
    ApprovalSettings,
    AudienceSettings,
    BrandSettings,
    CheckSettings,
    DeliverySettings,
    HttpsUrl,
    Mailbox,
    ReportSettings,
    ScheduleSettings,
    Slug,
    Text,
    WebSettings,
    _Strict,
)
from pipeline.source import Lines, Loc, format_loc, raster_format, toml_lines, validate

DEFAULT_CONFIG = "newsletter.toml"

def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(_("unknown time zone '%(value)s'; use an IANA name such as "
                           "'Europe/Stockholm'") % {"value": value}) from None
    return value



class Segment(_Strict):
    slug: Slug
    name: Text
    reason: Text = Field(description="Footer line: why this reader gets the newsletter.")
    focus: bool = False
    empty_focus: Text | None = Field(None, description=(
        "The line 'Ert fokus' shows a reader whose focus areas match no section of the issue "
        "(without it that reader gets no 'Ert fokus' block, and check warns)."))


class FocusArea(_Strict):
    slug: Slug
    name: Text
    goal: Text
    short: Text | None = Field(None, description="A word or two for variant names: hälsa.")



class Config(_Strict):
    name: Text
    language: Text = "sv"
    timezone: Annotated[str, AfterValidator(_timezone)] = "Europe/Stockholm"
    archive_url: HttpsUrl
    web_url: HttpsUrl = Field(description="Base of the reader-facing service (unsubscribe…).")
    sender: Mailbox
    reply_to: Mailbox | None = None
    contact_line: Text
    public_phone_numbers: list[Text] = Field(default_factory=list, description=(
        "Numbers the archive may show (the board's, partners' switchboards); any other "
        "phone number in an issue is treated as personal data."))
    issues_dir: str = "issues"
    templates_dir: str = "templates"
    segments: list[Segment] = Field(min_length=1)
    focus_areas: list[FocusArea] = Field(min_length=1)
    check: CheckSettings = CheckSettings()
    audience: AudienceSettings = AudienceSettings()
    delivery: DeliverySettings = DeliverySettings()
    schedule: ScheduleSettings = ScheduleSettings()
    alerts: AlertSettings = AlertSettings()
    web: WebSettings = WebSettings()
    approval: ApprovalSettings = ApprovalSettings()
    brand: BrandSettings = BrandSettings()
    reports: ReportSettings = ReportSettings()
    root: Path = Path(".")

    @model_validator(mode="after")
    def _unique_slugs(self) -> Config:
        for kind, items in (("segments", self.segments), ("focus_areas", self.focus_areas)):
            slugs = [item.slug for item in items]
            dupes = sorted({s for s in slugs if slugs.count(s) > 1})
            if dupes:
                raise ValueError(f"{kind}: duplicate slug(s) {', '.join(dupes)}")
        unknown = set(self.audience.precedence) - {s.slug for s in self.segments}
        if unknown:
            raise ValueError(f"audience.precedence names unknown segment(s) "
                             f"{', '.join(sorted(unknown))}")
        return self

    def material_files(self) -> dict[Loc, str]:
        """The brand files and downloads (paths in the templates folder) the archive publishes
        under ``material/``, by key."""
        files: dict[Loc, str | None] = {("brand", "logo"): self.brand.logo,
                                         ("brand", "favicon"): self.brand.favicon}
        for n, item in enumerate(self.web.package):
            files["web", "welcome_package", n, "download"] = item.download
        return {loc: file for loc, file in files.items() if file}

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def templates(self) -> Path:
        return self.root / self.templates_dir

    @property
    def list_id(self) -> str:
        """RFC 2919 List-Id: the name and a stable id under the sender's domain."""
        domain = self.sender.email.rsplit("@", 1)[1]
        folded = unicodedata.normalize("NFKD", self.name).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
        return self.delivery.list_id or f"{self.name} <{slug}.{domain}>"

    def material_paths(self) -> dict[str, Path]:
        """The brand files and downloads on disk, by the name they are published under
        (``material/<name>``, in the archive and on the web service)."""
        return {Path(file).name: self.templates / file
                for file in self.material_files().values()}

    def material_url(self, file: str) -> str:
        """Where the archive publishes a brand file or a download (``material/<name>``)."""
        return f"{self.archive_url}/material/{Path(file).name}"

    def segment(self, slug: str) -> Segment:
        return next(s for s in self.segments if s.slug == slug)

    def focus_area(self, slug: str) -> FocusArea:
        return next(f for f in self.focus_areas if f.slug == slug)


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    return Path(explicit or os.environ.get("NEWSLETTER_CONFIG") or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate newsletter.toml; raise ``ConfigError`` listing every problem."""
    file = config_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(_("%(file)s: config file not found; run from the project folder or "
                            "pass --config PATH (or set NEWSLETTER_CONFIG)") % {
                                "file": file}) from None
    except UnicodeDecodeError:
        raise ConfigError(_("%(file)s: not UTF-8 text; save the file as UTF-8") % {
            "file": file}) from None
    except (OSError, ValueError) as exc:  # a folder, no permission, a name too long, a NUL
        raise ConfigError(_("%(file)s: the config file cannot be read (%(why)s); pass "
                            "--config PATH (or set NEWSLETTER_CONFIG) to newsletter.toml") % {
                                "file": str(file)[:200], "why": getattr(exc, "strerror", None)
                                or exc}) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = int(m.group(1)) if (m := re.search(r"line (\d+)", str(exc))) else 1
        problem = Problem(str(file), line, "toml", _(
            "%(what)s; check the quotation marks, brackets and = on this line") % {
                "what": str(exc).split(" (at line")[0]})
        raise ConfigError(_("%(file)s: invalid TOML") % {"file": file}, [problem]) from None
    data.setdefault("root", str(file.parent))
    lines: Lines = toml_lines(text, str(file))
    config, problems = validate(Config, data, lines)
    if config is None or problems:
        raise ConfigError(ngettext("%(folder)s: %(count)d problem(s); fix them and run again",
                                   "%(folder)s: %(count)d problem(s); fix them and run again",
                                   len(problems)) % {"folder": file, "count": len(problems)},
                          problems)
    return _check_material(config, lines)


def inside(folder: Path, file: str) -> bool:
    """Whether ``folder/file`` stays in ``folder``: a relative path, no link on the way."""
    current = folder
    if Path(file).is_absolute():
        return False
    for part in Path(file).parts:
        current = current / part
        if current.is_symlink():
            return False
    return current.resolve().is_relative_to(folder.resolve())


def _check_material(config: Config, lines: Lines) -> Config:
    """Every brand file and download is a file in the project (no link out of it), and the
    logotype and favicon are images."""
    problems = []
    for loc, file in config.material_files().items():
        path = config.templates / file
        if not inside(config.templates, file) or not path.is_file():
            why = _("'%(file)s' is not a file in the templates folder (%(folder)s); give its "
                    "path from there, e.g. brand/%(name)s") % {
                        "file": file, "folder": config.templates, "name": Path(file).name}
        elif loc[0] == "brand" and raster_format(path) not in ("PNG", "JPEG"):
            why = _("'%(file)s' is not a PNG or JPEG image") % {"file": file}
        elif path.suffix.lower() not in MATERIAL_TEXT and raster_format(path) is None:
            why = _("'%(file)s' is neither an image (JPEG, PNG, GIF, WebP) nor a text file "
                    "(%(kinds)s): the archive publishes only what it can check for personal "
                    "data; link a PDF from the board's own site instead") % {
                        "file": file, "kinds": ", ".join(sorted(MATERIAL_TEXT))}
        else:
            continue
        problems.append(Problem(lines.path, lines.line(loc), format_loc(loc), why))
    if problems:
        raise ConfigError(ngettext("%(folder)s: %(count)d problem(s); fix them and run again",
                                   "%(folder)s: %(count)d problem(s); fix them and run again",
                                   len(problems)) % {"folder": lines.path,
                                                     "count": len(problems)}, problems)
    return config
