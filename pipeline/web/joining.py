"""The join form (``/anslut``): what it holds, the choices it offers, and the checks an answer
passes before anything is stored or mailed.

Each problem is an error on the field to fix, the id the error summary links to, in the
form's order:

    organisation      a name, on one line
    org_number        ten digits NNNNNN-NNNN (the dash optional), and the last one the Luhn
                      check digit of the other nine, as ``newsletter audience import`` checks
                      it; a missing digit and a wrong one are told apart
    kind-<first>      one kind of organisation (``OrganisationKind``), a radio group
    contact-N-name    on one line
    contact-N-email   an address for the first contact person, and for any other one given
                      a name; an address already given above (in any case) is an error on
                      the later field, never silently dropped
    focus-<first>     at least one focus area; each box is described by its goal
    consent           ticked
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from pipeline.audience.models import KIND_LABELS, OrganisationKind
from pipeline.audience.organisation import luhn_ok, org_number_digits
from pipeline.audience.rows import email_key
from pipeline.audience.signup import Contact
from pipeline.i18n import Gettext
from pipeline.web.app import Choice, Form, Site, one

Errors = dict[str, str]  # the id of the field to fix → what to do


@dataclass
class Joining:
    """What the join form holds, kept when it comes back with errors."""

    organisation: str = ""
    org_number: str = ""
    kind: str = ""
    contacts: list[dict[str, str]] = field(default_factory=list)
    focus: list[str] = field(default_factory=list)
    consent: str = ""


@dataclass(frozen=True)
class JoinRequest:
    """A join request that passed every check."""

    organisation: str
    org_number: str
    kind: OrganisationKind
    contacts: list[Contact]
    focus: list[str]


def kind_choices(_: Gettext) -> list[Choice]:
    return [Choice(kind.value, _(KIND_LABELS[kind])) for kind in OrganisationKind]


def read_joining(site: Site, form: Form) -> Joining:
    wanted = {f.slug for f in site.config.focus_areas}
    return Joining(
        one(form, "organisation"), one(form, "org_number", 20), one(form, "kind", 20),
        [{"email": one(form, f"contact-{n}-email", 254), "name": one(form, f"contact-{n}-name")}
         for n in range(1, site.config.web.max_contacts + 1)],
        [f for f in dict.fromkeys(form.get("focus", [])) if f in wanted],
        one(form, "consent"))


def check_joining(site: Site, request: Request, form: Form
                  ) -> tuple[Joining, Errors, JoinRequest | None]:
    """The form's values (to show again), its errors, and the request if there are none."""
    _ = site.gettext(request)
    values = read_joining(site, form)
    errors: Errors = {}
    organisation = values.organisation = " ".join(values.organisation.split())
    site.text(request, form, "organisation", errors)
    if not organisation:
        errors["organisation"] = _("Enter the organisation's name.")
    number = _org_number(values.org_number, errors, _)
    kinds = list(OrganisationKind)
    kind = next((k for k in kinds if k.value == values.kind), None)
    if kind is None:
        errors[f"kind-{kinds[0].value}"] = _("Choose what kind of organisation you are.")
    contacts = _contacts(site, request, form, values, errors, _)
    if not values.focus:
        errors[f"focus-{site.config.focus_areas[0].slug}"] = _(
            "Choose at least one area the organisation will focus on.")
    if values.consent != "ja":
        errors["consent"] = _("Tick the box to join and receive the newsletter.")
    if errors or number is None or kind is None:
        return values, errors, None
    return values, errors, JoinRequest(organisation, number, kind, contacts, values.focus)


def _org_number(value: str, errors: Errors, _: Gettext) -> str | None:
    digits = org_number_digits(value)
    if digits is None:
        errors["org_number"] = _("Enter the organisation number as ten digits, like "
                                 "212000-2080.")
    elif not luhn_ok(digits):
        errors["org_number"] = _("Check the organisation number: its last digit does not "
                                 "match the others.")
    else:
        return f"{digits[:6]}-{digits[6:]}"
    return None


def _contacts(site: Site, request: Request, form: Form, values: Joining, errors: Errors,
              _: Gettext) -> list[Contact]:
    contacts: list[Contact] = []
    for n, row in enumerate(values.contacts, start=1):
        site.text(request, form, f"contact-{n}-name", errors)
        key = f"contact-{n}-email"
        if not row["email"] and row["name"] and n > 1:
            errors[key] = _("Enter an email address for this contact person, or remove the "
                            "name.")
        if not (row["email"] or n == 1):
            continue
        address = site.email(request, row["email"], errors, key)
        if address is None:
            continue
        if email_key(address) in {email_key(c.email) for c in contacts}:
            errors[key] = _("You have already given this address for another contact person. "
                            "Give a different address, or leave the field empty.")
            continue
        contacts.append(Contact(address, row["name"] or None))
    return contacts
