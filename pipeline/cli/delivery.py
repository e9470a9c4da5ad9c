"""``newsletter send``, ``status``, ``resend``, ``skip``, ``pause``, ``resume``, ``cancel``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.cli import main
from pipeline.cli.common import config_option, issue_argument, load, open_store

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.deliver.engine import DeliveryReport
    from pipeline.issue import Issue

transport_option = click.option(
    "--transport", type=click.Choice(["outbox", "smtp", "sendgrid"]), default=None,
    help="Override [delivery] transport from newsletter.toml.")


def _run(issue: Path, config_file: Path | None, transport_name: str | None, *,
         new_delivery: bool = False, new_subscribers: bool = False, fence: bool = True,
         resume_only: bool = False) -> None:
    from pipeline.audience.tokens import secret_from_env
    from pipeline.deliver import ledger
    from pipeline.deliver.engine import Engine, start_delivery
    from pipeline.deliver.transports import open_transport
    from pipeline.issue import load_issue

    config = load(config_file)
    secret = secret_from_env()
    loaded = load_issue(issue, config)
    store = open_store(config)
    transport = open_transport(transport_name or config.delivery.transport, config, fence)
    if resume_only:
        current = ledger.current_delivery(store, loaded.slug)
        if current is None:
            raise ledger.DeliveryError(f"{loaded.slug} has no delivery to resume")
        delivery_id, frozen = current.id, 0
    else:
        try:
            delivery_id, frozen = start_delivery(store, config, loaded, transport,
                                                 new_delivery, new_subscribers)
        except ledger.AlreadyDelivered as exc:
            click.echo(f"Nothing to send: {exc.message}.")
            return
    if frozen:
        click.echo(f"Froze the audience of {loaded.slug}: {frozen} recipient(s) "
                   f"(delivery {delivery_id}, {transport.name}).")
        _publish_first(loaded, config)
    engine = Engine(store, config, loaded, transport, secret)
    report = _with_progress(engine, delivery_id)
    _print_report(loaded.slug, report)
    if report.state.value == "paused":
        raise SystemExit(1)


def _publish_first(issue: Issue, config: Config) -> None:
    """The email's "view in browser" link must work the moment the email lands."""
    from pipeline.archive import ArchiveError, build_archive, publish_issue

    try:
        result = publish_issue(issue, config)
    except ArchiveError as exc:
        click.echo(f"Warning: {exc.message}", err=True)
        return
    build_archive(config)
    click.echo(f"Published {issue.slug} to {result.folder} ({result.status}).")


def _with_progress(engine: object, delivery_id: int) -> DeliveryReport:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from pipeline.deliver.engine import Engine

    assert isinstance(engine, Engine)
    console = Console(stderr=True)
    if not console.is_terminal:
        return engine.run(delivery_id)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("Skickar", total=None)
        return engine.run(delivery_id, lambda done, total: bar.update(task, completed=done,
                                                                     total=total))


def _print_report(slug: str, report: DeliveryReport) -> None:
    counts = ", ".join(f"{n} {state.value}" for state, n in report.counts.items() if n)
    click.echo(f"{slug}: delivery {report.delivery_id} is {report.state.value} "
               f"({counts or 'no recipients'}); {report.sent_now} sent now.")
    for note in report.notes:
        click.echo(f"  {note}")
    if report.reason:
        click.echo(f"Paused: {report.reason}")


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
              help="Send every variant to ADDRESS with a [TEST] subject; no ledger.")
@config_option
def send(issue: Path, transport: str | None, new_delivery: bool, new_subscribers: bool,
         no_fence: bool, test_to: tuple[str, ...], config_file: Path | None) -> None:
    """Send ISSUE to its audience, or resume its delivery where it stopped.

    The first run freezes the audience into the send ledger; later runs resume the same
    delivery and never send anyone a second copy. Needs NEWSLETTER_SECRET_KEY (for the
    unsubscribe and preferences links) and, for sendgrid, SENDGRID_API_KEY.

    \b
    Example:
        newsletter send issues/2027-1
        newsletter send issues/2027-1 --test-to redaktionen@example.se
    """
    if test_to:
        from pipeline.deliver.testsend import send_test

        for line in send_test(issue, load(config_file), transport, list(test_to)):
            click.echo(line)
        return
    _run(issue, config_file, transport, new_delivery=new_delivery,
         new_subscribers=new_subscribers, fence=not no_fence)


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

    from pipeline.deliver import ledger
    from pipeline.deliver.models import Delivery, EntryState

    store = open_store(load(config_file))
    with store.session() as session:
        query = select(Delivery).order_by(Delivery.id)
        if issue is not None:
            query = query.where(Delivery.issue == Path(issue).name)
        deliveries = list(session.scalars(query))
    if not deliveries:
        click.echo("No deliveries yet.")
        return
    for delivery in deliveries:
        counts = ledger.counts(store, delivery.id)
        total = sum(counts.values())
        done = sum(counts[s] for s in (EntryState.SENT, EntryState.FAILED, EntryState.SKIPPED))
        line = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
        click.echo(f"{delivery.issue}  delivery {delivery.id}  {delivery.state:<9} "
                   f"{done}/{total} settled  ({line or 'empty'})  via {delivery.transport}")
        if delivery.pause_reason:
            click.echo(f"  paused: {delivery.pause_reason}")
        reported = ledger.outcomes(store, delivery.id)
        if reported:
            click.echo("  provider events: " + ", ".join(f"{n} {outcome}"
                                                         for outcome, n in reported.items()))
    if recipients:
        last = deliveries[-1]
        for entry in ledger.entries(store, last.id, EntryState(recipients)):
            click.echo(f"{entry.email}\t{entry.variant}\tattempts {entry.attempts}\t"
                       f"{entry.last_error or ''}")


@main.command()
@issue_argument
@click.option("--failed", "which", flag_value="failed", help="Retry the failed recipients.")
@click.option("--uncertain", "which", flag_value="uncertain",
              help="Send again to the uncertain ones (they may get two copies).")
@transport_option
@config_option
def resend(issue: Path, which: str | None, transport: str | None,
           config_file: Path | None) -> None:
    """Retry only the failed (or uncertain) recipients of ISSUE's delivery.

    \b
    Example:
        newsletter resend issues/2027-1 --failed
    """
    if which is None:
        raise click.UsageError("say which: --failed or --uncertain")
    _requeue(issue, config_file, which)
    _run(issue, config_file, transport, resume_only=True)


def _requeue(issue: Path, config_file: Path | None, which: str) -> None:
    from pipeline.deliver import ledger
    from pipeline.deliver.models import DeliveryState, EntryState

    store = open_store(load(config_file))
    current = ledger.current_delivery(store, Path(issue).name)
    if current is None:
        raise ledger.DeliveryError(f"{Path(issue).name} has no delivery")
    count = ledger.requeue(store, current.id, EntryState(which))
    if current.state == DeliveryState.FINISHED and count:
        raise ledger.DeliveryError("the delivery is finished; nothing to resend")
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
    from pipeline.deliver import ledger
    from pipeline.deliver.models import DeliveryState, EntryState

    store = open_store(load(config_file))
    current = ledger.current_delivery(store, Path(issue).name)
    if current is None:
        raise ledger.DeliveryError(f"{Path(issue).name} has no delivery")
    rows = ledger.entries(store, current.id, EntryState.UNCERTAIN)
    ledger.record(store, [(r.id, EntryState.SKIPPED, r.provider_id, "skipped by hand")
                          for r in rows])
    counts = ledger.counts(store, current.id)
    if current.state == DeliveryState.PAUSED and not counts[EntryState.PENDING] \
            and not counts[EntryState.IN_FLIGHT]:
        ledger.move(store, current.id, DeliveryState.RUNNING)
        ledger.move(store, current.id, DeliveryState.FINISHED)
    click.echo(f"Skipped {len(rows)} uncertain recipient(s).")


def _move(issue: Path, config_file: Path | None, state: str, reason: str | None) -> None:
    from pipeline.deliver import ledger
    from pipeline.deliver.models import DeliveryState

    store = open_store(load(config_file))
    current = ledger.current_delivery(store, Path(issue).name)
    if current is None:
        raise ledger.DeliveryError(f"{Path(issue).name} has no delivery")
    ledger.move(store, current.id, DeliveryState(state), reason)
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
@config_option
def resume(issue: Path, transport: str | None, config_file: Path | None) -> None:
    """Resume ISSUE's paused delivery and send the rest from this process.

    \b
    Example:
        newsletter resume issues/2027-1
    """
    _run(issue, config_file, transport, resume_only=True)


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
