"""`newsletter studio` as a process in a copy of the project (a git repository), and a small
HTTP client that keeps the studio's session cookie, for the studio's tests."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT

GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.se",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.se"}


def project(folder: Path) -> Path:
    """A clone-like project: newsletter.toml, templates/, issues/2027-1, committed in git."""
    shutil.copytree(ROOT / "templates", folder / "templates")
    shutil.copytree(ROOT / "issues" / "2027-1", folder / "issues" / "2027-1")
    toml = (ROOT / "newsletter.toml").read_text().replace(
        'database_url = "sqlite:///newsletter.db"',
        f'database_url = "sqlite:///{folder / "newsletter.db"}"')
    (folder / "newsletter.toml").write_text(toml)
    (folder / ".gitignore").write_text("newsletter.db\noutbox/\narchive/\n")
    env = {**os.environ, **GIT_ENV}
    for command in (["init", "-q", "-b", "main"], ["add", "-A"],
                    ["commit", "-q", "-m", "Start"]):
        subprocess.run(["git", *command], cwd=folder, env=env, check=True)
    return folder


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str]


@dataclass
class Studio:
    process: subprocess.Popen[str]
    url: str                      # the launch URL, with its secret
    root: Path
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    @property
    def base(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def request(self, path: str, data: dict[str, object] | None = None,
                headers: dict[str, str] | None = None, follow: bool = True) -> Answer:
        handlers: list[urllib.request.BaseHandler] = [
            urllib.request.HTTPCookieProcessor(self.jar)]
        if not follow:
            handlers.append(NoRedirect())
        opener = urllib.request.build_opener(*handlers)
        body = None
        if data is not None:
            pairs = [(k, str(v)) for k, value in data.items()
                     for v in (value if isinstance(value, list) else [value])]
            body = urllib.parse.urlencode(pairs).encode()
        target = path if path.startswith("http") else self.base + path
        request = urllib.request.Request(target, data=body, headers={
            "Origin": self.base, **(headers or {})})
        try:
            with opener.open(request, timeout=60) as response:
                return Answer(response.status, response.read().decode(),
                              dict(response.headers))
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read().decode(errors="replace"), dict(exc.headers))

    def login(self) -> str:
        """Open the launch URL; the CSRF token the pages carry."""
        answer = self.request(self.url)
        assert answer.status == 200, answer
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', answer.body)
        assert found, answer.body[:500]
        return found.group(1)

    def stop(self) -> str:
        self.process.terminate()
        out, _ = self.process.communicate(timeout=30)
        return out


def start(root: Path, *options: str, env: dict[str, str] | None = None) -> Studio:
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "studio", "--no-browser", "--config",
         str(root / "newsletter.toml"), *options],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **GIT_ENV, **(env or {})})
    assert process.stdout is not None
    for line in process.stdout:  # the first line names the address: started
        if found := re.search(r"(http://\S+\?token=\S+)", line):
            return Studio(process, found.group(1), root)
    raise AssertionError(f"the studio did not start: {process.wait(10)}")
