"""A reader's own copy of their data (GDPR art. 15), from the preferences page.

It holds exactly what ``newsletter audience export`` gives the board (``audience.gdpr``), but
in the reader's language: the keys are words, and the register's codes (a subscription's
status, its legal basis, a list, a kind of organisation, a focus area, a delivery's state)
become what they mean. Times stay ISO 8601 in UTC, and it stays JSON, so other programs can
read it too (art. 20). A code the labels do not know is kept as it is, never dropped.
"""

from __future__ import annotations

from typing import Any

from pipeline.audience.models import ALL_SEGMENTS, KIND_LABELS, LegalBasis, Status
from pipeline.config import Config
from pipeline.deliver.models import EntryState
from pipeline.i18n import N_, Gettext

STATUSES = {
    Status.PENDING: N_("waiting for your confirmation"),
    Status.CONFIRMED: N_("receives the newsletter"),
    Status.UNSUBSCRIBED: N_("unsubscribed"),
    Status.BOUNCED: N_("could not be delivered"),
    Status.COMPLAINED: N_("reported as spam"),
    Status.ERASED: N_("erased"),
}
BASES = {
    LegalBasis.CONSENT: N_("your consent (GDPR article 6.1 a)"),
    LegalBasis.PUBLIC_TASK: N_("a task in the public interest (GDPR article 6.1 e)"),
}
STATES = {
    EntryState.PENDING: N_("not sent yet"),
    EntryState.IN_FLIGHT: N_("being sent"),
    EntryState.SENT: N_("sent to you"),
    EntryState.FAILED: N_("could not be sent"),
    EntryState.UNCERTAIN: N_("may have been sent"),
    EntryState.SKIPPED: N_("not sent"),
}


def readable_export(data: dict[str, Any], config: Config, _: Gettext) -> dict[str, Any]:
    """``export_person``'s data with words for keys and codes, in ``_``'s language."""

    def word(labels: dict[Any, str], code: str | None) -> str | None:
        label = labels.get(code)
        return _(label) if label else code

    lists = {s.slug: s.name for s in config.segments} | {ALL_SEGMENTS: _("every audience")}
    areas = {f.slug: f.name for f in config.focus_areas}
    organisation = data["organisation"]
    return {
        _("email address"): data["email"],
        _("name"): data["name"],
        _("language"): data["language"],
        _("added to the register"): data["created_at"],
        _("last changed"): data["updated_at"],
        _("organisation"): None if organisation is None else {
            _("name"): organisation["name"],
            _("organisation number"): organisation["org_number"],
            _("kind of organisation"): word(dict(KIND_LABELS), organisation["kind"]),
            _("joined on"): organisation["joined_on"],
            _("focus areas"): [areas.get(f, f) for f in organisation["focus"]],
        },
        _("subscriptions"): [{
            _("audience"): lists.get(s["segment"], s["segment"]),
            _("status"): word(STATUSES, s["status"]),
            _("legal basis"): word(BASES, s["legal_basis"]),
            _("where we got your address"): s["source"],
            _("privacy notice version"): s["privacy_notice"],
            _("registered"): s["created_at"],
            _("confirmed"): s["confirmed_at"],
            _("status changed"): s["status_changed_at"],
        } for s in data["subscriptions"]],
        _("blocks on sending"): [{
            _("applies to"): lists.get(s["scope"], s["scope"]),
            _("reason"): word(STATUSES, s["reason"]),
            _("since"): s["created_at"],
        } for s in data["suppressions"]],
        _("issues sent to you"): [{
            _("issue"): d["issue"],
            _("version of the issue"): d["variant"],
            _("state"): word(STATES, d["state"]),
            _("last changed"): d["updated_at"],
        } for d in data["deliveries"]],
    }
