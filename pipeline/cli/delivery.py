"""``newsletter send``, ``status``, ``resend``, ``skip``, ``pause``, ``resume``, ``cancel``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.cli import main
from pipeline.cli.common import config_option, issue_argument, load, open_store
from pipeline.i18n import _

if TYPE_CHECKING:
    from collections.abc import Callable

    from pipeline.deliver.engine import Progress
    from pipeline.deliver.lifecycle import DeliveryReport

transport_option = click.option(
    "--transport", type=click.Choice(["outbox", "smtp", "sendgrid"]), default=None,
    help="A new delivery: instead of [delivery] transport. A started one keeps its own "
         "unless --switch-transport is given too.")
switch_option = click.option(
    "--switch-transport", is_flag=True,
    help="Let a started delivery go on with --transport (recorded on the delivery).")
wait_option = click.option(
    "--wait", is_flag=True,
    help="If another process is sending this delivery, wait for it instead of exiting 3.")


def _run(issue: Path, config_file: Path | None, transport_name: str | None, *,
         new_delivery: bool = False, new_subscribers: bool = False, fence: bool = True,
         resume_only: bool = False, switch_transport: bool = False, wait: bool = False,
         workers: int = 1) -> None:
    from pipeline.audience.tokens import secret_from_env
    from pipeline.deliver import deliveries
    from pipeline.deliver.run import SendOptions, send_issue
    from pipeline.deliver.transports import open_transport

    config = load(config_file)
    secret = secret_from_env()
    store = open_store(config)
    options = SendOptions(transport_name, switch_transport, new_delivery, new_subscribers,
                          resume_only, wait, workers, fence)
    try:
        report = _with_progress(lambda progress: send_issue(
            store, config, Path(issue), secret,
            lambda name, _edition: open_transport(name, config, fence),
            options, click.echo, progress))
    except deliveries.AlreadyDelivered as exc:
        click.echo(_("Nothing to send: %(why)s.") % {"why": exc.message})
        return
    _print_report(Path(issue).name, report)
    if report.state.value == "paused":
        raise SystemExit(1)


def _with_progress(run: Callable[[Progress | None], DeliveryReport]) -> DeliveryReport:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    console = Console(stderr=True)
    if not console.is_terminal:
        return run(None)
    with Bar("[progress.description]{task.description}", BarColumn(),
             MofNCompleteColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task(_("Sending"), total=None)
        return run(lambda done, total: bar.update(task, completed=done, total=total))


def _print_report(slug: str, report: DeliveryReport) -> None:
    from pipeline.deliver.models import state_word

    counts = ", ".join(f"{n} {state_word(state)}" for state, n in report.counts.items() if n)
    click.echo(_("%(issue)s: delivery %(delivery)d is %(state)s (%(counts)s); %(now)d sent "
                 "now.") % {"issue": slug, "delivery": report.delivery_id,
                            "state": state_word(report.state), "now": report.sent_now,
                            "counts": counts or _("no recipients")})
    for note in report.notes:
        click.echo(f"  {note}")
    if report.reason:
        click.echo(_("Paused: %(why)s") % {"why": report.reason})


@main.command()
@issue_argument
@transport_option
@click.option("--new-delivery", is_flag=True, help="Start a second delivery to everyone.")
@click.option("--new-subscribers", is_flag=True,
              help="Send a finished issue to readers confirmed since its audience was frozen.")
@click.option("--no-fence", is_flag=True,
              help="SendGrid: send at once instead of send_at a fence ahead (a lost answer "
                   "then leaves its batch uncertain).")
@click.option("--test-to", "test_to", multiple=True, metavar="ADDRESS",
              help="Send every variant as a test copy to ADDRESS: repeat the option or give "
                   "a comma list; the word 'editors' is the test group ([schedule] editors "
                   "in newsletter.toml, else the issue's editor). Subjects name the variant, "
                   "[TEST · Prenumeranter] (a draft before approval: [TEST · UTKAST · …]); "
                   "images are inside the mail, links are inert test links; no ledger, no "
                   "NEWSLETTER_SECRET_KEY needed.")
@switch_option
@wait_option
@click.option("--workers", type=click.IntRange(1, 32), default=1, show_default=True,
              help="Processes sharing this delivery, each with its own batches (PostgreSQL).")
@config_option
def send(issue: Path, transport: str | None, new_delivery: bool, new_subscribers: bool,
         no_fence: bool, test_to: tuple[str, ...], switch_transport: bool, wait: bool,
         workers: int, config_file: Path | None) -> None:
    """Send ISSUE's approved edition to its audience, or resume its delivery.

    The first run freezes the audience into the send ledger and publishes the edition's page;
    later runs resume the same delivery with the same edition and never send anyone a second
    copy. One process sends a delivery at a time: another one exits 3 (or waits, --wait).
    Needs NEWSLETTER_SECRET_KEY (for the unsubscribe and preferences links; not for
    --test-to) and, for sendgrid, SENDGRID_API_KEY.

    \b
    Example:
        newsletter send issues/2027-1
        newsletter send issues/2027-1 --test-to redaktionen@example.se
        newsletter send issues/2027-1 --test-to editors,anna@example.se
        newsletter send issues/2027-1 --workers 4    (PostgreSQL)
    """
    if test_to:
        from pipeline.deliver.testsend import send_test

        config = load(config_file)
        for line in send_test(issue, config, transport, list(test_to), open_store(config)):
            click.echo(line)
        return
    _run(issue, config_file, transport, new_delivery=new_delivery,
         new_subscribers=new_subscribers, fence=not no_fence,
         switch_transport=switch_transport, wait=wait, workers=workers)


@main.command()
@click.argument("issue", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option("--recipients", type=click.Choice(["failed", "uncertain", "pending", "skipped"]),
              default=None, help="List these recipients with the reason.")
@config_option
def status(issue: Path | None, recipients: str | None, config_file: Path | None) -> None:
    """Show deliveries and their progress; with --recipients, who has not received it and why.

    \b
    Example:
        newsletter status
        newsletter status issues/2027-1 --recipients failed
    """
    from sqlalchemy import select

    from pipeline.approval import approval_state
    from pipeline.deliver import ledger
    from pipeline.deliver.models import Delivery, EntryState, state_word
    from pipeline.edition import EditionRow
    from pipeline.schedule import retry_until

    config = load(config_file)
    store = open_store(config)
    if issue is not None and Path(issue).is_dir():
        click.echo(f"{Path(issue).name}: {approval_state(store, config, Path(issue)).describe()}")
    with store.session() as session:
        query = select(Delivery).order_by(Delivery.id)
        if issue is not None:
            query = query.where(Delivery.issue == Path(issue).name)
        deliveries = list(session.scalars(query))
        editions = {row.id: row.digest[:12] for row in session.execute(
            select(EditionRow.id, EditionRow.digest))}
    if not deliveries:
        click.echo(_("No deliveries yet."))
        return
    for delivery in deliveries:
        counts = ledger.counts(store, delivery.id)
        total = sum(counts.values())
        done = sum(counts[s] for s in (EntryState.SENT, EntryState.FAILED, EntryState.SKIPPED))
        line = ", ".join(f"{n} {state_word(s)}" for s, n in counts.items() if n)
        if delivery.frozen_at is None:  # nobody chosen yet: not the same as nobody
            line = _("the recipients are chosen when it is sent")
        click.echo(_("%(issue)s  delivery %(delivery)d  %(state)s %(done)d/%(total)d settled "
                     " (%(counts)s)  via %(transport)s") % {
                         "issue": delivery.issue, "delivery": delivery.id,
                         "state": f"{state_word(delivery.state):<9}", "done": done,
                         "total": total, "counts": line or _("empty"),
                         "transport": delivery.transport}
                   + (_("  edition %(edition)s") % {"edition": editions[delivery.edition_id]}
                      if delivery.edition_id else ""))
        if delivery.pause_reason:
            click.echo(_("  paused: %(why)s") % {"why": delivery.pause_reason})
        if delivery.state == "paused" and delivery.retry_at is not None and \
                (until := retry_until(delivery, config)) is not None:
            click.echo(_("  the scheduler tries again at %(at)s UTC (try %(try)d; it keeps "
                         "trying until %(until)s UTC)") % {
                             "at": f"{delivery.retry_at:%Y-%m-%d %H:%M:%S}",
                             "try": delivery.retries + 1, "until": f"{until:%Y-%m-%d %H:%M}"})
        if delivery.lease_owner and delivery.state == "running":
            click.echo(_("  sending: %(holder)s since %(since)s UTC") % {
                "holder": delivery.lease_owner,
                "since": f"{delivery.lease_since:%Y-%m-%d %H:%M:%S}"})
        if delivery.transport_log:
            click.echo(_("  transport switched: %(log)s") % {
                "log": delivery.transport_log.strip("; ")})
        reported = ledger.outcomes(store, delivery.id)
        if reported:
            click.echo(_("  provider events: %(events)s") % {"events": ", ".join(
                f"{n} {outcome}" for outcome, n in reported.items())})
    if recipients:
        last = deliveries[-1]
        for entry in ledger.entries(store, last.id, EntryState(recipients)):
            attempts = _("attempts")
            click.echo(f"{entry.email}\t{entry.variant}\t{attempts} {entry.attempts}\t"
                       f"{entry.last_error or ''}")


@main.command()
@issue_argument
@click.option("--failed", "which", flag_value="failed", help="Retry the failed recipients.")
@click.option("--uncertain", "which", flag_value="uncertain",
              help="Send again to the uncertain ones (they may get two copies).")
@transport_option
@switch_option
@config_option
def resend(issue: Path, which: str | None, transport: str | None, switch_transport: bool,
           config_file: Path | None) -> None:
    """Retry only the failed (or uncertain) recipients of ISSUE's delivery.

    \b
    Example:
        newsletter resend issues/2027-1 --failed
    """
    if which is None:
        raise click.UsageError("say which: --failed or --uncertain")
    _requeue(issue, config_file, which)
    _run(issue, config_file, transport, resume_only=True, switch_transport=switch_transport)


def _requeue(issue: Path, config_file: Path | None, which: str) -> None:
    from pipeline.deliver import deliveries, ledger
    from pipeline.deliver.models import DeliveryState, EntryState

    store = open_store(load(config_file))
    current = deliveries.current_delivery(store, Path(issue).name)
    if current is None:
        raise deliveries.DeliveryError(f"{Path(issue).name} has no delivery")
    if current.state in (DeliveryState.FINISHED, DeliveryState.CANCELLED):
        raise deliveries.DeliveryError(f"the delivery is {current.state}; nothing to resend")
    count = ledger.requeue(store, current.id, EntryState(which))
    click.echo(f"{count} {which} recipient(s) queued again.")


@main.command()
@issue_argument
@click.option("--uncertain", is_flag=True, required=True,
              help="Mark the uncertain recipients as skipped (not sent again).")
@config_option
def skip(issue: Path, uncertain: bool, config_file: Path | None) -> None:
    """Give up on the uncertain recipients of ISSUE's delivery, so it can finish.

    \b
    Example:
        newsletter skip issues/2027-1 --uncertain
    """
    from pipeline.deliver import deliveries, ledger
    from pipeline.deliver.models import DeliveryState, EntryState

    store = open_store(load(config_file))
    current = deliveries.current_delivery(store, Path(issue).name)
    if current is None:
        raise deliveries.DeliveryError(f"{Path(issue).name} has no delivery")
    rows = ledger.entries(store, current.id, EntryState.UNCERTAIN)
    ledger.record(store, [(r.id, EntryState.SKIPPED, r.provider_id, "skipped by hand")
                          for r in rows])
    counts = ledger.counts(store, current.id)
    if current.state == DeliveryState.PAUSED and not counts[EntryState.PENDING] \
            and not counts[EntryState.IN_FLIGHT]:
        deliveries.move(store, current.id, DeliveryState.RUNNING)
        deliveries.move(store, current.id, DeliveryState.FINISHED)
    click.echo(f"Skipped {len(rows)} uncertain recipient(s).")


def _move(issue: Path, config_file: Path | None, state: str, reason: str | None) -> None:
    from pipeline.deliver import deliveries
    from pipeline.deliver.models import DeliveryState

    store = open_store(load(config_file))
    current = deliveries.current_delivery(store, Path(issue).name)
    if current is None:
        raise deliveries.DeliveryError(f"{Path(issue).name} has no delivery")
    deliveries.move(store, current.id, DeliveryState(state), reason)
    click.echo(f"Delivery {current.id} of {current.issue} is now {state}.")


@main.command()
@issue_argument
@config_option
def pause(issue: Path, config_file: Path | None) -> None:
    """Pause ISSUE's running delivery; the sending process stops after its current batch.

    \b
    Example:
        newsletter pause issues/2027-1
    """
    _move(issue, config_file, "paused", "paused by hand")


@main.command()
@issue_argument
@transport_option
@switch_option
@wait_option
@config_option
def resume(issue: Path, transport: str | None, switch_transport: bool, wait: bool,
           config_file: Path | None) -> None:
    """Resume ISSUE's delivery (paused, or left by a process that died) from this process.

    It goes on with the delivery's own edition and transport.

    \b
    Example:
        newsletter resume issues/2027-1
    """
    _run(issue, config_file, transport, resume_only=True, switch_transport=switch_transport,
         wait=wait)


@main.command()
@issue_argument
@config_option
def cancel(issue: Path, config_file: Path | None) -> None:
    """Cancel ISSUE's delivery for good; those not yet sent get nothing.

    \b
    Example:
        newsletter cancel issues/2027-1
    """
    _move(issue, config_file, "cancelled", None)
