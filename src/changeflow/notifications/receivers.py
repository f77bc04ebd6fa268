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
    """Retry due deliveries every minute, where the project has a periodic-job registry."""
    try:
        from changeflow.core import periodic  # type: ignore[attr-defined]
    except ImportError:
        return
    register = getattr(periodic, "register", None)
    if register is None:
        return
    try:
        register("notifications.retry_due", "changeflow.notifications.tasks.retry_due", 60)
    except Exception:  # a registry with another signature: say so, do not break start-up
        logger.warning("could not register notifications.retry_due with core.periodic")
