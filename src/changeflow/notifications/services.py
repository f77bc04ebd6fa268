"""Writers: notifications from audit events, the delivery engine for e-mails and webhook calls,
preferences, watches and webhooks.

Delivery engine: a delivery row is claimed compare-and-set (``pending`` and due, or ``sending``
with an expired lease) and its attempt counted before anything leaves the process; a success
marks it ``sent``; a failure that may pass (timeout, refused connection, 5xx, 429, SMTP down)
puts it back to ``pending`` with an exponential back-off, until the last attempt marks it
``failed`` with the reason. Its ``key`` never changes, so a receiver sees one key however many
attempts it took — also when a worker died after sending but before recording it.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets
import time
from typing import Any

from django.conf import settings
from django.core import mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, User
from changeflow.core import audit, crypto
from changeflow.core.errors import NotFound, PreconditionFailed, ValidationError
from changeflow.core.models import AuditEvent, AuditHead

from . import events, formats, messages, selectors, transport, urlcheck
from .models import (
    Channel,
    DeliveryState,
    EmailDelivery,
    HistoryMark,
    Kind,
    Notification,
    NotificationPreference,
    NotificationProfile,
    Watch,
    Webhook,
    WebhookDelivery,
    WebhookKind,
)

logger = logging.getLogger(__name__)
EXCERPT = 280


# ------------------------------------------------------------------ settings


def max_attempts() -> int:
    return int(getattr(settings, "CHANGEFLOW_DELIVERY_MAX_ATTEMPTS", 6))


def backoff(attempt: int) -> dt.timedelta:
    """Wait before attempt ``attempt + 1``: 30 s, 1, 2, 4, 8 min... at most an hour."""
    base = float(getattr(settings, "CHANGEFLOW_DELIVERY_BACKOFF_SECONDS", 30))
    return dt.timedelta(seconds=min(base * 2 ** (attempt - 1), 3600))


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "CHANGEFLOW_DELIVERY_LEASE_SECONDS", 300)))


# ------------------------------------------------------------------ from events


def _facts(event: AuditEvent, cr, actor: User | None) -> dict[str, Any]:
    after = event.after if isinstance(event.after, dict) else {}
    before = event.before if isinstance(event.before, dict) else {}
    data: dict[str, Any] = {
        "project": event.project,
        "object_type": event.object_type,
        "key": event.object_key,
        "actor": event.actor,
        "actor_name": (actor.display_name or actor.username) if actor else event.actor,
        "action": event.action,
    }
    if after.get("email_sender"):  # a mail the actor recorded: its sender is who commented
        data["actor_name"] = str(after["email_sender"])[:200]
    if cr is not None:
        data["title"] = cr.title
    elif after.get("title"):
        data["title"] = str(after["title"])[:200]
    for name in ("state", "ratification", "decision", "due_date", "score", "number"):
        if after.get(name):
            data[name] = after[name]
    original = str(after.get("duplicate_of") or "")
    if original.rsplit("-", 1)[0] == event.project:  # another project's CR is not named
        data["duplicate_of"] = original
    if before.get("state"):
        data["from"] = before["state"]
    body = after.get("body") or after.get("comment") or ""
    if body:
        body = " ".join(str(body).split())
        data["excerpt"] = body if len(body) <= EXCERPT else body[: EXCERPT - 1] + "…"
    reason = after.get("reason") or after.get("message")
    if reason:
        data["reason"] = str(reason)[:500]
    return data


def _history_seq(project: Project) -> int:
    return HistoryMark.objects.filter(project=project).values_list("seq", flat=True).first() or 0


def _profiles(user_ids: list[int]) -> dict[int, str]:
    return dict(
        NotificationProfile.objects.filter(user_id__in=user_ids).values_list("user_id", "language")
    )


def notify_event(event: AuditEvent) -> list[Notification]:
    """Notifications, e-mails and webhook calls for one audit event; idempotent (a second
    call for the same event creates nothing). The deliveries are enqueued after the commit."""
    after = event.after if isinstance(event.after, dict) else {}
    kind = events.kind_of(event.action, after)
    if kind is None or not event.project:
        return []
    project = Project.objects.filter(key=event.project).first()
    if project is None:
        return []
    cr = None
    if event.object_type == "change_request":
        from changeflow.changes.models import ChangeRequest

        cr = (
            ChangeRequest.objects.select_related("project", "requested_by", "assignee")
            .filter(key=event.object_key)
            .first()
        )
    actor = User.objects.filter(username=event.actor).first() if event.actor else None
    data = _facts(event, cr, actor)
    live = event.seq > _history_seq(project)
    targets = selectors.recipients(event, project, cr)
    user_ids = [t.user.pk for t in targets]
    prefs = selectors.preferences_of(user_ids)
    languages = _profiles(user_ids)
    created: list[Notification] = []
    emails: list[EmailDelivery] = []
    hooks: list[WebhookDelivery] = []
    with transaction.atomic():
        done = set(Notification.objects.filter(event=event).values_list("user_id", flat=True))
        now = timezone.now()
        for target in targets:
            if target.user.pk in done:
                continue
            in_app, by_mail = events.wants(
                selectors.channel_for(prefs, target.user.pk, target.kind)
            )
            by_mail = by_mail and live and bool(target.user.email)
            if not (in_app or by_mail):
                continue
            note = Notification.objects.create(
                user=target.user, kind=target.kind, event=event, project=project,
                object_key=event.object_key, actor=event.actor, data=data, in_app=in_app,
                read_at=None if live else now,  # history is listed, but it is not news
            )  # fmt: skip
            created.append(note)
            if by_mail:
                emails.append(
                    EmailDelivery.objects.create(
                        notification=note,
                        to=target.user.email,
                        next_attempt_at=now,
                        language=messages.language_or_default(languages.get(target.user.pk)),
                    )  # fmt: skip
                )
        if live and not event.internal and kind in events.WEBHOOK_KINDS:
            hooks = _webhook_deliveries(event, project, kind, data, cr)
        for mail in emails:
            transaction.on_commit(functools.partial(_enqueue, "email", mail.pk))
        for call in hooks:
            transaction.on_commit(functools.partial(_enqueue, "webhook", call.pk))
    return created


def _webhook_deliveries(event, project, kind, data, cr) -> list[WebhookDelivery]:
    out = []
    hooks = Webhook.objects.filter(project=project, active=True, since_seq__lt=event.seq)
    webhook_data = dict(data)
    if kind == Kind.VOTE_NEEDED and cr is not None:
        webhook_data["voters"] = _display_names(selectors.board_to_vote(cr))
    for hook in hooks:
        if not events.webhook_accepts(hook.events or [], kind):
            continue
        if WebhookDelivery.objects.filter(webhook=hook, event=event).exists():
            continue
        delivery = WebhookDelivery(
            webhook=hook, event=event, kind=kind, next_attempt_at=timezone.now()
        )
        delivery.payload = _payload(hook, delivery, kind, webhook_data, event)
        try:
            with transaction.atomic():
                delivery.save()
        except IntegrityError:  # another process made it first
            continue
        out.append(delivery)
    return out


def _display_names(usernames: list[str]) -> list[str]:
    names = dict(
        User.objects.filter(username__in=usernames).values_list("username", "display_name")
    )
    return [names.get(u) or u for u in usernames]


def _payload(hook: Webhook, delivery, kind: str, data: dict, event: AuditEvent | None) -> dict:
    language = messages.language_or_default(hook.language)
    with translation.override(language):
        message = {
            "headline": messages.headline(kind, data, personal=False),
            "lines": messages.details(kind, data),
            "link": messages.link(data),
            "key": data.get("key", ""),
        }
    document = {
        "id": str(delivery.key),
        "event": kind,
        "occurred_at": (event.at if event else timezone.now()).isoformat(),
        "project": hook.project.key,
        "action": event.action if event else kind,
        "actor": data.get("actor", ""),
        "object": {
            "type": data.get("object_type", ""),
            "key": data.get("key", ""),
            "url": message["link"],
        },
        "data": {k: v for k, v in data.items() if k not in ("object_type", "key", "project")},
        "text": message["headline"],
    }
    return {"event": audit.jsonable(document), "message": message}


# ------------------------------------------------------------------ the delivery engine


def _enqueue(channel: str, pk: int, run_after: dt.datetime | None = None) -> None:
    """Hand a delivery to the task queue; a queue that cannot take it leaves the row pending
    for ``retry_due``, so nothing is lost."""
    from . import tasks

    task = tasks.deliver_email if channel == "email" else tasks.deliver_webhook
    try:
        if run_after is not None:
            if not task.get_backend().supports_defer:
                return  # ``retry_due`` picks it up when it is due
            task = task.using(run_after=run_after)
        task.enqueue(pk)
    except Exception:
        logger.exception("could not enqueue %s delivery %s; it stays pending", channel, pk)


def _claim(model, pk: int, now: dt.datetime):
    """Take the delivery for one attempt, or None when it is not due or someone has it."""
    due = Q(state=DeliveryState.PENDING, next_attempt_at__lte=now) | Q(
        state=DeliveryState.SENDING, lease_until__lt=now
    )
    moved = (
        model.objects.filter(due, pk=pk)
        .filter(attempts__lt=max_attempts())
        .update(state=DeliveryState.SENDING, lease_until=now + lease(), attempts=F("attempts") + 1)
    )
    if not moved:
        expired = model.objects.filter(
            pk=pk, state=DeliveryState.SENDING, lease_until__lt=now, attempts__gte=max_attempts()
        ).update(
            state=DeliveryState.FAILED, finished_at=now,
            error=_("The worker stopped during the last attempt."),
        )  # fmt: skip
        del expired
        return None
    return model.objects.get(pk=pk)


def _done(model, row, now: dt.datetime, **fields) -> None:
    model.objects.filter(pk=row.pk, state=DeliveryState.SENDING).update(
        state=DeliveryState.SENT, finished_at=now, lease_until=None, error="", **fields
    )


def _failed(model, row, now: dt.datetime, reason: str, *, retry: bool, wait=None, **fields):
    """Back to pending with a back-off, or failed for good; returns when to retry (or None)."""
    if retry and row.attempts < max_attempts():
        when = now + max(backoff(row.attempts), wait or dt.timedelta(0))
        model.objects.filter(pk=row.pk, state=DeliveryState.SENDING).update(
            state=DeliveryState.PENDING, next_attempt_at=when, lease_until=None, error=reason,
            **fields,
        )  # fmt: skip
        return when
    model.objects.filter(pk=row.pk, state=DeliveryState.SENDING).update(
        state=DeliveryState.FAILED, finished_at=now, lease_until=None, error=reason, **fields
    )
    return None


def deliver_email(pk: int, *, now: dt.datetime | None = None) -> str:
    """One attempt at one e-mail. Returns the delivery's state afterwards."""
    now = now or timezone.now()
    row = _claim(EmailDelivery, pk, now)
    if row is None:
        return EmailDelivery.objects.filter(pk=pk).values_list("state", flat=True).first() or ""
    note = Notification.objects.select_related("project").get(pk=row.notification_id)
    message = email_message(note, row)
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # SMTP down, refused, timed out: the mail stays to retry
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        when = _failed(EmailDelivery, row, timezone.now(), reason, retry=True)
        if when:
            _enqueue("email", pk, when)
        return DeliveryState.PENDING if when else DeliveryState.FAILED
    _done(EmailDelivery, row, timezone.now())
    return DeliveryState.SENT


def email_message(note: Notification, row: EmailDelivery) -> mail.EmailMessage:
    """The e-mail of ``note`` in the recipient's language, its Message-ID made from the
    delivery's key: a retry after a lost answer carries the same Message-ID."""
    with translation.override(row.language):
        subject = messages.headline(note.kind, note.data)
        context = {
            "headline": subject,
            "lines": messages.details(note.kind, note.data),
            "link": messages.link(note.data),
            "note": note,
            "preferences_url": urlcheck.base_url().rstrip("/") + "/notifications/preferences/",
        }
        body = render_to_string("notifications/email/body.txt", context)
    domain = getattr(settings, "CHANGEFLOW_MAIL_DOMAIN", "changeflow.invalid")
    return mail.EmailMessage(
        subject=f"[{note.project.key}] {subject}"[:250],
        body=body,
        to=[row.to],
        headers={
            "Message-ID": f"<{row.key}@{domain}>",
            "X-Changeflow-Delivery": str(row.key),
            "Auto-Submitted": "auto-generated",
        },
    )


def deliver_webhook(pk: int, *, now: dt.datetime | None = None) -> str:
    """One attempt at one webhook call. Returns the delivery's state afterwards."""
    now = now or timezone.now()
    row = _claim(WebhookDelivery, pk, now)
    if row is None:
        return WebhookDelivery.objects.filter(pk=pk).values_list("state", flat=True).first() or ""
    hook = row.webhook
    try:
        target = urlcheck.check(hook.url)
    except urlcheck.UnsafeUrl as exc:  # e.g. the name now resolves to a private address
        retry = isinstance(exc, urlcheck.Unresolvable)
        when = _failed(WebhookDelivery, row, timezone.now(), str(exc), retry=retry)
        if when:
            _enqueue("webhook", pk, when)
        return DeliveryState.PENDING if when else DeliveryState.FAILED
    try:
        secret = hook.get_secret()
    except crypto.SecretUnreadable:
        # Never sent unsigned: the receiver would reject it, or worse, accept it.
        reason = str(
            _(
                "The webhook's secret cannot be decrypted (the site's secret key has changed): "
                "enter the secret again on the webhook's page."
            )
        )
        _failed(WebhookDelivery, row, timezone.now(), reason, retry=False)
        return DeliveryState.FAILED
    request = formats.build(
        hook.kind, hook.url, secret, row.payload, key=str(row.key), now=time.time()
    )
    logged = {
        "request_url": _redact(request.url),
        "request_body": request.body.decode()[:20_000],
    }
    try:
        answer = transport.post(target, request.url, request.body, request.headers)
    except transport.CallFailed as exc:
        when = _failed(
            WebhookDelivery, row, timezone.now(), exc.reason, retry=exc.retry,
            response_status=None, response_body="", duration_ms=exc.duration_ms, **logged,
        )  # fmt: skip
        if when:
            _enqueue("webhook", pk, when)
        return DeliveryState.PENDING if when else DeliveryState.FAILED
    answered = {
        "response_status": answer.status,
        "response_body": answer.body[:2000],
        "duration_ms": answer.duration_ms,
        **logged,
    }
    if 200 <= answer.status < 300:
        refused = formats.platform_error(hook.kind, answer.body)
        if refused is None:
            _done(WebhookDelivery, row, timezone.now(), **answered)
            return DeliveryState.SENT
        _failed(WebhookDelivery, row, timezone.now(), refused, retry=False, **answered)
        return DeliveryState.FAILED
    retry = answer.status >= 500 or answer.status == 429
    wait = dt.timedelta(seconds=min(answer.retry_after, 3600)) if answer.retry_after else None
    reason = f"HTTP {answer.status}"
    when = _failed(WebhookDelivery, row, timezone.now(), reason, retry=retry, wait=wait, **answered)
    if when:
        _enqueue("webhook", pk, when)
    return DeliveryState.PENDING if when else DeliveryState.FAILED


def _redact(url: str) -> str:
    """The URL for the log without its signature (the access token is the user's own)."""
    return url.split("&sign=", 1)[0] if "&sign=" in url else url


def retry_due(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Attempt every delivery that is due (or whose worker died). Returns how many were tried.

    For task backends that cannot run a task later, this is what retries; it runs as a
    periodic job, and is harmless to run twice (claims are compare-and-set)."""
    now = now or timezone.now()
    due = Q(state=DeliveryState.PENDING, next_attempt_at__lte=now) | Q(
        state=DeliveryState.SENDING, lease_until__lt=now
    )
    count = 0
    for model, deliver in ((EmailDelivery, deliver_email), (WebhookDelivery, deliver_webhook)):
        for pk in (
            model.objects.filter(due)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        ):
            deliver(pk, now=now)
            count += 1
    return count


# ------------------------------------------------------------------ inbox and preferences


def mark_read(*, user: User, ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when ``ids`` is None)."""
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())


def preferences_set(
    *, user: User, channels: dict[str, str], language: str | None = None
) -> dict[str, str]:
    """Set the user's channel per kind (only the kinds given) and, optionally, the language
    of their e-mails ("" for the site's default)."""
    bad = {k: [_("Unknown kind.")] for k in channels if k not in Kind.values}
    bad |= {
        k: [_("One of: %s") % ", ".join(Channel.values)]
        for k, v in channels.items()
        if k in Kind.values and v not in Channel.values
    }
    codes = {code for code, _name in settings.LANGUAGES}
    if language not in (None, "") and language not in codes:
        bad["language"] = [_("One of: %s") % ", ".join(sorted(codes))]
    if bad:
        raise ValidationError(_("Some preferences are invalid."), fields=bad)
    with transaction.atomic():
        for kind, channel in channels.items():
            NotificationPreference.objects.update_or_create(
                user=user, kind=kind, defaults={"channel": channel}
            )
        if language is not None:
            NotificationProfile.objects.update_or_create(user=user, defaults={"language": language})
    return selectors.preferences(user)


def language_of(user: User) -> str:
    return (
        NotificationProfile.objects.filter(user=user).values_list("language", flat=True).first()
        or ""
    )


def watch_set(*, user: User, cr, watching: bool) -> bool:
    """Watch or stop watching ``cr`` (which the caller got through a selector: visible)."""
    if watching:
        Watch.objects.get_or_create(user=user, change_request=cr)
    else:
        Watch.objects.filter(user=user, change_request=cr).delete()
    return watching


# ------------------------------------------------------------------ webhooks


def _clean_events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValidationError(
            _("Some fields are invalid."),
            fields={"events": [_('A list of event names, or ["*"].')]},
        )
    unknown = [v for v in value if v != "*" and v not in events.WEBHOOK_KINDS]
    if unknown:
        raise ValidationError(
            _("Some fields are invalid."),
            fields={"events": [_("Unknown events: %s") % ", ".join(map(str, unknown))]},
        )
    return ["*"] if "*" in value else list(dict.fromkeys(value))


def _clean_url(url: Any, *, resolve: bool = True) -> str:
    url = str(url or "").strip()
    if len(url) > 2000:
        raise ValidationError(_("Some fields are invalid."), fields={"url": [_("Too long.")]})
    try:
        urlcheck.check(url, resolve=resolve)
    except urlcheck.UnsafeUrl as exc:
        raise PreconditionFailed(
            _("This URL cannot be used: %(reason)s") % {"reason": exc},
            code="unsafe_url", fields={"url": [str(exc)]},
        ) from None  # fmt: skip
    return url


def _clean(data: dict[str, Any], *, partial: bool, resolve: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "kind" in data or not partial:
        if data.get("kind") not in WebhookKind.values:
            raise ValidationError(
                _("Some fields are invalid."),
                fields={"kind": [_("One of: %s") % ", ".join(WebhookKind.values)]},
            )
        out["kind"] = data["kind"]
    if "events" in data or not partial:
        out["events"] = _clean_events(data.get("events", ["*"]))
    for name, limit in (("name", 100), ("secret", 200), ("language", 10)):
        if name in data and data[name] is not None:
            value = str(data[name]).strip()
            if len(value) > limit:
                raise ValidationError(
                    _("Some fields are invalid."), fields={name: [_("Too long.")]}
                )
            out[name] = value
    if out.get("language") and out["language"] not in {c for c, _n in settings.LANGUAGES}:
        raise ValidationError(
            _("Some fields are invalid."), fields={"language": [_("Unknown language.")]}
        )
    if "active" in data:
        out["active"] = bool(data["active"])
    # The URL last: the safety check is a 422, after the 400s for malformed fields.
    if "url" in data or not partial:
        out["url"] = _clean_url(data.get("url"), resolve=resolve)
    return out


def _record(user, action, hook: Webhook, before=None, after=None) -> None:
    def safe(d):
        return {k: v for k, v in (d or {}).items() if k != "secret"}

    audit.record(
        actor=user, action=action, object_type="webhook", object_key=str(hook.pk),
        project=hook.project.key, before=safe(before), after=safe(after),
    )  # fmt: skip


def _fields(hook: Webhook) -> dict[str, Any]:
    return {
        "name": hook.name, "url": hook.url, "kind": hook.kind, "events": hook.events,
        "language": hook.language, "active": hook.active, "secret_set": hook.has_secret,
    }  # fmt: skip


def webhook_create(
    *, user: User, project: Project, data: dict[str, Any], resolve: bool = True
) -> Webhook:
    """A new webhook of ``project`` (the caller manages it: the selector checked).

    ``resolve=False`` skips looking the host up now (the demo saves a documented example URL
    without touching the network); every call still checks the addresses first."""
    clean = _clean(data, partial=False, resolve=resolve)
    with transaction.atomic():
        head = AuditHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
        secret = clean.pop("secret", "")
        hook = Webhook(project=project, created_by=user, since_seq=head, **clean)
        hook.set_secret(secret)
        hook.save()
        _record(user, "webhook.created", hook, after=_fields(hook))
    return hook


def webhook_update(*, user: User, hook: Webhook, data: dict[str, Any]) -> Webhook:
    clean = _clean(data, partial=True)
    with transaction.atomic():
        before = _fields(hook)
        fields = [name for name in clean if name != "secret"]
        for name in fields:
            setattr(hook, name, clean[name])
        if "secret" in clean:
            hook.set_secret(clean["secret"])
            fields.append("secret_encrypted")
        hook.save(update_fields=[*fields, "updated_at"])
        _record(user, "webhook.updated", hook, before=before, after=_fields(hook))
    return hook


def webhook_delete(*, user: User, hook: Webhook) -> None:
    """Deactivate and forget the webhook; its delivery log goes with it."""
    with transaction.atomic():
        before = _fields(hook)
        _record(user, "webhook.deleted", hook, before=before)
        hook.delete()


def webhook_test(*, user: User, hook: Webhook) -> WebhookDelivery:
    """Send a test message now (through the queue); the answer shows in the delivery log."""
    if not hook.url:
        raise NotFound(_("No such webhook."))
    data = {
        "project": hook.project.key,
        "object_type": "project",
        "key": hook.project.key,
        "actor": user.username,
        "actor_name": user.display_name or user.username,
        "title": hook.project.name,
    }
    delivery = WebhookDelivery(webhook=hook, kind=events.TEST_KIND, next_attempt_at=timezone.now())
    delivery.payload = _payload(hook, delivery, events.TEST_KIND, data, None)
    delivery.save()
    transaction.on_commit(lambda: _enqueue("webhook", delivery.pk))
    return delivery


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def history_mark(*, project: Project) -> None:
    """Declare everything recorded so far for ``project`` history (the demo, an import)."""
    head = AuditHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    HistoryMark.objects.update_or_create(project=project, defaults={"seq": head})
