"""The ``audit_recorded`` receiver: notifications and webhook calls for each event.

It runs after the commit of the service that wrote the event. It writes the notification rows
(the inbox shows them at once) and enqueues the deliveries; sending happens in the tasks.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def on_audit_recorded(sender, event, **kwargs) -> None:
    from . import events, services

    after = event.after if isinstance(event.after, dict) else {}
    if events.kind_of(event.action, after) is None:
        return  # most events: no query at all
    services.notify_event(event)


def register_periodic() -> None:
    """Retry due deliveries every minute, where the worker's periodic registry is installed
    (the same API the meetings reminders use)."""
    import datetime as dt

    try:
        from changeflow.core import periodic
    except ImportError:
        return
    from . import services

    try:
        periodic.register(
            "notifications.retry_due", every=dt.timedelta(minutes=1), func=services.retry_due
        )
    except (TypeError, ValueError, AttributeError):  # another registry API: keep running
        logger.warning("notifications.retry_due not registered as a periodic job")
