"""Background tasks and periodic jobs of the communication app (thin: they call services)."""

from __future__ import annotations

import datetime as dt

from changeflow.core import periodic
from changeflow.core.tasks import background


def _ack_gave_up(exc: BaseException, record_id: int) -> None:
    from .services import acknowledgement_failed

    acknowledgement_failed(record_id=record_id, error="%s: %s" % (type(exc).__name__, exc))


@background(attempts=5, backoff=dt.timedelta(minutes=1), on_give_up=_ack_gave_up)
def send_acknowledgement(record_id: int) -> bool:
    """Acknowledge one inbound mail; idempotent (a sent acknowledgement is not sent again)."""
    from .services import acknowledgement_send

    return acknowledgement_send(record_id=record_id)


def poll_mailboxes() -> None:
    from .imap import poll_due_mailboxes

    poll_due_mailboxes()


def check_sla() -> None:
    from .sla import sla_check

    sla_check()


def register_periodic_jobs() -> None:
    periodic.register("comms.poll_mailboxes", every=dt.timedelta(minutes=1), func=poll_mailboxes)
    periodic.register("comms.sla_check", every=dt.timedelta(minutes=5), func=check_sla)
