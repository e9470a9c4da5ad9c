"""Editions: an issue frozen for sending, the one hand-off from render to deliver and archive.

    load_issue → render_issue → make_edition (check, render once, hash sources) → Edition
    Edition → deliver (per reader only the placeholders are filled) and Edition → publish

An edition holds every part a reader or the archive receives: each variant's subject,
preheader, HTML and text, the archive page, the processed images, and the headers' sender. It
records the SHA-256 of every source it was built from: the issue folder, ``templates/`` and
the settings of newsletter.toml that shape the output. Editions live in the register
database, content-addressed (``edition_parts`` holds each distinct blob once), so a scheduler
host has them; approving again after an edit stores a new edition and keeps the old ones.
An edition whose sources no longer match the files on disk is *void* for new sends
(``changed_sources``); a delivery that already references it goes on with its bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image as PILImage
from sqlalchemy import DateTime, Integer, LargeBinary, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.config import Config
from pipeline.db import Base, now
from pipeline.errors import NewsletterError, Problem
from pipeline.issue import Issue
from pipeline.source import image_folder_problems

IMAGE_MAX_WIDTH = 1100
OUTPUT_SETTINGS = "newsletter.toml"  # the name its settings are recorded under in sources
_NOT_OUTPUT = {"check", "audience", "schedule", "web", "approval", "root", "issues_dir"}
_NOT_SOURCES = {"service", "new-issue"}  # templates/ folders no edition is made from


class EditionError(NewsletterError):
    """An edition cannot be made, found or used."""


class EditionRow(Base):
    __tablename__ = "editions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue: Mapped[str] = mapped_column(String(20), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    manifest: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(400))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EditionPart(Base):
    """One blob (an HTML part, a text part, the page, an image), by its SHA-256."""

    __tablename__ = "edition_parts"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class Mail:
    """One variant's message as the edition froze it (placeholders still in)."""

    subject: str
    preheader: str
    html: str
    text: str


@dataclass(frozen=True)
class Edition:
    digest: str
    issue: str
    meta: dict[str, Any]                 # year, number, title, label, date, summary, send_at
    variants: dict[str, Mail]
    focus: dict[str, list[list[Any]]]    # segment → [[section id, [areas]], …] in order
    web_page: str                        # the archive page, byte for byte
    images: dict[str, bytes]             # processed, as archive/<year>/<n>/images/ gets them
    sources: dict[str, str]              # path (from the project root) → SHA-256
    headers: dict[str, Any]              # sender, reply_to, language, list_id
    id: int | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    created_at: datetime | None = field(default=None, compare=False)

    def choose(self, segment: str, areas: frozenset[str]) -> str:
        """The variant a reader in ``segment`` with focus ``areas`` gets."""
        if segment not in self.focus:
            return segment
        chosen = [sid for sid, tags in self.focus[segment] if set(tags) & areas]
        return "+".join((segment, *chosen))

    def mail(self, variant: str) -> Mail:
        try:
            return self.variants[variant]
        except KeyError:
            raise EditionError(f"edition {self.short} of {self.issue} has no variant "
                               f"{variant}") from None

    def config(self, config: Config) -> Config:
        """``config`` with the sender, reply-to, language and List-Id this edition froze."""
        frozen = self.headers
        delivery = config.delivery.model_copy(update={"list_id": frozen["list_id"]})
        return config.model_copy(update={
            "sender": config.sender.model_validate(frozen["sender"]),
            "reply_to": None if frozen["reply_to"] is None
            else config.sender.model_validate(frozen["reply_to"]),
            "language": frozen["language"], "delivery": delivery})

    @property
    def short(self) -> str:
        return self.digest[:12]


def source_hashes(folder: Path, config: Config) -> dict[str, str]:
    """SHA-256 of every file an edition of the issue in ``folder`` is built from."""
    out: dict[str, str] = {}
    for base in (folder, config.templates):
        for path in sorted(base.rglob("*")):
            inside = path.relative_to(base).parts
            if not path.is_file() or any(p.startswith(".") for p in inside) or \
                    (base == config.templates and inside[0] in _NOT_SOURCES):
                continue
            out[_relative(path, config)] = hashlib.sha256(path.read_bytes()).hexdigest()
    settings = config.model_dump(mode="json", exclude=_NOT_OUTPUT)
    settings["delivery"] = {"list_id": config.list_id}
    out[OUTPUT_SETTINGS] = _digest(json.dumps(settings, sort_keys=True).encode())
    return out


def changed_sources(edition: Edition, folder: Path, config: Config) -> list[str]:
    """Files changed, added or removed since the edition was made (empty: it still holds)."""
    now_ = source_hashes(folder, config)
    names = sorted(set(now_) | set(edition.sources))
    return [name for name in names if now_.get(name) != edition.sources.get(name)]


def _relative(path: Path, config: Config) -> str:
    try:
        return path.resolve().relative_to(config.root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def process_images(folder: Path) -> dict[str, bytes]:
    """The issue's images as published: at most IMAGE_MAX_WIDTH wide, re-encoded by Pillow.

    Only JPEG, PNG, GIF and WebP pass, decoded and written anew (no metadata, nothing
    appended to the file survives); a symbolic link or any other file refuses the lot.
    """
    source = folder / "images"
    out: dict[str, bytes] = {}
    problems = image_folder_problems(folder, set())
    if problems:
        raise EditionError(f"{folder}: images/ holds files that cannot be published", problems)
    if not source.is_dir():
        return out
    for file in sorted(source.iterdir()):
        if file.name.startswith(".") or not file.is_file():
            continue
        with PILImage.open(file) as image:
            kind = image.format
            scaled: PILImage.Image = image
            if image.width > IMAGE_MAX_WIDTH:
                height = round(image.height * IMAGE_MAX_WIDTH / image.width)
                scaled = image.resize((IMAGE_MAX_WIDTH, height), PILImage.Resampling.LANCZOS)
            buffer = io.BytesIO()
            if kind == "JPEG":
                scaled.convert("RGB").save(buffer, "JPEG", quality=82, optimize=True,
                                           progressive=True)
            elif kind == "PNG":
                scaled.save(buffer, "PNG", optimize=True)
            elif kind == "GIF":
                scaled.save(buffer, "GIF", save_all=getattr(image, "n_frames", 1) > 1)
            else:
                scaled.save(buffer, "WEBP", quality=82)
            out[file.name] = buffer.getvalue()
    return out


def build_edition(issue: Issue, config: Config) -> Edition:
    """Render everything once into an (unsaved, unapproved) edition. Raises on render errors."""
    from pipeline.render import Renderer, render_issue, variant_keys

    renderer = Renderer(config)
    rendered = render_issue(issue, config, list(variant_keys(issue, config)),
                            renderer=renderer)
    focus: dict[str, list[list[Any]]] = {}
    for segment in config.segments:
        if segment.focus:
            focus[segment.slug] = [[s.id, sorted(s.front.focus)] for s in issue.sections
                                   if s.for_segment(segment.slug) and s.front.focus]
    meta = issue.meta
    sender = config.sender.model_dump(mode="json")
    edition = Edition(
        digest="", issue=issue.slug,
        meta={"year": issue.year, "number": issue.number, "title": meta.title,
              "label": issue.label, "date": meta.send_at.date().isoformat(),
              "send_at": meta.send_at.isoformat(), "summary": issue.summary,
              "subject": meta.subject, "editor": meta.editor.email},
        variants={key.name: Mail(email.subject, email.preheader, email.html, email.text)
                  for key, email in rendered.variants.items()},
        focus=focus,
        web_page=renderer.render_web(issue, root="../../"),
        images=process_images(issue.folder),
        sources=source_hashes(issue.folder, config),
        headers={"sender": sender, "language": config.language, "list_id": config.list_id,
                 "reply_to": config.reply_to.model_dump(mode="json") if config.reply_to
                 else None})
    return replace(edition, digest=_digest(_manifest_text(edition, {}).encode()))


def _manifest_text(edition: Edition, parts: dict[str, bytes]) -> str:
    return json.dumps(_manifest(edition, parts), sort_keys=True, ensure_ascii=False)


def _manifest(edition: Edition, parts: dict[str, bytes]) -> dict[str, Any]:
    def part(content: bytes) -> str:
        digest = _digest(content)
        parts[digest] = content
        return digest

    return {
        "issue": edition.issue, "meta": edition.meta, "focus": edition.focus,
        "headers": edition.headers, "sources": edition.sources,
        "variants": {name: {"subject": m.subject, "preheader": m.preheader,
                            "html": part(m.html.encode()), "text": part(m.text.encode())}
                     for name, m in sorted(edition.variants.items())},
        "web_page": part(edition.web_page.encode()),
        "images": {name: part(data) for name, data in sorted(edition.images.items())},
    }


def store_edition(store: Any, edition: Edition, approved_by: str | None = None) -> Edition:
    """Save (or find) the edition by content; record the approval if given and not yet."""
    parts: dict[str, bytes] = {}
    manifest = _manifest_text(edition, parts)
    digest = _digest(manifest.encode())
    for attempt in range(2):
        try:
            with store.session() as session, session.begin():
                have = set(session.scalars(select(EditionPart.digest).where(
                    EditionPart.digest.in_(list(parts)))))
                session.add_all(EditionPart(digest=d, content=c) for d, c in parts.items()
                                if d not in have)
                row = session.scalar(select(EditionRow).where(EditionRow.digest == digest))
                if row is None:
                    row = EditionRow(issue=edition.issue, digest=digest, manifest=manifest,
                                     created_at=now())
                    session.add(row)
                if approved_by and row.approved_by is None:
                    row.approved_by, row.approved_at = approved_by, now()
                session.flush()
                return _edition(row, _load_parts(session, parts))
        except IntegrityError:  # another process saved the same parts at the same moment
            if attempt:
                raise
    raise AssertionError("unreachable")


def _load_parts(session: Any, wanted: Mapping[str, bytes] | list[str]) -> dict[str, bytes]:
    if isinstance(wanted, Mapping):
        return dict(wanted)
    rows = session.execute(select(EditionPart.digest, EditionPart.content)
                           .where(EditionPart.digest.in_(wanted)))
    return {d: bytes(c) for d, c in rows}


def _edition(row: EditionRow, parts: dict[str, bytes]) -> Edition:
    data = json.loads(row.manifest)

    def text(digest: str) -> str:
        return parts[digest].decode()

    return Edition(
        digest=row.digest, issue=row.issue, meta=data["meta"], focus=data["focus"],
        variants={name: Mail(v["subject"], v["preheader"], text(v["html"]), text(v["text"]))
                  for name, v in data["variants"].items()},
        web_page=text(data["web_page"]),
        images={name: parts[d] for name, d in data["images"].items()},
        sources=data["sources"], headers=data["headers"], id=row.id,
        approved_by=row.approved_by, approved_at=row.approved_at, created_at=row.created_at)


def load_edition(store: Any, edition_id: int) -> Edition:
    with store.session() as session:
        row = session.get(EditionRow, edition_id)
        if row is None:
            raise EditionError(f"no edition {edition_id} in the register")
        data = json.loads(row.manifest)
        wanted = [data["web_page"], *data["images"].values(),
                  *(d for v in data["variants"].values() for d in (v["html"], v["text"]))]
        return _edition(row, _load_parts(session, wanted))


def latest_approved(store: Any, slug: str) -> Edition | None:
    """The issue's most recently approved edition, if any."""
    with store.session() as session:
        found = session.scalar(select(EditionRow.id).where(
            EditionRow.issue == slug, EditionRow.approved_by.is_not(None))
            .order_by(EditionRow.approved_at.desc(), EditionRow.id.desc()).limit(1))
    return None if found is None else load_edition(store, found)


def problems_of(edition_changes: list[str], slug: str) -> list[Problem]:
    """The changed files of a void approval, as problems a person can read."""
    return [Problem(name, 1, "approval", f"changed since {slug} was approved")
            for name in edition_changes]
