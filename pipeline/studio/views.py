"""The studio's pages and actions: the issue list, an issue's form and sections, a section's
editor, images, the live check and previews, test copies, approval and versions.

Every page works as plain forms (POST, then a redirect back); ``static/studio.js`` adds
autosave, the live check and previews updated in place, drag-and-drop and keyboard reordering.
The files are the issue's own (``files.py``); the check and the previews are the preview's
(``PreviewState``: only the variants a save touched are rendered again).
"""

from __future__ import annotations

import threading
from datetime import date
from importlib.resources import files as package_files
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from pipeline.config import Config, load_config
from pipeline.errors import NewsletterError
from pipeline.i18n import load_translations
from pipeline.preview.state import PreviewState
from pipeline.studio import actions, editing, files, pages
from pipeline.studio.overview import issue_rows

TEMPLATES = package_files("pipeline.studio") / "templates"
STATIC = package_files("pipeline.studio") / "static"


def _rendered(state: PreviewState, seen: int) -> None:
    """Until the state is newer than ``seen`` (the save's emails are rendered)."""
    with state.changed:
        state.changed.wait_for(lambda: state.version > seen, timeout=60)


class Studio:
    """The communicator's view of the project at ``root``."""

    def __init__(self, root: Path, config_file: Path) -> None:
        self.root, self.config_file = root, config_file
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                                 autoescape=True, extensions=["jinja2.ext.i18n"],
                                 trim_blocks=True, lstrip_blocks=True)
        env.install_gettext_translations(load_translations("sv"), newstyle=True)  # type: ignore[attr-defined]
        self.env = env
        self.states: dict[str, PreviewState] = {}
        self._lock = threading.Lock()
        self._config: tuple[tuple[int, int], Config] | None = None

    # -- plumbing ------------------------------------------------------------------------
    def config(self) -> Config:
        """newsletter.toml, read again only when it changes (every request asks for it)."""
        stat = self.config_file.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        if self._config is None or self._config[0] != key:
            self._config = (key, load_config(self.config_file))
        return self._config[1]

    def folder(self, slug: str) -> Path:
        config = self.config()
        folder = (config.root / config.issues_dir / slug).resolve()
        if not editing.SLUG.match(slug) or not folder.is_dir():
            raise HTTPException(404, "Det numret finns inte.")
        return folder

    def state(self, slug: str) -> PreviewState:
        with self._lock:
            if slug not in self.states:
                state = PreviewState(self.folder(slug), self.config_file)
                state.refresh()
                self.states[slug] = state
            return self.states[slug]

    def page(self, request: Request, template: str, status: int = 200, **context: Any
             ) -> HTMLResponse:
        body = self.env.get_template(template).render(
            csrf=request.state.csrf, request=request, **context)
        return HTMLResponse(body, status)

    def routes(self) -> list[Route]:
        issue = "/nummer/{slug}"
        return [
            Route("/", self.overview), Route("/nytt", self.create, methods=["POST"]),
            Route("/static/{name}", self.static), Route("/material/{name}", self.material),
            Route(issue, self.issue_page), Route(issue, self.save_issue, methods=["POST"]),
            Route(issue + "/ordning", self.reorder, methods=["POST"]),
            Route(issue + "/avsnitt", self.add_section, methods=["POST"]),
            Route(issue + "/avsnitt/{name}", self.section_page),
            Route(issue + "/avsnitt/{name}", self.save_section, methods=["POST"]),
            Route(issue + "/bild/{name}", self.upload, methods=["POST"]),
            Route(issue + "/status", self.status),
            Route(issue + "/epost/{variant}", self.email),
            Route(issue + "/filer/{path:path}", self.issue_file),
            Route(issue + "/testa", self.test_send, methods=["POST"]),
            Route(issue + "/godkann", self.approve, methods=["POST"]),
            Route(issue + "/andringar", self.changes),
            Route(issue + "/version", self.save_version, methods=["POST"]),
            Route(issue + "/granskning", self.review, methods=["POST"]),
        ]

    def error_handlers(self) -> dict[Any, Any]:
        words = {404: "Sidan finns inte.", 405: "Det går inte att göra så här.",
                 413: "Det var för mycket på en gång: spara kortare text eller en mindre bild.",
                 400: "Formuläret gick inte att läsa. Ladda om sidan och försök igen."}

        async def refused(request: Request, exc: Exception) -> Response:
            code = getattr(exc, "status_code", 500)
            detail = getattr(exc, "detail", "")
            if code not in (404, 422) or detail in ("Not Found", ""):
                detail = words.get(code, "Något gick fel.")
            return HTMLResponse(f"<!DOCTYPE html><html lang=sv><title>Redaktionen</title>"
                                f"<p>{markupsafe.escape(detail)} "
                                f"<a href=\"/\">Till nummerlistan</a></p></html>", code)

        async def unreadable(request: Request, exc: Exception) -> Response:
            message = getattr(exc, "message", str(exc))
            return HTMLResponse(f"<!DOCTYPE html><html lang=sv><title>Redaktionen</title>"
                                f"<h1>Filen kan inte läsas</h1><p>{markupsafe.escape(message)}"
                                f"</p><p><a href=\"/\">Till nummerlistan</a></p></html>", 422)
        return {HTTPException: refused, files.Unreadable: unreadable}

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        kinds = {"studio.css": "text/css", "studio.js": "text/javascript"}
        if name not in kinds:
            raise HTTPException(404, "Hittades inte.")
        return Response((STATIC / name).read_bytes(), media_type=f"{kinds[name]}; charset=utf-8")

    def material(self, request: Request) -> Response:
        """The logotype the emails show (the board's brand files, nothing else)."""
        config = self.config()
        brand = config.brand
        shown = {Path(f).name for f in (brand.logo, brand.favicon) if f}
        name = request.path_params["name"]
        paths = config.material_paths()
        if name not in shown or name not in paths:
            raise HTTPException(404, "Hittades inte.")
        return pages.image_response(paths[name].parent, paths[name].name)

    # -- the issue list ------------------------------------------------------------------
    def overview(self, request: Request) -> Response:
        config = self.config()
        return self.page(request, "list.html.j2", rows=issue_rows(config),
                         last=editing.latest_slug(config))

    async def create(self, request: Request) -> Response:
        try:
            slug = editing.create_issue(self.config(), date.today())
        except NewsletterError as exc:
            return self.page(request, "list.html.j2", 409, rows=issue_rows(self.config()),
                             last=None, error=exc.message)
        return RedirectResponse(f"/nummer/{slug}", 303)

    # -- an issue ------------------------------------------------------------------------
    def issue_page(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        view = pages.issue_view(self.config(), self.folder(slug), self.state(slug),
                                request.query_params.get("manad"))
        return self.page(request, "issue.html.j2", view=view, saved=request.query_params.get(
            "sparat"))

    async def save_issue(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        form = await request.form()
        folder = self.folder(slug)
        try:
            base = editing.save_meta(self.config(), folder, form)
        except files.Conflict as exc:
            return self._conflict(request, slug, exc, "issue.yaml")
        except NewsletterError as exc:
            return await self._answer(request, slug, f"/nummer/{slug}", error=exc.message)
        return await self._answer(request, slug, f"/nummer/{slug}?sparat=1", base=base,
                            changed=[folder / "issue.yaml"])

    async def reorder(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        form = await request.form()
        folder = self.folder(slug)
        try:
            base = editing.reorder(folder, form)
        except files.Conflict as exc:
            return self._conflict(request, slug, exc, "issue.yaml")
        except NewsletterError as exc:
            return await self._answer(request, slug, f"/nummer/{slug}", error=exc.message)
        return await self._answer(request, slug, f"/nummer/{slug}#avsnitt", base=base,
                            changed=[folder / "issue.yaml"])

    async def add_section(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        form = await request.form()
        folder = self.folder(slug)
        try:
            name = editing.add_section(folder, str(form.get("heading") or ""))
        except NewsletterError as exc:
            return await self._answer(request, slug, f"/nummer/{slug}", error=exc.message)
        self.state(slug).refresh([folder / name, folder / "issue.yaml"])
        return RedirectResponse(f"/nummer/{slug}/avsnitt/{name}", 303)

    def section_page(self, request: Request) -> Response:
        slug, name = request.path_params["slug"], request.path_params["name"]
        folder = self.folder(slug)
        view = pages.section_view(self.config(), folder, editing.section_path(folder, name),
                                    self.state(slug))
        return self.page(request, "section.html.j2", view=view,
                         saved=request.query_params.get("sparat"))

    async def save_section(self, request: Request) -> Response:
        slug, name = request.path_params["slug"], request.path_params["name"]
        folder = self.folder(slug)
        path = editing.section_path(folder, name)
        form = await request.form()
        try:
            base = editing.save_section(path, form, self.config())
        except files.Conflict as exc:
            return self._conflict(request, slug, exc, name, form)
        except NewsletterError as exc:
            return await self._answer(request, slug, f"/nummer/{slug}/avsnitt/{name}",
                                error=exc.message)
        return await self._answer(request, slug, f"/nummer/{slug}/avsnitt/{name}?sparat=1",
                            base=base, changed=[path],
                            body_start=editing.body_start(files.read(path)))

    async def upload(self, request: Request) -> Response:
        slug, name = request.path_params["slug"], request.path_params["name"]
        folder = self.folder(slug)
        path = editing.section_path(folder, name)
        form = await request.form(max_files=1, max_part_size=30 * 1024 * 1024)
        try:
            base, image = await editing.attach_image(folder, path, form)
        except files.Conflict as exc:
            return self._conflict(request, slug, exc, name)
        except NewsletterError as exc:
            return await self._answer(request, slug, f"/nummer/{slug}/avsnitt/{name}",
                                error=exc.message)
        return await self._answer(request, slug, f"/nummer/{slug}/avsnitt/{name}?sparat=1",
                            base=base, changed=[path, folder / image], image=image)

    # -- after a save --------------------------------------------------------------------
    async def _answer(self, request: Request, slug: str, back: str, base: str | None = None,
                changed: list[Path] | None = None, error: str | None = None,
                **extra: object) -> Response:
        """JSON for the page's script (the new digest, check and previews), else a redirect
        (or the error in a page)."""
        state = self.state(slug)
        seen = state.version
        if changed:  # answer once the emails are rendered; check's problems follow
            # the variants on the author's screen first, the others in the next version
            first = [str(name) for name in (await request.form()).getlist("visible")]
            threading.Thread(target=state.refresh, args=(changed, first[:50]),
                             daemon=True).start()
            await run_in_threadpool(_rendered, state, seen)
        if request.headers.get("accept", "").startswith("application/json"):
            body = pages.status_json(state, self.config(), str(seen))
            body.update(base=base, error=error, **extra)
            return JSONResponse(body, 422 if error else 200)
        if error:
            return self.page(request, "message.html.j2", 422, title="Det gick inte att spara",
                             message=error, back=back)
        return RedirectResponse(back, 303)

    def _conflict(self, request: Request, slug: str, exc: files.Conflict, name: str,
                  form: Any = None) -> Response:
        try:
            mine = editing.form_text(exc.path, form, self.config()) if form is not None else ""
        except NewsletterError:
            mine = ""
        if request.headers.get("accept", "").startswith("application/json"):
            return JSONResponse({"conflict": exc.message, "theirs": exc.theirs,
                                 "theirs_base": files.digest(exc.theirs)}, 409)
        return self.page(request, "conflict.html.j2", 409, slug=slug, name=name,
                         message=exc.message, theirs=exc.theirs, mine=mine,
                         theirs_base=files.digest(exc.theirs), form=form)

    # -- check, previews, files ----------------------------------------------------------
    def status(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        state = self.state(slug)
        since = request.query_params.get("since", "")
        if since.isdecimal() and since.isascii():  # wait briefly for a change made elsewhere
            with state.changed:
                if state.version == int(since):
                    state.changed.wait(timeout=10)
        return JSONResponse(pages.status_json(state, self.config(), since))

    def email(self, request: Request) -> Response:
        slug, variant = request.path_params["slug"], request.path_params["variant"]
        document = pages.email_document(self.state(slug), variant, slug)
        if document is None:
            raise HTTPException(404, "Den varianten finns inte längre.")
        from pipeline.preview.server import CSP_EMAIL

        return HTMLResponse(document, headers={"Content-Security-Policy": CSP_EMAIL})

    def issue_file(self, request: Request) -> Response:
        folder = self.folder(request.path_params["slug"])
        return pages.image_response(folder, request.path_params["path"])

    # -- test copies, approval, versions -------------------------------------------------
    async def test_send(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        form = await request.form()
        result = await run_in_threadpool(
            actions.test_send, self.config(), self.folder(slug), form)
        return self._result(request, slug, result)

    async def approve(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        form = await request.form()
        result = await run_in_threadpool(
            actions.approve, self.config(), self.folder(slug), form)
        return self._result(request, slug, result)

    def changes(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        return self.page(request, "changes.html.j2", view=actions.changes_view(
            self.config(), self.folder(slug)))

    async def save_version(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        form = await request.form()
        result = await run_in_threadpool(
            actions.save_version, self.config(), self.folder(slug), form)
        return self._result(request, slug, result, "andringar")

    async def review(self, request: Request) -> Response:
        slug = request.path_params["slug"]
        result = await run_in_threadpool(
            actions.send_for_review, self.config(), slug)
        return self._result(request, slug, result, "andringar")

    def _result(self, request: Request, slug: str, result: actions.Result,
                page: str = "") -> Response:
        back = f"/nummer/{slug}" + (f"/{page}" if page else "")
        return self.page(request, "message.html.j2", 200 if result.ok else 422,
                         title=result.title, message=result.message, lines=result.lines,
                         ok=result.ok, back=back)
