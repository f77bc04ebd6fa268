"""Signals other apps subscribe to.

``audit_recorded`` is the one hook for "something happened": every write goes through a service
that records an audit event, so notifications, webhooks and the like listen here instead of each
service calling them. It is sent after the transaction commits (never for a rolled-back write),
once per event, with ``event`` the saved :class:`~changeflow.core.models.AuditEvent`. Receivers
must be quick (enqueue a task) and must not raise; a receiver's error is logged, not propagated.
"""

from django.dispatch import Signal

audit_recorded = Signal()
