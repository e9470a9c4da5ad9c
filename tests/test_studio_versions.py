"""Git, without git: the studio's versions against real git in temporary repositories.

Identity comes from the environment, never from global config; a bare repository on disk
stands in for the remote."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline.studio.readable import readable_lines
from pipeline.studio.versions import (
    Status,
    VersionError,
    changed_files,
    has_remote,
    is_repository,
    readable_diff,
    save_version,
    send_for_review,
)

ISSUE = """number: 2
title: Våren i länet
subject: "Ett jämställt Västmanland nr 2 2027: våren"
preheader: Nytt om nätverket.
send_at: 2027-05-11 09:00
editor:
  name: Redaktionen
  email: redaktionen@example.se
sections:
  - 01-ledare.md
"""
LEDARE = """---
heading: Välkommen
---
Första stycket i ledaren,
över två rader.

Andra stycket.
"""
NOTICE = """---
heading: Anmäl dig senast i dag
kind: notice
until: 2027-05-20
audience: connected
focus: [makt, ekonomi]
recurring: true
image:
  src: images/natverk.jpg
  alt: Sex personer samtalar runt ett bord.
cta:
  text: Anmäl dig
  url: https://example.se/anmalan
---
Konferensen hålls i Västerås.

- Förmiddag: föreläsning
- Eftermiddag: workshop
"""


def git(root: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True, input=stdin)
    return done.stdout


@pytest.fixture(autouse=True)
def identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' own git identity, and no global or system config to lean on."""
    for key, value in {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.se",
                       "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.se",
                       "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}.items():
        monkeypatch.setenv(key, value)
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                  "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    folder = root / "issues" / "2027-2"
    (folder / "images").mkdir(parents=True)
    (folder / "issue.yaml").write_text(ISSUE, encoding="utf-8")
    (folder / "01-ledare.md").write_text(LEDARE, encoding="utf-8")
    (root / "README.md").write_text("Läs mig\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Första versionen")
    return root


FOLDER = Path("issues/2027-2")


def committed(root: Path, rev: str = "HEAD") -> list[str]:
    return git(root, "show", "--name-only", "--format=", rev).split()


def test_saving_commits_only_the_issue_folder(repo: Path) -> None:
    (repo / FOLDER / "issue.yaml").write_text(ISSUE.replace("Våren", "Sommaren"), "utf-8")
    (repo / FOLDER / "02-nytt.md").write_text(NOTICE, encoding="utf-8")
    (repo / FOLDER / "images" / "natverk.jpg").write_bytes(b"\xff\xd8 not checked here")
    (repo / "README.md").write_text("Ändrad utanför numret\n", encoding="utf-8")
    (repo / "staged.txt").write_text("redan i indexet\n", encoding="utf-8")
    git(repo, "add", "staged.txt")

    assert {(c.name, c.status) for c in changed_files(repo, FOLDER)} == {
        ("issue.yaml", Status.MODIFIED), ("02-nytt.md", Status.NEW),
        ("images/natverk.jpg", Status.NEW)}
    short = save_version(repo, FOLDER, "Sommarnumret", "Anna Lind", "anna@example.se")

    assert short == git(repo, "rev-parse", "--short", "HEAD").strip()
    assert sorted(committed(repo)) == [f"issues/2027-2/{name}" for name in (
        "02-nytt.md", "images/natverk.jpg", "issue.yaml")]
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "Anna Lind <anna@example.se>|Anna Lind <anna@example.se>\n")
    assert changed_files(repo, FOLDER) == []
    status = git(repo, "status", "--porcelain")
    assert " M README.md" in status and "A  staged.txt" in status  # left as they were


def test_the_message_and_author_are_stored_verbatim_and_nothing_runs(repo: Path) -> None:
    message = ('Rubrik "ny" och \'citat\'; rm -rf /\n\n--amend\n-F /etc/passwd\n'
               "$(touch pwned) `touch pwned2` ${HOME}\n# ingen kommentar\n--")
    author = 'Anna "A" $(touch pwned3) --author=x'
    (repo / FOLDER / "01-ledare.md").write_text(LEDARE + "\nTredje stycket.\n", "utf-8")

    save_version(repo, FOLDER, message, author, "anna@example.se")

    assert git(repo, "log", "-1", "--format=%B").rstrip("\n") == message
    assert git(repo, "log", "-1", "--format=%an").strip() == author
    assert not list(repo.rglob("pwned*")) and not list(Path.cwd().glob("pwned*"))
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "2"  # no --amend


def test_file_names_are_neither_options_nor_patterns(repo: Path) -> None:
    for name in ("--amend.md", "-n.md", "*.md", "[ab].md"):
        (repo / FOLDER / name).write_text(LEDARE, encoding="utf-8")
    (repo / FOLDER / "b.md").write_text(LEDARE, encoding="utf-8")
    git(repo, "add", "-A")  # b.md staged; `[ab].md` must not pull it in as a pattern
    git(repo, "reset", "-q", "--", str(FOLDER / "b.md"))

    save_version(repo, FOLDER, "Konstiga namn", "Anna", "anna@example.se")

    assert sorted(committed(repo)) == sorted(
        f"issues/2027-2/{n}" for n in ("--amend.md", "-n.md", "*.md", "[ab].md", "b.md"))


def test_deletions_are_committed(repo: Path) -> None:
    (repo / FOLDER / "01-ledare.md").unlink()
    assert [(c.name, c.status.value) for c in changed_files(repo, FOLDER)] == [
        ("01-ledare.md", "borttagen")]

    save_version(repo, FOLDER, "Ledaren bort", "Anna", "anna@example.se")

    assert "issues/2027-2/01-ledare.md" not in git(repo, "ls-tree", "-r", "--name-only", "HEAD")
    assert committed(repo) == ["issues/2027-2/01-ledare.md"]


def test_nothing_to_save_and_an_empty_message_are_refused(repo: Path) -> None:
    with pytest.raises(VersionError, match="Inget har ändrats sedan den senaste versionen"):
        save_version(repo, FOLDER, "Inget", "Anna", "anna@example.se")
    (repo / FOLDER / "01-ledare.md").write_text("Ny text\n", encoding="utf-8")
    with pytest.raises(VersionError, match="Skriv en kort beskrivning"):
        save_version(repo, FOLDER, " \n\t", "Anna", "anna@example.se")
    with pytest.raises(VersionError, match="Fyll i ditt namn och din e-postadress"):
        save_version(repo, FOLDER, "Ny", "Anna\nEvil: x", "anna@example.se")
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"


def test_paths_outside_the_folder_are_refused(repo: Path, tmp_path: Path) -> None:
    (repo / "README.md").write_text("Ändrad\n", encoding="utf-8")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for folder in (outside, Path("issues/2027-2/../.."), Path("../elsewhere"), Path(".git")):
        with pytest.raises(VersionError, match="ligger inte i nyhetsbrevets arkiv"):
            save_version(repo, folder, "Försök", "Anna", "anna@example.se")
    (repo / FOLDER / "lank.md").symlink_to(repo / "README.md")
    with pytest.raises(VersionError, match=r"lank\.md är en genväg"):
        save_version(repo, FOLDER, "Försök", "Anna", "anna@example.se")
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"


def test_not_a_repository_and_no_git_say_what_to_do(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "issues" / "2027-2").mkdir(parents=True)
    assert not is_repository(tmp_path) and not has_remote(tmp_path)
    with pytest.raises(VersionError, match="inte nyhetsbrevets Git-arkiv"):
        changed_files(tmp_path, FOLDER)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert not is_repository(tmp_path)
    with pytest.raises(VersionError, match="Git finns inte på den här datorn"):
        save_version(tmp_path, FOLDER, "Ny", "Anna", "anna@example.se")


def test_send_for_review_pushes_a_branch_to_the_remote(repo: Path, tmp_path: Path) -> None:
    assert is_repository(repo) and not has_remote(repo)
    with pytest.raises(VersionError, match="ingen fjärrkopia"):
        send_for_review(repo, "2027-2")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    assert has_remote(repo)

    assert send_for_review(repo, "2027-2") == "granskning/2027-2"
    assert git(bare, "rev-parse", "refs/heads/granskning/2027-2") == git(repo, "rev-parse", "HEAD")
    for slug in ("2027-2; rm -rf /", "../main", "2027-123", "--force"):
        with pytest.raises(VersionError, match="inte ett nummer som 2027-2"):
            send_for_review(repo, slug)


def test_a_failed_push_says_what_to_do_and_never_shows_credentials(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://anna:hemligt-token@127.0.0.1:9/brev.git")
    with pytest.raises(VersionError) as failure:
        send_for_review(repo, "2027-2")
    message = str(failure.value)
    assert message.startswith("Det gick inte att skicka till granskning.")
    assert "internetanslutningen" in message
    assert "hemligt" not in message and "anna:" not in message


def test_the_readable_diff_shows_labelled_lines_and_the_text(repo: Path) -> None:
    folder = repo / FOLDER
    (folder / "issue.yaml").write_text(
        ISSUE.replace("Våren i länet", "Sommaren i länet") + "  - 02-anmalan.md\n", "utf-8")
    (folder / "01-ledare.md").write_text(LEDARE.replace("Andra stycket.", "Ett nytt stycke."),
                                         "utf-8")
    (folder / "02-anmalan.md").write_text(NOTICE, encoding="utf-8")

    diffs = {d.name: d for d in readable_diff(repo, FOLDER)}
    assert list(diffs) == ["issue.yaml", "01-ledare.md", "02-anmalan.md"]

    issue = [(line.op, line.text) for line in diffs["issue.yaml"].lines]
    assert ("removed", "Rubrik: Våren i länet") in issue
    assert ("added", "Rubrik: Sommaren i länet") in issue
    assert ("added", "Avsnitt: 2. 02-anmalan.md") in issue
    assert ("same", "Avsnitt: 1. 01-ledare.md") in issue
    assert not any("title:" in text or "sections" in text for _, text in issue)

    ledare = [(line.op, line.text) for line in diffs["01-ledare.md"].lines]
    assert ledare == [("same", "Rubrik: Välkommen"),
                      ("same", "Första stycket i ledaren, över två rader."),
                      ("removed", "Andra stycket."), ("added", "Ett nytt stycke.")]

    assert diffs["02-anmalan.md"].status is Status.NEW
    assert [(line.op, line.text) for line in diffs["02-anmalan.md"].lines] == [
        ("added", text) for text in (
            "Rubrik: Anmäl dig senast i dag", "Typ: Viktigt-ruta", "Gäller till: 2027-05-20",
            "Målgrupp: anslutna aktörer", "Fokusområden: makt, ekonomi", "Återkommande: ja",
            "Bild: images/natverk.jpg", "Alt-text: Sex personer samtalar runt ett bord.",
            "Knapp: Anmäl dig", "Knapplänk: https://example.se/anmalan",
            "Konferensen hålls i Västerås.", "- Förmiddag: föreläsning",
            "- Eftermiddag: workshop")]
    named = {d.name: d for d in readable_diff(repo, FOLDER, {
        "makt": "En jämn fördelning av makt och inflytande", "ekonomi": "Ekonomisk jämställdhet",
        "connected": "Anslutna aktörer"})}  # the board's names, from newsletter.toml
    assert ("added", "Fokusområden: En jämn fördelning av makt och inflytande, Ekonomisk "
            "jämställdhet") in [(line.op, line.text) for line in named["02-anmalan.md"].lines]
    assert ("added", "Målgrupp: Anslutna aktörer") in [
        (line.op, line.text) for line in named["02-anmalan.md"].lines]


def test_a_deleted_file_diffs_against_nothing_and_long_stretches_collapse(repo: Path) -> None:
    long = "---\nheading: Lång\n---\n" + "\n\n".join(f"Stycke {n}." for n in range(1, 21))
    (repo / FOLDER / "03-lang.md").write_text(long + "\n", encoding="utf-8")
    save_version(repo, FOLDER, "Lång text", "Anna", "anna@example.se")
    (repo / FOLDER / "03-lang.md").write_text(long.replace("Stycke 10.", "Stycke tio."), "utf-8")
    (repo / FOLDER / "01-ledare.md").unlink()

    diffs = {d.name: d for d in readable_diff(repo, FOLDER)}
    assert {line.op for line in diffs["01-ledare.md"].lines} == {"removed"}
    assert diffs["01-ledare.md"].status is Status.DELETED
    lines = diffs["03-lang.md"].lines
    assert [(line.op, line.text) for line in lines if line.op != "same"] == [
        ("removed", "Stycke 10."), ("added", "Stycke tio.")]
    assert [line.skipped for line in lines if line.skipped] == [8, 8]
    assert lines[0].text == "… 8 rader utan ändringar …" and len(lines) == 8


def test_files_that_are_not_readable_yaml_are_shown_as_written() -> None:
    broken = "title: [Våren\nsubject: x\n"
    assert readable_lines("issue.yaml", broken.encode()) == broken.splitlines()
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    assert readable_lines("issue.yaml", bomb.encode()) == bomb.splitlines()
    assert readable_lines("images/bild.jpg", b"\xff\xd8\xff" * 1000) == [
        "Fil: images/bild.jpg (3 kB)"]
    assert readable_lines("01-a.md", b"---\nheading: [\n---\nText\n") == [
        "heading: [", "Text"]
