"""Background tasks (``django.tasks``): one attempt at one delivery each.

Tasks carry only the delivery's id; the row holds everything else, so a task that runs twice
(a worker restarted, a retry and the periodic sweep at once) finds the row claimed or done and
does nothing: claims are compare-and-set.
"""

from __future__ import annotations

from django.tasks import task

from . import services


@task(queue_name="default")
def deliver_email(pk: int) -> str:
    return services.deliver_email(pk)


@task(queue_name="default")
def deliver_webhook(pk: int) -> str:
    return services.deliver_webhook(pk)


@task(queue_name="default")
def retry_due() -> int:
    """Periodic: attempt deliveries that are due, and those whose worker died."""
    return services.retry_due()
