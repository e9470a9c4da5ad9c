"""What the studio's pages show: an issue's form and sections, a section's editor, the live
check and the previews (each variant's inbox row and email, from the preview's render)."""

from __future__ import annotations

import calendar
import contextlib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import Response

from pipeline.audience.store import Store
from pipeline.config import Config
from pipeline.preview.page import PHONE_PREHEADER_CHARS, PHONE_SUBJECT_CHARS, cut
from pipeline.preview.state import PreviewState
from pipeline.render.personalise import SAMPLE_READER, personalise
from pipeline.render.variants import VariantKey
from pipeline.studio import editing, files

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp"}  # never SVG: it can hold script
WEEKDAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
MONTHS = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
          "september", "oktober", "november", "december")


def swedish_date(day: date) -> str:
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"


def variants(state: PreviewState, config: Config) -> list[dict[str, str]]:
    from pipeline.i18n import _

    snapshot = state.snapshot
    if snapshot.rendered is None:
        return []
    shown = []
    for key, email in snapshot.rendered.variants.items():
        shown.append({"name": key.name, "label": snapshot.labels.get(key.name, key.name),
                      "subject": cut(email.subject, PHONE_SUBJECT_CHARS),
                      "preheader": cut(email.preheader, PHONE_PREHEADER_CHARS),
                      "sender": config.sender.name})
        label = shown[-1]["label"]
        shown[-1]["title_desktop"] = _("%(variant)s at desktop width") % {"variant": label}
        shown[-1]["title_phone"] = _("%(variant)s at phone width") % {"variant": label}
    return shown


_STORES: dict[str, Store] = {}


def _store(config: Config) -> Store:
    """One register connection for the studio's life (opening one runs the migrations)."""
    from pipeline.audience.store import database_url

    url = database_url(config)
    if url not in _STORES:
        _STORES[url] = Store.open(config)
    return _STORES[url]


def status_json(state: PreviewState, config: Config, since: str = "") -> dict[str, Any]:
    """The page's live part: version, problems by file and line, which frames to reload."""
    from pipeline.approval import approval_state

    changed = state.changed_since(int(since)) if since.isdecimal() and since.isascii() \
        else None
    snapshot = state.snapshot
    store = _store(config)  # voided the moment a file changes: said at once, by the previews
    approval = approval_state(store, config, state.issue).describe()
    return {
        "approval": approval,
        "version": snapshot.version, "failed": snapshot.rendered is None,
        "changed": sorted(changed) if changed is not None else snapshot.names,
        "variants": variants(state, config),
        "problems": [{"file": Path(p.path).name, "line": p.line, "key": p.key,
                      "message": p.message, "text": str(p),
                      "severity": "error" if p.severity.name == "ERROR" else "warning"}
                     for p in snapshot.problems],
    }


def email_document(state: PreviewState, variant: str, slug: str) -> str | None:
    """A variant's email as the sample reader gets it, with the issue's images from here."""
    snapshot = state.snapshot
    key = VariantKey.parse(variant)
    if snapshot.rendered is None or snapshot.config is None or \
            key not in snapshot.rendered.variants:
        return None
    email = personalise(snapshot.rendered.variants[key].html, SAMPLE_READER, is_html=True)
    base = snapshot.rendered.issue.archive_url(snapshot.config)
    return email.replace(base, f"/nummer/{slug}/filer/").replace(
        snapshot.config.material_url(""), "/material/")


def image_response(folder: Path, relative: str) -> Response:
    target = (folder / relative).resolve()
    if folder.resolve() not in target.parents or not target.is_file() or \
            target.suffix.lower() not in IMAGE_TYPES:
        raise HTTPException(404, "Hittades inte.")
    # the previews are redrawn after every save: their images may come from the cache
    return Response(target.read_bytes(), media_type=IMAGE_TYPES[target.suffix.lower()],
                    headers={"Cache-Control": "private, max-age=30"})


def month(config: Config, chosen: date, shown: str | None = None) -> dict[str, Any]:
    """A month as a calendar: weekends, Swedish holidays, the chosen day. ``shown`` (YYYY-MM,
    from the page's month links) picks the month; by default the chosen day's."""
    from pipeline.sendtime import non_working_days

    first = chosen.replace(day=1)
    with contextlib.suppress(ValueError):
        asked = datetime.strptime(shown or "", "%Y-%m").date()
        if 1900 < asked.year < 9999:  # a hand-typed address: its neighbours must exist
            first = asked
    free = non_working_days(first.year) | non_working_days(first.year - 1) | \
        non_working_days(first.year + 1)  # check's days off, in Swedish; the weeks overlap
    weeks = []
    for week in calendar.Calendar().monthdatescalendar(first.year, first.month):
        weeks.append([{
            "date": day.isoformat(), "day": day.day, "in_month": day.month == first.month,
            "weekend": day.weekday() >= 5, "holiday": free.get(day),
            "chosen": day == chosen, "label": swedish_date(day)} for day in week])
    before = (first - timedelta(days=1)).replace(day=1)
    after = (first + timedelta(days=31)).replace(day=1)
    return {"title": f"{MONTHS[first.month - 1]} {first.year}", "weeks": weeks,
            "window": f"{config.schedule.window_start}–{config.schedule.window_end}",
            "before": {"param": f"{before:%Y-%m}", "name": f"{MONTHS[before.month - 1]} "
                       f"{before.year}"},
            "after": {"param": f"{after:%Y-%m}", "name": f"{MONTHS[after.month - 1]} "
                      f"{after.year}"}}


def issue_view(config: Config, folder: Path, state: PreviewState, shown: str | None = None
               ) -> dict[str, Any]:
    from pipeline.studio.overview import issue_state

    loaded = files.load(folder / "issue.yaml")
    meta, _comment = files.split_meta(loaded.text)
    send_at = str(meta.get("send_at") or "")
    day, _sep, clock = send_at.partition(" ")
    try:
        chosen = datetime.strptime(day, "%Y-%m-%d").date()
    except ValueError:
        chosen = date.today()
    editor = meta.get("editor") if isinstance(meta.get("editor"), dict) else {}
    sections = []
    for name in [str(n) for n in meta.get("sections") or []]:
        try:
            front, _body = files.split_section(files.read(folder / name), name)
        except files.Unreadable:
            front = {}  # its page says what to fix
        sections.append({"name": name, "heading": str(front.get("heading") or name),
                         "exists": (folder / name).is_file(),
                         "problems": editing.errors([p for p in state.problems
                                                     if Path(p.path).name == name])})
    return {
        "slug": folder.name, "meta": meta, "base": loaded.base, "day": day, "clock": clock,
        "editor": editor, "sections": sections, "month": month(config, chosen, shown),
        "problems": editing.problems_of(state, folder / "issue.yaml"),
        "all_problems": list(state.problems), "variants": variants(state, config),
        "version": state.version, "state": issue_state(config, folder),
        "approval": status_json(state, config)["approval"],
        "phone_subject": PHONE_SUBJECT_CHARS, "phone_preheader": PHONE_PREHEADER_CHARS,
        "editors": ", ".join(config.schedule.editors) or (editor or {}).get("email", ""),
    }


def section_view(config: Config, folder: Path, path: Path, state: PreviewState
                 ) -> dict[str, Any]:
    loaded = files.load(path)
    front, body = files.split_section(loaded.text, path.name)
    image = front.get("image") if isinstance(front.get("image"), dict) else {}
    cta = front.get("cta") if isinstance(front.get("cta"), dict) else {}
    focus: list[Any] = front["focus"] if isinstance(front.get("focus"), list) else []
    return {
        "slug": folder.name, "name": path.name, "front": front, "body": body,
        "base": loaded.base, "body_from": editing.body_start(loaded.text), "image": image,
        "cta": cta, "focus": [str(f) for f in focus or []],
        "areas": config.focus_areas, "segments": config.segments,
        "problems": editing.problems_of(state, path, editing.body_start(loaded.text)),
        "variants": variants(state, config), "version": state.version,
    }
