from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from pipeline.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "issues" / "2027-1"
# The command line speaks newsletter.toml's language (Swedish). Most tests read its messages
# in the English source; tests of the Swedish texts pass --lang sv (tests/test_messages.py).
os.environ["NEWSLETTER_LANG"] = "en"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture(autouse=True)
def _english_messages() -> None:
    """Every test starts with the English messages, whatever an earlier --lang sv set."""
    from pipeline.i18n import use_language

    use_language("en")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="Rewrite tests/golden/ from the current rendering.")


def require(condition: bool, reason: str) -> None:
    """Skip when a real component is missing, unless CI demands every component."""
    if not condition:
        if os.environ.get("NEWSLETTER_REQUIRE_ALL"):
            pytest.fail(f"{reason} (NEWSLETTER_REQUIRE_ALL is set)")
        pytest.skip(reason)


_NOWRAP = re.compile(r'<span (?:style="?white-space:nowrap"?|class="?nobr"?)>(.*?)</span>')


def visible(html: str) -> str:
    """HTML without what typography adds (soft hyphens, the spans that keep times, dates and
    phone numbers on one line), for tests that look for a text in a page or an email."""
    return _NOWRAP.sub(r"\1", html).replace("\u00ad", "")


@pytest.fixture(scope="session")
def mails(config: Config) -> dict[str, str]:
    """Every email a reader gets (tests/emails.py), rendered once for the session."""
    from tests.emails import every_email

    return every_email(config)


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(ROOT / "newsletter.toml")


def png(color: str = "purple", size: tuple[int, int] = (40, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


BASE_ISSUE: dict[str, str | bytes] = {
    "issue.yaml": (
        "number: 1\n"
        "title: Testnummer\n"
        "subject: Ett kort ämne\n"
        "preheader: En förhandstext\n"
        "send_at: 2027-02-16 09:00\n"
        "editor:\n"
        "  name: Redaktionen\n"
        "  email: red@example.se\n"
        "sections:\n"
        "  - 01-intro.md\n"
        "  - 02-bild.md\n"
    ),
    "01-intro.md": (
        "---\n"
        "heading: Inledning\n"
        "---\n"
        "Hej och välkommen. Läs [om strategin](https://example.se/strategi).\n"
    ),
    "02-bild.md": (
        "---\n"
        "heading: Med bild\n"
        "image:\n"
        "  src: images/a.png\n"
        "  alt: En lila rektangel\n"
        "focus: [halsa]\n"
        "---\n"
        "Text om hälsa.\n"
    ),
    "images/a.png": png(),
}


@pytest.fixture
def make_issue(tmp_path: Path):
    """Write the small valid issue, with some files replaced (None deletes one)."""

    def make(changes: dict[str, str | bytes | None] | None = None,
             folder: str = "2027-1") -> Path:
        root = tmp_path / "issues" / folder
        files = {**BASE_ISSUE, **(changes or {})}
        for name, content in files.items():
            if content is None:
                continue
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return root

    return make


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    target = tmp_path / "issues" / "2027-1"
    shutil.copytree(EXAMPLE, target)
    return target


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium")
    require(path is not None, "Debian's chromium is not installed (apt-get install chromium)")
    assert path is not None
    return path


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (never a downloaded browser); axe-core at hand.
    ``page.wait_for_function`` takes a function (``"() => …"``), never an expression: our
    pages' CSP forbids eval, and Playwright evals an expression it has to poll, so a wait for
    something not yet true fails (only on a machine slow enough to poll)."""
    from playwright.sync_api import sync_playwright

    path = shutil.which("chromium")
    require(path is not None, "Debian's chromium is not installed (apt-get install chromium)")
    require(AXE.exists(), "axe-core is not installed: run `npm ci` in the project folder")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def assert_accessible(page, screenshot: Path, width: int) -> None:
    """axe-core's WCAG 2.0/2.1 A and AA rules find nothing on the loaded page, and nothing
    scrolls sideways (reflow); a full-page screenshot is kept for a person to look at."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})",
                           AXE_TAGS)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    scroll = page.evaluate("document.documentElement.scrollWidth")
    violations = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                  for v in result["violations"]]
    assert violations == []
    assert result["passes"], "axe ran no checks"
    assert scroll <= width  # no horizontal scrolling, even at 320 px


def loopback_only(route) -> None:
    """A Playwright route handler: pages may load from 127.0.0.1 and nowhere else."""
    if route.request.url.startswith("http://127.0.0.1"):
        route.continue_()
    else:
        route.abort()


BACKENDS = ["sqlite", "postgresql"]


def fresh_database_url(backend: str, tmp_path: Path, drop_only: bool = False) -> str:
    """An empty database of the given kind: a new SQLite file, or on PostgreSQL a schema of
    this test process made afresh (not ``public``: the suite's other worker, or another test
    session, may be wiping its own meanwhile). ``drop_only``: the schema dropped, not made."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'audience.db'}"
    base = os.environ.get("NEWSLETTER_TEST_POSTGRES_URL")
    require(bool(base), "no PostgreSQL: set NEWSLETTER_TEST_POSTGRES_URL (./dev test starts one)")
    assert base is not None
    from sqlalchemy import create_engine

    schema = f"test_{os.getpid()}"
    engine = create_engine(base)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        if not drop_only:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine.dispose()
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session", autouse=True)
def _own_schema_dropped(tmp_path_factory: pytest.TempPathFactory):
    """This process's PostgreSQL schema (``fresh_database_url``) is gone when it ends."""
    yield
    if os.environ.get("NEWSLETTER_TEST_POSTGRES_URL"):
        fresh_database_url("postgresql", tmp_path_factory.getbasetemp(), drop_only=True)


@pytest.fixture
def web(store, config: Config, tmp_path: Path):
    """The web service over real HTTP on 127.0.0.1, with the example audience in ``store``:
    (base URL, store, outbox folder)."""
    from tests.test_deliver import populate
    from tests.webserver import local, served

    populate(store, config, tmp_path)
    with served(local(config, tmp_path), store) as base:
        yield base, store, tmp_path / "outbox"


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, config: Config, tmp_path: Path):
    from pipeline.audience.store import Store

    opened = Store.open(config, fresh_database_url(request.param, tmp_path))
    yield opened
    opened.close()


SPEC_DEFAULT = ROOT.parent / "shared" / "sendgrid" / "sendgrid-v3-newsletter-mock.json"


def sendgrid_spec() -> Path:
    spec = Path(os.environ.get("SENDGRID_OPENAPI_SPEC", SPEC_DEFAULT))
    if not spec.is_file():
        pytest.skip(f"SendGrid's OpenAPI description not found at {spec}: set "
                    "SENDGRID_OPENAPI_SPEC to sendgrid-v3-newsletter-mock.json from shared/")
    return spec


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_prism(args: list[str]):
    """Start Prism on a free loopback port; return (process, base URL) once it answers."""
    import subprocess
    import time
    import urllib.request

    prism = ROOT / "node_modules" / ".bin" / "prism"
    require(prism.exists(), "Prism is not installed: run `npm ci` in the project folder")
    port = _free_port()
    process = subprocess.Popen([str(prism), *args, "-h", "127.0.0.1", "-p", str(port),
                                "--errors", "-v", "warn"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        request = urllib.request.Request(f"{base}/v3/mail/batch", method="POST",
                                         headers={"Authorization": "Bearer SG.test"})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 201:
                    return process, base
        except OSError:
            time.sleep(0.3)
    process.kill()
    pytest.fail("Prism did not start within 60 s")


@pytest.fixture(scope="session")
def prism_mock():
    process, base = start_prism(["mock", str(sendgrid_spec())])
    yield base
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def standin_behind_prism():
    from tests.sendgrid_standin import StandIn

    spec = sendgrid_spec()
    standin = StandIn()
    process, base = start_prism(["proxy", str(spec), f"http://127.0.0.1:{standin.port}"])
    yield standin, base
    process.terminate()
    process.wait(10)
    standin.close()


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) in this process, recording what it receives."""
    from aiosmtpd.controller import Controller

    class Recorder:
        def __init__(self) -> None:
            self.messages: list[tuple[list[str], bytes]] = []
            self.refuse: set[str] = set()
            self.hang_up_after: set[str] = set()  # accept, then drop before answering

        async def handle_RCPT(self, server, session, envelope, address, options):
            if address in self.refuse:
                return "550 5.1.1 No such user here"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((list(envelope.rcpt_tos), envelope.content))
            if self.hang_up_after & set(envelope.rcpt_tos):
                self.hang_up_after -= set(envelope.rcpt_tos)
                server.transport.close()
                return None
            return "250 Message accepted"

    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield recorder, controller.port
    controller.stop()


APPROVER = "Granskare Testsson <granskare@example.se>"


def sandbox(config: Config, root: Path, approval: bool = False) -> Config:
    """The project's config writing under ``root`` (archive/, outbox/), reading the repo's
    templates; approval not required unless ``approval``."""
    from pipeline.settings import ApprovalSettings

    return config.model_copy(update={"root": root, "templates_dir": str(ROOT / "templates"),
                                     "approval": ApprovalSettings(required=approval)})


def start_delivery(store, config: Config, folder: Path = EXAMPLE, transport: str = "outbox"):
    """What `send` does before the engine runs, without the lease and the publishing:
    (delivery id, rows frozen, edition)."""
    from pipeline.audience.select import audience
    from pipeline.deliver import deliveries, ledger
    from pipeline.edition import build_edition, store_edition
    from pipeline.issue import load_issue

    edition = store_edition(store, build_edition(load_issue(folder, config), config))
    delivery, _ = deliveries.create_delivery(store, folder.name, transport, edition.id)
    frozen = ledger.freeze(store, delivery.id, audience(store, config, edition.choose))
    return delivery.id, frozen, edition


def send(store, config: Config, transport, folder: Path = EXAMPLE, **options):
    """`newsletter send` as a library call with ``transport``: its DeliveryReport."""
    from pipeline.deliver.run import SendOptions, send_issue

    options.setdefault("transport", transport.name)
    return send_issue(store, config, folder, b"k" * 48, lambda name, edition: transport,
                      SendOptions(**options))


def addressee(message: bytes) -> str:
    """The address in a message's To: header, however the header is folded."""
    import email
    import email.policy

    head = message.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    parsed = email.message_from_bytes(head, policy=email.policy.default)
    return str(parsed["To"].addresses[0].addr_spec)


def cli_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: str) -> Path:
    """A project (templates, newsletter.toml; its own register, outbox and archive) the CLI
    runs in, with no database or config from the environment."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "templates", root / "templates")
    shutil.copy(ROOT / "newsletter.toml", root / "newsletter.toml")
    monkeypatch.chdir(root)
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", secret)
    return root


# A second issue for the archive tests: a notice with a last day, and a wide table of times,
# dates, phone numbers (the board's, in both forms) and long compounds.
SECOND_ISSUE: dict[str, str] = {
    "issue.yaml": (
        "number: 2\n"
        "title: Våren 2027 i länsstyrelsernas jämställdhetsarbete\n"
        "subject: \"Nr 2 2027: schema och anmälan\"\n"
        "preheader: Schema, anmälan och könsuppdelad statistik.\n"
        "send_at: 2027-05-11 09:00\n"
        "editor:\n"
        "  name: Redaktionen\n"
        "  email: vastmanland@lansstyrelsen.se\n"
        "sections:\n"
        "  - 01-anmalan.md\n"
        "  - 02-schema.md\n"
    ),
    "01-anmalan.md": (
        "---\n"
        "heading: Anmäl er till höstens utbildning\n"
        "kind: notice\n"
        "until: 2027-05-20\n"
        "---\n"
        "Anmälan stänger torsdag 20 maj 2027 kl. 17.00. Frågor: ring 010-224 90 00.\n"
    ),
    "02-schema.md": (
        "---\n"
        "heading: Schema för utbildningsdagen\n"
        "---\n"
        "Dagen handlar om jämställdhetsintegrering, könsuppdelad statistik och "
        "länsstyrelsernas samordningsuppdrag.\n\n"
        "| Tid | Innehåll | Telefon | Datum |\n"
        "|---|---|---|---|\n"
        "| 09.00–10.30 | Jämställdhetsintegrering i verksamhetsplaneringen | 010-224 90 00 "
        "| 2027-03-05 |\n"
        "| 13.15 | Könsuppdelad statistik i länsstyrelsernas uppföljningsarbete "
        "| +46 10 224 90 00 | tisdag 9 februari 2027 |\n"
    ),
}


def write_second_issue(root: Path) -> Path:
    folder = root / "issues" / "2027-2"
    for name, content in SECOND_ISSUE.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content, encoding="utf-8")
    return folder


@pytest.fixture
def alert_hook(monkeypatch):
    """A local incoming webhook (as Slack's, Teams' or Matrix's) recording the alerts posted
    to it; ``NEWSLETTER_ALERT_WEBHOOK`` points at it. ``down`` makes it answer 503; ``hold``
    keeps the first POST waiting until it is set."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Hook:
        def __init__(self) -> None:
            self.alerts: list[dict[str, object]] = []
            self.down = False
            self.hold: threading.Event | None = None  # the first POST waits for it
            self.arrived = threading.Event()  # a POST came in

        def kinds(self) -> list[str]:
            return [str(a["kind"]) for a in self.alerts]

    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            first, hold = not hook.arrived.is_set(), hook.hold
            hook.arrived.set()
            if first and hold is not None:
                assert hold.wait(120), "the test never let the first alert through"
            if hook.down:
                self.send_response(503)
            else:
                assert self.headers["Content-Type"].startswith("application/json")
                payload = json.loads(body)
                assert isinstance(payload["text"], str) and payload["text"]  # what chats show
                hook.alerts.append(payload)
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T0KEN-s3cret"
    monkeypatch.setenv("NEWSLETTER_ALERT_WEBHOOK", url)
    hook.url = url  # type: ignore[attr-defined]
    yield hook
    server.shutdown()
    server.server_close()


@pytest.fixture
def private_postgres(tmp_path_factory):
    """A PostgreSQL server of this test's own (Debian's binaries, a fresh cluster on a free
    port), so it can be stopped and started without disturbing anyone else's database."""
    import glob
    import subprocess
    import tempfile

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.skip("Debian's postgresql package is not installed (./dev test installs it)")
    pg_ctl = Path(found[-1])
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="newsletter-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()
    subprocess.run([*as_user, str(pg_ctl.parent / "initdb"), "-D", str(data), "-A", "trust",
                    "-U", "postgres", "--no-sync", "-E", "UTF8"], check=True,
                   capture_output=True)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"

    class Server:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

        def ctl(self, *args: str) -> None:
            subprocess.run([*as_user, str(pg_ctl), "-D", str(data), "-o", options, "-w",
                            "-l", str(folder / "log"), *args], check=True, capture_output=True)

    server = Server()
    server.ctl("start")
    yield server
    server.ctl("stop", "-m", "immediate")
    shutil.rmtree(folder, ignore_errors=True)
