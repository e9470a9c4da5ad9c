"""Subscribing (general readers) and joining the strategy (organisations), by double opt-in.

    GET/POST /prenumerera      email, optional name, consent with the privacy-notice version
    GET/POST /anslut           organisation, its number and kind, contact people, at least one
                               focus area, consent (the checks: ``web.joining``)
    GET      /bekrafta/<t>     a page with a button; POST confirms (scanners change nothing)

Both forms answer the same whatever the addresses' state, so the service never tells anyone
who is subscribed; their mail is queued and sent after the answer (``web.mailer``), so the
answer's timing does not tell either. A confirmation request holds no text the requester typed
(the organisation's name could be a phishing line to a stranger's mailbox), and neither it nor
the welcome mail carries List-Unsubscribe headers (there is no reader link to act on). Joining
needs a valid organisation number; a request naming an organisation already in the register
changes nothing and goes to the board (``audience.signup``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pipeline.audience.preferences import profile
from pipeline.audience.signup import (
    Contact,
    confirm_subscription,
    request_membership,
    request_subscription,
)
from pipeline.audience.tokens import Purpose, TokenError, make_token, read_token
from pipeline.deliver.envelopes import links
from pipeline.web.app import Site, TooLarge, one
from pipeline.web.brand import href
from pipeline.web.guards import same
from pipeline.web.joining import Errors, Joining, check_joining, kind_choices, read_joining
from pipeline.web.letters import board_letter, confirm_letter, welcome_letter


def routes(site: Site) -> list[Route]:
    config = site.config
    connected = {s.slug for s in config.segments if s.focus}  # joining, not subscribing

    def limited(request: Request, addresses: list[str]) -> bool:
        client = site.client(request)
        return not (site.limits.allow("client", client) and
                    all(site.limits.allow("address", a) for a in addresses))

    def busy(request: Request) -> Response:
        _ = site.gettext(request)
        return site.page(request, _("Please wait a while"), [
            _("We have received too many requests in a short time. Try again in an hour.")],
            429)

    def ask_to_confirm(request: Request, subscriber: int, address: str, scope: str,
                       joining: bool = False) -> None:
        language = site.language(request)
        token = make_token(site.secret, Purpose.CONFIRM, subscriber, scope)
        site.mailer.send([address], confirm_letter(
            config, site.translations[language], language,
            f"{config.web_url}/bekrafta/{token}", joining))

    def tell_the_board(existing: str, typed: str, number: str, contacts: list[Contact]
                       ) -> None:
        """A request to join an organisation already in the register: for the board."""
        language = site.default_language
        board = config.reply_to or config.sender
        site.mailer.send([board.email], board_letter(
            config, site.translations[language], language, existing, typed, number, contacts))

    def welcome(request: Request, subscriber: int) -> None:
        person = profile(site.store, subscriber)
        if person is None or person.organisation is None:
            return
        language = site.language(request)
        _unsubscribe, preferences = links(config, site.secret, subscriber)
        site.mailer.send([person.email], welcome_letter(
            config, site.translations[language], language, person, preferences))

    # -- subscribe ------------------------------------------------------------------------

    def subscribe_form(request: Request, values: dict[str, str], errors: Errors,
                       status: int = 200) -> Response:
        return site.render(request, "service/subscribe.html.j2", status, values=values,
                           errors=errors, csrf=site.form_token("subscribe"),
                           privacy_notice=config.audience.privacy_notice)

    async def subscribe_page(request: Request) -> Response:
        return subscribe_form(request, {"email": "", "name": "", "consent": ""}, {})

    async def subscribe_post(request: Request) -> Response:
        _ = site.gettext(request)
        form = await site.checked_form(request, "subscribe")
        if isinstance(form, Response):
            return form
        errors: Errors = {}
        values = {"email": one(form, "email", 254),
                  "name": site.text(request, form, "name", errors),
                  "consent": one(form, "consent")}
        address = site.email(request, values["email"], errors, "email")
        if values["consent"] != "ja":
            errors["consent"] = _("Tick the box if you want to receive the newsletter.")
        if errors or address is None:
            return subscribe_form(request, values, errors, 400)
        if limited(request, [address]):
            return busy(request)
        segment = next(s.slug for s in config.segments if not s.focus)
        subscriber = request_subscription(site.store, address, values["name"] or None,
                                          segment, f"{config.web_url}/prenumerera",
                                          config.audience.privacy_notice)
        if subscriber is not None:
            ask_to_confirm(request, subscriber, address, segment)
        return site.page(request, _("Confirm your subscription"), [
            _("Unless you already subscribe, we are sending an email with a link to "
              "%(address)s. Open the link to confirm your subscription. The link is valid for "
              "seven days.") % {"address": address},
            _("No email? Look in your junk mail folder.")], links=site.onward(request))

    # -- join -----------------------------------------------------------------------------

    def join_form(request: Request, values: Joining, errors: Errors,
                  status: int = 200) -> Response:
        _ = site.gettext(request)
        return site.render(request, "service/join.html.j2", status, values=values,
                           errors=errors, csrf=site.form_token("join"),
                           focus_choices=site.focus_choices(), kind_choices=kind_choices(_),
                           welcome_package=config.web.package,
                           material_url=href,
                           privacy_notice=config.audience.privacy_notice)

    async def join_page(request: Request) -> Response:
        return join_form(request, read_joining(site, {}), {})

    async def join_post(request: Request) -> Response:
        _ = site.gettext(request)
        form = await site.checked_form(request, "join")
        if isinstance(form, Response):
            return form
        values, errors, asked = check_joining(site, request, form)
        if asked is None:
            return join_form(request, values, errors, 400)
        contacts = asked.contacts
        if limited(request, [c.email for c in contacts]):
            return busy(request)
        segment = next(s.slug for s in config.segments if s.focus)
        joined = request_membership(site.store, asked.organisation, asked.org_number, contacts,
                                    asked.focus, segment, f"{config.web_url}/anslut",
                                    config.audience.privacy_notice, asked.kind)
        if joined.existing is not None:
            tell_the_board(joined.existing, asked.organisation, asked.org_number, contacts)
        for subscriber, address in joined.asked:
            ask_to_confirm(request, subscriber, address,
                           f"{segment}:{joined.organisation_id}", joining=True)
        return site.page(request, _("Confirm the joining by email"), [
            _("Each contact person gets an email with a link. The organisation has joined when "
              "one of them has opened the link and confirmed. The link is valid for seven "
              "days."),
            _("If the organisation is already in our register, we send no links. We contact "
              "you instead.")], links=site.onward(request))

    # -- confirm --------------------------------------------------------------------------

    async def confirm_page(request: Request) -> Response:
        _ = site.gettext(request)
        token = request.path_params["token"]
        try:
            claims = read_token(site.secret, token, Purpose.CONFIRM)
        except TokenError:
            return site.broken(request)
        joining = claims.scope.partition(":")[0] in connected
        return site.page(request, _("Confirm"), [
            _("Press the button to confirm that you are a contact person for the organisation "
              "and want to receive %(name)s.") % {"name": config.name} if joining else
            _("Press the button to start receiving %(name)s.") % {"name": config.name}],
            form={"action": f"/bekrafta/{token}", "csrf": site.sign(token),
                  "choices": [{"value": "ja", "label": _("Confirm")}]})

    async def confirm_post(request: Request) -> Response:
        _ = site.gettext(request)
        token = request.path_params["token"]
        try:
            claims = read_token(site.secret, token, Purpose.CONFIRM)
            form = await site.read_form(request)
        except TokenError:
            return site.broken(request)
        except TooLarge:
            return site.too_large(request)
        if not same(one(form, "csrf"), site.sign(token)):
            return site.expired_form(request)
        segment, _colon, organisation = claims.scope.partition(":")  # joining: segment:org id
        outcome = confirm_subscription(site.store, claims.subscriber_id, segment,
                                       int(organisation) if organisation.isdecimal() else None)
        if outcome is None:
            return site.broken(request)
        joined = segment in connected
        if outcome == "new" and joined:
            welcome(request, claims.subscriber_id)
        person = profile(site.store, claims.subscriber_id) if joined else None
        if person is None or person.organisation is None:
            return site.page(request, _("Thank you!"), [
                _("You now receive %(name)s. The next issue will come to your inbox.") % {
                    "name": config.name}], links=site.onward(request))
        text = [_("%(organisation)s has now joined the regional strategy for gender "
                  "mainstreaming.") % {"organisation": person.organisation},
                _("As a contact person you will receive %(name)s four times a year.") % {
                    "name": config.name}]
        if outcome == "new":
            text.append(_("An email with the welcome package is on its way to you."))
        return site.page(request, _("Thank you!"), text, links=site.onward(request))

    return [
        Route("/prenumerera", subscribe_page, methods=["GET"]),
        Route("/prenumerera", subscribe_post, methods=["POST"]),
        Route("/anslut", join_page, methods=["GET"]),
        Route("/anslut", join_post, methods=["POST"]),
        Route("/bekrafta/{token}", confirm_page, methods=["GET"]),
        Route("/bekrafta/{token}", confirm_post, methods=["POST"]),
    ]

