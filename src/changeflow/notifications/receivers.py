"""The ``audit_recorded`` receiver: notifications and webhook calls for each event.

It runs after the commit of the service that wrote the event. It writes the notification rows
(the inbox shows them at once) and enqueues the deliveries; sending happens in the tasks.
"""

from __future__ import annotations


def on_audit_recorded(sender, event, **kwargs) -> None:
    from . import events, services

    after = event.after if isinstance(event.after, dict) else {}
    if events.kind_of(event.action, after) is None:
        return  # most events: no query at all
    services.notify_event(event)


def register_periodic() -> None:
    """Retry due deliveries every minute (a job of the workers' periodic registry)."""
    import datetime as dt

    from changeflow.core import periodic

    from . import services

    periodic.register(
        "notifications.retry_due", every=dt.timedelta(minutes=1), func=services.retry_due
    )
