"""Stored text features of change requests: what the history pool's text index reads of each.

Tokenising 100,000 CRs' titles and descriptions (``similar.document_terms``) takes minutes
of CPU; it is done once per CR and kept in ``TextFeatures`` (the CR's distinct terms as
64-bit hashes with their counts, ``similar.counted``). The pool then loads every CR's features
with its other attributes in one query and builds its index from them in NumPy.

Incremental, with no hook in the write paths: a features row remembers the CR's ``version``
(which grows with every write to the CR, ``changes.services``) and its text's digest. When
the pool is loaded, only the CRs without features, with features of an older ``VERSION`` of
the terms, or written since (a newer ``version``) have their text read again; their digest
tells a text change (terms computed again) from any other write (only the version noted).
What was computed is stored at once, so the next load finds it. So a CR's terms are computed
when it is first seen, and again only when its title or description changes — a close with
actuals changes neither, and its actuals are read with the attributes.
"""

from __future__ import annotations

import logging
from hashlib import blake2b

import numpy as np
from django.db import DatabaseError, transaction

from changeflow.changes.models import ChangeRequest

from . import similar
from .models import TextFeatures

logger = logging.getLogger(__name__)

# Bump when what a CR's terms are changes (similar.terms/document_terms, the description cut).
VERSION = 1
DESCRIPTION_CHARS = 1_000  # the text index reads a description's beginning
RECORD = np.dtype([("h", "<i8"), ("c", "<u2")])
READ_BATCH = 900  # ids per IN (...) list (SQLite allows 999 parameters by default)


def digest(title: str, description: str) -> str:
    """The hash of the text the terms are made of."""
    text = f"{title}\0{(description or '')[:DESCRIPTION_CHARS]}"
    return blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def encode(title: str, description: str) -> bytes:
    """A CR's stored terms: its distinct term hashes with their counts (RECORD, ascending)."""
    h, c = similar.counted(similar.document_terms(title, (description or "")[:DESCRIPTION_CHARS]))
    rec = np.empty(h.size, dtype=RECORD)
    rec["h"] = h
    rec["c"] = np.minimum(c, similar.TF_MAX)  # the index caps counts there too
    return rec.tobytes()


def index(blobs: list[bytes]) -> similar.Index:
    """The text index of documents given as their stored terms, in order."""
    sizes = np.fromiter((len(b) // RECORD.itemsize for b in blobs), dtype=np.int64,
                        count=len(blobs))  # fmt: skip
    rec = np.frombuffer(b"".join(blobs), dtype=RECORD)
    return similar.Index.from_counts(rec["h"], rec["c"].astype(np.int64), sizes)


def fresh_terms(rows: list[dict]) -> list[bytes]:
    """Each row's stored terms, computing (and storing) those missing or stale.

    ``rows`` carry the CR's ``id`` and ``version`` and, from the features row if any,
    ``f_version``, ``f_cr_version``, ``f_digest`` and ``f_terms``.
    """
    stale = [
        r for r in rows
        if r["f_terms"] is None or r["f_version"] != VERSION or r["f_cr_version"] != r["version"]
    ]  # fmt: skip
    if not stale:
        return [bytes(r["f_terms"]) for r in rows]
    texts: dict[int, tuple[str, str]] = {}
    ids = [r["id"] for r in stale]
    for start in range(0, len(ids), READ_BATCH):
        chunk = ids[start : start + READ_BATCH]
        for pk, title, desc in ChangeRequest.objects.filter(pk__in=chunk).values_list(
            "pk", "title", "description"
        ):
            texts[pk] = (title, desc[:DESCRIPTION_CHARS])
    out: list[TextFeatures] = []
    for r in stale:
        if r["id"] not in texts:  # deleted meanwhile: nothing to store
            r["f_terms"] = b""
            continue
        title, desc = texts[r["id"]]
        d = digest(title, desc)
        if r["f_terms"] is None or r["f_version"] != VERSION or r["f_digest"] != d:
            r["f_terms"] = encode(title, desc)
        out.append(
            TextFeatures(
                change_request_id=r["id"], version=VERSION, cr_version=r["version"], digest=d,
                terms=bytes(r["f_terms"]),
            )
        )  # fmt: skip
    store(out)
    return [bytes(r["f_terms"]) for r in rows]


def store(features: list[TextFeatures]) -> None:
    """Insert or update features rows; a failure (e.g. a CR deleted meanwhile) only means
    they are computed again at the next load."""
    if not features:
        return
    try:
        with transaction.atomic():
            TextFeatures.objects.bulk_create(
                features, batch_size=500, update_conflicts=True,
                unique_fields=["change_request"],
                update_fields=["version", "cr_version", "digest", "terms"],
            )  # fmt: skip
    except DatabaseError:
        logger.exception("storing the text features of %d CRs failed", len(features))
