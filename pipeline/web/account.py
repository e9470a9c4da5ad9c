"""A reader's own pages, reached by the signed links in every issue.

    POST /avregistrera/<t>    body List-Unsubscribe=One-Click, urlencoded or multipart, a
                              trailing CRLF allowed: unsubscribe at once, no cookies or CSRF
                              (RFC 8058; mail providers send exactly this)
    GET  /avregistrera/<t>    a page with buttons: one list, or everything. A GET never
                              changes anything, so link scanners cannot unsubscribe anyone
    POST /avregistrera/<t>    the page's form (CSRF token bound to the link); its scope must be
                              one the page offers, else 400 and nothing is written
    GET  /installningar/<t>   name, lists, an organisation's details (shown) and focus areas;
                              POST saves (only a confirmed contact person changes the focus
                              areas)
    POST /installningar/<t>/export    my data as JSON (GDPR art. 15), in words (``web.mydata``)
    POST /installningar/<t>/radera    erase me: a confirmation page, then erasure (art. 17)
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pipeline.audience.gdpr import erase_person, export_person, unsubscribe
from pipeline.audience.models import ALL_SEGMENTS, KIND_LABELS, OrganisationKind, Status
from pipeline.audience.preferences import Profile, profile, update_preferences
from pipeline.audience.tokens import Claims, Purpose, TokenError, read_token
from pipeline.web.app import Form, Site, TooLarge, one, one_click
from pipeline.web.guards import same
from pipeline.web.mydata import readable_export

ACTIVE = (Status.PENDING, Status.CONFIRMED)


def routes(site: Site) -> list[Route]:
    config = site.config

    def segment_label(request: Request, slug: str, person: Profile | None) -> str:
        _ = site.gettext(request)
        if config.segment(slug).focus:
            return _("As a contact person for %(organisation)s") % {
                "organisation": person.organisation if person and person.organisation
                else _("a connected organisation")}
        return _("As a subscriber")

    async def claims_and_form(request: Request, purpose: Purpose
                              ) -> tuple[Claims, Form] | Response:
        token = request.path_params["token"]
        try:
            claims = read_token(site.secret, token, purpose)
            form = await site.read_form(request)
        except TokenError:
            return site.broken(request)
        except TooLarge:
            return site.too_large(request)
        if not (purpose is Purpose.UNSUBSCRIBE and one_click(form)) and \
                not same(one(form, "csrf"), site.sign(token)):
            return site.expired_form(request)
        return claims, form

    # -- unsubscribe ----------------------------------------------------------------------

    async def unsubscribe_page(request: Request) -> Response:
        _ = site.gettext(request)
        token = request.path_params["token"]
        try:
            claims = read_token(site.secret, token, Purpose.UNSUBSCRIBE)
        except TokenError:
            return site.broken(request)
        person = profile(site.store, claims.subscriber_id)
        active = [s for s, status in (person.segments if person else {}).items()
                  if status in ACTIVE and claims.scope in (ALL_SEGMENTS, s)]
        labels = {s: segment_label(request, s, person) for s in active}
        choices = [{"value": s, "label": _("Unsubscribe me %(list)s") % {
            "list": label[:1].lower() + label[1:]}} for s, label in labels.items()] \
            if len(active) > 1 else []
        choices.append({"value": ALL_SEGMENTS if claims.scope == ALL_SEGMENTS else claims.scope,
                        "label": _("Unsubscribe me from the newsletter")})
        return site.page(request, _("Unsubscribe"), [
            _("Do you want to stop receiving %(name)s? Choose below. Nothing changes until "
              "you press a button.") % {"name": config.name}],
            form={"action": f"/avregistrera/{token}", "csrf": site.sign(token),
                  "choices": choices})

    async def unsubscribe_post(request: Request) -> Response:
        _ = site.gettext(request)
        found = await claims_and_form(request, Purpose.UNSUBSCRIBE)
        if isinstance(found, Response):
            return found
        claims, form = found
        clicked = one_click(form)
        scope = claims.scope if clicked else (one(form, "scope", 40) or claims.scope)
        if scope not in {ALL_SEGMENTS, *(s.slug for s in config.segments)}:
            return site.page(request, _("Unsubscribe"), [
                _("We did not understand what to unsubscribe you from. Go back and press one "
                  "of the buttons.")], 400)
        if claims.scope not in (ALL_SEGMENTS, scope):
            return site.broken(request)
        unsubscribe(site.store, claims.subscriber_id, scope)
        if clicked:
            return PlainTextResponse(_("Unsubscribed."))
        return site.page(request, _("You are unsubscribed"), [
            _("You will not receive more issues of %(name)s. If you change your mind, you can "
              "choose the newsletter again with the link to your preferences at the bottom of "
              "an issue you have received.") % {"name": config.name}],
            links=site.onward(request))

    # -- preferences ----------------------------------------------------------------------

    def offered(person: Profile) -> list[str]:
        return [s.slug for s in config.segments
                if not s.focus or s.slug in person.segments]

    def preferences_form(request: Request, person: Profile, notes: list[str],
                         errors: dict[str, str], status: int = 200) -> Response:
        token = request.path_params["token"]
        lists = [{"slug": s, "label": segment_label(request, s, person),
                  "on": person.segments.get(s) == Status.CONFIRMED} for s in offered(person)]
        _ = site.gettext(request)
        kind = next((k for k in OrganisationKind if k.value == person.kind), None)
        return site.render(request, "service/preferences.html.j2", status, person=person,
                           lists=lists, focus_choices=site.focus_choices(), notes=notes,
                           kind=_(KIND_LABELS[kind]) if kind else None,
                           errors=errors, token=token, csrf=site.sign(token))

    def gone(request: Request) -> Response:
        _ = site.gettext(request)
        return site.page(request, _("No data about you"), [
            _("We hold no data about you any longer. You will not receive the newsletter.")])

    async def preferences_page(request: Request) -> Response:
        try:
            claims = read_token(site.secret, request.path_params["token"], Purpose.PREFERENCES)
        except TokenError:
            return site.broken(request)
        person = profile(site.store, claims.subscriber_id)
        return preferences_form(request, person, [], {}) if person else gone(request)

    async def reader_and_form(request: Request) -> tuple[Claims, Form, Profile] | Response:
        """For the preferences forms: the link's reader (still held) and the checked form."""
        found = await claims_and_form(request, Purpose.PREFERENCES)
        if isinstance(found, Response):
            return found
        person = profile(site.store, found[0].subscriber_id)
        return (*found, person) if person else gone(request)

    async def preferences_post(request: Request) -> Response:
        _ = site.gettext(request)
        found = await reader_and_form(request)
        if isinstance(found, Response):
            return found
        claims, form, person = found
        wanted = set(form.get("list", [])) & set(offered(person))
        known = {f.slug for f in config.focus_areas}
        focus = [f for f in form.get("focus", []) if f in known]
        errors: dict[str, str] = {}
        name = site.text(request, form, "name", errors)
        if person.organisation and not focus:
            errors[f"focus-{config.focus_areas[0].slug}"] = _(
                "Choose at least one area the organisation will focus on.")
        if errors:
            return preferences_form(request, person, [], errors, 400)
        contact = any(person.segments.get(s.slug) == Status.CONFIRMED
                      for s in config.segments if s.focus)
        blocked = update_preferences(
            site.store, claims.subscriber_id, name, offered(person), wanted,
            focus if person.organisation and contact else None,
            f"{config.web_url}/installningar", config.audience.privacy_notice)
        notes = [_("Your changes are saved.")] + [
            _("%(list)s: we cannot send the newsletter to your address, because earlier issues "
              "did not arrive or were reported as spam. Contact us: %(contact)s.") % {
                "list": segment_label(request, s, person), "contact": config.contact_line}
            for s in blocked]
        updated = profile(site.store, claims.subscriber_id)
        return preferences_form(request, updated, notes, {}) if updated else gone(request)

    async def export(request: Request) -> Response:
        found = await reader_and_form(request)
        if isinstance(found, Response):
            return found
        person = found[2]
        data = json.dumps(readable_export(export_person(site.store, person.email), config,
                                          site.gettext(request)), ensure_ascii=False, indent=2)
        return Response(data, media_type="application/json", headers={
            "Content-Disposition": 'attachment; filename="mina-uppgifter.json"'})

    async def erase(request: Request) -> Response:
        _ = site.gettext(request)
        found = await reader_and_form(request)
        if isinstance(found, Response):
            return found
        _claims, form, person = found
        token = request.path_params["token"]
        if one(form, "scope") != "ja":
            return site.page(request, _("Erase your data?"), [
                _("We will delete your email address, your name and your subscriptions. All "
                  "we keep is a code worked out from the address. The code cannot be turned "
                  "back into the address, but it stops us from sending you anything again. You "
                  "cannot undo the erasure.")],
                form={"action": f"/installningar/{token}/radera", "csrf": site.sign(token),
                      "choices": [{"value": "ja", "label": _("Yes, erase my data")}]})
        erase_person(site.store, person.email)
        return site.page(request, _("Your data is erased"), [
            _("We have deleted your data. You will no longer receive the newsletter.")],
            links=site.onward(request))

    return [
        Route("/avregistrera/{token}", unsubscribe_page, methods=["GET"]),
        Route("/avregistrera/{token}", unsubscribe_post, methods=["POST"]),
        Route("/installningar/{token}", preferences_page, methods=["GET"]),
        Route("/installningar/{token}", preferences_post, methods=["POST"]),
        Route("/installningar/{token}/export", export, methods=["POST"]),
        Route("/installningar/{token}/radera", erase, methods=["POST"]),
    ]
