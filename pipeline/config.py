"""newsletter.toml → typed ``Config``, with every problem reported at once by line.

The config names the newsletter, its sender, the archive address, the audience segments and the
six focus areas (the national gender-equality sub-goals), and how strict ``newsletter check`` is.
"""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeline.errors import ConfigError, Problem, Severity
from pipeline.i18n import _, ngettext
from pipeline.source import Lines, Loc, format_loc, raster_format, toml_lines, validate

DEFAULT_CONFIG = "newsletter.toml"

_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z]{2,}$")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(_("'%(value)s' is not an email address") % {"value": value})
    return value


def _https(value: str) -> str:
    if not value.startswith("https://") or any(c.isspace() for c in value):
        raise ValueError(_("'%(value)s' must be an absolute https:// URL") % {"value": value})
    return value.rstrip("/")


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(_("'%(value)s' is not a slug (lower-case letters, digits and "
                           "hyphens)") % {"value": value})
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(_("unknown time zone '%(value)s'; use an IANA name such as "
                           "'Europe/Stockholm'") % {"value": value}) from None
    return value


def _one_line(value: str) -> str:
    if any(c in value for c in "\r\n\0\u2028\u2029"):
        raise ValueError(_("must be a single line"))
    return value


Email = Annotated[str, AfterValidator(_email)]
HttpsUrl = Annotated[str, AfterValidator(_https)]
Slug = Annotated[str, AfterValidator(_slug)]
Text = Annotated[str, Field(min_length=1), AfterValidator(_one_line)]


class Rule(StrEnum):
    """The checks ``newsletter check`` runs on an issue's rendered result."""

    SUBJECT_LENGTH = "subject-length"
    PREHEADER = "preheader"
    IMAGE = "image"
    LINK_SCHEME = "link-scheme"
    LINK_TEXT = "link-text"
    HEADING_ORDER = "heading-order"
    LANG = "lang"
    LAYOUT_TABLE = "layout-table"
    HTML_SIZE = "html-size"
    PLACEHOLDER = "placeholder"
    NOTICE_EXPIRED = "notice-expired"
    SEND_TIME = "send-time"
    UNEDITED = "unedited"
    UNLISTED_SECTION = "unlisted-section"
    SCRIPT = "script"
    HEADER = "header"
    RAW_HTML = "raw-html"
    ALT_TEXT = "alt-text"
    EMPTY_FOCUS = "empty-focus"
    LIX = "lix"
    LONG_SENTENCE = "long-sentence"
    PLAIN_WORDS = "plain-words"
    SPELLING = "spelling"


DEFAULT_SEVERITY: dict[Rule, Severity] = {rule: Severity.ERROR for rule in Rule} | {
    Rule.SUBJECT_LENGTH: Severity.WARNING,
    Rule.NOTICE_EXPIRED: Severity.WARNING,
    Rule.SEND_TIME: Severity.WARNING,
    Rule.UNLISTED_SECTION: Severity.WARNING,
    Rule.EMPTY_FOCUS: Severity.WARNING,
    Rule.LIX: Severity.WARNING,
    Rule.LONG_SENTENCE: Severity.WARNING,
    Rule.PLAIN_WORDS: Severity.WARNING,
    Rule.SPELLING: Severity.WARNING,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mailbox(_Strict):
    name: Text
    email: Email


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


class PlainSettings(_Strict):
    """Klarspråk: thresholds of the `lix`, `long-sentence`, `plain-words` and `spelling` rules."""

    lix_max: float = Field(50, gt=0, description="LIX target of every segment's text.")
    lix_by_segment: dict[Slug, float] = Field(default_factory=dict, description=(
        "A segment's own LIX target, e.g. {general = 45}."))
    lix_min_words: int = Field(100, ge=1, description=(
        "A section or an email shorter than this gets no LIX warning (too few words to "
        "measure); a short section still counts in its segment's email."))
    sentence_max_words: int = Field(25, gt=0)
    avoid_words: str = Field("ord-att-undvika.txt", description=(
        "The board's words to avoid, added to the built-in list; beside newsletter.toml."))
    word_list: str = Field("ordlista.txt", description=(
        "Names and terms the spelling check accepts, one a line; beside newsletter.toml."))
    dictionary: str = Field("/usr/share/hunspell/sv_SE", description=(
        "Hunspell dictionary (.aff and .dic without the ending); Debian's hunspell-sv."))

    def lix_target(self, segment: str) -> float:
        return self.lix_by_segment.get(segment, self.lix_max)


class CheckSettings(_Strict):
    html_budget_kb: int = Field(80, gt=0)
    subject_max_chars: int = Field(60, gt=0)
    preheader_max_chars: int = Field(140, gt=0)
    plain: PlainSettings = PlainSettings()
    severity: dict[Rule, Severity] = Field(default_factory=dict)

    def level(self, rule: Rule) -> Severity:
        return self.severity.get(rule, DEFAULT_SEVERITY[rule])


class AudienceSettings(_Strict):
    database_url: Text = "sqlite:///newsletter.db"
    precedence: list[Slug] = Field(default_factory=lambda: ["connected", "general"],
                                   description="Which segment's email a reader in several gets.")
    pending_retention_days: int = Field(30, gt=0)
    privacy_notice: Text = "1"
    greeting: Literal["first_name", "full_name", "none"] = Field("first_name", description=(
        "How emails greet a reader with a name: 'Hej Sara!', 'Hej Sara Lind!' or 'Hej!'."))


class SmtpSettings(_Strict):
    host: Text = "127.0.0.1"
    port: int = Field(587, gt=0, lt=65536)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None  # the password comes from NEWSLETTER_SMTP_PASSWORD
    timeout_seconds: float = Field(30, gt=0)

    @field_validator("username")
    @classmethod
    def _no_password_in_clear(cls, value: str | None, info: ValidationInfo) -> str | None:
        host = str(info.data.get("host", ""))
        if value and info.data.get("security") == "none" and not _loopback(host):
            raise ValueError(f"with security = \"none\" the password would cross the network "
                             f"to {host} unencrypted; use \"starttls\" or \"ssl\" (\"none\" "
                             "with a login is allowed only for a server on this machine)")
        return value


def _loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class SendGridSettings(_Strict):
    categories: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=lambda: ["nyhetsbrev"], max_length=10)
    open_tracking: bool = False
    click_tracking: bool = False
    timeout_seconds: float = Field(10, gt=0)
    asm_group_id: int | None = None


class DeliverySettings(_Strict):
    transport: Literal["outbox", "smtp", "sendgrid"] = "outbox"
    outbox_dir: str = "outbox"
    list_id: str | None = None
    fence_minutes: int = Field(15, ge=10, description="SendGrid send_at this far ahead.")
    messages_per_second: float = Field(0, ge=0, description="0: as fast as the provider takes.")
    lease_seconds: float = Field(60, ge=1, description=(
        "A sender's claim on a delivery lapses this long after its last heartbeat."))
    error_threshold: float = Field(0.1, gt=0, le=1,
                                   description="Pause when this share of sends fails.")
    smtp: SmtpSettings = SmtpSettings()
    sendgrid: SendGridSettings = SendGridSettings()


MATERIAL_TEXT = {".txt", ".csv", ".md"}  # what a download may be besides a raster image


class WelcomeItem(_Strict):
    """One item of the welcome package; ``download`` is a file the archive publishes under
    ``material/`` (the digital sticker), linked from the join page and the welcome mail."""

    text: Text
    download: str | None = Field(None, description="A file in the templates folder.")


class WebSettings(_Strict):
    welcome_package: list[Text | WelcomeItem] = Field(default_factory=list, description=(
        "What joining organisations get: shown on the join page and in the welcome mail."))
    max_contacts: int = Field(3, ge=1, le=10, description="Contact rows on the join form.")
    requests_per_client_per_hour: int = Field(20, gt=0, description="Subscribe and join.")
    requests_per_address_per_hour: int = Field(3, gt=0, description="Subscribe and join.")
    sendgrid_webhook_key: str = Field("", description=(
        "SendGrid's event-webhook verification key (base64); the environment's "
        "SENDGRID_WEBHOOK_PUBLIC_KEY overrides it. Empty: the webhook refuses every request."))
    webhook_max_age_seconds: int = Field(300, gt=0, description=(
        "Signed webhook requests older than this are refused (replays)."))

    @property
    def package(self) -> list[WelcomeItem]:
        return [WelcomeItem(text=i) if isinstance(i, str) else i for i in self.welcome_package]


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _clock(value: str) -> str:
    if not re.fullmatch(r"(?:[01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(_("'%(value)s' is not a time of day (HH:MM)") % {"value": value})
    return value


Clock = Annotated[str, AfterValidator(_clock)]


class ScheduleSettings(_Strict):
    months: list[Annotated[int, Field(ge=1, le=12)]] = Field(
        default_factory=lambda: [2, 5, 9, 11], min_length=1, max_length=12)
    weekday: Literal[WEEKDAYS] = "tuesday"  # type: ignore[valid-type]
    week_of_month: int = Field(2, ge=1, le=4)
    send_time: Clock = "09:00"
    window_start: Clock = "08:00"
    window_end: Clock = "17:00"
    grace_hours: float = Field(6, gt=0, description="A send missed by less runs on start.")
    check_days_ahead: float = Field(2, ge=0, description="Pre-send check and test copies.")
    editors: list[Email] = Field(default_factory=list,
                                 description="Get test copies and problems; default: the "
                                             "issue's editor.")


class ApprovalSettings(_Strict):
    required: bool = Field(True, description="send and the scheduler need an approved edition.")
    approvers: list[Email] = Field(default_factory=list,
                                   description="Who may approve; empty: anyone.")
    four_eyes: bool = Field(True, description="The approver must not be the issue's editor.")


class BrandSettings(_Strict):
    """The board's identity and legal links: on every email, archive page and service page.
    Files are in the templates folder; the archive publishes them under ``material/``."""

    logo: str | None = Field(None, description="The logotype (PNG or JPEG, twice its width).")
    logo_alt: Text = Field("", description="The logotype's alt text: the board's name.")
    logo_width: int = Field(200, ge=40, le=560, description="Its width in the email, in px.")
    favicon: str | None = Field(None, description="A square PNG for the browser tab.")
    home_url: HttpsUrl | None = Field(None, description="The board's site: headers, thank-you "
                                                          "pages.")
    privacy_url: HttpsUrl | None = Field(None, description=(
        "The privacy notice (GDPR art. 13): where data is collected and in every footer."))

    @model_validator(mode="after")
    def _alt_text(self) -> BrandSettings:
        if self.logo and not self.logo_alt.strip():
            raise ValueError(_("brand.logo needs logo_alt: the board's name, as the logotype "
                               "says it"))
        return self


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
    web: WebSettings = WebSettings()
    approval: ApprovalSettings = ApprovalSettings()
    brand: BrandSettings = BrandSettings()
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
