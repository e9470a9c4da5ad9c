"""The sections of newsletter.toml and the field types they share (``pipeline.config`` reads
the file into a ``Config`` made of these).

Every model is strict (an unknown key is an error at its line) and frozen. Text fields refuse
line breaks, addresses and URLs are checked, and each section's defaults are the shipped ones.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeline.errors import Severity
from pipeline.i18n import _

_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z]{2,}$")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(_("'%(value)s' is not an email address") % {"value": value})
    return value


def _https(value: str) -> str:
    if not value.startswith("https://") or any(c.isspace() for c in value):
        raise ValueError(_("'%(value)s' must be an absolute https:// URL") % {"value": value})
    if not value.isascii() or not value.isprintable():  # it goes into mail headers as it is
        raise ValueError(_("'%(value)s' must be written in ASCII, as mail headers carry it: "
                           "write it as %(ascii)s") % {"value": value, "ascii": _ascii_url(value)})
    return value.rstrip("/")


def _ascii_url(value: str) -> str:
    """The URL with its domain in IDNA form and the rest percent-encoded: what to write."""
    from urllib.parse import quote, urlsplit, urlunsplit

    import idna

    parts = urlsplit(value)
    try:
        host = idna.encode(parts.hostname or "", uts46=True).decode("ascii")
    except idna.IDNAError:
        host = quote(parts.hostname or "")
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, quote(parts.path, safe="/%"),
                       quote(parts.query, safe="=&%"), quote(parts.fragment, safe="%")))


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(_("'%(value)s' is not a slug (lower-case letters, digits and "
                           "hyphens)") % {"value": value})
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
    # allow_inf_nan: "inf" or "nan" in a number of hours or seconds ended in a traceback
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Mailbox(_Strict):
    name: Text
    email: Email



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

    @field_validator("host")
    @classmethod
    def _a_host_name(cls, value: str) -> str:
        """What the socket layer can look up: an IP address, or a name IDNA can encode (no
        empty label, none over 63 characters), checked here rather than mid-send."""
        import ipaddress

        try:
            ipaddress.ip_address(value.strip("[]"))
            return value
        except ValueError:
            pass
        try:
            value.encode("idna")
        except UnicodeError:
            raise ValueError(_("'%(value)s' is not a host name (an empty part between dots, or "
                               "a part over 63 characters?): write the mail server's name, "
                               "e.g. smtp.example.se, or its IP address") % {"value": value}
                             ) from None
        return value

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
    outbox_dir: Text = "outbox"
    list_id: str | None = None
    fence_minutes: int = Field(15, ge=10, description="SendGrid send_at this far ahead.")
    messages_per_second: float = Field(0, ge=0, le=100_000, description=(
        "0: as fast as the provider takes."))
    lease_seconds: float = Field(60, ge=1, description=(
        "A sender's claim on a delivery lapses this long after its last heartbeat."))
    error_threshold: float = Field(0.1, gt=0, le=1,
                                   description="Pause when this share of sends fails.")
    tries: int = Field(6, ge=1, le=20, description=(
        "Tries of a batch the provider refuses for now before the delivery pauses (and the "
        "scheduler resumes it later, [schedule] retry_hours)."))
    smtp_connections: int = Field(1, ge=1, le=16, description=(
        "SMTP: connections a batch is sent over in parallel, for a relay that allows several "
        "from one sender."))
    smtp: SmtpSettings = SmtpSettings()
    sendgrid: SendGridSettings = SendGridSettings()

    @field_validator("messages_per_second")
    @classmethod
    def _a_pace(cls, value: float) -> float:
        if 0 < value < 0.1:  # 1e-300 overflowed the wait between batches
            raise ValueError(_("at least 0.1 (one message every 10 seconds), or 0 for as fast "
                               "as the provider takes them"))
        return value


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
    retry_hours: float = Field(6, ge=0, description=(
        "A delivery paused by a temporary fault resumes by itself for this long."))
    retry_backoff_seconds: float = Field(60, gt=0, description=(
        "The first wait before resuming; it doubles after each try, up to an hour."))


class AlertSettings(_Strict):
    """Where an operator hears that something needs them, besides the editors' mail (which
    is down when the mail path is). The webhook's URL is a secret (Slack, Teams and Matrix
    put the token in it), so it comes from the environment, NEWSLETTER_ALERT_WEBHOOK."""

    command: list[Text] = Field(default_factory=list, description=(
        "A program and its arguments, run with the alert as JSON on stdin."))
    bounce_rate: float = Field(0.05, gt=0, le=1, description=(
        "Alert when more of a delivery's handed-over messages bounce."))
    complaint_rate: float = Field(0.002, gt=0, le=1, description=(
        "Alert when more of a delivery's handed-over messages are reported as spam."))
    min_sent: int = Field(50, ge=1, description="Rates count once this many are handed over.")
    timeout_seconds: float = Field(10, gt=0, le=120)


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


class ReportSettings(_Strict):
    """The reports for the editors and the board (``pipeline.report``)."""

    days_after_send: int = Field(7, ge=1, le=60, description=(
        "The issue's report is mailed to the editors this many days after its send."))
