"""Git, without git: the studio's "Spara version", "Skicka till granskning" and "Ändringar".

Communicators never see git. ``changed_files`` and ``readable_diff`` say what changed in one
issue folder since the last commit, the diff written as the text a person reads (labelled lines
such as "Rubrik: …", then the body's paragraphs), not as YAML. ``save_version`` commits that
folder's files and nothing else; ``send_for_review`` pushes HEAD to ``granskning/<slug>``.

Nothing a user types becomes a command-line argument: the message goes on stdin, the author
through the environment, file names only after ``--`` with literal pathspecs, and only once
they are checked to lie inside the issue folder. Every git call has a fixed argument list, a
timeout and no terminal prompt; the texts are Swedish, since the studio speaks only Swedish.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pipeline.errors import NewsletterError
from pipeline.studio.readable import DiffLine, line_diff, readable_lines

TIMEOUT = 30  # seconds for a local git command
PUSH_TIMEOUT = 120
_SLUG = re.compile(r"^[0-9]{4}-[0-9]{1,2}$")
_REMOTE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$")
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")
_GIT_MISSING = ("Git finns inte på den här datorn. Be den som installerade studion att "
                "installera Git och starta sedan studion igen.")


class VersionError(NewsletterError):
    """A version could not be listed, saved or sent; the message says what to do."""


class Status(StrEnum):
    NEW = "ny"
    MODIFIED = "ändrad"
    DELETED = "borttagen"


@dataclass(frozen=True)
class Change:
    name: str  # inside the issue folder, e.g. "images/bild.jpg"
    path: str  # from the repository's root, e.g. "issues/2027-2/images/bild.jpg"
    status: Status


@dataclass(frozen=True)
class FileDiff:
    name: str
    status: Status
    lines: list[DiffLine] = field(default_factory=list)


def is_repository(root: Path) -> bool:
    """True if ``root`` is the top folder of a git working tree."""
    try:
        done = _git(root, "rev-parse", "--show-toplevel")
    except (VersionError, OSError):
        return False
    top = os.fsdecode(done.stdout).strip()
    return done.returncode == 0 and bool(top) and Path(top).resolve() == root.resolve()


def has_remote(root: Path) -> bool:
    return is_repository(root) and _remote(root) is not None


def changed_files(root: Path, folder: Path) -> list[Change]:
    """The issue folder's files that differ from the last commit, untracked ones included."""
    relative = _folder(root, folder)
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD").returncode == 0
    listed = ("diff", "--no-renames", "--name-only", "-z", "HEAD") if head else (
        "ls-files", "--cached", "-z")
    names = _names(root, *listed, "--", relative)
    names |= _names(root, "ls-files", "--others", "--exclude-standard", "-z", "--", relative)
    in_head = _names(root, "ls-tree", "-r", "-z", "--name-only", "HEAD", "--", relative) \
        if head else set()
    changes = []
    for path in sorted(names):
        exists = os.path.lexists(root / path)
        if not exists and path not in in_head:
            continue  # added to the index, then deleted: nothing changed since the commit
        status = Status.DELETED if not exists else (
            Status.MODIFIED if path in in_head else Status.NEW)
        changes.append(Change(path.removeprefix(relative + "/"), path, status))
    return sorted(changes, key=lambda c: (c.name != "issue.yaml", "/" in c.name, c.name))


def readable_diff(root: Path, folder: Path, names: Mapping[str, str] | None = None
                  ) -> list[FileDiff]:
    """What changed since the last version, as text a communicator reads, file by file
    (``names``: segments' and focus areas' Swedish names by slug)."""
    diffs = []
    for change in changed_files(root, folder):
        old = b"" if change.status is Status.NEW else _git(
            root, "cat-file", "blob", f"HEAD:{change.path}").stdout
        file = root / change.path
        new = b"" if change.status is Status.DELETED or file.is_symlink() else file.read_bytes()
        before, after = (readable_lines(change.name, old, names),
                         readable_lines(change.name, new, names))
        diffs.append(FileDiff(change.name, change.status, line_diff(before, after)))
    return diffs


def save_version(root: Path, folder: Path, message: str, author_name: str,
                 author_email: str) -> str:
    """Commit the issue folder's changes (and only them) with ``message``; the short id."""
    text = message.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "").strip()
    if not text:
        raise VersionError("Skriv en kort beskrivning av vad du har ändrat, och spara igen.")
    if any(not v.strip() or re.search(r"[\x00-\x1f\x7f<>]", v)
           for v in (author_name, author_email)):
        raise VersionError("Fyll i ditt namn och din e-postadress, utan radbrytningar och "
                           "utan tecknen < och >, och spara igen.")
    changes = changed_files(root, folder)
    inside = (root / folder).resolve()
    for change in changes:
        file = root / change.path
        if file.is_symlink() or inside not in file.resolve().parents:
            raise VersionError(f"{change.name} är en genväg eller ligger utanför numrets mapp "
                               "och kan inte sparas. Lägg in själva filen i mappen i stället.")
    if not changes:
        raise VersionError("Inget har ändrats sedan den senaste versionen, så det finns "
                           "inget nytt att spara.")
    paths = [change.path for change in changes]
    who = {"GIT_AUTHOR_NAME": author_name.strip(), "GIT_AUTHOR_EMAIL": author_email.strip(),
           "GIT_COMMITTER_NAME": author_name.strip(),
           "GIT_COMMITTER_EMAIL": author_email.strip()}
    _check(_git(root, "add", "--all", "--", *paths), "spara versionen")
    _check(_git(root, "commit", "--quiet", "--cleanup=verbatim", "-F", "-", "--", *paths,
                stdin=text + "\n", env=who), "spara versionen")
    return os.fsdecode(_git(root, "rev-parse", "--short", "HEAD").stdout).strip()


def send_for_review(root: Path, slug: str) -> str:
    """Push HEAD to the remote as ``granskning/<slug>``; the branch's name."""
    if not _SLUG.match(slug):
        raise VersionError(f"'{slug}' är inte ett nummer som 2027-2 (år, bindestreck, nummer).")
    _repository(root)
    remote = _remote(root)
    if remote is None:
        raise VersionError("Arkivet har ingen fjärrkopia att skicka till. Be den som sköter "
                           "arkivet att koppla det till en, till exempel på GitHub.")
    if _git(root, "rev-parse", "--verify", "-q", "HEAD").returncode != 0:
        raise VersionError("Spara en version först, och skicka den sedan till granskning.")
    branch = f"granskning/{slug}"
    _check(_git(root, "push", "--quiet", remote, f"HEAD:refs/heads/{branch}",
                timeout=PUSH_TIMEOUT), "skicka till granskning")
    return branch


def _git(root: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None,
         timeout: float = TIMEOUT) -> subprocess.CompletedProcess[bytes]:
    environment = {k: v for k, v in os.environ.items() if k not in (
        "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY")}
    environment |= {"GIT_TERMINAL_PROMPT": "0", "GIT_LITERAL_PATHSPECS": "1", "LC_ALL": "C",
                    "GIT_OPTIONAL_LOCKS": "0", **(env or {})}
    if "GIT_SSH_COMMAND" not in environment and "GIT_SSH" not in environment:
        environment["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"  # no passphrase prompt either
    try:
        return subprocess.run(["git", *args], cwd=root, env=environment, check=False,
                              capture_output=True, timeout=timeout,
                              input=None if stdin is None else stdin.encode("utf-8"))
    except FileNotFoundError as exc:
        if not root.is_dir():
            raise VersionError(f"Mappen {root} finns inte. Starta studion i arkivets mapp.") \
                from exc
        raise VersionError(_GIT_MISSING) from exc
    except subprocess.TimeoutExpired as exc:
        raise VersionError(f"Git svarade inte inom {timeout:.0f} sekunder. Kontrollera "
                           "nätverket och försök igen om en stund.") from exc


def _check(done: subprocess.CompletedProcess[bytes], doing: str) -> None:
    if done.returncode == 0:
        return
    said = _USERINFO.sub(r"\1", done.stderr.decode("utf-8", "replace"))
    lines = [line.strip()[:200] for line in said.splitlines() if line.strip()]
    detail = " ".join(lines[-3:]) or f"felkod {done.returncode}"
    if "index.lock" in said:
        advice = "En annan Git-åtgärd pågår i arkivet. Vänta en stund och försök igen."
    elif re.search(r"Authentication failed|Permission denied|could not read Username|"
                   r"terminal prompts disabled|\b403\b", said):
        advice = ("Inloggningen till fjärrkopian misslyckades. Logga in i Git på den här "
                  "datorn (be den som sköter arkivet om hjälp) och försök igen.")
    elif re.search(r"Could not resolve|unable to access|Connection|timed out", said):
        advice = "Det gick inte att nå fjärrkopian. Kontrollera internetanslutningen och " \
                 "försök igen."
    elif re.search(r"rejected|non-fast-forward|fetch first", said):
        advice = ("Någon annan har ändrat granskningsgrenen sedan du skickade den. Be "
                  "granskaren om hjälp att slå ihop ändringarna.")
    else:
        advice = "Försök igen, och visa meddelandet för den som sköter arkivet om det upprepas."
    raise VersionError(f"Det gick inte att {doing}. {advice} (Git: {detail})")


def _repository(root: Path) -> None:
    if not is_repository(root):
        _git(root, "--version")  # raises if git is missing
        raise VersionError(f"{root} är inte nyhetsbrevets Git-arkiv, så versioner kan inte "
                           "sparas här. Starta studion i mappen dit arkivet är klonat.")


def _folder(root: Path, folder: Path) -> str:
    """``folder`` (absolute or from ``root``) from the root, checked to lie inside it."""
    _repository(root)
    top, target = root.resolve(), (root / folder).resolve()
    if top not in target.parents or ".git" in target.relative_to(top).parts:
        raise VersionError(f"{folder} ligger inte i nyhetsbrevets arkiv. Öppna numret från "
                           "listan i studion.")
    return target.relative_to(top).as_posix()


def _remote(root: Path) -> str | None:
    names = os.fsdecode(_git(root, "remote").stdout).split()
    valid = [name for name in names if _REMOTE.match(name)]
    return "origin" if "origin" in valid else (valid[0] if valid else None)


def _names(root: Path, *args: str) -> set[str]:
    done = _git(root, *args)
    _check(done, "läsa arkivet")
    return {os.fsdecode(name) for name in done.stdout.split(b"\0") if name}
