"""Approval: a second person approves the exact rendering, which becomes the edition.

    newsletter approve ISSUE --by "Namn <adress>"

runs the full check (any error refuses), renders the edition once, stores it and records who
approved it and when. ``[approval]`` in newsletter.toml says whether sending needs it
(``required``), who may approve (``approvers``) and whether the approver must differ from the
issue's ``editor`` (``four_eyes``). Editing any source afterwards voids the approval for new
sends: ``edition_for_send`` refuses with the changed files.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.edition import (
    Edition,
    build_edition,
    changed_sources,
    latest_approved,
    problems_of,
    store_edition,
)
from pipeline.errors import NewsletterError
from pipeline.i18n import _
from pipeline.issue import Issue


def void() -> str:
    return _("the approval no longer holds")


class ApprovalError(NewsletterError):
    """The issue cannot be approved, or is not (or no longer) approved."""


def approver(by: str) -> str:
    """``Namn <adress>`` (or a bare address), checked and normalised."""
    name, address = parseaddr(by)
    local, _at, domain = address.rpartition("@")
    if not local or "." not in domain or any(c.isspace() for c in address):
        raise ApprovalError(_("--by %(by)r: write the approver's name and email address, for "
                              'example --by "Anna Berg <anna.berg@lansstyrelsen.se>"') % {
                                  "by": by})
    return f"{name.strip()} <{address.lower()}>" if name.strip() else address.lower()


def approve_issue(store: Any, config: Config, folder: Path, by: str) -> Edition:
    """Check, render and store the edition with its approval; refuse on any check error."""
    who = approver(by)
    address = parseaddr(who)[1]
    allowed = [a.lower() for a in config.approval.approvers]
    if allowed and address not in allowed:
        raise ApprovalError(_("%(address)s may not approve issues: [approval] approvers in "
                              "newsletter.toml names %(allowed)s") % {
                                  "address": address, "allowed": ", ".join(allowed)})
    issue = _clean(folder, config, _("fix them before the issue is approved"))
    if config.approval.four_eyes and address == issue.meta.editor.email.lower():
        raise ApprovalError(_("%(address)s is the issue's editor (editor in issue.yaml); "
                              "another person approves it ([approval] four_eyes)") % {
                                  "address": address})
    return store_edition(store, build_edition(issue, config), approved_by=who)


@dataclass(frozen=True)
class ApprovalState:
    edition: Edition | None      # the latest approved edition, void or not
    changed: list[str]           # its sources that changed since (void when not empty)

    @property
    def valid(self) -> bool:
        return self.edition is not None and not self.changed

    def describe(self) -> str:
        if self.edition is None:
            return _("not approved")
        when = f"{self.edition.approved_at:%Y-%m-%d %H:%M}" if self.edition.approved_at else ""
        if self.changed:
            return _("%(void)s (changed: %(files)s)") % {"void": void(),
                                                         "files": ", ".join(self.changed)}
        return _("approved by %(who)s %(when)s UTC, edition %(edition)s") % {
            "who": self.edition.approved_by, "when": when, "edition": self.edition.short}


def approval_state(store: Any, config: Config, folder: Path) -> ApprovalState:
    edition = latest_approved(store, folder.name)
    if edition is None:
        return ApprovalState(None, [])
    return ApprovalState(edition, changed_sources(edition, folder, config))


def edition_for_send(store: Any, config: Config, folder: Path) -> Edition:
    """The edition a new delivery sends: the valid approved one, or (when approval is not
    required) one made now from a clean check. Refuses with the reason otherwise."""
    state = approval_state(store, config, folder)
    if state.valid:
        assert state.edition is not None
        return state.edition
    if config.approval.required:
        if state.edition is not None:
            raise ApprovalError(_("%(issue)s: %(void)s; these files changed after the issue "
                                  "was approved. Review the changes and approve again with "
                                  "`newsletter approve`") % {"issue": folder.name,
                                                             "void": void()},
                                problems_of(state.changed, folder.name))
        raise ApprovalError(_("%(issue)s is not approved: another person approves it with "
                              "`newsletter approve %(folder)s --by \"Name <address>\"`") % {
                                  "issue": folder.name, "folder": folder})
    issue = _clean(folder, config, _("nothing was sent"))
    return store_edition(store, build_edition(issue, config))


def _clean(folder: Path, config: Config, then: str) -> Issue:
    """The issue, if `newsletter check` finds no error in it; else ApprovalError."""
    from pipeline.lint import check_issue

    result = check_issue(folder, config)
    if result.errors or result.rendered is None:
        raise ApprovalError(_("%(folder)s: `newsletter check` finds %(count)d error(s); "
                              "%(then)s") % {"folder": folder, "count": len(result.errors),
                                             "then": then}, result.errors)
    return result.rendered.issue
