"""What the web service mails: confirmation requests, the welcome mail and the board's notice,
as ``Letter``s (laid out by ``pipeline.render.letters``) in the reader's language.

A confirmation request holds no text the requester typed: the organisation's or a person's
name could be a phishing line to a stranger's mailbox. The welcome mail, sent once a contact
person has confirmed, repeats what the organisation chose and links to the preferences page.
"""

from __future__ import annotations

from babel.support import NullTranslations

from pipeline.audience.preferences import Profile
from pipeline.audience.signup import Contact
from pipeline.config import Config
from pipeline.deliver.notify import privacy_links
from pipeline.i18n import Gettext
from pipeline.render.letters import Letter, Link, service_material_url
from pipeline.render.personalise import address_as


def hello(config: Config, _: Gettext, name: str | None) -> str:
    first = address_as(name, config.audience.greeting)
    return _("Hello %(name)s!") % {"name": first} if first else _("Hello!")


def confirm_letter(config: Config, t: NullTranslations, language: str, link: str,
                   joining: bool) -> Letter:
    _ = t.gettext
    if joining:
        subject = _("Confirm that you are a contact person for %(name)s") % {
            "name": config.name}
        title = _("Confirm that you are a contact person")
        asked = _("Someone gave your address as a contact person for an organisation that "
                  "wants to join the regional strategy for gender mainstreaming.")
        button = _("Confirm that I am a contact person")
    else:
        subject = _("Confirm your subscription to %(name)s") % {"name": config.name}
        title = _("Confirm your subscription")
        asked = _("Someone, probably you, asked to receive %(name)s.") % {"name": config.name}
        button = _("Confirm my subscription")
    return Letter(
        subject, title,
        (asked, Link(button, link),
         _("The link is valid for seven days. If you did not ask for this, you need not do "
           "anything: without a confirmation we send nothing more and delete the address.")),
        _("You receive this message because your address was given on %(site)s.") % {
            "site": config.web_url.split("://", 1)[1]},
        language=language, greeting=_("Hello!"), footer_links=privacy_links(config, _))


def welcome_letter(config: Config, t: NullTranslations, language: str, person: Profile,
                   preferences_url: str) -> Letter:
    _ = t.gettext
    organisation = person.organisation or ""
    areas = [config.focus_area(slug).name for slug in person.focus
             if slug in {f.slug for f in config.focus_areas}]
    package = tuple(Link(item.text, service_material_url(config, item.download)
                         if item.download else "") for item in config.web.package)
    chosen = t.ngettext(
        "%(organisation)s has chosen to focus on this area:",
        "%(organisation)s has chosen to focus on these areas:", len(areas)) % {
            "organisation": organisation}
    return Letter(
        _("Welcome to %(name)s") % {"name": config.name},
        _("Welcome to %(name)s") % {"name": config.name},
        (_("%(organisation)s has joined the regional strategy for gender mainstreaming and is "
           "now part of %(name)s.") % {"organisation": organisation, "name": config.name},
         *((chosen, tuple(Link(area) for area in areas)) if areas else ()),
         *((_("The welcome package holds:"), package) if package else ()),
         _("You will receive the newsletter four times a year. On the preferences page you can "
           "change the focus areas, your name and what you receive, now and at any time."),
         Link(_("Open your preferences"), preferences_url)),
        _("You receive this message because you confirmed that you are a contact person for "
          "%(organisation)s.") % {"organisation": organisation},
        language=language, greeting=hello(config, _, person.name),
        footer_links=privacy_links(config, _))


def board_letter(config: Config, t: NullTranslations, language: str, existing: str,
                 typed: str, number: str, contacts: list[Contact]) -> Letter:
    """A request to join an organisation already in the register: for the board to check."""
    _ = t.gettext
    subject = _("A request to add contact people to %(organisation)s") % {
        "organisation": existing}
    return Letter(
        subject, subject,
        (_("The join form was filled in for %(organisation)s (organisation number or name "
           "already in the register). Nothing was changed and no one was mailed. Check with "
           "the organisation before adding anyone with newsletter audience import.") % {
            "organisation": existing},
         _("Organisation as typed: %(typed)s, number %(number)s") % {
             "typed": typed, "number": number},
         _("Contact people asked for:"),
         tuple(Link(f"{c.email} ({c.name or '-'})") for c in contacts)),
        _("You receive this message because your address is the newsletter's reply address."),
        language=language, footer_links=privacy_links(config, _))
