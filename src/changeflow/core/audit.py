"""The tamper-evident audit log: ``record()`` appends, ``verify()`` walks the chain.

Each event's hash covers the previous event's hash and the event's own canonical JSON, so
changing, inserting or removing any row breaks the chain from that row on.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from .models import AuditEvent, AuditHead
from .signals import audit_recorded

GENESIS = "0" * 64
logger = logging.getLogger(__name__)

# Where the current request came from; set by middleware (web/API) and the CLI.
_origin: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar(
    "audit_origin", default=("system", "")
)


@contextmanager
def origin(channel: str, ip: str = "") -> Iterator[None]:
    """Attribute the audit events written inside this block to ``channel`` and ``ip``."""
    token = _origin.set((channel, ip))
    try:
        yield
    finally:
        _origin.reset(token)


def jsonable(value: Any) -> Any:
    """Turn a value into plain JSON that reads back identically from either database."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(value)


def canonical_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _payload(
    *,
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    object_type: str,
    object_key: str,
    project: str,
    before: Any,
    after: Any,
    channel: str,
    ip: str,
    internal: bool,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_key": object_key,
        "project": project,
        "before": before,
        "after": after,
        "channel": channel,
        "ip": ip,
        "internal": internal,
    }


def compute_hash(prev_hash: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode()).hexdigest()


def record(
    *,
    actor: Any,
    action: str,
    object_type: str,
    object_key: str,
    project: str = "",
    before: dict | None = None,
    after: dict | None = None,
    internal: bool = False,
) -> AuditEvent:
    """Append one event. Must run inside the caller's transaction, as its last write.

    The chain head is locked here, so the serialisation point lasts from this call to the
    commit; services call ``record`` last for that reason.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record() must run inside the service's transaction")
    channel, ip = _origin.get()
    head = AuditHead.objects.select_for_update().filter(pk=1).first()
    if head is None:  # the migration seeds it; a flushed test database has none
        AuditHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS})
        head = AuditHead.objects.select_for_update().get(pk=1)
    username = getattr(actor, "username", None) or (actor if isinstance(actor, str) else "")
    payload = _payload(
        seq=head.seq + 1,
        at=timezone.now(),
        actor=username,
        action=action,
        object_type=object_type,
        object_key=object_key,
        project=project,
        before=jsonable(before or {}),
        after=jsonable(after or {}),
        channel=channel,
        ip=ip,
        internal=internal,
    )
    digest = compute_hash(head.hash, payload)
    event = AuditEvent.objects.create(
        seq=payload["seq"],
        at=dt.datetime.fromisoformat(payload["at"]),
        actor=username,
        action=action,
        object_type=object_type,
        object_key=object_key,
        project=project,
        before=payload["before"],
        after=payload["after"],
        channel=channel,
        ip=ip,
        internal=internal,
        prev_hash=head.hash,
        hash=digest,
    )
    AuditHead.objects.filter(pk=1).update(seq=payload["seq"], hash=digest)
    transaction.on_commit(lambda: _announce(event))
    return event


def _announce(event: AuditEvent) -> None:
    """Tell ``audit_recorded``'s receivers, after the commit; their errors are logged only."""
    for receiver, result in audit_recorded.send_robust(sender=AuditEvent, event=event):
        if isinstance(result, Exception):
            logger.error(
                "audit_recorded receiver %r failed on event #%d",
                receiver,
                event.seq,
                exc_info=result,
            )


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    head: str
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": self.ok, "events": self.events, "head": self.head}
        if not self.ok:
            data.update(broken_id=self.broken_id, broken_seq=self.broken_seq, reason=self.reason)
        return data


_FIELDS = (
    "id",
    "seq",
    "at",
    "actor",
    "action",
    "object_type",
    "object_key",
    "project",
    "before",
    "after",
    "channel",
    "ip",
    "internal",
    "prev_hash",
    "hash",
)


def verify(chunk_size: int = 5000) -> VerifyResult:
    """Walk the whole chain in order; report the first event that does not hold."""
    prev = GENESIS
    count = 0
    # The head is read first and the events after it, each in its own statement: writers
    # commit an event and the head together, so the events read later include every event the
    # head covers (and maybe newer ones), under any isolation level. (Reading the head last
    # reported a concurrent writer's new head as "events missing".) No transaction on SQLite:
    # one there is BEGIN IMMEDIATE, which would keep every writer waiting for the whole walk;
    # on PostgreSQL it lets the iterator use a plain server-side cursor.
    head = AuditHead.objects.filter(pk=1).values_list("seq", "hash").first()
    reading = transaction.atomic() if connection.vendor == "postgresql" else nullcontext()
    with reading:
        rows = AuditEvent.objects.order_by("seq").values_list(*_FIELDS).iterator(chunk_size)
        for row in rows:
            (pk, seq, at, actor, action, otype, okey, project, before, after, channel, ip,
             internal, prev_hash, digest) = row  # fmt: skip
            count += 1
            reason = ""
            if seq != count:
                reason = "sequence gap: expected #%d" % count
            elif prev_hash != prev:
                reason = "previous hash does not match the event before it"
            else:
                payload = _payload(
                    seq=seq, at=at, actor=actor, action=action, object_type=otype,
                    object_key=okey, project=project, before=before, after=after,
                    channel=channel, ip=ip, internal=internal,
                )  # fmt: skip
                if compute_hash(prev, payload) != digest:
                    reason = "content does not match its hash"
                elif head is not None and seq == head[0] and digest != head[1]:
                    reason = "the chain head does not match this event"
            if reason:
                return VerifyResult(False, count, prev, broken_seq=seq, broken_id=pk, reason=reason)
            prev = digest
    if head is not None and head[0] > count:
        return VerifyResult(
            False, count, prev, broken_seq=count + 1, reason="events missing after the last one"
        )
    return VerifyResult(True, count, prev)


def append_only() -> bool:
    """Whether the database itself refuses any change to the record: PostgreSQL, whose trigger
    (core migration 0002) refuses every UPDATE and DELETE of an event. On SQLite, which has no
    way to stop its file's owner, the hash chain is what detects a change."""
    return connection.vendor == "postgresql"


def redate(times: dict[int, dt.datetime], afters: dict[int, dict] | None = None) -> int:
    """Give the events of the sequence numbers in ``times`` those times (and those in
    ``afters`` that ``after``), and re-hash the chain from the first of them to the head.

    For the demo only (``reports.demo``), which builds its whole story in one minute and then
    spreads it over the weeks its stage history tells, and only on a record that holds nothing
    but the demo's own events: a site's real record is never rewritten. (The chain protects
    against edits that are not re-hashed; this is the re-hash, run inside the demo's own
    transaction before anything is committed.) Returns how many events were re-hashed."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit.redate() must run inside the demo's transaction")
    if append_only():
        raise RuntimeError("the record is append-only in this database (audit.append_only())")
    if not times:
        return 0
    afters = afters or {}
    head = AuditHead.objects.select_for_update().get(pk=1)
    first = min(times)
    prev = (
        AuditEvent.objects.filter(seq=first - 1).values_list("hash", flat=True).first() or GENESIS
    )
    changed = []
    for event in AuditEvent.objects.filter(seq__gte=first).order_by("seq"):
        event.at = times.get(event.seq, event.at)
        event.after = jsonable(afters.get(event.seq, event.after))
        payload = _payload(
            seq=event.seq, at=event.at, actor=event.actor, action=event.action,
            object_type=event.object_type, object_key=event.object_key, project=event.project,
            before=event.before, after=event.after, channel=event.channel, ip=event.ip,
            internal=event.internal,
        )  # fmt: skip
        event.at = dt.datetime.fromisoformat(payload["at"])
        event.prev_hash, event.hash = prev, compute_hash(prev, payload)
        prev = event.hash
        changed.append(event)
    # Hashes are unique: clear them first so that no row meets another's old hash midway.
    AuditEvent.objects.filter(seq__gte=first).update(
        hash=Concat(Value("redating-"), Cast("seq", CharField()))
    )
    AuditEvent.objects.bulk_update(changed, ["at", "after", "prev_hash", "hash"], batch_size=500)
    if changed and changed[-1].seq == head.seq:
        AuditHead.objects.filter(pk=1).update(hash=changed[-1].hash)
    return len(changed)
