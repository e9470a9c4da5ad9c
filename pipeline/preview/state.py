"""The preview's model: the latest render, which variants it changed, and its problems.

``PreviewState.refresh`` loads the issue and renders only the variants whose inputs changed
since the last render: a variant's signature covers the issue's metadata, the sections of its
segment (their text, front matter and image files) and its focus sections. Edits to
newsletter.toml or the templates start afresh. The Renderer lives as long as the templates,
so each segment's MJML is compiled once per change, not once per variant. When rendering
fails, the render is dropped (never shown stale) and check's problems take its place; a bug in
a stage becomes a problem in the page too, so the watcher never dies.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import sys
import threading
import traceback
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.config import Config, config_path, load_config
from pipeline.errors import NewsletterError, Problem
from pipeline.i18n import _
from pipeline.issue import Issue, load_issue
from pipeline.lint import check_issue, lint_issue
from pipeline.render.email import RenderedEmail, RenderedIssue, Renderer
from pipeline.render.variants import VariantKey, variant_keys, variant_label

HISTORY = 64  # versions a reconnecting page can catch up on before it reloads


@dataclass(frozen=True)
class Snapshot:
    """One render (or the problems that stopped it), as every page of a version sees it."""

    version: int = 0
    config: Config | None = None
    rendered: RenderedIssue | None = None
    problems: tuple[Problem, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)  # variant name → Swedish label

    @property
    def names(self) -> list[str]:
        return list(self.labels)

    def issue(self) -> Issue | None:
        return self.rendered.issue if self.rendered else None


def signature(issue: Issue, key: VariantKey) -> str:
    """Everything the variant's email is made of, hashed (templates and config aside)."""
    digest = hashlib.sha256()
    parts: list[object] = [key, issue.year, issue.meta.model_dump_json()]
    for section in issue.sections:
        if section.for_segment(key.segment):
            parts += [section.id, section.body, section.front.model_dump_json()]
            if section.front.image:
                image = issue.folder / section.front.image.src
                stat = image.stat() if image.is_file() else None
                parts.append((stat.st_mtime_ns, stat.st_size) if stat else None)
    for part in parts:
        digest.update(repr(part).encode())
    return digest.hexdigest()


@dataclass
class PreviewState:
    """The current snapshot, a history of changed variants, and a condition pages wait on."""

    issue: Path
    config_file: Path | None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    snapshot: Snapshot = field(default_factory=Snapshot)
    changed: threading.Condition = field(default_factory=threading.Condition)
    history: deque[tuple[int, frozenset[str]]] = field(
        default_factory=lambda: deque(maxlen=HISTORY))
    closed: threading.Event = field(default_factory=threading.Event)
    _renderer: Renderer | None = None
    _cache: dict[VariantKey, tuple[str, RenderedEmail]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def version(self) -> int:
        return self.snapshot.version

    @property
    def problems(self) -> list[Problem]:
        return list(self.snapshot.problems)

    @property
    def rendered(self) -> RenderedIssue | None:
        return self.snapshot.rendered

    def refresh(self, changed_paths: Iterable[Path] | None = None,
                first: Collection[str] = ()) -> None:
        """Re-render what ``changed_paths`` touched (None: everything) and tell the pages.

        The variants named in ``first`` (those on the author's screen) are rendered and
        published before the others, which follow in a second version."""
        with self._lock:  # one render at a time; the watcher is the only caller but tests
            paths = None if changed_paths is None else [Path(p) for p in changed_paths]
            try:
                if first and self.snapshot.rendered is not None:
                    snapshot, names = self._render(paths, frozenset(first))
                    if snapshot.rendered is not None:
                        self._publish(replace(snapshot, problems=self.snapshot.problems),
                                      names)
                        paths = []  # the renderer is fresh already
                snapshot, names = self._render(paths)
                if snapshot.rendered is not None:
                    # The new emails first (the last problems stay a moment), then check's.
                    self._publish(replace(snapshot, problems=self.snapshot.problems), names)
                    snapshot, names = self._lint(snapshot), frozenset()
            except Exception as exc:  # a bug must show in the page, not kill the watcher
                traceback.print_exc(file=sys.stderr)
                problem = Problem(str(self.issue), 1, "preview", _(
                    "the preview failed unexpectedly: %(error)s") % {
                        "error": f"{type(exc).__name__}: {exc}"})
                snapshot, names = Snapshot(problems=(problem,)), frozenset[str]()
            self._publish(snapshot, names)

    def settle(self) -> None:
        """Wait for a render in progress (both its versions: emails, then problems)."""
        with self._lock:
            pass

    def _lint(self, snapshot: Snapshot) -> Snapshot:
        assert snapshot.rendered and snapshot.config and self._renderer
        rendered = snapshot.rendered
        return replace(snapshot, problems=tuple(lint_issue(
            rendered.issue, rendered, snapshot.config, self._renderer)))

    def _render(self, paths: list[Path] | None, only: frozenset[str] | None = None
                ) -> tuple[Snapshot, frozenset[str]]:
        """The issue's emails, each rendered again if its signature changed; with ``only``,
        the other variants keep their last email for now (the next render brings them)."""
        try:
            config = load_config(self.config_file)
        except NewsletterError as exc:
            return Snapshot(problems=tuple(exc.problems or [
                Problem(str(config_path(self.config_file)), 1, "config", exc.message)])), \
                frozenset()
        settings, templates = config_path(self.config_file).resolve(), config.templates.resolve()
        if paths is None or self._renderer is None or any(
                p.resolve() == settings or templates in p.resolve().parents for p in paths):
            self._renderer, self._cache = Renderer(config), {}
        renderer = self._renderer
        try:
            issue = load_issue(self.issue, config)
            keys = variant_keys(issue, config)
            emails, changed = {}, set()
            for key in keys:
                sign = signature(issue, key)
                cached = self._cache.get(key)
                later = only is not None and key.name not in only and cached is not None
                if (cached is None or cached[0] != sign) and not later:
                    cached = (sign, renderer.render_email(issue, key))
                    changed.add(key.name)
                    self._cache[key] = cached
                assert cached is not None
                emails[key] = cached[1]
            for gone in set(self._cache) - set(keys):
                del self._cache[gone]
            previous = self.snapshot.rendered
            web = previous.web_html if only is not None and previous else \
                renderer.render_web(issue)
            rendered = RenderedIssue(issue, emails, web, keys)
        except NewsletterError:  # check says what stopped it, with every other problem
            return Snapshot(config=config, problems=tuple(
                check_issue(self.issue, config, renderer).problems)), frozenset()
        labels = {key.name: variant_label(key, issue, config) for key in emails}
        return Snapshot(0, config, rendered, (), labels), frozenset(changed)

    def _publish(self, snapshot: Snapshot, names: frozenset[str]) -> None:
        with self.changed:
            version = self.snapshot.version + 1
            if self.snapshot.rendered is None:  # the pages show problems: every frame is new
                names = frozenset(snapshot.labels)
            self.snapshot = Snapshot(version, snapshot.config, snapshot.rendered,
                                     snapshot.problems, snapshot.labels)
            self.history.append((version, names))
            self.changed.notify_all()

    def changed_since(self, version: int) -> frozenset[str] | None:
        """Variants changed after ``version`` (None: too long ago; reload everything)."""
        with self.changed:
            newer = [names for seen, names in self.history if seen > version]
            if len(newer) < self.snapshot.version - version:
                return None
            return frozenset().union(*newer)

    def watched(self) -> list[Path]:
        config = config_path(self.config_file)
        paths = [self.issue, config]
        with contextlib.suppress(NewsletterError):
            paths.append(load_config(self.config_file).templates)
        return [p for p in paths if p.exists()]
